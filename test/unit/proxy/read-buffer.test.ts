import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { READ_SIZE, SHARED_READS, useSharedReads } from '../../../src/proxy/read-buffer.js';
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

async function acceptedPair(listenOn: number | string = 0): Promise<Pair> {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => {
    if (typeof listenOn === 'number') server.listen(listenOn, '127.0.0.1', resolve);
    else server.listen(listenOn, resolve);
  });
  const address = server.address();
  const peer = typeof address === 'string' ? net.connect(address) : net.connect(address!.port, '127.0.0.1');
  const socket = await accepted;
  return {
    accepted: socket,
    peer,
    close() {
      socket.destroy();
      peer.destroy();
      server.close();
    },
  };
}

/** One write per READ_SIZE piece, so the writer's queue shrinks as the kernel takes pieces. */
function writeInReads(writer: net.Socket, bytes: Buffer): void {
  for (let offset = 0; offset < bytes.length; offset += READ_SIZE) writer.write(bytes.subarray(offset, offset + READ_SIZE));
}

const digest = (buffers: Buffer[]): string => createHash('sha256').update(Buffer.concat(buffers)).digest('hex');

test('a TCP socket the server accepted reads into the shared buffer, on this Node', async () => {
  const pair = await acceptedPair();
  try {
    // Pins the net.Socket internals used: if a Node upgrade renames them, this fails (and the
    // proxy falls back to Node's reads, which costs collections, not bytes).
    assert.equal(useSharedReads(pair.accepted), true);
    assert.equal(useSharedReads(pair.accepted), true, 'a second time changes nothing');
    const chunks = await oneReadEach(pair.peer, pair.accepted, [Buffer.from('one'), Buffer.from('two')]);
    assert.equal(Buffer.concat(chunks).toString(), 'onetwo');
  } finally {
    pair.close();
  }
});

/** An accepted socket reading into the shared buffer, its chunks collected, paused. */
async function pausedSharedReader(): Promise<{ pair: Pair; got: Buffer[] }> {
  const pair = await acceptedPair();
  assert.equal(useSharedReads(pair.accepted), true);
  const got: Buffer[] = [];
  pair.accepted.on('data', (chunk: Buffer) => got.push(chunk));
  pair.accepted.pause();
  return { pair, got };
}

test('a paused socket finishes the read under way, as with Node own reads', async () => {
  const { pair, got } = await pausedSharedReader();
  try {
    // net.Socket's own pause() would stop reading at once and leave this in the kernel.
    pair.peer.write('after the pause');
    await waitFor(() => pair.accepted.readableLength === 'after the pause'.length, { what: 'the read under way to land' });
    assert.equal(got.length, 0, 'held while paused');
    pair.accepted.resume();
    await waitFor(() => got.length > 0, { what: 'the held chunk' });
    assert.equal(Buffer.concat(got).toString(), 'after the pause');
  } finally {
    pair.close();
  }
});

test('a Unix socket takes the shared reads too; a closed one does not', async () => {
  const dir = tempDir();
  const pair = await acceptedPair(path.join(dir.dir, 'reads.sock'));
  try {
    assert.equal(useSharedReads(pair.accepted), true);
    const chunks = await oneReadEach(pair.peer, pair.accepted, [Buffer.from('over a unix socket')]);
    assert.equal(Buffer.concat(chunks).toString(), 'over a unix socket');
    const other = await acceptedPair();
    other.accepted.destroy();
    assert.equal(useSharedReads(other.accepted), false);
    other.close();
  } finally {
    pair.close();
    dir.cleanup();
  }
});

test('short reads share pooled ArrayBuffers rather than one each', async () => {
  const pair = await acceptedPair();
  try {
    assert.equal(useSharedReads(pair.accepted), true);
    const parts = [Buffer.from('a keystroke'), Buffer.from('an echo of 32 bytes, more or les'), Buffer.alloc(2000, 7)];
    const chunks = await oneReadEach(pair.peer, pair.accepted, parts);
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(parts));
    // Node's own reads give every chunk an ArrayBuffer of its own, of the chunk's length.
    assert.ok(chunks.length >= 2);
    assert.equal(chunks[0]!.buffer, chunks[1]!.buffer, 'two reads, one ArrayBuffer');
    assert.ok(chunks[0]!.buffer.byteLength > chunks[0]!.length);
  } finally {
    pair.close();
  }
});

test('a full read into the socket own buffer is handed on without a copy', async () => {
  const pair = await acceptedPair();
  try {
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
  } finally {
    pair.close();
  }
});

test('two sockets reading long and short writes at once: every chunk keeps its bytes, in order', async () => {
  const bulk = await acceptedPair();
  const light = await acceptedPair();
  try {
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
  } finally {
    bulk.close();
    light.close();
  }
});

test('a paused socket stops reading; resumed, it delivers the rest', async () => {
  const { pair, got } = await pausedSharedReader();
  try {
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
  } finally {
    pair.close();
  }
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
