import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { closePayload, connect, encodeFrame, FrameReader, readHttpAnswer, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, startTcpTarget } from '../support/targets.js';
import { openClient } from '../support/ws-client.js';

/**
 * Clients that open a download and stop reading must not park much memory in the proxy: the
 * bytes the bridge holds in user space for a stalled reader are bounded per session (--buffer-size)
 * and across sessions (--memory-budget). Kernel socket buffers are not the proxy's heap; they
 * are what lets a stalled session hold several MiB on loopback before the target stops.
 */

const BLOCK = randomBytes(64 * 1024);
const MiB = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `progress()` stops moving (backpressure reached every source); returns where. */
async function untilStill(progress: () => number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (progress() !== last) {
    if (Date.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms: ${progress()} bytes`);
    last = progress();
    await sleep(1000);
  }
  return last;
}

interface StreamingTarget {
  port: number;
  written: () => number;
  sessionsDone: () => number;
  /** Least and most any one connection was sent, for the log. */
  spread: () => string;
  close: () => Promise<void>;
}

/** A target that streams BLOCK repeated, `perSession` bytes to each connection, then ends. */
async function startStreamingTarget(perSession: number): Promise<StreamingTarget> {
  let written = 0;
  let done = 0;
  const perConn: number[] = [];
  const target = await startTcpTarget((socket: net.Socket) => {
    let sent = 0;
    const index = perConn.push(0) - 1;
    socket.on('error', () => undefined);
    const pump = (): void => {
      while (sent < perSession) {
        sent += BLOCK.length;
        written += BLOCK.length;
        perConn[index] = sent;
        if (!socket.write(BLOCK)) return void socket.once('drain', pump);
      }
      done++;
      socket.end();
    };
    pump();
  });
  return {
    port: target.port,
    written: () => written,
    sessionsDone: () => done,
    spread: () => `${(Math.min(...perConn) / MiB).toFixed(1)}-${(Math.max(...perConn) / MiB).toFixed(1)} MiB`,
    close: () => target.close(),
  };
}

/** Resolves once `total` bytes arrived equal to BLOCK repeated; rejects on the first wrong byte. */
function expectStream(ws: WebSocket, total: number, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let offset = 0;
    const timer = setTimeout(() => reject(new Error(`received ${offset} of ${total} bytes`)), timeoutMs);
    ws.on('message', (data: Buffer) => {
      let at = 0;
      while (at < data.length) {
        const inBlock = offset % BLOCK.length;
        const take = Math.min(BLOCK.length - inBlock, data.length - at);
        if (BLOCK.compare(data, at, at + take, inBlock, inBlock + take) !== 0) {
          clearTimeout(timer);
          reject(new Error(`wrong bytes at offset ${offset}`));
          return;
        }
        at += take;
        offset += take;
      }
      if (offset === total) {
        clearTimeout(timer);
        resolve();
      } else if (offset > total) {
        clearTimeout(timer);
        reject(new Error(`${offset} bytes, more than the ${total} sent`));
      }
    });
  });
}

interface StallResult {
  grownMiB: number;
  perSessionKiB: number;
}

/**
 * Opens `sessions` downloads of `perSession` bytes that stop reading at once, waits until the
 * target can push no more, measures the proxy's RSS growth, then lets every reader go and
 * checks that each gets its whole stream, in order.
 */
async function stallAndResume(proxy: ProxyProcess, target: StreamingTarget, sessions: number, perSession: number): Promise<StallResult> {
  const before = proxy.rssKiB();
  const clients: WebSocket[] = [];
  const streams: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < sessions; i++) {
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      // ws's client reads through its socket: pausing it stops reading at the TCP level.
      ws.pause();
      clients.push(ws);
      // Watched from the open on: ws may still emit what it read with the 101.
      const stream = expectStream(ws, perSession);
      stream.catch(() => undefined);
      streams.push(stream);
    }
    await untilStill(target.written);
    console.log(`# target held back after ${target.spread()} a connection`);
    assert.ok(target.sessionsDone() <= sessions / 20, `${target.sessionsDone()} targets sent their whole stream: the proxy was not filled`);
    const grownMiB = (proxy.rssKiB() - before) / 1024;
    const result = { grownMiB, perSessionKiB: (grownMiB * 1024) / sessions };
    console.log(`# ${sessions} stalled downloads: proxy RSS grew ${grownMiB.toFixed(1)} MiB, ${result.perSessionKiB.toFixed(0)} KiB a session`);
    for (const ws of clients) ws.resume();
    await Promise.all(streams);
    return result;
  } finally {
    for (const ws of clients) ws.terminate();
  }
}

describe('stalled readers', { timeout: 300_000 }, () => {
  it('200 stalled downloads hold at most ~128 KiB each in the proxy by default, then every byte arrives in order', async () => {
    const sessions = 200;
    // More than the kernel's loopback buffers on both legs can take, so the proxy fills up.
    const perSession = 16 * MiB;
    const target = await startStreamingTarget(perSession);
    const proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${target.port}`]);
    try {
      const { grownMiB } = await stallAndResume(proxy, target, sessions, perSession);
      // 256 KiB a session (128 KiB of queued bytes plus the session itself) and 32 MiB of slack
      // for the heap's own growth. A 1 MiB pause threshold grew the proxy ~1.1 MiB a session.
      const bound = (sessions * 256 * 1024 + 32 * MiB) / MiB;
      assert.ok(grownMiB < bound, `proxy RSS grew ${grownMiB.toFixed(1)} MiB, bound ${bound} MiB`);
    } finally {
      await proxy.stop();
      await target.close();
    }
  });

  it('--memory-budget: past the budget stalled sessions hold one read each instead of --buffer-size, and all resume', async () => {
    const sessions = 100;
    const perSession = 16 * MiB;
    const target = await startStreamingTarget(perSession);
    // A 1 MiB threshold from the start makes the budget's effect stand out: without it each
    // session parks ~1.1 MiB.
    const proxy = await startProxy(['--initial-buffer-size', '1M', '--buffer-size', '1M', '--memory-budget', '8M', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    try {
      const { grownMiB } = await stallAndResume(proxy, target, sessions, perSession);
      // The budget, then one 64 KiB read plus the session itself (~300 KiB of RSS a session in the
      // test above, malloc's slack included) a session, and 24 MiB of slack: 76 MiB.
      // Measured: 55-66 MiB; with --memory-budget 0, 128 MiB.
      const bound = (8 * MiB + sessions * 448 * 1024 + 24 * MiB) / MiB;
      assert.ok(grownMiB < bound, `proxy RSS grew ${grownMiB.toFixed(1)} MiB, bound ${bound} MiB`);
    } finally {
      await proxy.stop();
      await target.close();
    }
  });
});

describe('unfinished messages', { timeout: 60_000 }, () => {
  it('--message-timeout: a base64 message left unfinished closes 1008 with one log line; messages finished in time pass', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['--message-timeout', '1', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const socket = await connect(proxy.port);
      socket.write(upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'base64' } }));
      const answer = await readHttpAnswer(socket);
      assert.equal(answer.status, 101);
      const frames = new FrameReader(socket, answer.rest);
      // A message finished within the deadline, sent in two fragments: it goes through.
      socket.write(encodeFrame(1, Buffer.from('aGVs'), { fin: false }));
      socket.write(encodeFrame(0, Buffer.from('bG8='), { fin: true }));
      const echoed = await frames.next();
      assert.equal(Buffer.from(echoed!.payload.toString(), 'base64').toString(), 'hello');
      // A frame announcing 1,000 bytes that sends 500: ws would hold it forever.
      const started = Date.now();
      socket.write(encodeFrame(1, Buffer.from('QUJD'.repeat(250))).subarray(0, 500));
      const close = await frames.untilClose();
      const elapsed = Date.now() - started;
      assert.equal(close.code, 1008);
      assert.ok(elapsed >= 900 && elapsed < 5_000, `closed after ${elapsed} ms`);
      const lines = proxy
        .output()
        .split('\n')
        .filter((line) => line.includes('client message not completed within 1s'));
      assert.equal(lines.length, 1, proxy.output());
      socket.write(encodeFrame(8, closePayload(1000)));
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
