import { randomBytes } from 'node:crypto';
import net from 'node:net';

/** A byte-level WebSocket/HTTP client, so tests can send exactly what a hostile or old client would. */

export interface HttpAnswer {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  /** Bytes after the header block (body, or the first frames after a 101). */
  rest: Buffer;
  socket: net.Socket;
}

export const GOOD_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

export function upgradeRequest(options: { path?: string; host?: string; headers?: Record<string, string>; omit?: string[] } = {}): string {
  const headers: Record<string, string> = {
    Host: options.host ?? '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': GOOD_KEY,
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  for (const name of options.omit ?? []) delete headers[name];
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `GET ${options.path ?? '/'} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `request` (string or bytes) and reads the status line and headers. */
export async function sendRaw(port: number, request: string | Buffer, timeoutMs = 5_000, host = '127.0.0.1'): Promise<HttpAnswer> {
  const socket = await connect(port, host);
  socket.write(request);
  return readHttpAnswer(socket, timeoutMs);
}

export function readHttpAnswer(socket: net.Socket, timeoutMs = 5_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no HTTP answer within ${timeoutMs}ms; got ${JSON.stringify(buffer.toString('latin1'))}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const statusLine = head[0]!;
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      finish(null, { status: Number(statusLine.split(' ')[1]), statusLine, headers, rest: buffer.subarray(end + 4), socket });
    };
    const onClose = (): void => finish(new Error(`connection closed before an HTTP answer; got ${JSON.stringify(buffer.toString('latin1'))}`));
    function finish(err: Error | null, answer?: HttpAnswer): void {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (err) reject(err);
      else {
        socket.pause();
        resolve(answer!);
      }
    }
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Reads until the peer closes; resolves with everything received. */
export function readToEnd(socket: net.Socket, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('peer did not close')), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.resume();
  });
}

export interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  mask?: boolean;
}

/** Encodes one frame as a client would (masked unless told otherwise). */
export function encodeFrame(opcode: number, payload: Buffer = Buffer.alloc(0), options: FrameOptions = {}): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = payload.length;
  const header: number[] = [(fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 255);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((length >>> 24) & 255, (length >>> 16) & 255, (length >>> 8) & 255, length & 255);
  }
  if (!mask) return Buffer.concat([Buffer.from(header), payload]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(header), key, masked]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return body;
}

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Incremental decoder for server frames (unmasked). */
export class FrameReader {
  private buffer = Buffer.alloc(0);
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(socket: net.Socket, initial: Buffer = Buffer.alloc(0)) {
    this.push(initial);
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.once('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    socket.resume();
  }

  private push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) break;
      const b0 = this.buffer[0]!;
      const b1 = this.buffer[1]!;
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) break;
      this.frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: Buffer.from(this.buffer.subarray(offset, offset + length)) });
      this.buffer = this.buffer.subarray(offset + length);
    }
    if (this.frames.length > 0) this.waiter?.();
  }

  /** The next frame, or null when the connection closed first. */
  next(timeoutMs = 5_000): Promise<Frame | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error('no frame in time'));
      }, timeoutMs);
      const check = (): void => {
        const frame = this.frames.shift();
        if (frame || this.ended) {
          clearTimeout(timer);
          this.waiter = null;
          resolve(frame ?? null);
        } else this.waiter = check;
      };
      check();
    });
  }

  /** The next close frame's code and reason, skipping data frames (returned too). */
  async untilClose(timeoutMs = 5_000): Promise<{ code: number | null; reason: string; data: Buffer }> {
    const data: Buffer[] = [];
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (!frame) return { code: null, reason: '', data: Buffer.concat(data) };
      if (frame.opcode === 0x8) {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
        return { code, reason: frame.payload.subarray(2).toString(), data: Buffer.concat(data) };
      }
      if (frame.opcode === 0x1 || frame.opcode === 0x2 || frame.opcode === 0x0) data.push(frame.payload);
    }
  }
}
