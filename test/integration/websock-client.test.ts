import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { Websock, type WebSocketConstructor, type WebsockEvents } from '../../web/websock/websock.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';

/** The real CLI in front of an echo target, as a browser would meet it. */
async function startEchoBehindProxy(extra: string[] = []): Promise<{ echo: TcpTarget; proxy: ProxyProcess }> {
  const echo = await startEchoTarget();
  const proxy = await startProxy([...extra, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
  return { echo, proxy };
}

const WS = WebSocket as unknown as WebSocketConstructor;

function nextEvent<K extends keyof WebsockEvents>(sock: Websock, name: K, timeoutMs = 5000): Promise<WebsockEvents[K]> {
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
function readExactly(sock: Websock, len: number, timeoutMs = 10_000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${sock.rQlen} of ${len} bytes within ${timeoutMs} ms`)), timeoutMs);
    const check = (): void => {
      if (sock.rQwait('echo', len)) return;
      clearTimeout(timer);
      sock.off('message', check);
      resolve(sock.rQshiftBytes(len));
    };
    sock.on('message', check);
    check();
  });
}

for (const mode of ['binary', 'base64'] as const) {
  test(`a ${mode} session echoes 1 MiB through the proxy byte for byte`, async () => {
    const { echo, proxy } = await startEchoBehindProxy();
    try {
      const sock = new Websock({ WebSocket: WS });
      const opened = nextEvent(sock, 'open');
      sock.open(`ws://127.0.0.1:${proxy.port}/`, mode === 'binary' ? ['binary', 'base64'] : ['base64']);
      assert.deepEqual(await opened, { protocol: mode, mode });
      assert.equal(sock.mode, mode);

      const data = randomBytes(1 << 20);
      // Uneven pieces mixing typed pushes and raw bytes, like a real protocol client.
      sock.sQpush8(data[0]!);
      sock.sQpush16(data.readUInt16BE(1));
      sock.sQpush32(data.readUInt32BE(3));
      assert.equal(sock.flush(), true);
      for (let off = 7; off < data.length; off += 65_521) {
        assert.equal(sock.send(data.subarray(off, Math.min(off + 65_521, data.length))), true);
      }
      const got = await readExactly(sock, data.length);
      assert.ok(Buffer.from(got).equals(data), 'echoed bytes differ');
      assert.equal(sock.rQlen, 0);

      const closed = nextEvent(sock, 'close');
      sock.close(1000, 'done');
      const ev = await closed;
      assert.equal(ev.code, 1000);
      assert.equal(sock.isOpen, false);
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
}

test('base64 mode puts base64 text frames on the wire both ways', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'base64' });
  await once(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  const seen: { isBinary: boolean; text: string }[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      seen.push({ isBinary, text: String(data) });
      ws.send(Buffer.from([0xff, 0x00, 0x80, 0x41]).toString('base64')); // text frame
    });
  });
  try {
    const sock = new Websock({ WebSocket: WS });
    const opened = nextEvent(sock, 'open');
    sock.open(`ws://127.0.0.1:${port}/`, ['base64']);
    await opened;
    sock.sendString('\u00ffhi\u0000');
    const reply = await readExactly(sock, 4);
    assert.deepEqual([...reply], [0xff, 0x00, 0x80, 0x41]);
    assert.deepEqual(seen, [{ isBinary: false, text: Buffer.from([0xff, 0x68, 0x69, 0x00]).toString('base64') }]);
    sock.close();
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

test('the close event carries the proxy code and reason when the target hangs up', async () => {
  const { echo, proxy } = await startEchoBehindProxy();
  try {
    const sock = new Websock({ WebSocket: WS });
    const opened = nextEvent(sock, 'open');
    sock.open(`ws://127.0.0.1:${proxy.port}/`);
    await opened;
    sock.sendString('x');
    await readExactly(sock, 1); // the target connection is up
    const closed = nextEvent(sock, 'close');
    await echo.close(); // destroys the target side of the session
    const ev = await closed;
    assert.equal(ev.code, 1000);
    assert.equal(ev.reason, 'Target closed');
  } finally {
    await proxy.stop();
  }
});

test('a text frame in binary mode is refused: error event, then close 1003', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'binary' });
  await once(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  const serverSawClose = new Promise<number>((resolve) => {
    wss.on('connection', (ws) => {
      ws.on('close', (code) => resolve(code));
      ws.send('not bytes');
    });
  });
  try {
    const sock = new Websock({ WebSocket: WS });
    const error = nextEvent(sock, 'error');
    sock.open(`ws://127.0.0.1:${port}/`);
    assert.equal((await error).message, 'text frame in binary mode');
    assert.equal(await serverSawClose, 1003);
    assert.equal(sock.rQlen, 0);
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

test('the package exports the browser build as websockify-ts/websock (after npm run build)', async () => {
  // A computed specifier keeps tsc from resolving it at compile time; Node resolves it through
  // package.json "exports" by self-reference, exactly as a dependent project would.
  const specifier = ['websockify-ts', 'websock'].join('/');
  const mod = (await import(specifier)) as { Websock: typeof Websock; DEFAULT_PROTOCOLS: readonly string[] };
  assert.equal(typeof mod.Websock, 'function');
  assert.deepEqual([...mod.DEFAULT_PROTOCOLS], ['binary', 'base64']);
  const sock = new mod.Websock({ WebSocket: WS });
  sock.appendReceived(Uint8Array.from([0, 42]));
  assert.equal(sock.rQshift16(), 42);
});
