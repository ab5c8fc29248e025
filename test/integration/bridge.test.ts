import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { closePayload, connect, encodeFrame, FrameReader, readHttpAnswer, upgradeRequest } from '../support/raw-ws.js';
import { closedPort, startEchoTarget, startTcpTarget, writeRepeated, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';

async function rawSession(port: number, protocol = 'binary'): Promise<{ socket: net.Socket; frames: FrameReader }> {
  const socket = await connect(port);
  socket.write(upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': protocol } }));
  const answer = await readHttpAnswer(socket);
  assert.equal(answer.status, 101);
  return { socket, frames: new FrameReader(socket, answer.rest) };
}

const FLOOD_BYTES = 200 * 1024 * 1024;
/** Generous: loopback socket buffers on both legs plus --buffer-size, far below the flood. */
const STALL_BOUND_BYTES = 48 * 1024 * 1024;
const RSS_BOUND_MIB = 64;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `progress()` stops moving (backpressure reached its source); returns where. */
async function untilStill(progress: () => number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (progress() !== last) {
    if (Date.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms: ${mib(progress())}`);
    last = progress();
    await sleep(500);
  }
  return last;
}

/**
 * Waits until the flooding side stops (backpressure reached it), then checks it was held back
 * far short of the flood and the proxy did not buffer the difference; prints both figures.
 */
async function assertHeldBack(proxy: ProxyProcess, rssBeforeKiB: number, pushed: () => number, what: string): Promise<void> {
  const stalledAt = await untilStill(pushed);
  const grownMiB = (proxy.rssKiB() - rssBeforeKiB) / 1024;
  console.log(`# ${what} ${mib(stalledAt)} of ${mib(FLOOD_BYTES)}, proxy RSS grew ${grownMiB.toFixed(1)} MiB`);
  assert.ok(stalledAt < STALL_BOUND_BYTES, `${what} ${mib(stalledAt)}: not held back`);
  assert.ok(grownMiB < RSS_BOUND_MIB, `proxy RSS grew ${grownMiB.toFixed(1)} MiB`);
}

function repeatedDigest(block: Buffer, times: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < times; i++) hash.update(block);
  return hash.digest('hex');
}

/** A target that keeps every byte it receives; `targetDone` settles when the proxy ends it. */
async function startRecordingSink(): Promise<{ seen: Buffer[]; targetDone: Promise<void>; sink: TcpTarget }> {
  const seen: Buffer[] = [];
  let ended!: () => void;
  const targetDone = new Promise<void>((resolve) => (ended = resolve));
  const sink = await startTcpTarget((socket) => {
    socket.on('data', (c: Buffer) => seen.push(c));
    socket.on('end', () => {
      ended();
      socket.end();
    });
  });
  return { seen, targetDone, sink };
}

describe('bridging bytes between a WebSocket client and a TCP target', () => {
  let echo: TcpTarget;
  let proxy: ProxyProcess;
  before(async () => {
    echo = await startEchoTarget();
    proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--max-message-size', '32M']);
  });
  after(async () => {
    await proxy.stop();
    await echo.close();
  });

  it('echoes random payloads from 0 bytes to 16 MiB byte for byte, with pings interleaved', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    let pongs = 0;
    ws.on('pong', () => pongs++);
    for (const size of [0, 1, 125, 126, 65535, 65536, 65537, 1024 * 1024, 16 * 1024 * 1024]) {
      const payload = randomBytes(size);
      const received = receiveBytes(ws, size);
      ws.ping(Buffer.from('p'));
      ws.send(payload);
      ws.ping();
      const echoed = await received;
      assert.equal(echoed.length, size, `size ${size}`);
      assert.ok(echoed.equals(payload), `payload of ${size} bytes came back altered`);
    }
    assert.ok(pongs >= 1, 'pings were answered');
    ws.close(1000);
    assert.equal((await closeEvent(ws)).code, 1000);
  });

  it('keeps the order of many small messages sent back to back', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    const messages = Array.from({ length: 5000 }, (_, i) => Buffer.from(`m${i};`));
    const expected = Buffer.concat(messages);
    const received = receiveBytes(ws, expected.length);
    for (const m of messages) ws.send(m);
    assert.ok((await received).equals(expected));
    ws.close();
  });

  it('echoes the client close code and reason', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    const closed = closeEvent(ws);
    ws.close(4000, 'bye now');
    assert.deepEqual(await closed, { code: 4000, reason: 'bye now' });
  });

  it('delivers data that arrives in the same read as the client close to the target', async () => {
    const { seen, targetDone, sink } = await startRecordingSink();
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${sink.port}`]);
    try {
      const { socket, frames } = await rawSession(p2.port);
      const payload = randomBytes(200_000);
      // Three data frames and the close frame in a single write.
      socket.write(
        Buffer.concat([
          encodeFrame(2, payload.subarray(0, 1000)),
          encodeFrame(2, payload.subarray(1000, 150_000)),
          encodeFrame(2, payload.subarray(150_000)),
          encodeFrame(8, closePayload(1000, 'done')),
        ]),
      );
      const close = await frames.untilClose();
      assert.equal(close.code, 1000);
      await targetDone;
      assert.ok(Buffer.concat(seen).equals(payload), 'the target got every byte sent before the close');
    } finally {
      await p2.stop();
      await sink.close();
    }
  });

  it('carries frames cut at every kind of byte boundary (inside headers, masks, payloads) to the target byte for byte, pings answered in order', async () => {
    // The up path parses frames itself (src/proxy/client-frame-reader.ts), so the cuts a TCP
    // stream can make are exercised here on real sockets: each piece is its own write, with a
    // pause so that most arrive as separate reads.
    const { seen, targetDone, sink } = await startRecordingSink();
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${sink.port}`]);
    try {
      const { socket, frames } = await rawSession(p2.port);
      socket.setNoDelay(true);
      const sizes = [0, 1, 2, 125, 126, 127, 1000, 65_535, 65_536, 70_000, 3, 4097];
      const payloads = sizes.map((n) => randomBytes(n));
      const wire: Buffer[] = [];
      const pings: Buffer[] = [];
      payloads.forEach((payload, i) => {
        if (i % 3 === 1) {
          // A fragmented message with a ping between its fragments.
          const half = payload.length >> 1;
          const ping = randomBytes(1 + (i % 120));
          pings.push(ping);
          wire.push(encodeFrame(2, payload.subarray(0, half), { fin: false }), encodeFrame(9, ping), encodeFrame(0, payload.subarray(half)));
        } else {
          wire.push(encodeFrame(2, payload));
        }
      });
      const stream = Buffer.concat(wire);
      // Deterministic cuts: every offset 0..40 one byte at a time (headers and masks), then
      // pieces of 1-9,000 bytes from a fixed sequence.
      let offset = 0;
      let step = 0;
      while (offset < stream.length) {
        const size = offset < 40 ? 1 : 1 + ((step * 7919) % 9000);
        step++;
        socket.write(stream.subarray(offset, offset + size));
        offset += size;
        // Pacing, not waiting: a pause every few writes lets them arrive as separate TCP reads.
        if (step % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      for (const ping of pings) {
        const pong = await frames.next();
        assert.equal(pong?.opcode, 0xa, 'a pong for each ping');
        assert.ok(pong.payload.equals(ping), 'pongs carry their ping payload, in order');
      }
      socket.write(encodeFrame(8, closePayload(1000, 'done')));
      const close = await frames.untilClose();
      assert.equal(close.code, 1000);
      await targetDone;
      assert.ok(Buffer.concat(seen).equals(Buffer.concat(payloads)), 'the target got every payload byte, in order, once');
    } finally {
      await p2.stop();
      await sink.close();
    }
  });

  it('holds back a target flooding 200 MiB into a client that stopped reading, proxy RSS bounded, then delivers every byte', async () => {
    const block = randomBytes(64 * 1024);
    const total = FLOOD_BYTES;
    let written = 0;
    const source = await startTcpTarget((socket) => {
      writeRepeated(
        socket,
        block,
        total,
        (n) => (written = n),
        () => socket.end(),
      );
    });
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${source.port}`]);
    try {
      const before = p2.rssKiB();
      const ws = await openClient(`ws://127.0.0.1:${p2.port}/`);
      // ws's client reads through its socket: pausing it stops reading at the TCP level.
      ws.pause();
      await assertHeldBack(p2, before, () => written, 'client stopped reading: target pushed');
      const digest = new Promise<string>((resolve) => {
        const hash = createHash('sha256');
        let received = 0;
        ws.on('message', (data: Buffer) => {
          hash.update(data);
          received += data.length;
          if (received >= total) resolve(hash.digest('hex'));
        });
      });
      ws.resume();
      assert.equal(await digest, repeatedDigest(block, total / block.length), 'every byte, in order, once');
      ws.close();
    } finally {
      await p2.stop();
      await source.close();
    }
  });

  it('holds back a client flooding 200 MiB into a target that stopped reading, proxy RSS bounded, then delivers every byte', async () => {
    const block = randomBytes(64 * 1024);
    const total = FLOOD_BYTES;
    const hash = createHash('sha256');
    let received = 0;
    let allReceived!: () => void;
    const done = new Promise<void>((resolve) => (allReceived = resolve));
    let targetSocket: net.Socket | null = null;
    const sink = await startTcpTarget((socket) => {
      targetSocket = socket;
      socket.on('data', (c: Buffer) => {
        hash.update(c);
        received += c.length;
        if (received >= total) allReceived();
      });
      socket.pause();
    });
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${sink.port}`]);
    try {
      const before = p2.rssKiB();
      const { socket } = await rawSession(p2.port);
      const frame = encodeFrame(2, block);
      let sent = 0;
      const frames = total / block.length;
      writeRepeated(socket, frame, frames * frame.length, (n) => (sent = (n / frame.length) * block.length));
      await assertHeldBack(p2, before, () => sent, 'target stopped reading: client pushed');
      assert.ok(targetSocket !== null);
      (targetSocket as net.Socket).resume();
      await done;
      assert.equal(received, total);
      assert.equal(hash.digest('hex'), repeatedDigest(block, total / block.length), 'every byte, in order, once');
      socket.destroy();
    } finally {
      await p2.stop();
      await sink.close();
    }
  });

  it('a download next to an interactive session: while fair turns pause and resume the download, every byte arrives in order and every echo comes back exact', async (t) => {
    // A light session (the echoes) makes the heavy one (the download) yield each turn after
    // 64 KiB (src/proxy/fair-turns.ts); a target that was never resumed would stall this test.
    const download = randomBytes(64 * 1024 * 1024);
    const expected = createHash('sha256').update(download).digest('hex');
    const target = await startTcpTarget((socket) => {
      socket.once('data', (first: Buffer) => {
        if (first[0] !== 0x44 /* D */) {
          socket.write(first.subarray(1));
          socket.pipe(socket);
          return;
        }
        let offset = 0;
        const pump = (): void => {
          while (offset < download.length) {
            const end = Math.min(offset + 65536, download.length);
            const more = socket.write(download.subarray(offset, end));
            offset = end;
            if (!more) return void socket.once('drain', pump);
          }
          socket.end();
        };
        pump();
      });
    });
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${target.port}`]);
    try {
      const interactive = await openClient(`ws://127.0.0.1:${p2.port}/`);
      interactive.send(Buffer.from('E'));
      const bulk = await openClient(`ws://127.0.0.1:${p2.port}/`);
      let downloaded = 0;
      const hash = createHash('sha256');
      const bulkClosed = closeEvent(bulk);
      bulk.on('message', (data: Buffer) => {
        hash.update(data);
        downloaded += data.length;
      });
      bulk.send(Buffer.from('D'));
      let rounds = 0;
      let closed = false;
      void bulkClosed.then(() => (closed = true));
      const deadline = Date.now() + 60_000;
      while (!closed) {
        if (Date.now() > deadline) assert.fail(`the download stalled at ${downloaded} of ${download.length} bytes`);
        const payload = randomBytes(1 + ((rounds * 37) % 4000));
        const back = receiveBytes(interactive, payload.length);
        interactive.send(payload);
        assert.ok((await back).equals(payload), `echo ${rounds} came back altered`);
        rounds++;
      }
      assert.equal((await bulkClosed).code, 1000);
      assert.equal(downloaded, download.length);
      assert.equal(hash.digest('hex'), expected, 'every byte of the download, in order, once');
      assert.ok(rounds >= 1, 'the interactive session ran during the download');
      t.diagnostic(`${rounds} echo round trips during a 64 MiB download`);
      interactive.close();
    } finally {
      await p2.stop();
      await target.close();
    }
  });

  it('sends everything the target wrote before its close, then 1000 "Target closed"', async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const source = await startTcpTarget((socket) => socket.end(payload));
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${source.port}`]);
    try {
      const { socket, frames } = await rawSession(p2.port);
      const close = await frames.untilClose(10_000);
      socket.write(encodeFrame(8, closePayload(1000)));
      assert.equal(close.code, 1000);
      assert.equal(close.reason, 'Target closed');
      assert.equal(createHash('sha256').update(close.data).digest('hex'), createHash('sha256').update(payload).digest('hex'));
      await p2.waitForOutput(/session closed .*bytes_out=3145745 close=1000 by=target/);
    } finally {
      await p2.stop();
      await source.close();
    }
  });

  it('closes with 1011 "Failed to connect to downstream server" when the target refuses', async () => {
    const port = await closedPort();
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${port}`]);
    try {
      const { socket, frames } = await rawSession(p2.port);
      const close = await frames.untilClose();
      assert.deepEqual([close.code, close.reason], [1011, 'Failed to connect to downstream server']);
      await p2.waitForOutput(new RegExp(`Failed to connect to 127\\.0\\.0\\.1:${port}: Connection refused \\(ECONNREFUSED\\)$`));
      // This raw client never answers the close frame; hang up so that stopping the proxy does
      // not wait out --shutdown-timeout for it (6 s of suite time).
      socket.destroy();
    } finally {
      await p2.stop();
    }
  });

  it('closes with 1011 when the target resets the connection, and keeps serving', async () => {
    const resetter = await startTcpTarget((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${resetter.port}`]);
    try {
      const ws = await openClient(`ws://127.0.0.1:${p2.port}/`);
      const closed = closeEvent(ws);
      ws.send(Buffer.from('trigger'));
      const { code, reason } = await closed;
      assert.equal(code, 1011);
      assert.equal(reason, 'Target connection error');
      await p2.waitForOutput(/target connection error: ECONNRESET/);
      const again = await openClient(`ws://127.0.0.1:${p2.port}/`);
      again.close();
    } finally {
      await p2.stop();
      await resetter.close();
    }
  });

  it('carries base64 in text frames both ways when only base64 is offered', async () => {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`, ['base64']);
    assert.equal(ws.protocol, 'base64');
    const payload = randomBytes(70_000);
    const reply = new Promise<string>((resolve) => {
      let text = '';
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        assert.equal(isBinary, false, 'base64 mode answers with text frames');
        text += Buffer.from(data.toString(), 'base64').toString('latin1');
        if (text.length >= payload.length) resolve(text);
      });
    });
    ws.send(payload.toString('base64'));
    assert.ok(Buffer.from(await reply, 'latin1').equals(payload));
    ws.close();
  });

  it('closes 1003 on a text frame in binary mode, as the reference', async () => {
    const { socket, frames } = await rawSession(proxy.port);
    socket.write(encodeFrame(1, Buffer.from('hello')));
    const close = await frames.untilClose();
    assert.deepEqual([close.code, close.reason], [1003, 'Unsupported: Text frames are not supported']);
  });

  it('follows RFC 6455 where the reference does not: 1002 for unmasked frames, RSV bits, long pings and reserved close codes', async () => {
    const cases: Array<[string, Buffer]> = [
      ['unmasked frame', encodeFrame(2, Buffer.from('x'), { mask: false })],
      ['RSV1 without an extension', encodeFrame(2, Buffer.from('x'), { rsv: 4 })],
      ['ping over 125 bytes', encodeFrame(9, Buffer.alloc(126))],
      ['reserved close code 1005', encodeFrame(8, closePayload(1005))],
      ['unknown opcode 3', encodeFrame(3, Buffer.from('x'))],
      ['fragmented ping', encodeFrame(9, Buffer.from('x'), { fin: false })],
      ['continuation without a start', encodeFrame(0, Buffer.from('x'))],
    ];
    for (const [name, frame] of cases) {
      const { socket, frames } = await rawSession(proxy.port);
      socket.write(frame);
      const close = await frames.untilClose();
      assert.equal(close.code, 1002, name);
    }
  });

  it('closes 1009 when a message exceeds --max-message-size, and the process keeps serving', async () => {
    const p2 = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--max-message-size', '64K']);
    try {
      const { socket, frames } = await rawSession(p2.port);
      socket.write(encodeFrame(2, Buffer.alloc(65 * 1024)));
      assert.equal((await frames.untilClose()).code, 1009);
      const ws = await openClient(`ws://127.0.0.1:${p2.port}/`);
      const back = receiveBytes(ws, 64 * 1024);
      ws.send(Buffer.alloc(64 * 1024, 7));
      assert.equal((await back).length, 64 * 1024);
      ws.close();
    } finally {
      await p2.stop();
    }
  });

  it('reassembles fragmented messages and answers pings between fragments', async () => {
    const { socket, frames } = await rawSession(proxy.port);
    socket.write(
      Buffer.concat([
        encodeFrame(2, Buffer.from('frag'), { fin: false }),
        encodeFrame(9, Buffer.from('hi')),
        encodeFrame(0, Buffer.from('ment'), { fin: false }),
        encodeFrame(0, Buffer.from('ed')),
      ]),
    );
    const pong = await frames.next();
    assert.deepEqual([pong?.opcode, pong?.payload.toString()], [0xa, 'hi']);
    let text = '';
    while (text.length < 'fragmented'.length) text += (await frames.next())!.payload.toString();
    assert.equal(text, 'fragmented');
    socket.destroy();
  });

  it('keeps client bytes pipelined right after the request headers', async () => {
    const socket = await connect(proxy.port);
    socket.write(Buffer.concat([Buffer.from(upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'binary' } })), encodeFrame(2, Buffer.from('early bird'))]));
    const answer = await readHttpAnswer(socket);
    assert.equal(answer.status, 101);
    const frames = new FrameReader(socket, answer.rest);
    let text = '';
    while (text.length < 10) text += (await frames.next())!.payload.toString();
    assert.equal(text, 'early bird');
    socket.destroy();
  });
});
