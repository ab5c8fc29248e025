import { WebSocket } from 'ws';

/** Opens a real `ws` client and waits for the open (or rejects with the HTTP status). */
export function openClient(
  url: string,
  protocols: string | string[] = ['binary'],
  options: { maxPayload?: number; headers?: Record<string, string> } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: options.maxPayload ?? 512 * 1024 * 1024, ...(options.headers ? { headers: options.headers } : {}) });
    ws.once('open', () => {
      keepEarlyMessages(ws);
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export function closeEvent(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no close event in time')), timeoutMs);
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

/** Collects binary messages until `total` bytes have arrived. */
export function receiveBytes(ws: WebSocket, total: number, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => reject(new Error(`received ${received} of ${total} bytes`)), timeoutMs);
    const onMessage = (data: Buffer): void => {
      chunks.push(data);
      received += data.length;
      if (received >= total) {
        clearTimeout(timer);
        ws.removeListener('message', onMessage);
        resolve(Buffer.concat(chunks));
      }
    };
    if (total === 0) {
      clearTimeout(timer);
      resolve(Buffer.alloc(0));
      return;
    }
    ws.on('message', onMessage);
  });
}

/**
 * A target that speaks first (a VNC server, a login prompt) may get its first frame into the
 * same read as the 101: ws then emits it on the next tick after 'open', before the caller's
 * `await openClient()` resumes and adds its listener, and the message would be lost. Messages
 * are kept from 'open' on and handed, in order and before any newer one, to the first 'message'
 * listener the caller adds. A caller that paused the client first stays paused.
 */
function keepEarlyMessages(ws: WebSocket): void {
  const early: Array<[Buffer, boolean]> = [];
  const keep = (data: Buffer, isBinary: boolean): void => void early.push([data, isBinary]);
  const onNewListener = (event: string | symbol): void => {
    if (event !== 'message') return;
    ws.off('newListener', onNewListener);
    ws.off('message', keep);
    if (early.length === 0) return;
    const pausedByCaller = ws.isPaused;
    // Nothing newer may overtake the kept messages while they wait for the listener to be added.
    if (!pausedByCaller) ws.pause();
    process.nextTick(() => {
      for (const [data, isBinary] of early.splice(0)) ws.emit('message', data, isBinary);
      if (!pausedByCaller) ws.resume();
    });
  };
  ws.on('message', keep);
  ws.on('newListener', onNewListener);
}
