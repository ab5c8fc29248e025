import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { receiveBytes } from './ws-client.js';

/**
 * Opens a real WebSocket through the proxy, sends random bytes, expects them echoed by the
 * target, and closes: proof that the proxy is still serving sessions end to end.
 */
export async function echoSession(url: string, headers: Record<string, string> = {}): Promise<void> {
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const client = new WebSocket(url, ['binary'], { headers });
    client.once('open', () => resolve(client));
    client.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    client.once('error', reject);
  });
  try {
    const payload = randomBytes(4096);
    const echoed = receiveBytes(ws, payload.length, 5_000);
    ws.send(payload);
    assert.deepEqual(await echoed, payload);
  } finally {
    ws.close(1000);
  }
}

/** Opens a session and leaves it open (for session-limit tests); returns a closer. */
export async function openSession(url: string, headers: Record<string, string> = {}): Promise<() => Promise<void>> {
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const client = new WebSocket(url, ['binary'], { headers });
    client.once('open', () => resolve(client));
    client.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    client.once('error', reject);
  });
  return () =>
    new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
    });
}
