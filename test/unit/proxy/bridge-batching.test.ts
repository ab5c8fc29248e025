import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket as WsClient, WebSocketServer, type WebSocket } from 'ws';
import { Bridge, type BridgeHost } from '../../../src/proxy/bridge.js';
import { MemoryBudget } from '../../../src/proxy/memory-budget.js';
import { countTurnBytes, lightSessionActive, type TurnAccount } from '../../../src/proxy/fair-turns.js';
import { provenBytes } from '../../../src/proxy/earned-threshold.js';
import { BULK_READ_SIZE, READ_SIZE, useSharedReads } from '../../../src/proxy/read-buffer.js';
import { oneReadEach } from '../../support/socket-reads.js';
import { waitFor } from '../../support/wait.js';

// When the bridge corks a socket (batching a turn's writes into one writev) and when it does not:
// a small write alone in its turn (a keystroke, an echo) must go out at once, without a cork, a
// timer and a loop phase of delay; bulk reads and later writes of the same turn are batched.

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A real TCP pair on loopback: the bridge writes to `target`; `peer` reads what arrives. */
let server: net.Server;
const pairs: net.Socket[] = [];
async function tcpPair(): Promise<{ target: net.Socket; peer: net.Socket }> {
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const target = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const peer = await accepted;
  await new Promise((resolve) => target.once('connect', resolve));
  pairs.push(target, peer);
  return { target, peer };
}
before(async () => {
  server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
after(() => {
  for (const socket of pairs) socket.destroy();
  server.close();
});

/** The parts of a ws WebSocket the bridge uses for the client -> target direction. */
function clientStandIn(): WebSocket {
  const ws = new EventEmitter() as EventEmitter & Record<string, unknown>;
  Object.assign(ws, { readyState: 1, OPEN: 1, bufferedAmount: 0, pause() {}, resume() {}, send() {}, close() {}, terminate() {} });
  return ws as unknown as WebSocket;
}

const host: BridgeHost = { mode: 'binary', observer: null, onProtocolError() {}, onTargetError() {}, onMessageTimeout() {}, onBridgeEnd() {} };

/** No budget (0), every direction starting at and keeping `bytes`. */
const threshold = (bytes: number): MemoryBudget => new MemoryBudget(0, bytes, bytes);

function countCorks(socket: net.Socket): { corks: number } {
  const counter = { corks: 0 };
  const cork = socket.cork.bind(socket);
  socket.cork = () => {
    counter.corks += 1;
    cork();
  };
  return counter;
}

test('a small write alone in its turn reaches the socket without a cork', async () => {
  const { target, peer } = await tcpPair();
  const counter = countCorks(target);
  const bridge = new Bridge(clientStandIn(), target, host, threshold(64 * 1024), 1000);
  await nextTurn();
  bridge.onClientData(Buffer.from('k'));
  assert.equal(counter.corks, 0, 'not corked');
  assert.equal(target.writableLength, 0, 'handed to the kernel at once');
  const got = await new Promise<Buffer>((resolve) => peer.once('data', resolve));
  assert.equal(got.toString(), 'k');
});

test('a second write in the same turn starts a batch, flushed in the check phase', async () => {
  const { target, peer } = await tcpPair();
  const counter = countCorks(target);
  const bridge = new Bridge(clientStandIn(), target, host, threshold(64 * 1024), 1000);
  await nextTurn();
  bridge.onClientData(Buffer.from('a'));
  bridge.onClientData(Buffer.from('b'));
  bridge.onClientData(Buffer.from('c'));
  assert.equal(counter.corks, 1, 'one cork for the rest of the turn');
  assert.equal(target.writableLength, 2, 'b and c wait for the end of the turn');
  await nextTurn();
  assert.equal(target.writableLength, 0, 'uncorked in the check phase');
  let got = '';
  while (got.length < 3) got += ((await new Promise<Buffer>((resolve) => peer.once('data', resolve))) as Buffer).toString();
  assert.equal(got, 'abc', 'in order');
});

test('a bulk read is batched even when it is the first of its turn', async () => {
  const { target } = await tcpPair();
  const counter = countCorks(target);
  const bridge = new Bridge(clientStandIn(), target, host, threshold(1024 * 1024), 1000);
  await nextTurn();
  bridge.onClientData(Buffer.alloc(64 * 1024));
  assert.equal(counter.corks, 1);
  await nextTurn();
  assert.equal(target.writableLength < 64 * 1024, true, 'flushed towards the kernel after the turn');
});

test('the bridge has both its sockets read into the shared buffer, the target straight into the bridge', async () => {
  const { target, peer: targetPeer } = await tcpPair();
  // The client's socket as a server accepted it: it could not be given `onread` when made.
  const { target: clientPeer, peer: clientSocket } = await tcpPair();
  let received = '';
  clientPeer.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const ws = clientStandIn();
  Object.assign(ws, { _socket: clientSocket });
  // The observer sees each target chunk as the bridge gets it.
  const fromTarget: Buffer[] = [];
  new Bridge(ws, target, { ...host, observer: { onTargetData: (chunk: Buffer) => fromTarget.push(chunk) } }, threshold(64 * 1024), 1000);
  let dataEvents = 0;
  target.on('data', () => dataEvents++);
  for (const part of ['RFB 003.008\n', 'a short update']) {
    const expected = fromTarget.length + 1;
    targetPeer.write(part);
    await waitFor(() => fromTarget.length === expected, { what: 'the part at the bridge' });
  }
  assert.equal(Buffer.concat(fromTarget).toString(), 'RFB 003.008\na short update');
  // Two short reads of a socket, one ArrayBuffer (Node's own reads make one per read).
  assert.equal(fromTarget[0]!.buffer, fromTarget[1]!.buffer, 'the target reads into the shared buffer');
  assert.equal(dataEvents, 0, "the target's reads skip its readable side");
  const fromClient = await oneReadEach(clientPeer, clientSocket, ['key', 'press']);
  assert.equal(fromClient[0]!.buffer, fromClient[1]!.buffer, 'the client socket reads into the shared buffer');
  assert.equal(useSharedReads(clientSocket), true);
  // The bridge sent both on to the client in order.
  await waitFor(() => received.length >= 26, { what: 'both frames at the client' });
  const got = received;
  assert.match(got, /RFB 003\.008\n[\s\S]*a short update/);
});

/** A bridge between a real ws session and a TCP target, the pause threshold 64 KiB both ways unless `budget` says otherwise. */
async function wsSession(
  t: { after(fn: () => void): void },
  budget = threshold(64 * 1024),
): Promise<{ client: WsClient; serverSide: WebSocket; target: net.Socket; targetPeer: net.Socket; bridge: Bridge }> {
  const { target, peer: targetPeer } = await tcpPair();
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.after(() => wss.close());
  await new Promise((resolve) => wss.once('listening', resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WsClient(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/`);
  t.after(() => client.terminate());
  const serverSide = await accepted;
  await new Promise((resolve) => client.once('open', resolve));
  const bridge = new Bridge(serverSide, target, host, budget, 1000);
  return { client, serverSide, target, targetPeer, bridge };
}

test("a binary session reads the client's socket straight into the bridge: no data event, every byte in order", async (t) => {
  const { serverSide, client, targetPeer } = await wsSession(t);
  const clientSocket = (serverSide as unknown as { _socket: net.Socket })._socket;
  let dataEvents = 0;
  clientSocket.on('data', () => dataEvents++);
  // Small messages (each its own read) and one that spans several reads.
  const sent = [Buffer.from('key'), Buffer.from('press'), Buffer.alloc(300_000, 0x5a), Buffer.from('end')];
  for (const message of sent) client.send(message, { binary: true });
  const total = sent.reduce((sum, message) => sum + message.length, 0);
  const got: Buffer[] = [];
  targetPeer.on('data', (chunk: Buffer) => got.push(chunk));
  await waitFor(() => got.reduce((sum, chunk) => sum + chunk.length, 0) >= total, { what: 'every byte at the target' });
  assert.deepEqual(Buffer.concat(got), Buffer.concat(sent));
  assert.equal(dataEvents, 0, "the client socket's reads skip its readable side and ws's data listener");
});

/** Counts calls of a method of `object`, from now on. */
function countCalls(object: object, method: string): { calls: number } {
  const counter = { calls: 0 };
  const record = object as Record<string, (...args: unknown[]) => unknown>;
  const original = record[method]!;
  record[method] = function (this: unknown, ...args: unknown[]) {
    counter.calls += 1;
    return original.apply(this, args);
  };
  return counter;
}

/** 16 MiB whose every 4 bytes hold their own offset: a byte lost, repeated or moved shows. */
function numberedBytes(): Buffer {
  const bytes = Buffer.alloc(16 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32BE(i, i);
  return bytes;
}

/** Sends `sent` with `send` and waits until what `collect` hands over adds up to it; returns the pieces. */
async function transfer(sent: Buffer, collect: (take: (piece: Buffer) => void) => void, send: () => void): Promise<Buffer[]> {
  const got: Buffer[] = [];
  let received = 0;
  collect((piece) => {
    got.push(piece);
    received += piece.length;
  });
  send();
  await waitFor(() => received >= sent.length, { what: 'every byte', timeoutMs: 20_000 });
  assert.deepEqual(Buffer.concat(got), sent);
  return got;
}

test('down: a reader that keeps up costs no pause per read at a 64 KiB threshold, and gets every byte in order', async (t) => {
  const { client, target, targetPeer } = await wsSession(t);
  const pauses = countCalls(target, 'pause');
  const sent = numberedBytes();
  const got = await transfer(
    sent,
    (take) => client.on('message', take),
    () => targetPeer.write(sent),
  );
  // Each 64 KiB read crosses the threshold: it used to pause the target every time (256 pauses).
  // The crossing send is written at once, and the target pauses only when the kernel kept some.
  assert.ok(pauses.calls < got.length / 4, `${pauses.calls} pauses for ${got.length} frames`);
});

test('up: a target that keeps up costs no pause of the client per read at a 64 KiB threshold, and gets every byte in order', async (t) => {
  const { client, serverSide, targetPeer } = await wsSession(t);
  const pauses = countCalls(serverSide, 'pause');
  const sent = numberedBytes();
  await transfer(
    sent,
    (take) => targetPeer.on('data', take),
    () => {
      for (let i = 0; i < sent.length; i += 64 * 1024) client.send(sent.subarray(i, i + 64 * 1024), { binary: true });
    },
  );
  assert.ok(pauses.calls < 256 / 4, `${pauses.calls} pauses for 256 messages of 64 KiB`);
});

/** The own property names of a socket's write state: a change means V8 sees it with another shape. */
function writeStateKeys(socket: net.Socket): string[] {
  return Reflect.ownKeys((socket as unknown as { _writableState: object })._writableState).map(String);
}

test("both sockets' write states keep the properties they have at the session's start through a transfer each way", async (t) => {
  const { client, serverSide, target, targetPeer } = await wsSession(t);
  const clientSocket = (serverSide as unknown as { _socket: net.Socket })._socket;
  const atStart = { client: writeStateKeys(clientSocket), target: writeStateKeys(target) };
  const sent = numberedBytes().subarray(0, 4 * 1024 * 1024);
  await transfer(
    sent,
    (take) => client.on('message', take),
    () => targetPeer.write(sent),
  );
  await transfer(
    sent,
    (take) => targetPeer.on('data', take),
    () => client.send(sent),
  );
  // Node adds a property to a write state the first time a write with a callback completes at
  // once; code optimized in one session then met every later session's sockets in another shape.
  assert.deepEqual(writeStateKeys(clientSocket), atStart.client, "the client socket's write state");
  assert.deepEqual(writeStateKeys(target), atStart.target, "the target socket's write state");
});

/** A bridge's private read-size state, read by the tests below (not part of its interface). */
interface ReadSizeState {
  targetReadsInBulk: boolean;
  clientReadsInBulk: boolean;
}

/** Each read of `socket` that reaches `bridge`: where it starts, its size, and what `note` says then. */
function recordReads<T>(bridge: Bridge, socket: net.Socket, note: () => T): { at: number; size: number; note: T }[] {
  const reads: { at: number; size: number; note: T }[] = [];
  let readBytes = 0;
  const onSocketChunk = bridge.onSocketChunk.bind(bridge);
  bridge.onSocketChunk = (from, chunk) => {
    if (from === socket) {
      reads.push({ at: readBytes, size: chunk.length, note: note() });
      readBytes += chunk.length;
    }
    onSocketChunk(from, chunk);
  };
  return reads;
}

/** `length` bytes from `offset` of a stream whose every 4 bytes hold their own offset. */
function numberedPiece(offset: number, length: number): Buffer {
  const piece = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) piece.writeUInt32BE((offset + i) % 2 ** 32, i);
  return piece;
}

/** Takes a numbered stream (numberedPiece) in pieces of any length: what came, and whether every byte was where it belongs. */
function numberedReader(): { take(piece: Buffer): void; received(): number; inOrder(): boolean } {
  let received = 0;
  let checked = 0;
  let inOrder = true;
  let carry = Buffer.alloc(0);
  return {
    take(piece) {
      received += piece.length;
      // Pieces need not end on a 4-byte boundary.
      const bytes = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
      const whole = bytes.length - (bytes.length % 4);
      for (let i = 0; i < whole; i += 4) if (bytes.readUInt32BE(i) !== (checked + i) % 2 ** 32) inOrder = false;
      checked += whole;
      carry = Buffer.from(bytes.subarray(whole));
    },
    received: () => received,
    inOrder: () => inOrder,
  };
}

/**
 * The reads of a source whose direction earns its threshold: none over READ_SIZE before the
 * proof, none over BULK_READ_SIZE, and one over READ_SIZE only where the bridge had bulk reads
 * on at that read or the one before (the buffer a read lands in is chosen after the one before).
 */
function checkReadSizes(reads: { at: number; size: number; bulk: boolean }[], proof: number): void {
  const early = reads.filter((read) => read.at < proof);
  assert.ok(
    early.every((read) => read.size <= READ_SIZE),
    `a read of ${Math.max(...early.map((read) => read.size))} bytes before the proof`,
  );
  assert.ok(reads.every((read) => read.size <= BULK_READ_SIZE));
  reads.forEach((read, i) => {
    if (read.size > READ_SIZE) assert.ok(read.bulk || reads[i - 1]?.bulk === true, `a read of ${read.size} bytes at ${read.at} with bulk reads off`);
  });
}

/**
 * Moves numbered bytes with `send(piece)` in steps of 4 MiB, each once `received()` has it all,
 * until `done()` or `most` bytes; returns how many it moved. A pause the machine makes slow
 * (a busy CI runner) starts a direction's proof over, so how far it takes is not fixed.
 */
async function moveUntil(send: (piece: Buffer) => void, received: () => number, done: () => boolean, from: number, most: number): Promise<number> {
  let moved = from;
  while (!done() && moved < most) {
    const piece = numberedPiece(moved, 4 * 1024 * 1024);
    send(piece);
    moved += piece.length;
    await waitFor(() => received() >= moved, { what: 'every byte so far', timeoutMs: 30_000 });
  }
  return moved;
}

test('down: the target reads in bulk once its reader has proven itself, and in single reads again while a console shares the process', async (t) => {
  // --initial-buffer-size 64K, --buffer-size 1M, no memory budget: the defaults.
  const { client, target, targetPeer, bridge } = await wsSession(t, new MemoryBudget(0, 1024 * 1024, 64 * 1024));
  const state = bridge as unknown as ReadSizeState;
  const reads = recordReads(bridge, target, () => ({ bulk: state.targetReadsInBulk, light: lightSessionActive() }));
  const stream = numberedReader();
  client.on('message', (message: Buffer) => stream.take(message));
  const proof = provenBytes();
  const bulkSeen = (): boolean => reads.some((read) => read.size > READ_SIZE);
  const moved = await moveUntil((piece) => targetPeer.write(piece), stream.received, bulkSeen, 0, proof + 128 * 1024 * 1024);
  assert.ok(bulkSeen(), `no read larger than a single one in ${moved} bytes (proof ${proof})`);
  checkReadSizes(
    reads.map((read) => ({ at: read.at, size: read.size, bulk: read.note.bulk })),
    proof,
  );
  // A console moves 32 bytes in every turn from here on (fair-turns.ts).
  const console: TurnAccount = { turnSeen: -1, turnBytes: 0, heavyTurn: -1 };
  let consoleOn = true;
  t.after(() => (consoleOn = false));
  const keystrokes = (): void => {
    if (!consoleOn) return;
    countTurnBytes(console, 32);
    setImmediate(keystrokes);
  };
  keystrokes();
  const before = reads.length;
  await moveUntil(
    (piece) => targetPeer.write(piece),
    stream.received,
    () => false,
    moved,
    moved + 16 * 1024 * 1024,
  );
  consoleOn = false;
  assert.ok(stream.inOrder(), 'every byte, in order');
  // Next to the console, single reads again: the read under way when it appeared may be a bulk one.
  const nextToConsole = reads.slice(before).filter((read) => read.note.light);
  assert.ok(nextToConsole.length > 16, `only ${nextToConsole.length} reads next to the console`);
  assert.ok(
    nextToConsole.slice(1).every((read) => read.size <= READ_SIZE),
    `sizes next to the console: ${nextToConsole.map((read) => read.size).join(' ')}`,
  );
});

test("up: the client's socket reads in bulk once the target has proven itself, not before, and every byte arrives in order", async (t) => {
  const { client, serverSide, targetPeer, bridge } = await wsSession(t, new MemoryBudget(0, 1024 * 1024, 64 * 1024));
  const clientSocket = (serverSide as unknown as { _socket: net.Socket })._socket;
  const state = bridge as unknown as ReadSizeState;
  const reads = recordReads(bridge, clientSocket, () => state.clientReadsInBulk);
  const stream = numberedReader();
  targetPeer.on('data', (chunk: Buffer) => stream.take(chunk));
  const proof = provenBytes();
  const bulkSeen = (): boolean => reads.some((read) => read.size > READ_SIZE);
  const send = (piece: Buffer): void => {
    for (let i = 0; i < piece.length; i += 256 * 1024) client.send(piece.subarray(i, i + 256 * 1024), { binary: true });
  };
  const moved = await moveUntil(send, stream.received, bulkSeen, 0, proof + 128 * 1024 * 1024);
  assert.ok(stream.inOrder(), 'every byte, in order');
  assert.ok(bulkSeen(), `no read larger than a single one in ${moved} bytes (proof ${proof})`);
  // The client's reads carry frame headers too: a little more than the payload, never less.
  checkReadSizes(
    reads.map((read) => ({ at: read.at, size: read.size, bulk: read.note })),
    proof,
  );
});
