// Imported rather than the global: `Buffer` on globalThis is a getter, one call per use, and
// onRead uses it on every read.
import { Buffer } from 'node:buffer';
import type net from 'node:net';
import { Readable } from 'node:stream';

/**
 * How a session's two sockets read: into one buffer the whole process shares, copied out.
 *
 * Node's own reads allocate a fresh 64 KiB buffer for every read, and for a short read a second,
 * zero-filled one of the exact length, which becomes the chunk. Each chunk thus carries an
 * ArrayBuffer of its own, and V8 frees those only in a young-generation collection, one by one:
 * with an echo or a console (two short reads per round trip) that sweep was 0.25-0.30 ms of a
 * 0.4-0.5 ms collection. Here a short read is copied from the shared buffer into Node's pooled
 * buffers (one 8 KiB ArrayBuffer for many chunks), and the sweep takes 0.02 ms
 * (docs/performance.md, "Reads into one shared buffer").
 *
 * A bulk transfer keeps Node's cost. After a read that filled the buffer (libuv then reads again
 * at once) the socket reads into a 64 KiB buffer of its own (256 KiB for a socket set to bulk
 * reads), which becomes the chunk as it is if the read fills it too, as Node's own full reads
 * do; otherwise its bytes are copied out, as Node copies its own short reads, and the buffer is
 * kept for the next socket that needs one. After a short read (nothing more to read for now) or
 * once it is paused, a socket goes back to the shared buffer, so a waiting socket holds none of
 * its own, except one whose last read filled its buffer exactly and found nothing after it: it
 * holds that buffer until it reads again. A buffer handed on is read into again only once its
 * reader gives it back, all its bytes gone on and nothing holding it (recycleChunk); the only
 * buffer several sockets point at is the shared one, and nothing taken from it is kept without
 * a copy (test/unit/proxy/read-buffer.test.ts keeps every chunk and checks its bytes).
 */

/** One read takes up to this much, as Node's own reads do. */
export const READ_SIZE = 64 * 1024;
/**
 * A socket set to bulk reads (setBulkReads) takes up to this much per read once a read has
 * filled the shared buffer: a quarter of the reads, frames and writes per MiB, and so of the
 * JavaScript a fresh process runs before V8 has compiled it (docs/performance.md, "Bulk reads").
 */
export const BULK_READ_SIZE = 256 * 1024;
/** Buffers of a socket's own kept, of each size, for the next socket that needs one, rather than left to the collector. */
const SPARE_BUFFERS = 4;

const shared = Buffer.allocUnsafeSlow(READ_SIZE);
/** Own buffers free to read into: not handed on (their bytes were copied out), or given back (recycleChunk). */
const spare: Buffer[] = [];
/** The same, of BULK_READ_SIZE. */
const spareBulk: Buffer[] = [];
/**
 * The buffer the socket that has just read reads into next. Node asks for it (nextReadBuffer)
 * right after the read's callback returns, for the same socket, so one variable is enough.
 */
let next: Buffer = shared;

/**
 * Node calls this after each read, and once when a socket gets its handle (a new connection):
 * a buffer of a socket's own is given out once, and every other call gets the shared one.
 */
function nextReadBuffer(): Buffer {
  const buffer = next;
  next = shared;
  return buffer;
}

/**
 * Takes each chunk a socket reads, in order (deliverReads). An object with a method rather than
 * a function: the read callback then calls one method of one kind of object (the bridge), a call
 * V8 inlines, where a function called through `.call` stays a call of its own, and a small one is
 * then compiled on its own thousands of reads into a session (docs/performance.md, "The first
 * round trips of a process").
 */
export interface ChunkSink {
  onSocketChunk(socket: net.Socket, chunk: Buffer): void;
}

const kSink = Symbol('wsfy.chunkSink');
const kStopped = Symbol('wsfy.readsStopped');
const kHeld = Symbol('wsfy.heldChunk');
const kBulk = Symbol('wsfy.bulkReads');

/** A socket whose chunks go straight to a sink (deliverReads), and what pausing it left. */
interface DeliveringSocket extends net.Socket {
  [kSink]?: ChunkSink;
  /** Paused: reads stop after the one under way. */
  [kStopped]?: boolean;
  /** What reads landed while paused, delivered first on resume. */
  [kHeld]?: Buffer | undefined;
  /** Reads into buffers of BULK_READ_SIZE after a full read (setBulkReads). */
  [kBulk]?: boolean;
}

/** Paused (a function, as the sink may pause the socket while it runs). */
const stopped = (socket: DeliveringSocket): boolean => socket[kStopped] === true;

/** One read of `nread` bytes into `buffer`: the chunk goes to the socket's sink or its readable side. */
function onRead(this: DeliveringSocket, nread: number, buffer: Buffer): boolean {
  const full = nread === buffer.length;
  const own = buffer !== shared;
  let chunk: Buffer;
  if (own && full) {
    // A full buffer of the socket's own becomes the chunk, as Node's own full reads do.
    chunk = buffer;
  } else {
    // allocUnsafe takes lengths under 4 KiB from Node's shared pool: no ArrayBuffer of its own.
    // Longer short reads get a buffer of their length, as Node's own short reads do.
    chunk = Buffer.allocUnsafe(nread);
    buffer.copy(chunk, 0, 0, nread);
  }
  const sink = this[kSink];
  let readsOn: boolean;
  if (sink === undefined) {
    // push() says false past the socket's high-water mark, and Node then stops reading, as it
    // does for its own reads; resume() or read() starts it again. The chunk's reader (the
    // bridge) may also have paused the socket while push() delivered it.
    readsOn = this.push(chunk) && !this.isPaused();
  } else if (stopped(this)) {
    // The read under way when the socket was paused: kept for resume (normally the only one; a
    // second, had something else restarted the reads, is joined to it rather than lost).
    hold(this, chunk);
    readsOn = false;
  } else {
    sink.onSocketChunk(this, chunk);
    readsOn = !stopped(this);
  }
  // libuv reads again at once only after a read that filled the buffer. A socket that waits,
  // for more bytes (a short read) or for its sink (paused), waits on the shared buffer and
  // holds none of its own.
  next = readsOn && full ? ownBuffer(this[kBulk] === true) : shared;
  // An own buffer whose bytes were copied out is free again (this socket reads next into `next`).
  if (own && !full) keepSpare(buffer);
  return readsOn;
}

/** The spare buffers of one of the two read sizes; undefined for any other size. */
function sparesOfSize(size: number): Buffer[] | undefined {
  return size === READ_SIZE ? spare : size === BULK_READ_SIZE ? spareBulk : undefined;
}

/** A buffer for a socket's own next read: a spare one if there is one. */
function ownBuffer(bulk: boolean): Buffer {
  const size = bulk ? BULK_READ_SIZE : READ_SIZE;
  return sparesOfSize(size)!.pop() ?? Buffer.allocUnsafeSlow(size);
}

/** Keeps a free own buffer for a later read, up to SPARE_BUFFERS of its size. */
function keepSpare(buffer: Buffer): void {
  const list = sparesOfSize(buffer.length);
  if (list !== undefined && list.length < SPARE_BUFFERS) list.push(buffer);
}

/**
 * Takes back a chunk whose bytes have all gone on, when nothing holds it any more: a 64 KiB
 * buffer of its own (a full read) is then read into again, rather than left to the collector
 * with a fresh one allocated for the next read. The caller vouches that nothing keeps the chunk:
 * the bridge calls this only for a read it wrote at once to a plain socket that took it all,
 * with no observer (bridge.ts, flushBatch), and Node drops its references to a write that
 * completed at once. Any other chunk is left alone.
 */
export function recycleChunk(chunk: Buffer): void {
  // A whole buffer of its own: the length of both chunk and ArrayBuffer is one of the read
  // sizes. Never the shared one, and never twice (two sockets would then read into one buffer).
  const list = sparesOfSize(chunk.length);
  if (list === undefined || chunk.buffer.byteLength !== chunk.length) return;
  if (chunk.buffer === shared.buffer || list.includes(chunk)) return;
  keepSpare(chunk);
}

/**
 * Whether a delivering socket (deliverReads) reads up to BULK_READ_SIZE at a time from its next
 * full read on. The bridge turns it on for a direction whose pause threshold is several bulk
 * reads, so what a paused source leaves held (the threshold and one read) stays of the
 * threshold's order; the shared buffer, and so every short read, stays at READ_SIZE.
 */
export function setBulkReads(socket: net.Socket, bulk: boolean): void {
  const delivering = socket as DeliveringSocket;
  if (delivering[kSink] !== undefined) delivering[kBulk] = bulk;
}

/** `onread` for sockets this process opens (net.connect): the documented way to read this way. */
export const SHARED_READS: net.OnReadOpts = {
  buffer: nextReadBuffer,
  callback: onRead as unknown as net.OnReadOpts['callback'],
};

/** The net.Socket internals (Node 20's lib/net.js) that an `onread` option sets. */
interface ReadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

interface SocketHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

let readSymbols: ReadSymbols | null | undefined;

/** The fields, looked up once per process on the first socket that asks. */
function readSymbolsOf(socket: net.Socket): ReadSymbols | null {
  if (readSymbols === undefined) readSymbols = findReadSymbols(socket);
  return readSymbols;
}

function findReadSymbols(socket: net.Socket): ReadSymbols | null {
  const own = Object.getOwnPropertySymbols(socket);
  const named = (description: string): symbol | undefined => own.find((key) => key.description === description);
  const buffer = named('kBuffer');
  const callback = named('kBufferCb');
  const generator = named('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

/**
 * pause() as Readable has it, for a socket reading into the shared buffer. net.Socket's own
 * pause() stops reading at once when the socket has an `onread` buffer; this one lets the read
 * under way finish (onRead then tells Node to stop), as Node's own reads do. Measured with 200
 * downloads whose clients stop reading (test/integration/bridge-stalled.test.ts, RSS growth per
 * session): 312-329 KiB with net.Socket's pause, 154-171 with this, 143-185 with Node's reads.
 */
function pauseAfterThisRead(this: net.Socket): net.Socket {
  return Readable.prototype.pause.call(this) as net.Socket;
}

/**
 * Has a plain TCP or Unix socket read into the shared buffer from now on: true if it does (now,
 * or already through SHARED_READS). Node takes `onread` only when a socket is constructed, and a
 * server constructs the sockets it accepts, so for those this sets what that option would have
 * set and switches the handle to the shared buffer (StreamBase's useUserBuffer, as net.js does).
 * A TLS socket's handle decrypts into buffers of its own and keeps Node's reads (false), as does
 * every socket when this Node's net.Socket lacks the fields expected: slower collections, same
 * bytes. test/unit/proxy/read-buffer.test.ts pins the fields to the Node this runs on.
 */
export function useSharedReads(socket: net.Socket): boolean {
  const handle = (socket as unknown as { _handle?: SocketHandle | null })._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') return false;
  const kind = (handle as { constructor?: { name?: string } }).constructor?.name;
  if (kind !== 'TCP' && kind !== 'Pipe') return false;
  // Harmless where the adoption below fails: without an `onread` buffer, net.Socket's pause()
  // is Readable's.
  socket.pause = pauseAfterThisRead;
  const symbols = readSymbolsOf(socket);
  if (symbols === null) return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[symbols.callback] === onRead) return true;
  // Reading into some other buffer of its own: left as it is.
  if (fields[symbols.buffer] !== null) return false;
  fields[symbols.buffer] = shared;
  fields[symbols.callback] = onRead;
  fields[symbols.generator] = nextReadBuffer;
  handle.useUserBuffer(shared);
  return true;
}

/** pause() of a delivering socket: the read under way lands (held), then reads stop. */
function stopDelivery(this: DeliveringSocket): net.Socket {
  this[kStopped] = true;
  return this;
}

/** resume() of a delivering socket: what was held goes first (next tick, as Readable's resume), then reads restart. */
function resumeDelivery(this: DeliveringSocket): net.Socket {
  if (!stopped(this)) return this;
  this[kStopped] = false;
  // A socket that was paused when delivery began (a held reverse server) flows from here, as
  // one with a 'data' listener would.
  if (this.readableFlowing !== true) Readable.prototype.resume.call(this);
  if (this[kHeld] !== undefined) process.nextTick(deliverHeld, this);
  else restartReads(this);
  return this;
}

function deliveryStopped(this: DeliveringSocket): boolean {
  return stopped(this);
}

function deliverHeld(socket: DeliveringSocket): void {
  const held = socket[kHeld];
  // Paused again before this tick: the chunk waits for the next resume.
  if (held === undefined || stopped(socket) || socket.destroyed) return;
  socket[kHeld] = undefined;
  socket[kSink]!.onSocketChunk(socket, held);
  if (!stopped(socket)) restartReads(socket);
}

/** net.Socket's _read starts the handle reading unless it already is (a pause that caught no read). */
function restartReads(socket: net.Socket): void {
  if (socket.destroyed || (socket as unknown as { _handle?: unknown })._handle == null) return;
  (socket as unknown as { _read(size: number): void })._read(READ_SIZE);
}

/**
 * Hands every chunk a socket reads straight to `sink`, not through its readable side: true if
 * it does from now on, false (nothing changed) for a socket that does not read into the shared
 * buffer. For a bulk transfer this skips Readable's work per read (push, the flow, the 'data'
 * event, a read-more tick): measured with a fresh proxy, 256 MiB down, `npm run bench:second`'s
 * client, 4 interleaved runs: 1.48-1.64 ms CPU/MiB against 1.60-1.84 through 'data', and the
 * second transfer 1.09-1.29 against 1.25-1.33 (docs/performance.md, "Reads handed straight to
 * the bridge").
 *
 * pause() and resume() keep their meaning: paused, the read under way lands and is held, and no
 * more are made; resumed, the held chunk is delivered on the next tick and reads restart.
 * Bytes the readable side holds already (read before this call) go to `sink` first. The end of
 * the stream still comes as 'end', through the readable side, which is set flowing for it.
 */
export function deliverReads(socket: net.Socket, sink: ChunkSink): boolean {
  const symbols = readSymbolsOf(socket);
  if (symbols === null || (socket as unknown as Record<symbol, unknown>)[symbols.callback] !== onRead) return false;
  const delivering = socket as DeliveringSocket;
  const waiting: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) waiting.push(chunk);
  const paused = socket.isPaused();
  delivering[kSink] = sink;
  delivering[kStopped] = paused;
  // Set here, so that turning bulk reads on later leaves the socket's shape as it is.
  delivering[kBulk] = false;
  delivering.pause = stopDelivery;
  delivering.resume = resumeDelivery;
  delivering.isPaused = deliveryStopped;
  // Flowing, as with a 'data' listener (the end of the stream still comes as 'end'); a paused
  // socket is set flowing when it is resumed (resuming now would read).
  if (!paused) Readable.prototype.resume.call(socket);
  if (waiting.length > 0) {
    const early = waiting.length === 1 ? waiting[0]! : Buffer.concat(waiting);
    if (paused) hold(delivering, early);
    else sink.onSocketChunk(socket, early);
  }
  return true;
}

/**
 * Keeps a chunk a paused socket read, for resume (deliverHeld). A socket that closes first hands
 * it to its sink before the socket's other 'close' listeners run: ws, on the client's side, reads
 * what a paused socket buffered when it closes, and so does this. The listener is added only to a
 * socket that ever holds a chunk (a pause from outside a read with a read under way, or a held
 * reverse server's early bytes), so an idle session's sockets carry nothing for it.
 */
function hold(socket: DeliveringSocket, chunk: Buffer): void {
  const held = socket[kHeld];
  socket[kHeld] = held === undefined ? chunk : Buffer.concat([held, chunk]);
  if (!socket.listeners('close').includes(deliverHeldOnClose)) socket.prependListener('close', deliverHeldOnClose);
}

function deliverHeldOnClose(this: DeliveringSocket): void {
  const held = this[kHeld];
  if (held === undefined) return;
  this[kHeld] = undefined;
  this[kSink]!.onSocketChunk(this, held);
}
