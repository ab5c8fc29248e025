// The load clients' side of one connection: plain TCP for the relay, or a minimal RFC 6455
// client for the proxies. The WebSocket side is written by hand rather than with `ws` because
// the client must never be the bottleneck: payloads are masked once when a message is prepared
// and the same framed bytes are written again and again, small messages go out as pre-framed
// blocks in one write, and incoming frames are counted, not assembled into messages.
//
// The mask key is random and non-zero, as a browser's would be. It is one key per process rather
// than one per frame (RFC 6455 §5.3 asks for a fresh one; the server cannot tell), which is what
// lets a message be masked once. An all-zero key would flatter the proxy: ws skips unmasking
// when the key is zero, Python websockify does not.
import { createConnection, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Endpoint } from './bench-protocol.js';

const MASK = ((): Buffer => {
  const key = randomBytes(4);
  if (key.readUInt32BE(0) === 0) key[0] = 1;
  return key;
})();

function masked(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i += 1) out[i] = (payload[i] as number) ^ (MASK[i & 3] as number);
  return out;
}

/** The header of one client frame (FIN, opcode, the process's mask key). */
function frameHeader(opcode: number, length: number): Buffer {
  let header: Buffer;
  if (length < 126) {
    header = Buffer.alloc(6);
    header[1] = 0x80 | length;
  } else if (length < 65536) {
    header = Buffer.alloc(8);
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(14);
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  header[0] = 0x80 | opcode;
  MASK.copy(header, header.length - 4);
  return header;
}

/** One message, framed and masked for the transport once, to be written any number of times. */
export function prepareMessage(transport: Endpoint['transport'], payload: Buffer): Buffer {
  if (transport === 'tcp') return payload;
  return Buffer.concat([frameHeader(0x2, payload.length), masked(payload)]);
}

/**
 * `count` messages of `payloadBytes` each, already framed for the transport, in one buffer.
 * Small-message runs write these blocks so the client spends its time in one write per block.
 */
export function buildMessageBlock(transport: Endpoint['transport'], payloadBytes: number, count: number): Buffer {
  if (transport === 'tcp') return Buffer.alloc(payloadBytes * count, 0x6d);
  const unit = prepareMessage(transport, Buffer.alloc(payloadBytes, 0x6d));
  const block = Buffer.alloc(unit.length * count);
  for (let i = 0; i < count; i += 1) unit.copy(block, i * unit.length);
  return block;
}

/**
 * Counts the payload bytes of the server's data frames as they stream in, answering pings.
 * Headers are parsed byte by byte (they are short); payloads are skipped over in one step.
 */
class FrameCounter {
  private readonly head = Buffer.alloc(14);
  private headLength = 0;
  private headNeed = 2;
  private remaining = 0;
  private opcode = 0;
  private control: Buffer[] = [];

  constructor(
    private readonly onData: (bytes: number) => void,
    private readonly onControl: (opcode: number, payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let data = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        if (this.opcode >= 0x8) this.control.push(chunk.subarray(i, i + n));
        else data += n;
        this.remaining -= n;
        i += n;
        if (this.remaining === 0 && this.opcode >= 0x8) this.finishControl();
        continue;
      }
      this.head[this.headLength] = chunk[i] ?? 0;
      this.headLength += 1;
      i += 1;
      if (this.headLength === 2) {
        const len7 = (this.head[1] ?? 0) & 0x7f;
        const masked = ((this.head[1] ?? 0) & 0x80) !== 0;
        this.headNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      }
      if (this.headLength >= 2 && this.headLength === this.headNeed) {
        const len7 = (this.head[1] ?? 0) & 0x7f;
        this.remaining = len7 === 126 ? this.head.readUInt16BE(2) : len7 === 127 ? Number(this.head.readBigUInt64BE(2)) : len7;
        this.opcode = (this.head[0] ?? 0) & 0x0f;
        this.headLength = 0;
        this.headNeed = 2;
        if (this.remaining === 0 && this.opcode >= 0x8) this.finishControl();
      }
    }
    if (data > 0) this.onData(data);
  }

  private finishControl(): void {
    const payload = Buffer.concat(this.control);
    this.control = [];
    this.onControl(this.opcode, payload);
  }
}

export class BenchConnection {
  /** Payload bytes received so far (WebSocket data frames, or raw bytes for TCP). */
  received = 0;
  /** Called with each batch of newly received payload bytes. */
  onPayload: ((bytes: number) => void) | null = null;
  closed = false;

  private constructor(
    readonly socket: Socket,
    readonly transport: Endpoint['transport'],
  ) {}

  /** Connects and, for WebSocket, completes the opening handshake (offering `binary`). */
  static open(endpoint: Endpoint, timeoutMs: number): Promise<BenchConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(new Error(`connect/handshake timed out after ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        const connection = new BenchConnection(socket, endpoint.transport);
        if (endpoint.transport === 'tcp') {
          clearTimeout(timer);
          socket.off('error', fail);
          connection.attach(Buffer.alloc(0));
          resolve(connection);
          return;
        }
        socket.write(
          `GET / HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
            `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n`,
        );
        let response = Buffer.alloc(0);
        const onHandshakeData = (chunk: Buffer): void => {
          response = Buffer.concat([response, chunk]);
          const end = response.indexOf('\r\n\r\n');
          if (end < 0) {
            if (response.length > 16384) fail(new Error('handshake response too large'));
            return;
          }
          socket.off('data', onHandshakeData);
          const statusLine = response.subarray(0, response.indexOf('\r\n')).toString('latin1');
          if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
            fail(new Error(`handshake refused: ${statusLine}`));
            return;
          }
          clearTimeout(timer);
          socket.off('error', fail);
          connection.attach(response.subarray(end + 4));
          resolve(connection);
        };
        socket.on('data', onHandshakeData);
      });
    });
  }

  private attach(leftover: Buffer): void {
    const deliver = (bytes: number): void => {
      this.received += bytes;
      this.onPayload?.(bytes);
    };
    this.socket.on('error', () => {});
    this.socket.once('close', () => {
      this.closed = true;
    });
    if (this.transport === 'tcp') {
      this.socket.on('data', (chunk: Buffer) => deliver(chunk.length));
      return;
    }
    const counter = new FrameCounter(deliver, (opcode, payload) => {
      if (opcode === 0x9) this.writeFrame(0xa, payload);
      else if (opcode === 0x8) this.socket.end();
    });
    this.socket.on('data', (chunk: Buffer) => counter.push(chunk));
    if (leftover.length > 0) counter.push(leftover);
  }

  private writeFrame(opcode: number, payload: Buffer): boolean {
    this.socket.cork();
    this.socket.write(frameHeader(opcode, payload.length));
    const more = this.socket.write(masked(payload));
    this.socket.uncork();
    return more;
  }

  /** Sends one message (one binary frame, or the raw bytes over TCP); false means wait for drain. */
  send(payload: Buffer): boolean {
    if (this.transport === 'tcp') return this.socket.write(payload);
    return this.writeFrame(0x2, payload);
  }

  /** Writes bytes already framed by prepareMessage or buildMessageBlock. */
  sendPrepared(block: Buffer): boolean {
    return this.socket.write(block);
  }

  close(): void {
    this.socket.destroy();
  }
}
