import { closeSync, openSync, writeSync } from 'node:fs';
import type { LogRecord, LogSink } from './logger.js';
import type { LineFormatter, RawFormatter } from './stream-sink.js';
import { formatTextLine } from './text-format.js';

/**
 * `--log-file FILE`: lines appended to FILE. Writes are synchronous appends (O_APPEND), as the
 * reference's FileHandler: log volume is a few lines per session, and a line is never lost or
 * reordered on exit. `reopen()` (SIGHUP / SIGUSR1) opens the path again, so after logrotate
 * renames the file the next line goes to the new one; the old descriptor is closed only after
 * the new one is open, so a failed reopen keeps logging to the old file.
 */
export class FileSink implements LogSink {
  private fd: number;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly format: LineFormatter = formatTextLine,
    private readonly formatRaw: RawFormatter = (t) => t.replace(/\n$/, ''),
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    // Opened at startup so a bad path fails the launch, not the first session.
    this.fd = openSync(path, 'a', 0o640);
  }

  write(record: LogRecord): void {
    this.append(this.format(record) + '\n');
  }

  writeRaw(text: string): void {
    this.append(this.formatRaw(text) + '\n');
  }

  reopen(): void {
    let next: number;
    try {
      next = openSync(this.path, 'a', 0o640);
    } catch (err) {
      this.onError(err as Error);
      return;
    }
    const old = this.fd;
    this.fd = next;
    this.failed = false;
    try {
      closeSync(old);
    } catch {
      // already closed
    }
  }

  async close(): Promise<void> {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private append(line: string): void {
    try {
      writeSync(this.fd, line);
    } catch (err) {
      // A full disk must not take the proxy down; report once per reopen.
      if (!this.failed) {
        this.failed = true;
        this.onError(err as Error);
      }
    }
  }
}
