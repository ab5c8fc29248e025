import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { connect } from '../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';
import { openClient, receiveBytes } from '../support/ws-client.js';

// Every request on a keep-alive connection has a deadline, not only the first: a client that is
// answered one page and then trickles its next request (or a body) byte by byte must not hold
// the connection, and its --max-connections slot, for ever. An idle keep-alive connection closes
// after --keepalive-timeout.

const PAGE = 'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n';

/** Reads from `socket` until one complete response to a GET of index.html has arrived. */
function firstResponse(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      if (end >= 0 && length !== undefined && text.length >= end + 4 + Number(length)) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Milliseconds until `socket` closes (fails past `limitMs`), with whatever it received. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<{ ms: number; received: string }> {
  const started = Date.now();
  let received = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - started, received });
    });
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes; returns a stop function. */
function trickle(socket: net.Socket, text: string, everyMs: number): () => void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) return;
    socket.write(text[at++] as string);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return () => clearInterval(timer);
}

// A client sees its connection close a moment before the proxy reads the FIN of that close and
// frees the --max-connections slot; a connection opened in that moment is answered 503 with
// Retry-After. The two helpers below retry, as a client that honours Retry-After would, for at
// most 2 s: far less than the trickling would hold a slot without its deadline (for ever).
const FREE_SLOT = { timeoutMs: 2_000, intervalMs: 50, what: 'a free connection slot' };

/** A new connection that was answered one page with 200 (retried while answered 503). */
function connectWithPage(port: number): Promise<net.Socket> {
  return waitFor(async () => {
    const socket = await connect(port);
    socket.write(PAGE);
    const response = await firstResponse(socket);
    if (response.startsWith('HTTP/1.1 503')) {
      socket.destroy();
      return null;
    }
    assert.match(response, /^HTTP\/1\.1 200/);
    return socket;
  }, FREE_SLOT);
}

/** An open WebSocket session (retried while answered 503). */
function openSession(port: number): ReturnType<typeof openClient> {
  return waitFor(() => openClient(`ws://127.0.0.1:${port}/`).catch((error: Error) => (error.message === 'HTTP 503' ? null : Promise.reject(error))), FREE_SLOT);
}

/** A proxy with a --web root holding index.html; its own echo target and temp dir. */
async function startWebProxy(extra: string[]): Promise<{ proxy: ProxyProcess; stop: () => Promise<void> }> {
  const echo: TcpTarget = await startEchoTarget();
  const web = tempDir('wsfy-keepalive-');
  writeFileSync(path.join(web.dir, 'index.html'), '<p>hello</p>\n');
  const proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--web', web.dir, '--handshake-timeout', '1', ...extra]);
  return {
    proxy,
    stop: async () => {
      await proxy.stop();
      await echo.close();
      web.cleanup();
    },
  };
}

describe('deadlines for every request on a keep-alive connection', () => {
  // A long idle limit, so only the per-request deadline can close the trickling connections.
  let proxy: ProxyProcess;
  let stopAll: () => Promise<void>;
  before(async () => {
    ({ proxy, stop: stopAll } = await startWebProxy(['--keepalive-timeout', '30', '--max-connections', '4']));
  });
  after(() => stopAll());

  it('closes a connection whose second request trickles its headers', async () => {
    const socket = await connect(proxy.port);
    socket.write(PAGE);
    assert.match(await firstResponse(socket), /^HTTP\/1\.1 200/);
    const stop = trickle(socket, 'GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n', 200);
    try {
      const { ms, received } = await closedWithin(socket, 6_000);
      assert.ok(ms < 3_500, `closed after ${ms} ms (deadline 1 s from the first byte, checked every 0.5 s)`);
      assert.match(received, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout');
    } finally {
      stop();
    }
  });

  it('closes a connection whose second request trickles its body', async () => {
    const socket = await connect(proxy.port);
    socket.write(PAGE);
    await firstResponse(socket);
    // A GET with a body: answered at once with keep-alive, but the connection stays in this
    // request until the body is complete.
    socket.write('GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n');
    const stop = trickle(socket, 'b'.repeat(100), 200);
    try {
      const { ms } = await closedWithin(socket, 6_000);
      assert.ok(ms < 3_500, `closed after ${ms} ms`);
    } finally {
      stop();
    }
  });

  it('keeps a connection that sends whole requests within the deadlines', async () => {
    const socket = await connect(proxy.port);
    for (let i = 0; i < 4; i++) {
      socket.write(PAGE);
      assert.match(await firstResponse(socket), /^HTTP\/1\.1 200/, `request ${i + 1}`);
      // A fixed pace on purpose: the requests must span more than the request deadline.
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    assert.equal(socket.destroyed, false, 'still open after 4 requests over ~3 s, longer than the request deadline');
    socket.destroy();
  });

  it('trickling connections no longer lock out everyone else once their deadlines pass', async () => {
    const slow: net.Socket[] = [];
    const stops: Array<() => void> = [];
    for (let i = 0; i < 4; i++) {
      const socket = await connectWithPage(proxy.port);
      slow.push(socket);
      stops.push(trickle(socket, 'GET /index.html HTTP/1.1\r\n' + 'X-A: b\r\n'.repeat(200), 150));
    }
    try {
      await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/`), /HTTP 503/, 'the four trickling connections hold every slot');
      await Promise.all(slow.map((socket) => closedWithin(socket, 6_000)));
      const ws = await openSession(proxy.port);
      const back = receiveBytes(ws, 2);
      ws.send(Buffer.from('ok'));
      assert.equal((await back).toString(), 'ok');
      ws.close();
    } finally {
      for (const stop of stops) stop();
    }
  });
});

describe('--keepalive-timeout', () => {
  let proxy: ProxyProcess;
  let stopAll: () => Promise<void>;
  before(async () => {
    ({ proxy, stop: stopAll } = await startWebProxy(['--keepalive-timeout', '1.5']));
  });
  after(() => stopAll());

  it('closes an idle keep-alive connection after --keepalive-timeout', async () => {
    const socket = await connect(proxy.port);
    socket.write(PAGE);
    await firstResponse(socket);
    const { ms } = await closedWithin(socket, 6_000);
    assert.ok(ms >= 1_000 && ms < 3_000, `closed after ${ms} ms idle (--keepalive-timeout 1.5)`);
  });
});
