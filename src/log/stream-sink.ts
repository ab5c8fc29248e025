import type { Writable } from 'node:stream';
import type { LogRecord, LogSink } from './logger.js';
import { formatTextLine } from './text-format.js';

export type LineFormatter = (record: LogRecord) => string;
export type RawFormatter = (text: string) => string;

function rawText(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** Text lines (or JSON lines) to a stream (stderr by default, as the reference's root handler). */
export class StreamSink implements LogSink {
  constructor(
    private readonly stream: Writable,
    private readonly format: LineFormatter = formatTextLine,
    private readonly formatRaw: RawFormatter = rawText,
  ) {}

  write(record: LogRecord): void {
    this.stream.write(this.format(record) + '\n');
  }

  writeRaw(text: string): void {
    this.stream.write(this.formatRaw(text) + '\n');
  }
}
