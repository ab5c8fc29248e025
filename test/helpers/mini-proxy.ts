/**
 * A stand-in for the core proxy used by client-side tests until the real pipeline is on main:
 * a `ws` server that bridges each session to a TCP target, selecting `binary` when offered and
 * otherwise `base64` (text frames of base64 both ways), which is the contract of websockify-ts.
 */
import * as net from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';

export interface MiniProxy {
  port: number;
  close(): Promise<void>;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export async function startMiniProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<MiniProxy> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : protocols.has('base64') ? 'base64' : false),
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws: WebSocket) => {
    const base64 = ws.protocol === 'base64';
    const target = net.connect(targetPort, targetHost);
    target.on('data', (chunk) => ws.send(base64 ? chunk.toString('base64') : chunk));
    target.on('end', () => ws.close(1000, 'Target closed'));
    target.on('error', () => ws.close(1011, 'Failed to connect to downstream server'));
    ws.on('message', (data, isBinary) => {
      const buf = rawToBuffer(data);
      target.write(base64 && !isBinary ? Buffer.from(buf.toString('latin1'), 'base64') : buf);
    });
    ws.on('close', () => target.destroy());
  });
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected address');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** A TCP echo server on an ephemeral loopback port. */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
