import * as http from 'node:http';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { WebSocketServer } from 'ws';
import type { SecureContextSource } from '../../src/tls/secure-context-provider.js';
import { clientCertificateIdentity, looksLikeTls, wrapTlsSocket } from '../../src/tls/wrap-tls-socket.js';

/**
 * A minimal front door for testing the TLS module alone: one TCP port, first byte
 * sniffed, TLS wrapped with wrapTlsSocket, then an HTTP server that answers which side the
 * request came through and a WebSocket echo. Lets the TLS module be tested on real sockets.
 */
export interface MiniFront {
  port: number;
  /** How many TLS handshakes failed, with their messages. */
  failures: string[];
  close(): Promise<void>;
}

export async function startMiniFront(
  contexts: SecureContextSource,
  options: { sslOnly?: boolean; verifyClient?: boolean; handshakeTimeoutMs?: number } = {},
): Promise<MiniFront> {
  const failures: string[] = [];
  const sockets = new Set<net.Socket>();
  const httpServer = http.createServer((req, res) => {
    const socket = req.socket as tls.TLSSocket;
    const id = socket.encrypted ? clientCertificateIdentity(socket) : null;
    res.end(JSON.stringify({ encrypted: socket.encrypted === true, protocol: socket.encrypted ? socket.getProtocol() : null, client: id?.commonName ?? null }));
  });
  const wss = new WebSocketServer({ noServer: true });
  httpServer.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  });
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (looksLikeTls(chunk[0]!)) {
        wrapTlsSocket(socket, contexts, {
          handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
          verifyClient: options.verifyClient ?? false,
          onSecure: (secure) => httpServer.emit('connection', secure),
          onFailure: (err) => failures.push(err.message),
        });
      } else if (options.sslOnly) {
        socket.destroy();
      } else {
        httpServer.emit('connection', socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    failures,
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
