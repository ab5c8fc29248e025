import { Logger, type LogRecord, type LogSink } from '../../src/log/logger.js';

/** A logger whose records a test can read back (to assert a line was written, or that no secret was). */
export class CaptureSink implements LogSink {
  readonly records: LogRecord[] = [];
  write(record: LogRecord): void {
    this.records.push(record);
  }
  text(): string {
    return this.records.map((r) => `${r.message} ${JSON.stringify(r.fields ?? {})}`).join('\n');
  }
}

export function captureLogger(): { logger: Logger; sink: CaptureSink } {
  const sink = new CaptureSink();
  return { logger: new Logger([sink], 'debug'), sink };
}
