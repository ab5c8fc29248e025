import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import type { LogLevel, LogRecord, LogSink } from './logger.js';
import type { LineFormatter } from './stream-sink.js';
import { formatTextLine } from './text-format.js';

export type SyslogTarget = { kind: 'udp'; host: string; port: number } | { kind: 'unix'; path: string };

interface SyslogOptions {
  target: SyslogTarget;
  /** Old BSD header `<PRI>ident[pid]: ` instead of RFC 5424 (--legacy-syslog). */
  legacy: boolean;
  /** 'user' normally, 'daemon' with -D, as the reference. */
  facility: 'user' | 'daemon';
  format?: LineFormatter;
  hostname?: string;
  pid?: number;
  onError?: (err: Error) => void;
}

const FACILITY_CODE = { user: 1, daemon: 3 } as const;
/** RFC 5424 severities: the reference maps Python levels through SysLogHandler.mapPriority. */
const SEVERITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const IDENT = 'websockify';
/** Lines queued while a stream socket (re)connects; beyond it lines are dropped, not buffered. */
const MAX_QUEUED = 1000;

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `2026-11-22T06:19:46Z`: UTC, no fractional seconds, as the reference. */
function syslogTimestamp(date: Date): string {
  return (
    `${date.getUTCFullYear()}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}` +
    `T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}Z`
  );
}

/**
 * One syslog message, exactly the reference's bytes:
 *   RFC 5424: `<14>1 2026-11-22T06:19:46Z host websockify 1234 - - message`
 *   legacy:   `<14>websockify[1234]: message`
 * Newlines in the text become spaces; non-ASCII text is UTF-8 with a BOM; stream sockets get a
 * trailing newline (octet-stuffing framing).
 */
export function formatSyslogMessage(
  text: string,
  opts: { level: LogLevel; facility: 'user' | 'daemon'; legacy: boolean; hostname: string; pid: number; time: Date; stream: boolean },
): Buffer {
  const pri = FACILITY_CODE[opts.facility] * 8 + SEVERITY[opts.level];
  const head = opts.legacy
    ? `<${pri}>${IDENT}[${opts.pid}]: `
    : `<${pri}>1 ${syslogTimestamp(opts.time)} ${opts.hostname.slice(0, 255)} ${IDENT} ${opts.pid} - - `;
  const body = text.replace(/\n/g, ' ');
  const ascii = /^[\x00-\x7f]*$/.test(body);
  const parts = [Buffer.from(head.replace(/[^\x00-\x7f]/g, ''), 'ascii')];
  parts.push(ascii ? Buffer.from(body, 'ascii') : Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body, 'utf8')]));
  if (opts.stream) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Minimal shape of the optional `unix-dgram` package (Node has no AF_UNIX datagram sockets). */
interface UnixDgramSocket {
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'connect', listener: () => void): void;
  connect(path: string): void;
  send(buf: Buffer, cb?: (err?: Error) => void): void;
  close(): void;
}

function loadUnixDgram(): { createSocket(type: 'unix_dgram'): UnixDgramSocket } | null {
  try {
    const require = createRequire(import.meta.url);
    return require('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  } catch {
    return null;
  }
}

type Transport =
  | { kind: 'udp'; socket: dgram.Socket }
  | { kind: 'unix-dgram'; socket: UnixDgramSocket }
  | { kind: 'stream'; socket: net.Socket | null; connecting: boolean; queue: Buffer[] };

/**
 * `--syslog SERVER`: UDP `host:port`, or a Unix socket path tried as a datagram socket first
 * (like /dev/log), falling back to a stream socket, as the reference. Sending never blocks the
 * proxy: UDP and datagrams are fire-and-forget, a stream socket queues at most MAX_QUEUED lines
 * while it (re)connects and drops beyond that.
 */
export class SyslogSink implements LogSink {
  private transport: Transport | null = null;
  private readonly hostname: string;
  private readonly pid: number;
  private readonly format: LineFormatter;
  private readonly onError: (err: Error) => void;
  private lastError = '';

  private constructor(private readonly options: SyslogOptions) {
    this.hostname = options.hostname ?? os.hostname();
    this.pid = options.pid ?? process.pid;
    this.format = options.format ?? formatTextLine;
    this.onError = options.onError ?? (() => undefined);
  }

  /** Opens the socket; rejects when the target is unusable, so a bad --syslog fails at startup. */
  static async open(options: SyslogOptions): Promise<SyslogSink> {
    const sink = new SyslogSink(options);
    await sink.connect();
    return sink;
  }

  write(record: LogRecord): void {
    this.send(this.format(record), record.level, record.time);
  }

  writeRaw(text: string): void {
    for (const line of text.replace(/\n$/, '').split('\n')) this.send(line, 'info', new Date());
  }

  async close(): Promise<void> {
    const t = this.transport;
    this.transport = null;
    if (!t) return;
    if (t.kind === 'udp') await new Promise<void>((resolve) => t.socket.close(() => resolve()));
    else if (t.kind === 'unix-dgram') t.socket.close();
    else if (t.socket) await new Promise<void>((resolve) => t.socket!.end(() => resolve()));
  }

  private async connect(): Promise<void> {
    const target = this.options.target;
    if (target.kind === 'udp') {
      const { address, family } = await lookup(target.host);
      const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('error', (err) => this.report(err));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(target.port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.unref();
      this.transport = { kind: 'udp', socket };
      return;
    }
    const unixDgram = loadUnixDgram();
    if (unixDgram) {
      const ok = await new Promise<UnixDgramSocket | null>((resolve) => {
        const socket = unixDgram.createSocket('unix_dgram');
        socket.on('error', () => {
          // Not a datagram socket (EPROTOTYPE) or not there: close it and try a stream.
          try {
            socket.close();
          } catch {
            // already closed
          }
          resolve(null);
        });
        socket.on('connect', () => resolve(socket));
        socket.connect(target.path);
      });
      if (ok) {
        ok.on('error', (err) => this.report(err));
        this.transport = { kind: 'unix-dgram', socket: ok };
        return;
      }
    }
    const stream: Transport = { kind: 'stream', socket: null, connecting: false, queue: [] };
    this.transport = stream;
    await this.connectStream(stream, true);
  }

  private connectStream(t: Extract<Transport, { kind: 'stream' }>, first: boolean): Promise<void> {
    const path = (this.options.target as { path: string }).path;
    t.connecting = true;
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => {
        t.connecting = false;
        t.socket = socket;
        socket.unref();
        for (const msg of t.queue.splice(0)) socket.write(msg);
        resolve();
      });
      socket.on('error', (err) => {
        t.connecting = false;
        t.socket = null;
        if (first) {
          const hint = loadUnixDgram() ? '' : ' (datagram sockets need the optional unix-dgram package)';
          reject(new Error(`cannot connect to syslog socket ${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}${hint}`));
        } else this.report(err);
        resolve();
      });
      socket.on('close', () => {
        if (t.socket === socket) t.socket = null;
      });
    });
  }

  private send(text: string, level: LogLevel, time: Date): void {
    const t = this.transport;
    if (!t) return;
    const msg = formatSyslogMessage(text, {
      level,
      facility: this.options.facility,
      legacy: this.options.legacy,
      hostname: this.hostname,
      pid: this.pid,
      time,
      stream: t.kind === 'stream',
    });
    if (t.kind === 'udp') t.socket.send(msg, (err) => err && this.report(err));
    else if (t.kind === 'unix-dgram') t.socket.send(msg, (err) => err && this.report(err));
    else if (t.socket) t.socket.write(msg);
    else {
      if (t.queue.length < MAX_QUEUED) t.queue.push(msg);
      if (!t.connecting) void this.connectStream(t, false);
    }
  }

  /** One report per distinct error, so a dead syslog server does not flood the other sinks. */
  private report(err: Error): void {
    const text = err.message;
    if (text === this.lastError) return;
    this.lastError = text;
    this.onError(err);
  }
}
