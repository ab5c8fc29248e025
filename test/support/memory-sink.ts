import type { LogRecord, LogSink } from '../../src/log/logger.js';

/** Collects log records so a test can assert the exact lines a module logged. */
export class MemorySink implements LogSink {
  readonly records: LogRecord[] = [];
  readonly raw: string[] = [];
  write(record: LogRecord): void {
    this.records.push(record);
  }
  writeRaw(text: string): void {
    this.raw.push(text);
  }
  messages(): string[] {
    return this.records.map((r) => r.message);
  }
}
