import type { Writable } from 'node:stream';
import type { LogRecord, LogSink } from './logger.js';
import { formatTextLine } from './text-format.js';

/** Text lines to a stream (stderr by default, as the reference's root handler). */
export class StreamSink implements LogSink {
  constructor(private readonly stream: Writable) {}

  write(record: LogRecord): void {
    this.stream.write(formatTextLine(record) + '\n');
  }

  writeRaw(text: string): void {
    this.stream.write(text.endsWith('\n') ? text : text + '\n');
  }
}
