import { lstat, readdir, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../log/logger.js';
import { RecordWriter } from './record-writer.js';
import { recordIndexPath } from './record-index.js';
import type { SessionIdentity } from '../admission/session-identity.js';

export interface RecorderOptions {
  /** The --record base path, absolute. */
  basePath: string;
  /** --record-max-age in ms; 0 = no age limit. */
  maxAgeMs: number;
  /** --record-max-total in bytes; 0 = no total limit. */
  maxTotalBytes: number;
  /** --max-record-size, per file. */
  maxFileBytes: number;
  maxPendingBytes: number;
  /** How long new sessions go unrecorded after a write error (ENOSPC, EIO ...). */
  backoffMs: number;
  /** How often retention runs besides start and the end of each recording; 0 = never on a timer. */
  sweepIntervalMs: number;
  logger: Logger;
  now?: () => number;
}

interface SweepResult {
  removed: string[];
  freedBytes: number;
  keptBytes: number;
}

function escapeRegExp(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+(\\.\\d+)?$`);
}

/**
 * All recording of one process: makes each session's RecordWriter, holds recording off for a
 * while after a write error (a full disk stops recording, never proxying), and applies
 * retention: recordings older than maxAgeMs, then the oldest until the total is under
 * maxTotalBytes, are removed (docs/recording.md). Only names `<FILE>.<n>` and `<FILE>.<n>.<k>`
 * that are regular files are ever removed; files still being written are never touched.
 */
export class Recorder {
  readonly indexPath: string;
  private readonly dir: string;
  private readonly pattern: RegExp;
  private readonly now: () => number;
  private readonly active = new Set<RecordWriter>();
  /** Until when new sessions are not recorded (ms since the epoch); 0 = recording. */
  private suspendedUntil = 0;
  private sweeping: Promise<SweepResult> | null = null;
  private sweepAgain = false;
  private readonly timer: NodeJS.Timeout | null;

  constructor(private readonly options: RecorderOptions) {
    this.indexPath = recordIndexPath(options.basePath);
    this.dir = path.dirname(options.basePath);
    this.pattern = escapeRegExp(path.basename(options.basePath));
    this.now = options.now ?? Date.now;
    this.timer = options.sweepIntervalMs > 0 ? setInterval(() => void this.sweep(), options.sweepIntervalMs) : null;
    this.timer?.unref();
  }

  /** The session's writer, or null while recording is held off after a write error. */
  writerFor(session: number, startMs: number, logger: Logger, identity: SessionIdentity | null): RecordWriter | null {
    if (this.suspendedUntil > this.now()) {
      logger.debug('session not recorded: recording is held off after a write error');
      return null;
    }
    this.suspendedUntil = 0;
    const writer = new RecordWriter({
      basePath: this.options.basePath,
      session,
      startMs,
      maxFileBytes: this.options.maxFileBytes,
      maxPendingBytes: this.options.maxPendingBytes,
      logger,
      indexPath: this.indexPath,
      ...(identity ? { identity } : {}),
      onWriteError: () => this.suspend(),
      onFinished: (w) => {
        this.active.delete(w);
        void this.sweep();
      },
    });
    this.active.add(writer);
    return writer;
  }

  /** Whether new sessions are recorded now. */
  get recording(): boolean {
    return this.suspendedUntil <= this.now();
  }

  private suspend(): string {
    const seconds = Math.round(this.options.backoffMs / 1000);
    const first = this.suspendedUntil <= this.now();
    this.suspendedUntil = this.now() + this.options.backoffMs;
    return first ? `; new sessions are not recorded for ${seconds}s` : '';
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * One retention pass (serialised: a call during a pass runs one more pass after it). Logs one
   * line when it removed anything; a removal that frees space ends a hold-off at once.
   */
  sweep(): Promise<SweepResult> {
    if (this.sweeping) {
      this.sweepAgain = true;
      return this.sweeping;
    }
    const run = async (): Promise<SweepResult> => {
      let result: SweepResult;
      do {
        this.sweepAgain = false;
        result = await this.sweepOnce();
      } while (this.sweepAgain);
      return result;
    };
    this.sweeping = run().finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<SweepResult> {
    const { maxAgeMs, maxTotalBytes, logger } = this.options;
    const result: SweepResult = { removed: [], freedBytes: 0, keptBytes: 0 };
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      logger.warn(`record retention cannot list ${this.dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return result;
    }
    const busy = new Set([...this.active].map((w) => w.path));
    const files: Array<{ file: string; mtimeMs: number; size: number }> = [];
    for (const name of names) {
      if (!this.pattern.test(name)) continue;
      const file = path.join(this.dir, name);
      if (busy.has(file)) continue;
      try {
        const st = await lstat(file);
        if (st.isFile()) files.push({ file, mtimeMs: st.mtimeMs, size: st.size });
      } catch {
        // Removed meanwhile (another worker's pass): nothing to do.
      }
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    let total = files.reduce((sum, f) => sum + f.size, 0);
    const cutoff = this.now() - maxAgeMs;
    for (const f of files) {
      const tooOld = maxAgeMs > 0 && f.mtimeMs < cutoff;
      const tooMuch = maxTotalBytes > 0 && total > maxTotalBytes;
      if (!tooOld && !tooMuch) break;
      try {
        await unlink(f.file);
        result.removed.push(f.file);
        result.freedBytes += f.size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          logger.warn(`record retention cannot remove ${f.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
          continue;
        }
      }
      total -= f.size;
    }
    result.keptBytes = total;
    if (result.removed.length > 0) {
      logger.info('record retention removed old recordings', { files: result.removed.length, bytes: result.freedBytes, kept_bytes: total });
      this.suspendedUntil = 0;
    }
    return result;
  }
}
