/** Websock in Node on top of the `ws` package, for tests that go through nginx and friends. */
import { randomBytes } from 'node:crypto';
import { WebSocket, type ClientOptions } from 'ws';
import { Websock, type WebSocketLike, type WebsockEvents } from '../../web/websock/websock.js';

/** Opens a Websock; rejects with `HTTP <status>` when the upgrade is refused. */
export function openWebsock(url: string, options: ClientOptions = {}, protocols: string[] = ['binary', 'base64']): Promise<Websock> {
  return new Promise((resolve, reject) => {
    const raw = new WebSocket(url, protocols, options);
    raw.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      raw.terminate();
    });
    const sock = new Websock();
    sock.attach(raw as unknown as WebSocketLike);
    sock.on('open', () => resolve(sock));
    sock.on('error', (e) => reject(new Error(e.message)));
  });
}

export function nextEvent<K extends keyof WebsockEvents>(sock: Websock, name: K, timeoutMs = 10_000): Promise<WebsockEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event within ${timeoutMs} ms`)), timeoutMs);
    const handler = (e: WebsockEvents[K]): void => {
      clearTimeout(timer);
      sock.off(name, handler);
      resolve(e);
    };
    sock.on(name, handler);
  });
}

/** Reads exactly `len` bytes off the receive queue, waiting on message events as rQwait says. */
export function readExactly(sock: Websock, len: number, timeoutMs = 10_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const onClose = (e: WebsockEvents['close']): void => finish(new Error(`closed (${e.code}) after ${sock.rQlen} of ${len} bytes`));
    const timer = setTimeout(() => finish(new Error(`only ${sock.rQlen} of ${len} bytes within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      sock.off('message', check);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(sock.rQshiftBytes(len));
    };
    const check = (): void => {
      if (!sock.rQwait('echo', len)) finish();
    };
    sock.on('message', check);
    sock.on('close', onClose);
    check();
  });
}

/** Sends `size` random bytes to an echo target and checks they come back unchanged. */
export async function echoRoundTrip(sock: Websock, size: number): Promise<void> {
  const data = randomBytes(size);
  sock.send(data);
  const back = await readExactly(sock, size);
  if (!Buffer.from(back).equals(data)) throw new Error(`echo of ${size} bytes came back different`);
}
