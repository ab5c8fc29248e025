/**
 * Structured log records, formatted by sinks. Every connection gets a child logger bound to its
 * session id and client address, so one line can always be traced to one session.
 * No secret or token is ever put in a record: callers pass redacted values (see redact.ts).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface LogRecord {
  time: Date;
  level: LogLevel;
  message: string;
  /** The client's address (as the reference prints it), for per-connection lines. */
  client?: string;
  /** Session id: increases by one for every accepted connection, as the reference's handler id. */
  session?: number;
  /** The real client address (--trust-proxy / PROXY protocol), when it differs from `client`. */
  realClient?: string;
  fields?: LogFields;
}

export interface LogSink {
  write(record: LogRecord): void;
  /** Plain text outside the record stream: the startup banner. */
  writeRaw?(text: string): void;
  /** Reopen files (logrotate); optional. */
  reopen?(): void;
  close?(): Promise<void>;
}

interface Bindings {
  client?: string;
  session?: number;
  realClient?: string;
}

export class Logger {
  private readonly rank: number;

  constructor(
    private readonly sinks: readonly LogSink[],
    readonly level: LogLevel = 'info',
    private readonly bindings: Bindings = {},
  ) {
    this.rank = LEVEL_RANK[level];
  }

  child(bindings: Bindings): Logger {
    return new Logger(this.sinks, this.level, { ...this.bindings, ...bindings });
  }

  isDebug(): boolean {
    return this.rank <= LEVEL_RANK.debug;
  }

  debug(message: string, fields?: LogFields): void {
    if (this.rank <= LEVEL_RANK.debug) this.emit('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    if (this.rank <= LEVEL_RANK.info) this.emit('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    if (this.rank <= LEVEL_RANK.warn) this.emit('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.emit('error', message, fields);
  }

  /** The startup banner goes to every sink verbatim, as the reference prints it. */
  raw(text: string): void {
    for (const sink of this.sinks) sink.writeRaw?.(text);
  }

  reopen(): void {
    for (const sink of this.sinks) sink.reopen?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((sink) => sink.close?.()));
  }

  private emit(level: LogLevel, message: string, fields: LogFields | undefined): void {
    const record: LogRecord = { time: new Date(), level, message, ...this.bindings };
    if (fields) record.fields = fields;
    for (const sink of this.sinks) sink.write(record);
  }
}
