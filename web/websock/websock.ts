/**
 * Websock: a WebSocket seen as a raw byte stream, for talking to TCP services through websockify.
 *
 * Incoming messages are appended to a receive queue; the `message` event only says "more bytes
 * are queued" and the reader pulls typed values off the queue with the rQ* methods, waiting with
 * rQwait() when a structure is not complete yet (TCP boundaries are not preserved by the proxy, so
 * a reader must never assume one message is one protocol unit). Outgoing bytes are pushed onto a
 * send queue and written with flush().
 *
 * Two subprotocols are offered, `binary` first: `binary` carries raw bytes in binary frames;
 * `base64` (the old Websock protocol, still answered by websockify-ts when it is the only offer)
 * carries base64 text in text frames both ways.
 *
 * Runs in browsers (global WebSocket) and in Node (pass a constructor, e.g. `ws`'s WebSocket). It
 * uses no DOM or Node types so the same file compiles for both.
 */

import { decodeBase64, encodeBase64 } from './base64-codec.js';

/** The part of the WHATWG WebSocket interface Websock uses (browsers and the `ws` package have it). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type WebsockMode = 'binary' | 'base64';

export interface WebsockEvents {
  open: { protocol: string; mode: WebsockMode };
  /** New bytes were queued; `queued` is rQlen after appending. */
  message: { bytes: number; queued: number };
  close: { code: number; reason: string; wasClean: boolean };
  error: { message: string; cause?: unknown };
}

export type WebsockEventName = keyof WebsockEvents;
type Listener<K extends WebsockEventName> = (event: WebsockEvents[K]) => void;

export interface WebsockOptions {
  /** WebSocket implementation; defaults to globalThis.WebSocket (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** Receive queue cap in bytes; exceeding it closes with 1009 (default 64 MiB). */
  maxReceiveQueue?: number;
  /** Initial receive queue capacity in bytes (default 64 KiB); it grows by doubling. */
  initialReceiveQueue?: number;
}

/** The subprotocols Websock offers by default, most preferred first. */
export const DEFAULT_PROTOCOLS: readonly string[] = ['binary', 'base64'];

const OPEN = 1;
const DEFAULT_MAX_RQ = 64 * 1024 * 1024;
const DEFAULT_INITIAL_RQ = 64 * 1024;
const INITIAL_SQ = 16 * 1024;

export class Websock {
  // Receive queue: bytes [rQi, rQend) of rQ are unread.
  private rQ: Uint8Array;
  private rQi = 0;
  private rQend = 0;
  // Send queue: bytes [0, sQused) of sQ are waiting for flush().
  private sQ = new Uint8Array(INITIAL_SQ);
  private sQused = 0;

  private socket: WebSocketLike | null = null;
  private currentMode: WebsockMode = 'binary';
  private readonly WebSocketImpl: WebSocketConstructor | undefined;
  private readonly maxReceiveQueue: number;
  private readonly listeners: { [K in WebsockEventName]: Set<Listener<K>> } = {
    open: new Set(),
    message: new Set(),
    close: new Set(),
    error: new Set(),
  };

  constructor(options: WebsockOptions = {}) {
    this.WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.maxReceiveQueue = options.maxReceiveQueue ?? DEFAULT_MAX_RQ;
    const initial = options.initialReceiveQueue ?? DEFAULT_INITIAL_RQ;
    if (!(initial > 0) || !(this.maxReceiveQueue >= initial)) {
      throw new RangeError('initialReceiveQueue must be > 0 and <= maxReceiveQueue');
    }
    this.rQ = new Uint8Array(initial);
  }

  // ---- events ----

  on<K extends WebsockEventName>(name: K, listener: Listener<K>): this {
    (this.listeners[name] as Set<Listener<K>>).add(listener);
    return this;
  }

  off<K extends WebsockEventName>(name: K, listener: Listener<K>): this {
    (this.listeners[name] as Set<Listener<K>>).delete(listener);
    return this;
  }

  private emit<K extends WebsockEventName>(name: K, event: WebsockEvents[K]): void {
    for (const listener of [...(this.listeners[name] as Set<Listener<K>>)]) {
      try {
        listener(event);
      } catch (err) {
        // A throwing handler must not break the socket's own bookkeeping; report it instead.
        if (name !== 'error') this.emit('error', { message: `${name} handler threw: ${String(err)}`, cause: err });
      }
    }
  }

  // ---- connection ----

  /** Opens a connection; `protocols` defaults to ['binary', 'base64']. */
  open(url: string, protocols: readonly string[] = DEFAULT_PROTOCOLS): void {
    if (this.WebSocketImpl === undefined) {
      throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. from the ws package)');
    }
    this.attach(new this.WebSocketImpl(url, [...protocols]));
  }

  /** Takes over an already created WebSocket (e.g. one built with extra options in Node). */
  attach(socket: WebSocketLike): void {
    if (this.socket !== null) throw new Error('Websock is already attached to a socket');
    this.resetQueues();
    this.socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      // The server's choice decides the encoding; '' (no subprotocol) means raw binary frames.
      this.currentMode = socket.protocol === 'base64' ? 'base64' : 'binary';
      this.emit('open', { protocol: socket.protocol, mode: this.currentMode });
    };
    socket.onmessage = (event) => this.onSocketMessage(event.data);
    socket.onclose = (event) => {
      this.detach();
      this.emit('close', { code: event.code, reason: event.reason, wasClean: event.wasClean ?? event.code !== 1006 });
    };
    socket.onerror = (event) => {
      const message = (event as { message?: unknown } | null)?.message;
      this.emit('error', { message: typeof message === 'string' && message !== '' ? message : 'WebSocket error', cause: event });
    };
  }

  close(code?: number, reason?: string): void {
    const socket = this.socket;
    if (socket === null) return;
    if (socket.readyState > OPEN) return;
    try {
      socket.close(code, reason);
    } catch {
      // Browsers only let scripts send 1000 and 3000-4999 (WHATWG WebSockets, close() step 1);
      // protocol codes such as 1003/1007/1009 throw there, so fall back to a normal close.
      socket.close(1000, reason);
    }
  }

  get mode(): WebsockMode {
    return this.currentMode;
  }

  get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN;
  }

  /** Bytes handed to the WebSocket but not yet written to the network (for backpressure). */
  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  private detach(): void {
    const socket = this.socket;
    if (socket === null) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    this.socket = null;
  }

  private onSocketMessage(data: unknown): void {
    let bytes: Uint8Array;
    if (typeof data === 'string') {
      if (this.currentMode !== 'base64') {
        this.fail(1003, 'text frame in binary mode');
        return;
      }
      try {
        bytes = decodeBase64(data);
      } catch (err) {
        this.fail(1007, 'invalid base64 from server', err);
        return;
      }
    } else if (data instanceof ArrayBuffer) {
      bytes = new Uint8Array(data);
    } else if (ArrayBuffer.isView(data)) {
      // `ws` may hand over a Buffer (a Uint8Array) when binaryType could not be honoured.
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } else {
      this.fail(1003, 'unsupported message data type');
      return;
    }
    if (!this.appendReceived(bytes)) return;
    this.emit('message', { bytes: bytes.length, queued: this.rQlen });
  }

  private fail(code: number, message: string, cause?: unknown): void {
    this.emit('error', cause === undefined ? { message } : { message, cause });
    this.close(code, message);
  }

  // ---- receive queue ----

  /** Number of unread bytes. */
  get rQlen(): number {
    return this.rQend - this.rQi;
  }

  /** Appends bytes (normally called for each incoming message; public so tests and replays can feed it). */
  appendReceived(bytes: Uint8Array): boolean {
    const needed = this.rQlen + bytes.length;
    if (needed > this.maxReceiveQueue) {
      this.fail(1009, `receive queue over ${this.maxReceiveQueue} bytes`);
      return false;
    }
    if (this.rQend + bytes.length > this.rQ.length) {
      if (needed <= this.rQ.length / 2) {
        // Plenty of room once the consumed prefix is dropped: compact in place.
        this.rQ.copyWithin(0, this.rQi, this.rQend);
      } else {
        let size = this.rQ.length;
        while (size < needed) size *= 2;
        const grown = new Uint8Array(Math.min(size, Math.max(needed, this.maxReceiveQueue)));
        grown.set(this.rQ.subarray(this.rQi, this.rQend));
        this.rQ = grown;
      }
      this.rQend -= this.rQi;
      this.rQi = 0;
    }
    this.rQ.set(bytes, this.rQend);
    this.rQend += bytes.length;
    return true;
  }

  private need(len: number): void {
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`invalid length ${len}`);
    if (len > this.rQlen) throw new RangeError(`receive queue underflow: need ${len}, have ${this.rQlen}`);
  }

  /** The byte at `offset` from the read position, without consuming it. */
  rQpeek8(offset = 0): number {
    this.need(offset + 1);
    return this.rQ[this.rQi + offset]!;
  }

  rQshift8(): number {
    this.need(1);
    return this.rQ[this.rQi++]!;
  }

  /** Big-endian (network order), as in RFB and most binary protocols. */
  rQshift16(): number {
    this.need(2);
    const v = (this.rQ[this.rQi]! << 8) | this.rQ[this.rQi + 1]!;
    this.rQi += 2;
    return v;
  }

  /** Big-endian unsigned 32-bit (>>> 0 keeps it non-negative above 2^31). */
  rQshift32(): number {
    this.need(4);
    const q = this.rQ;
    const i = this.rQi;
    const v = ((q[i]! << 24) | (q[i + 1]! << 16) | (q[i + 2]! << 8) | q[i + 3]!) >>> 0;
    this.rQi += 4;
    return v;
  }

  /**
   * `len` bytes as a string of one char per byte (Latin-1), as the classic Websock did: right for
   * ASCII protocol text; use rQshiftBytes + TextDecoder for UTF-8. Defaults to all queued bytes.
   */
  rQshiftStr(len: number = this.rQlen): string {
    const bytes = this.rQshiftView(len);
    let out = '';
    // Chunked so String.fromCharCode never receives more arguments than the engine allows.
    for (let i = 0; i < bytes.length; i += 8192) {
      out += String.fromCharCode(...bytes.subarray(i, Math.min(i + 8192, bytes.length)));
    }
    return out;
  }

  /** Removes and returns `len` bytes (a copy the caller may keep). Defaults to all queued bytes. */
  rQshiftBytes(len: number = this.rQlen): Uint8Array {
    return this.rQshiftView(len).slice();
  }

  /** Copies `len` bytes into `target` at `offset` and consumes them (no allocation). */
  rQshiftTo(target: Uint8Array, len: number, offset = 0): void {
    target.set(this.rQshiftView(len), offset);
  }

  /** Returns `len` bytes without consuming them (a view valid until the next queue change). */
  rQpeekBytes(len: number = this.rQlen): Uint8Array {
    this.need(len);
    return this.rQ.subarray(this.rQi, this.rQi + len);
  }

  rQskipBytes(len: number): void {
    this.need(len);
    this.rQi += len;
  }

  /**
   * True when fewer than `num` bytes are queued, i.e. the caller must wait for more data. With
   * `goback`, the read position is first moved back by that many bytes (the header the caller
   * already shifted), so the next attempt re-reads the structure from its start. `msg` names the
   * structure for the error raised when `goback` is larger than what was consumed.
   */
  rQwait(msg: string, num: number, goback = 0): boolean {
    if (this.rQlen >= num) return false;
    if (goback > 0) {
      if (goback > this.rQi) throw new RangeError(`rQwait cannot go back ${goback} bytes (${msg})`);
      this.rQi -= goback;
    }
    return true;
  }

  private rQshiftView(len: number): Uint8Array {
    this.need(len);
    const view = this.rQ.subarray(this.rQi, this.rQi + len);
    this.rQi += len;
    // An empty queue can restart at 0 for free, which keeps most traffic from ever compacting.
    if (this.rQi === this.rQend) this.rQi = this.rQend = 0;
    return view;
  }

  // ---- send queue ----

  /** Bytes pushed but not yet flushed. */
  get sQlen(): number {
    return this.sQused;
  }

  private sQreserve(n: number): void {
    if (this.sQused + n <= this.sQ.length) return;
    let size = this.sQ.length;
    while (size < this.sQused + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.sQ.subarray(0, this.sQused));
    this.sQ = grown;
  }

  sQpush8(v: number): void {
    this.sQreserve(1);
    this.sQ[this.sQused++] = v & 0xff;
  }

  sQpush16(v: number): void {
    this.sQreserve(2);
    this.sQ[this.sQused++] = (v >>> 8) & 0xff;
    this.sQ[this.sQused++] = v & 0xff;
  }

  sQpush32(v: number): void {
    this.sQreserve(4);
    this.sQ[this.sQused++] = (v >>> 24) & 0xff;
    this.sQ[this.sQused++] = (v >>> 16) & 0xff;
    this.sQ[this.sQused++] = (v >>> 8) & 0xff;
    this.sQ[this.sQused++] = v & 0xff;
  }

  /** Pushes one byte per char (Latin-1); chars above 0xff are a caller error. */
  sQpushString(s: string): void {
    this.sQreserve(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new RangeError(`char 0x${c.toString(16)} at ${i} does not fit in a byte`);
      this.sQ[this.sQused++] = c;
    }
  }

  sQpushBytes(bytes: Uint8Array): void {
    this.sQreserve(bytes.length);
    this.sQ.set(bytes, this.sQused);
    this.sQused += bytes.length;
  }

  /** Sends everything queued as one message. Returns false (keeping the queue) when not open. */
  flush(): boolean {
    if (this.sQused === 0) return true;
    const socket = this.socket;
    if (socket === null || socket.readyState !== OPEN) return false;
    const payload = this.sQ.slice(0, this.sQused);
    this.sQused = 0;
    socket.send(this.currentMode === 'base64' ? encodeBase64(payload) : payload);
    return true;
  }

  /** Pushes and flushes in one call. */
  send(bytes: Uint8Array | readonly number[]): boolean {
    this.sQpushBytes(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return this.flush();
  }

  sendString(s: string): boolean {
    this.sQpushString(s);
    return this.flush();
  }

  private resetQueues(): void {
    this.rQi = this.rQend = 0;
    this.sQused = 0;
  }
}
