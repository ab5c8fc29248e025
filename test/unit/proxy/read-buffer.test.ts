import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { deliverReads, READ_SIZE, recycleChunk, SHARED_READS, useSharedReads, type ChunkSink } from '../../../src/proxy/read-buffer.js';
import { tempDir } from '../../support/temp-dir.js';
import { oneReadEach, totalLength } from '../../support/socket-reads.js';
import { waitFor } from '../../support/wait.js';

interface Pair {
  /** The socket the server accepted (what a client's socket is in the proxy). */
  accepted: net.Socket;
  /** Its peer, which writes what the accepted socket reads. */
  peer: net.Socket;
  close(): void;
}

/** A connected pair, closed when test `t` ends. */
async function acceptedPair(t: TestContext, listenOn: number | string = 0): Promise<Pair> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => {
    if (typeof listenOn === 'number') server.listen(listenOn, '127.0.0.1', resolve);
    else server.listen(listenOn, resolve);
  });
  const address = server.address();
  const peer = typeof address === 'string' ? net.connect(address) : net.connect(address!.port, '127.0.0.1');
  const socket = await accepted;
  const pair = {
    accepted: socket,
    peer,
    close() {
      socket.destroy();
      peer.destroy();
      server.close();
    },
  };
  t.after(() => pair.close());
  return pair;
}

/** One write per READ_SIZE piece, so the writer's queue shrinks as the kernel takes pieces. */
function writeInReads(writer: net.Socket, bytes: Buffer): void {
  for (let offset = 0; offset < bytes.length; offset += READ_SIZE) writer.write(bytes.subarray(offset, offset + READ_SIZE));
}

const digest = (buffers: Buffer[]): string => createHash('sha256').update(Buffer.concat(buffers)).digest('hex');

test('a TCP socket the server accepted reads into the shared buffer, on this Node', async (t) => {
  const pair = await acceptedPair(t);
  // Pins the net.Socket internals used: if a Node upgrade renames them, this fails (and the
  // proxy falls back to Node's reads, which costs collections, not bytes).
  assert.equal(useSharedReads(pair.accepted), true);
  assert.equal(useSharedReads(pair.accepted), true, 'a second time changes nothing');
  const chunks = await oneReadEach(pair.peer, pair.accepted, [Buffer.from('one'), Buffer.from('two')]);
  assert.equal(Buffer.concat(chunks).toString(), 'onetwo');
});

/** An accepted socket reading into the shared buffer, its chunks collected, paused. */
async function pausedSharedReader(t: TestContext): Promise<{ pair: Pair; got: Buffer[] }> {
  const pair = await acceptedPair(t);
  assert.equal(useSharedReads(pair.accepted), true);
  const got: Buffer[] = [];
  pair.accepted.on('data', (chunk: Buffer) => got.push(chunk));
  pair.accepted.pause();
  return { pair, got };
}

test('a paused socket finishes the read under way, as with Node own reads', async (t) => {
  const { pair, got } = await pausedSharedReader(t);
  // net.Socket's own pause() would stop reading at once and leave this in the kernel.
  pair.peer.write('after the pause');
  await waitFor(() => pair.accepted.readableLength === 'after the pause'.length, { what: 'the read under way to land' });
  assert.equal(got.length, 0, 'held while paused');
  pair.accepted.resume();
  await waitFor(() => got.length > 0, { what: 'the held chunk' });
  assert.equal(Buffer.concat(got).toString(), 'after the pause');
});

test('a Unix socket takes the shared reads too; a closed one does not', async (t) => {
  const dir = tempDir();
  t.after(() => dir.cleanup());
  const pair = await acceptedPair(t, path.join(dir.dir, 'reads.sock'));
  assert.equal(useSharedReads(pair.accepted), true);
  const chunks = await oneReadEach(pair.peer, pair.accepted, [Buffer.from('over a unix socket')]);
  assert.equal(Buffer.concat(chunks).toString(), 'over a unix socket');
  const other = await acceptedPair(t);
  other.accepted.destroy();
  assert.equal(useSharedReads(other.accepted), false);
});

test('short reads share pooled ArrayBuffers rather than one each', async (t) => {
  const pair = await acceptedPair(t);
  assert.equal(useSharedReads(pair.accepted), true);
  const parts = [Buffer.from('a keystroke'), Buffer.from('an echo of 32 bytes, more or les'), Buffer.alloc(2000, 7)];
  const chunks = await oneReadEach(pair.peer, pair.accepted, parts);
  assert.deepEqual(Buffer.concat(chunks), Buffer.concat(parts));
  // Node's own reads give every chunk an ArrayBuffer of its own, of the chunk's length.
  assert.ok(chunks.length >= 2);
  assert.equal(chunks[0]!.buffer, chunks[1]!.buffer, 'two reads, one ArrayBuffer');
  assert.ok(chunks[0]!.buffer.byteLength > chunks[0]!.length);
});

test('a full read into the socket own buffer is handed on without a copy', async (t) => {
  const pair = await acceptedPair(t);
  assert.equal(useSharedReads(pair.accepted), true);
  const sent = randomBytes(16 * READ_SIZE);
  const chunks: Buffer[] = [];
  pair.accepted.pause();
  writeInReads(pair.peer, sent);
  // The kernel holds what the paused reader has not read: once reading resumes, reads are full.
  await waitFor(() => pair.peer.writableLength === 0, { what: 'the kernel to take every byte' });
  pair.accepted.on('data', (chunk: Buffer) => chunks.push(chunk));
  pair.accepted.resume();
  await waitFor(() => totalLength(chunks) === sent.length, { what: 'every byte' });
  assert.deepEqual(Buffer.concat(chunks), sent);
  const handedOn = chunks.filter((chunk) => chunk.length === READ_SIZE && chunk.byteOffset === 0 && chunk.buffer.byteLength === READ_SIZE);
  assert.ok(handedOn.length > 0, `no chunk of ${chunks.length} was a whole read buffer`);
  // Each handed-on buffer belongs to one chunk only: a later read never writes into it.
  assert.equal(new Set(handedOn.map((chunk) => chunk.buffer)).size, handedOn.length);
});

test('two sockets reading long and short writes at once: every chunk keeps its bytes, in order', async (t) => {
  const bulk = await acceptedPair(t);
  const light = await acceptedPair(t);
  assert.equal(useSharedReads(bulk.accepted), true);
  assert.equal(useSharedReads(light.accepted), true);
  const bulkSent: Buffer[] = [];
  const lightSent: Buffer[] = [];
  const bulkGot: Buffer[] = [];
  const lightGot: Buffer[] = [];
  bulk.accepted.on('data', (chunk: Buffer) => bulkGot.push(chunk));
  light.accepted.on('data', (chunk: Buffer) => lightGot.push(chunk));
  // Sizes on both sides of the pool limit and of a full read, interleaved across the two.
  const sizes = [1, 100, 4095, 4096, 20_000, READ_SIZE - 1, READ_SIZE, READ_SIZE + 1, 3 * READ_SIZE + 17, 1_000_000];
  for (let round = 0; round < 6; round++) {
    for (const size of sizes) {
      const bulkPart = randomBytes(size);
      const lightPart = randomBytes(1 + (size % 61));
      bulkSent.push(bulkPart);
      lightSent.push(lightPart);
      bulk.peer.write(bulkPart);
      light.peer.write(lightPart);
      if (size % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await waitFor(() => totalLength(bulkGot) === totalLength(bulkSent) && totalLength(lightGot) === totalLength(lightSent), {
    what: 'every byte on both sockets',
    timeoutMs: 15_000,
  });
  // The chunks were all kept until now: a read that wrote into a buffer already handed on
  // would show here as changed bytes.
  assert.equal(digest(bulkGot), digest(bulkSent));
  assert.equal(digest(lightGot), digest(lightSent));
});

test('a paused socket stops reading; resumed, it delivers the rest', async (t) => {
  const { pair, got } = await pausedSharedReader(t);
  const sent = randomBytes(16 * 1024 * 1024);
  writeInReads(pair.peer, sent);
  await waitFor(() => pair.peer.writableLength < sent.length, { what: 'the kernel to take bytes' });
  // Reading stopped at the pause: the socket holds at most one read past its high-water mark.
  const held = pair.accepted.readableLength;
  assert.ok(held <= pair.accepted.readableHighWaterMark + READ_SIZE, `${held} bytes read while paused`);
  assert.ok(pair.peer.writableLength > 0, 'the writer is held back');
  pair.accepted.resume();
  await waitFor(() => totalLength(got) === sent.length, { what: 'every byte', timeoutMs: 15_000 });
  assert.deepEqual(Buffer.concat(got), sent);
});

test('a socket this process connects reads the same way through the onread option', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', onread: SHARED_READS });
  const writer = await accepted;
  try {
    const parts = [Buffer.from('RFB 003.008\n'), Buffer.from('a short reply')];
    const chunks = await oneReadEach(writer, socket, parts);
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(parts));
    assert.equal(chunks[0]!.buffer, chunks[1]!.buffer, 'two reads, one ArrayBuffer');
    // Already reading into the shared buffer through the option.
    assert.equal(useSharedReads(socket), true);
  } finally {
    socket.destroy();
    writer.destroy();
    server.close();
  }
});

/** A sink that hands each chunk, with its socket, to `take`. */
function sinkOf(take: (socket: net.Socket, chunk: Buffer) => void): ChunkSink {
  return { onSocketChunk: take };
}

/** An accepted socket whose reads go straight to a reader; `data` counts 'data' events (none expected). */
async function deliveringPair(t: TestContext, take: (socket: net.Socket, chunk: Buffer) => void): Promise<{ pair: Pair; dataEvents: () => number }> {
  const pair = await acceptedPair(t);
  assert.equal(useSharedReads(pair.accepted), true);
  assert.equal(deliverReads(pair.accepted, sinkOf(take)), true);
  let events = 0;
  pair.accepted.on('data', () => events++);
  return { pair, dataEvents: () => events };
}

test('delivered reads go straight to the reader, in order, and emit no data event', async (t) => {
  const got: Buffer[] = [];
  const { pair, dataEvents } = await deliveringPair(t, (_socket, chunk) => got.push(chunk));
  const parts = ['RFB 003.008\n', 'a short reply', 'x'.repeat(3 * READ_SIZE)].map((part) => Buffer.from(part));
  for (const part of parts) {
    pair.peer.write(part);
    await waitFor(() => totalLength(got) >= totalLength(parts.slice(0, parts.indexOf(part) + 1)), { what: 'the part' });
  }
  assert.deepEqual(Buffer.concat(got), Buffer.concat(parts));
  assert.equal(dataEvents(), 0);
});

/**
 * A pair whose accepted socket read `early` into its readable side (paused first if asked, as a
 * held reverse server is) before its reads were handed to a collector, `got`.
 */
async function deliveredAfterEarlyRead(t: TestContext, early: string, pauseFirst: boolean): Promise<{ pair: Pair; got: Buffer[] }> {
  const pair = await acceptedPair(t);
  assert.equal(useSharedReads(pair.accepted), true);
  if (pauseFirst) pair.accepted.pause();
  pair.peer.write(early);
  // Nobody listens yet: the read waits in the readable side.
  await waitFor(() => pair.accepted.readableLength > 0, { what: 'the early read' });
  const got: Buffer[] = [];
  assert.equal(
    deliverReads(
      pair.accepted,
      sinkOf((_socket, chunk) => got.push(chunk)),
    ),
    true,
  );
  return { pair, got };
}

test('delivered reads: bytes the readable side held before go first', async (t) => {
  const { pair, got } = await deliveredAfterEarlyRead(t, 'read before the reader', false);
  pair.peer.write(', and after it');
  await waitFor(() => totalLength(got) === 'read before the reader, and after it'.length, { what: 'both reads' });
  assert.equal(Buffer.concat(got).toString(), 'read before the reader, and after it');
});

test('delivered reads: paused, the read under way is held and no more are made; resumed, the rest comes in order', async (t) => {
  const got: Buffer[] = [];
  let pauseAt = 4 * READ_SIZE;
  const { pair } = await deliveringPair(t, (socket, chunk) => {
    got.push(chunk);
    if (totalLength(got) >= pauseAt) {
      pauseAt = Infinity;
      socket.pause();
    }
  });
  const sent = randomBytes(32 * 1024 * 1024);
  writeInReads(pair.peer, sent);
  await waitFor(() => pair.accepted.isPaused(), { what: 'the reader to pause' });
  const atPause = totalLength(got);
  // Reading on would move the whole 32 MiB in this time (a fixed wait: what is awaited is nothing).
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(totalLength(got), atPause, 'nothing delivered while paused');
  // Not read and kept either: at most the read under way was taken from the kernel.
  assert.ok(pair.accepted.bytesRead <= atPause + READ_SIZE, `${pair.accepted.bytesRead - atPause} bytes read past the pause`);
  pair.accepted.resume();
  await waitFor(() => totalLength(got) === sent.length, { what: 'every byte', timeoutMs: 15_000 });
  assert.equal(digest(got), digest([sent]));
});

test('delivered reads: a reader that pauses and resumes at random loses, repeats and reorders nothing', async (t) => {
  const got: Buffer[] = [];
  let turn = 0;
  const { pair } = await deliveringPair(t, (socket, chunk) => {
    got.push(chunk);
    turn += 1;
    if (turn % 3 === 0) {
      socket.pause();
      // Resumed from outside the read, a tick or a turn later, sometimes paused again first.
      if (turn % 2 === 0) setImmediate(() => socket.resume());
      else
        process.nextTick(() => {
          socket.resume();
          socket.pause();
          setTimeout(() => socket.resume(), 1);
        });
    }
  });
  const sent = randomBytes(24 * 1024 * 1024);
  for (let offset = 0; offset < sent.length; offset += 100_000) pair.peer.write(sent.subarray(offset, offset + 100_000));
  await waitFor(() => totalLength(got) === sent.length, { what: 'every byte', timeoutMs: 20_000 });
  assert.equal(digest(got), digest([sent]));
});

test('delivered reads: the end of the stream still comes as end, after every byte', async (t) => {
  const got: Buffer[] = [];
  const { pair } = await deliveringPair(t, (_socket, chunk) => got.push(chunk));
  const ended = new Promise<number>((resolve) => pair.accepted.once('end', () => resolve(totalLength(got))));
  pair.peer.end(Buffer.alloc(200_000, 1));
  assert.equal(await ended, 200_000);
});

test('delivered reads: a socket paused before delivery began keeps its bytes for resume, and its end', async (t) => {
  const { pair, got } = await deliveredAfterEarlyRead(t, 'sent while held', true);
  assert.equal(pair.accepted.isPaused(), true);
  pair.peer.end(', then the rest');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(totalLength(got), 0, 'nothing delivered while paused');
  const ended = new Promise<string>((resolve) => pair.accepted.once('end', () => resolve(Buffer.concat(got).toString())));
  pair.accepted.resume();
  assert.equal(await ended, 'sent while held, then the rest');
});

test("delivered reads: a paused socket that closes hands what it held to the sink before the socket's other close listeners", async (t) => {
  const { pair, got } = await deliveredAfterEarlyRead(t, 'held at the pause', true);
  const order: string[] = [];
  pair.accepted.on('close', () => order.push(`close listener saw ${totalLength(got)} bytes`));
  pair.accepted.destroy();
  await waitFor(() => order.length === 1, { what: 'the close' });
  assert.equal(Buffer.concat(got).toString(), 'held at the pause');
  assert.deepEqual(order, [`close listener saw ${'held at the pause'.length} bytes`]);
});

test('delivered reads need the shared reads: a socket on Node own reads keeps its data events', async (t) => {
  const pair = await acceptedPair(t);
  assert.equal(
    deliverReads(
      pair.accepted,
      sinkOf(() => assert.fail('no chunk should come here')),
    ),
    false,
  );
  const chunks = await oneReadEach(pair.peer, pair.accepted, ['still a data event']);
  assert.equal(Buffer.concat(chunks).toString(), 'still a data event');
});

test('a chunk taken back has its buffer read into again: no buffer allocated per read; every byte still arrives, in order', async (t) => {
  // As the bridge does for a read the kernel took at once: the bytes are gone on (copied here),
  // and the chunk is given back.
  const copies: Buffer[] = [];
  const fullBuffers: ArrayBufferLike[] = [];
  const short = Buffer.alloc(100);
  const { pair } = await deliveringPair(t, (_socket, chunk) => {
    copies.push(Buffer.from(chunk));
    if (chunk.length === READ_SIZE) fullBuffers.push(chunk.buffer);
    recycleChunk(chunk);
    recycleChunk(short);
  });
  pair.accepted.pause();
  const sent = randomBytes(32 * READ_SIZE + 7);
  writeInReads(pair.peer, sent);
  await waitFor(() => pair.peer.writableLength === 0, { what: 'the kernel to take every byte' });
  // Read buffers of a socket's own come from Buffer.allocUnsafeSlow (read-buffer.ts).
  const allocate = Buffer.allocUnsafeSlow;
  let allocations = 0;
  Buffer.allocUnsafeSlow = (size: number) => {
    allocations += 1;
    return allocate(size);
  };
  t.after(() => (Buffer.allocUnsafeSlow = allocate));
  pair.accepted.resume();
  await waitFor(() => totalLength(copies) === sent.length, { what: 'every byte' });
  assert.equal(digest(copies), digest([sent]));
  assert.ok(fullBuffers.length >= 8, `only ${fullBuffers.length} full reads`);
  // Without the recycling each full read past the few spare buffers allocates one of its own.
  assert.ok(allocations <= 2, `${allocations} buffers allocated for ${fullBuffers.length} full reads`);
  assert.ok(!fullBuffers.includes(short.buffer), 'a chunk that is not a whole read buffer is not taken back');
});
