import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { WebSocket } from 'ws';

/**
 * The client -> target data path for binary sessions: reads the client's masked binary frames
 * straight off the socket's chunks, unmasks them in place and hands the payload on as it
 * arrives, without assembling messages. Everything else (ping, pong, close, and any frame ws
 * would refuse or treat differently) still goes to ws's own receiver, so the close handshake,
 * auto-pong, heartbeats and every protocol error keep ws's behaviour and close codes.
 *
 * Why (docs/performance.md, `npm run bench` up): ws assembles each message before emitting it.
 * A 64 KiB message spans two of Node's 64 KiB socket reads, so every message costs a fresh
 * 64 KiB allocation and a copy (`Receiver.consume`: 12 % of the proxy's CPU under `--prof`).
 * A WebSocket-to-TCP bridge has no use for message boundaries: the target gets a byte stream.
 * Reading frames here makes one socket read one target write, as in a plain TCP relay.
 *
 * Hooked in by replacing `write` on ws's Receiver instance (ws 8 feeds every socket chunk,
 * including what is left in the socket when it closes, through `receiver.write`). The install
 * checks the receiver's state first and leaves ws alone when anything is unexpected, so a ws
 * upgrade that changes those internals costs speed, never correctness
 * (test/unit/proxy/client-frame-reader.test.ts pins them).
 */

/** Receives the unmasked payload of the client's binary data frames, in order. */
export interface ClientDataSink {
  /** The sink batches what arrives in one turn of the event loop into one write. */
  onClientData(data: Buffer): void;
}

/** The ws 8 Receiver fields read or set here (lib/receiver.js). */
interface WsReceiver {
  write(chunk: Buffer): boolean;
  _state: number;
  _bufferedBytes: number;
  _fragmented: number;
  _totalPayloadLength: number;
  _maxPayload: number;
  _compressed: boolean;
  [kReader]?: ClientFrameReader;
}

const kReader = Symbol('wsfy.clientFrameReader');
/** ws's Receiver state before a frame's first byte. */
const WS_GET_INFO = 0;
const OPCODE_CONTINUATION = 0x0;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PONG = 0xa;
/** Payload lengths above 2^53 - 1 cannot be counted in a double; ws refuses them (1009). */
const MAX_HIGH_WORD = 2 ** 21 - 1;
/**
 * Two payload runs of one socket read separated by a frame header are joined by copying the
 * shorter one next to the other when it is at most this long; longer runs go out as two
 * buffers of one writev. Small messages thus cost one buffer per read, not one per message.
 */
const JOIN_BELOW = 4096;
/**
 * Below this, unmasking in JavaScript beats the native call (optimized, per frame: 16 bytes 24
 * against 189 ns, 64 bytes 69 against 187, 128 bytes 76 against 105, 256 bytes 150 against 106).
 * The JavaScript loop also makes unmaskRange reach V8's optimizing compiler within the first few
 * hundred frames of an echo: with the native call for 64-byte frames it did so only after ~3,900,
 * a compile that held up one round trip by 2-3 ms (docs/performance.md, "The first round trips
 * of a process").
 */
const NATIVE_UNMASK_FROM = 192;

/** A frame header: where its bytes are, and how many of them this read supplied. */
interface FrameHeader {
  buf: Buffer;
  offset: number;
  length: number;
  consumed: number;
}

const enum FrameKind {
  /** A binary data frame, read here. */
  Data,
  /** Ping or pong: ws reads it, then the reader goes on. */
  Control,
  /** ws runs the close handshake and drops what follows. */
  Close,
  /** A frame ws must judge (text, refused, too large): ws reads the rest of the stream. */
  Refer,
}

type Unmask = (buffer: Buffer, mask: Buffer) => void;
const nativeUnmask: Unmask | null = ((): Unmask | null => {
  try {
    return (createRequire(import.meta.url)('bufferutil') as { unmask: Unmask }).unmask;
  } catch {
    return null;
  }
})();

/** One process-wide scratch key: unmasking is synchronous, so sessions never share it at once. */
const rotatedKey = Buffer.alloc(4);

/** XORs buf[start, end) with the 32-bit key, starting `phase` bytes into it. */
function unmaskRange(buf: Buffer, start: number, end: number, key: number, phase: number): void {
  const shift = (phase & 3) * 8;
  const rotated = shift === 0 ? key : ((key << shift) | (key >>> (32 - shift))) >>> 0;
  if (nativeUnmask !== null && end - start >= NATIVE_UNMASK_FROM) {
    rotatedKey.writeUInt32BE(rotated, 0);
    nativeUnmask(buf.subarray(start, end), rotatedKey);
    return;
  }
  const k0 = rotated >>> 24;
  const k1 = (rotated >>> 16) & 0xff;
  const k2 = (rotated >>> 8) & 0xff;
  const k3 = rotated & 0xff;
  let i = start;
  for (; i + 3 < end; i += 4) {
    buf[i] = (buf[i] as number) ^ k0;
    buf[i + 1] = (buf[i + 1] as number) ^ k1;
    buf[i + 2] = (buf[i + 2] as number) ^ k2;
    buf[i + 3] = (buf[i + 3] as number) ^ k3;
  }
  // The last 0-3 bytes, without a list of the key's bytes: this runs for every frame.
  if (i < end) buf[i] = (buf[i] as number) ^ k0;
  if (i + 1 < end) buf[i + 1] = (buf[i + 1] as number) ^ k1;
  if (i + 2 < end) buf[i + 2] = (buf[i + 2] as number) ^ k2;
}

function readerWrite(this: WsReceiver, chunk: Buffer): boolean {
  return this[kReader]!.write(chunk);
}

/**
 * Puts a reader in front of `ws`'s receiver when the session can use one: binary mode, no
 * per-message observer (recording and --traffic want whole messages), and a receiver that has
 * not started a frame yet. Returns null, leaving ws as it is, otherwise.
 */
export function attachClientFrameReader(ws: WebSocket, sink: ClientDataSink): ClientFrameReader | null {
  const receiver = (ws as unknown as { _receiver?: WsReceiver })._receiver;
  if (
    receiver === undefined ||
    receiver === null ||
    receiver._state !== WS_GET_INFO ||
    receiver._bufferedBytes !== 0 ||
    receiver._fragmented !== 0 ||
    typeof receiver._maxPayload !== 'number' ||
    typeof receiver.write !== 'function' ||
    Object.prototype.hasOwnProperty.call(receiver, 'write')
  ) {
    return null;
  }
  const reader = new ClientFrameReader(receiver, sink, receiver.write);
  receiver[kReader] = reader;
  receiver.write = readerWrite;
  return reader;
}

export class ClientFrameReader {
  /** Payload bytes of the current data frame not read yet. */
  private payloadLeft = 0;
  /** Bytes of the current control frame still to pass to ws. */
  private forwardLeft = 0;
  /** The current data frame's masking key (big-endian) and how far into it the next byte is. */
  private key = 0;
  private keyPhase = 0;
  /** A binary message was started without FIN; continuation frames belong to it. */
  private fragmented = false;
  /** Payload bytes of the current message so far, against ws's maxPayload (--max-message-size). */
  private messageBytes = 0;
  /** A frame header cut by the end of a read, kept until the rest arrives. */
  private partial: Buffer | null = null;
  private partialLength = 0;
  /** ws owns the rest of the stream: after a close frame, or after a frame left to ws. */
  private handedOver = false;

  constructor(
    private readonly receiver: WsReceiver,
    private readonly sink: ClientDataSink,
    /** The receiver's own write (Writable.prototype.write), for what ws reads. */
    private readonly wsWrite: WsReceiver['write'],
  ) {}

  /** Same contract as ws's `receiver.write`: false asks the socket to pause. */
  write(chunk: Buffer): boolean {
    if (this.handedOver) return this.toWs(chunk);
    const end = chunk.length;
    let ok = true;
    let i = 0;
    // The payload bytes read so far that are not yet handed on: chunk[runStart, runEnd).
    let runStart = 0;
    let runEnd = 0;
    while (i < end) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, end - i);
        unmaskRange(chunk, i, i + take, this.key, this.keyPhase);
        this.keyPhase = (this.keyPhase + take) & 3;
        this.payloadLeft -= take;
        // Join this piece to the run before it when that is cheap, else send the run now.
        if (runEnd === runStart) {
          runStart = i;
          runEnd = i + take;
        } else if (take <= JOIN_BELOW && take <= runEnd - runStart) {
          chunk.copyWithin(runEnd, i, i + take);
          runEnd += take;
        } else if (runEnd - runStart <= JOIN_BELOW) {
          chunk.copyWithin(i - (runEnd - runStart), runStart, runEnd);
          runStart = i - (runEnd - runStart);
          runEnd = i + take;
        } else {
          this.sink.onClientData(chunk.subarray(runStart, runEnd));
          runStart = i;
          runEnd = i + take;
        }
        i += take;
        continue;
      }
      if (this.forwardLeft > 0) {
        const take = Math.min(this.forwardLeft, end - i);
        this.forwardLeft -= take;
        ok = this.toWs(chunk.subarray(i, i + take)) && ok;
        i += take;
        continue;
      }
      const header = this.readHeader(chunk, i);
      if (header === null) break; // cut by the end of this read; kept in `partial`
      const kind = this.classify(header);
      i += header.consumed;
      if (kind === FrameKind.Data) continue;
      // ws acts on what comes next (a close ends the target): the bytes before it go first.
      if (runEnd > runStart) {
        this.sink.onClientData(chunk.subarray(runStart, runEnd));
        runStart = runEnd = 0;
      }
      const headerBytes = ownBytes(header, chunk);
      if (kind === FrameKind.Control) {
        ok = this.toWs(headerBytes) && ok;
        continue;
      }
      // A close frame (ws ignores what follows it) or a frame ws must judge: ws reads the rest.
      if (kind === FrameKind.Refer) this.handOver();
      this.handedOver = true;
      ok = this.toWs(headerBytes) && ok;
      if (i < end) ok = this.toWs(chunk.subarray(i)) && ok;
      return ok;
    }
    if (runEnd > runStart) this.sink.onClientData(chunk.subarray(runStart, runEnd));
    return ok;
  }

  private toWs(bytes: Buffer): boolean {
    return this.wsWrite.call(this.receiver, bytes);
  }

  /**
   * The header starting at chunk[at], as a buffer holding the whole of it (the chunk itself
   * when it is all there), with its offset; null when the read ended inside it.
   */
  private readHeader(chunk: Buffer, at: number): FrameHeader | null {
    if (this.partialLength === 0) {
      const length = headerLength(chunk, at, chunk.length - at);
      if (length !== 0 && chunk.length - at >= length) return { buf: chunk, offset: at, length, consumed: length };
    }
    return this.readSplitHeader(chunk, at);
  }

  /**
   * A header cut by the end of a read: kept, or completed from the read that follows. Apart
   * from readHeader, which runs once per frame: a function that small V8 optimizes at its first
   * tick, long before a session's 3,000th round trip, where with this part in it the compile
   * came at the ~4,400th, inside the window the second client measures (docs/performance.md,
   * "The first round trips of a process").
   */
  private readSplitHeader(chunk: Buffer, at: number): FrameHeader | null {
    if (this.partialLength === 0) {
      this.partial ??= Buffer.allocUnsafe(14);
      chunk.copy(this.partial, 0, at);
      this.partialLength = chunk.length - at;
      return null;
    }
    // Complete the header kept from the previous read.
    const partial = this.partial!;
    const before = this.partialLength;
    const firstTwo = Math.min(2 - Math.min(before, 2), chunk.length - at);
    if (firstTwo > 0) chunk.copy(partial, before, at, at + firstTwo);
    const have = before + firstTwo;
    const length = headerLength(partial, 0, have);
    const need = length === 0 ? 2 : length;
    const more = Math.min(need - have, chunk.length - at - firstTwo);
    if (more > 0) chunk.copy(partial, have, at + firstTwo, at + firstTwo + more);
    this.partialLength = have + Math.max(more, 0);
    if (length === 0 || this.partialLength < length) return null;
    this.partialLength = 0;
    return { buf: partial, offset: 0, length, consumed: length - before };
  }

  /**
   * Decides who reads the frame whose header was just read. Binary data frames are read here
   * (their key and length are taken); valid control frames go to ws whole, header included;
   * anything else is for ws to judge, from this header on.
   */
  private classify(header: FrameHeader): FrameKind {
    const { buf, offset, length } = header;
    const b0 = buf[offset] as number;
    const b1 = buf[offset + 1] as number;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    const plain = (b0 & 0x70) === 0 && (b1 & 0x80) !== 0;

    if (plain && opcode >= OPCODE_CLOSE && opcode <= OPCODE_PONG && fin && len7 <= 125 && !(opcode === OPCODE_CLOSE && len7 === 1)) {
      this.forwardLeft = len7;
      return opcode === OPCODE_CLOSE ? FrameKind.Close : FrameKind.Control;
    }
    const payloadLength = plain ? extendedLength(buf, offset, len7) : -1;
    const ours =
      plain &&
      payloadLength >= 0 &&
      (opcode === OPCODE_BINARY ? !this.fragmented : opcode === OPCODE_CONTINUATION && this.fragmented) &&
      (this.receiver._maxPayload <= 0 || this.messageBytes + payloadLength <= this.receiver._maxPayload);
    if (!ours) return FrameKind.Refer;
    this.key = buf.readUInt32BE(offset + length - 4);
    this.keyPhase = 0;
    this.payloadLeft = payloadLength;
    this.fragmented = !fin;
    this.messageBytes = fin ? 0 : this.messageBytes + payloadLength;
    return FrameKind.Data;
  }

  /**
   * ws reads everything from this frame header on. Its receiver is told about the message in
   * progress first, so it judges this frame exactly as if it had read the stream all along
   * (a text frame inside a binary message is 1002, the message's size counts against 1009).
   */
  private handOver(): void {
    if (this.fragmented) {
      this.receiver._fragmented = OPCODE_BINARY;
      this.receiver._totalPayloadLength = this.messageBytes;
    }
  }
}

/**
 * A header's bytes to give ws, which may keep a view of them (its mask key). A header kept
 * across reads lives in the reader's reused buffer, so ws gets a copy of that one.
 */
function ownBytes({ buf, offset, length }: FrameHeader, chunk: Buffer): Buffer {
  return buf === chunk ? buf.subarray(offset, offset + length) : Buffer.from(buf.subarray(offset, offset + length));
}

/** Header length from its first two bytes (0 when fewer than two are there). */
function headerLength(buf: Buffer, at: number, available: number): number {
  if (available < 2) return 0;
  const b1 = buf[at + 1] as number;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}

/** The payload length a header announces; -1 when it is too large to count. */
function extendedLength(buf: Buffer, offset: number, len7: number): number {
  if (len7 < 126) return len7;
  if (len7 === 126) return buf.readUInt16BE(offset + 2);
  const high = buf.readUInt32BE(offset + 2);
  if (high > MAX_HIGH_WORD) return -1;
  return high * 2 ** 32 + buf.readUInt32BE(offset + 6);
}
