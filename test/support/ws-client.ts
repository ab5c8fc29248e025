import { WebSocket } from 'ws';

/** Opens a real `ws` client and waits for the open (or rejects with the HTTP status). */
export function openClient(url: string, protocols: string | string[] = ['binary'], options: { maxPayload?: number } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: options.maxPayload ?? 512 * 1024 * 1024 });
    ws.once('open', () => resolve(ws));
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
