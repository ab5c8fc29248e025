import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { openClient, receiveBytes } from '../support/ws-client.js';

/**
 * A server that answers the upgrade and sends its first binary frame in the same write, so the
 * client reads both at once: what a target that speaks first (a VNC server's banner) looks like
 * to a test's client when the proxy is quick.
 */
function startSpeakFirstServer(first: Buffer): Promise<{ url: string; close: () => void }> {
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head.slice(0, end))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: binary\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(answer, 'latin1'), Buffer.from([0x82, first.length]), first]));
      socket.removeAllListeners('data');
      socket.on('data', () => undefined);
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({ url: `ws://127.0.0.1:${port}/`, close: () => server.close() });
    }),
  );
}

describe('the test client (test/support/ws-client.ts)', () => {
  const banner = Buffer.from('RFB 003.008\n');
  let server: { url: string; close: () => void };
  before(async () => {
    server = await startSpeakFirstServer(banner);
  });
  after(() => server.close());

  it('keeps a frame that came in the same read as the 101 for the first listener', async () => {
    const ws = await openClient(server.url);
    try {
      // A turn passes before the caller listens, as when it awaits something else first.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(await receiveBytes(ws, banner.length, 2_000), banner);
    } finally {
      ws.terminate();
    }
  });

  it('hands it over to a caller that paused the client first, and leaves the client paused', async () => {
    const ws = await openClient(server.url);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      ws.pause();
      assert.deepEqual(await receiveBytes(ws, banner.length, 2_000), banner);
      assert.equal(ws.isPaused, true);
    } finally {
      ws.terminate();
    }
  });
});
