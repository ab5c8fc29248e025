import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { connect, encodeFrame, FrameReader, readHttpAnswer, sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

function waitClosed(socket: net.Socket, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs}ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
    socket.resume();
  });
}

describe('limits against slow and hostile clients', () => {
  let echo: TcpTarget;
  let proxy: ProxyProcess;
  before(async () => {
    echo = await startEchoTarget();
    proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--handshake-timeout', '1.5']);
  });
  after(async () => {
    await proxy.stop();
    await echo.close();
  });

  it('cuts off a slowloris client that trickles its headers, and keeps serving others', async () => {
    const slow = await connect(proxy.port);
    slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => slow.writable && slow.write('X-A: b\r\n'), 300);
    const silent = await connect(proxy.port);
    try {
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      const [slowMs, silentMs] = await Promise.all([waitClosed(slow, 5_000), waitClosed(silent, 5_000)]);
      assert.ok(slowMs < 3_500 && silentMs < 3_500, `closed after ${slowMs}ms / ${silentMs}ms`);
      const back = receiveBytes(ws, 2);
      ws.send(Buffer.from('ok'));
      assert.equal((await back).toString(), 'ok', 'a session opened meanwhile is unaffected');
      ws.close();
    } finally {
      clearInterval(trickle);
    }
    await proxy.waitForOutput(/handshake timed out after 1\.5s/);
  });

  it('holds 2,000 idle sessions and still serves a new client promptly', async () => {
    const clients = [];
    for (let i = 0; i < 2000; i += 100) {
      clients.push(...(await Promise.all(Array.from({ length: 100 }, () => openClient(`ws://127.0.0.1:${proxy.port}/`)))));
    }
    assert.equal(clients.length, 2000);
    const started = Date.now();
    const fresh = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    const back = receiveBytes(fresh, 4);
    fresh.send(Buffer.from('ping'));
    assert.equal((await back).toString(), 'ping');
    const elapsed = Date.now() - started;
    const rss = proxy.rssKiB();
    console.log(`# 2000 idle sessions held: proxy RSS ${(rss / 1024).toFixed(1)} MiB, new client echoed in ${elapsed} ms`);
    assert.ok(elapsed < 1_000, `new client took ${elapsed}ms`);
    const closing = clients.map((ws) => closeEvent(ws));
    for (const ws of clients) ws.close();
    fresh.close();
    await Promise.all(closing);
  });

  it('answers 503 beyond --max-connections and serves again once a slot frees', async () => {
    const capped = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--max-connections', '3']);
    try {
      const held = await Promise.all([1, 2, 3].map(() => openClient(`ws://127.0.0.1:${capped.port}/`)));
      const refused = await sendRaw(capped.port, upgradeRequest());
      refused.socket.destroy();
      assert.equal(refused.status, 503);
      await capped.waitForOutput(/limit of 3 open connections reached/);
      const closed = closeEvent(held[0]!);
      held[0]!.close();
      await closed;
      // The server frees the slot when it sees the socket close, a moment after the client does.
      const again = await waitFor(
        async () => {
          const answer = await sendRaw(capped.port, upgradeRequest());
          if (answer.status === 101) return answer;
          answer.socket.destroy();
          return null;
        },
        { timeoutMs: 2_000, intervalMs: 20, what: 'the freed slot to admit a new connection' },
      );
      again.socket.destroy();
      for (const ws of held.slice(1)) ws.close();
    } finally {
      await capped.stop();
    }
  });

  it('times out a connect to an unresponsive target with 1011', async () => {
    // A listener that never accepts, with its accept queue filled: the kernel then drops new
    // SYNs, so a connect hangs exactly as it would towards a dead host.
    const holder = spawn(
      'python3',
      ['-c', 'import socket,time\ns=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const port = Number(await new Promise<string>((resolve) => holder.stdout.once('data', (c: Buffer) => resolve(c.toString()))));
      const fillers = [];
      for (let i = 0; i < 3; i++) {
        const filler = net.connect({ port, host: '127.0.0.1' });
        filler.on('error', () => undefined);
        fillers.push(filler);
      }
      // A fixed time: with a backlog of 0 some fillers never complete their handshake, so there is
      // no event to await; this only gives their SYNs time to fill the accept queue.
      await new Promise((r) => setTimeout(r, 200));
      const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${port}`, '--connect-timeout', '1']);
      try {
        const started = Date.now();
        const ws = await openClient(`ws://127.0.0.1:${p2.port}/`);
        const { code, reason } = await closeEvent(ws);
        const elapsed = Date.now() - started;
        assert.deepEqual([code, reason], [1011, 'Failed to connect to downstream server']);
        assert.ok(elapsed >= 900 && elapsed < 3_000, `closed after ${elapsed}ms`);
        await p2.waitForOutput(/Failed to connect to 127\.0\.0\.1:\d+: timed out after 1s/);
      } finally {
        await p2.stop();
        for (const f of fillers) f.destroy();
      }
    } finally {
      holder.kill();
    }
  });
});

describe('heartbeat', () => {
  it('--heartbeat N sends an empty ping every N seconds, as the reference', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['--heartbeat', '1', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const socket = await connect(proxy.port);
      socket.write(upgradeRequest());
      const answer = await readHttpAnswer(socket);
      const frames = new FrameReader(socket, answer.rest);
      const started = Date.now();
      const first = await frames.next(3_000);
      const second = await frames.next(3_000);
      const elapsed = Date.now() - started;
      assert.deepEqual([first?.opcode, first?.payload.length, second?.opcode], [0x9, 0, 0x9]);
      assert.ok(elapsed >= 1_500 && elapsed < 3_500, `two pings took ${elapsed}ms`);
      socket.destroy();
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });

  it('--heartbeat-timeout drops a client that never answers pings, and keeps one that does', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['--heartbeat', '1', '--heartbeat-timeout', '1', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const deaf = await connect(proxy.port);
      deaf.write(upgradeRequest());
      await readHttpAnswer(deaf);
      const alive = await openClient(`ws://127.0.0.1:${proxy.port}/`); // ws answers pings itself
      const deafMs = await waitClosed(deaf, 6_000);
      assert.ok(deafMs < 4_500, `dead client dropped after ${deafMs}ms`);
      await proxy.waitForOutput(/heartbeat timeout: no pong within 1s/);
      const back = receiveBytes(alive, 5);
      alive.send(Buffer.from('alive'));
      assert.equal((await back).toString(), 'alive');
      alive.close();
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });

  it('keeps data intact with pings interleaved, and drops a client flooding pings without hurting others', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const socket = await connect(proxy.port);
      socket.write(upgradeRequest());
      const answer = await readHttpAnswer(socket);
      const frames = new FrameReader(socket, answer.rest);
      const parts: Buffer[] = [];
      for (let i = 0; i < 50; i++) parts.push(encodeFrame(9, Buffer.from(`p${i}`)), encodeFrame(2, Buffer.from([i])));
      socket.write(Buffer.concat(parts));
      const data: number[] = [];
      let pongs = 0;
      while (data.length < 50) {
        const frame = await frames.next();
        if (!frame) break;
        if (frame.opcode === 0xa) pongs++;
        else data.push(...frame.payload);
      }
      assert.deepEqual(
        data,
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.ok(pongs > 0);
      socket.destroy();

      // ws refuses to queue more than 60 unsent pongs for one peer (its ping-flood guard).
      const flooder = await connect(proxy.port);
      flooder.write(upgradeRequest());
      const floodAnswer = await readHttpAnswer(flooder);
      const floodFrames = new FrameReader(flooder, floodAnswer.rest);
      flooder.write(Buffer.concat(Array.from({ length: 500 }, () => encodeFrame(9, Buffer.from('x')))));
      let frame;
      do frame = await floodFrames.next();
      while (frame);
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      const back = receiveBytes(ws, 2);
      ws.send(Buffer.from('ok'));
      assert.equal((await back).toString(), 'ok');
      ws.close();
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
