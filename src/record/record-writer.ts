import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { RECORD_FOOTER, RECORD_HEADER, recordEntry } from './record-escape.js';
import type { SessionObserver, SessionSummary } from '../proxy/session-observer.js';
import { appendIndexEntry, indexEntry, type RecordIndexEntry } from './record-index.js';
import type { SessionIdentity } from '../admission/session-identity.js';

interface RecordWriterOptions {
  /** The --record base path, already absolute; the file is `<base>.<session>` as the reference. */
  basePath: string;
  session: number;
  /** Session start in ms since the epoch: entry timestamps count from here. */
  startMs: number;
  /** --max-record-size: the file never grows past this many bytes. 0 = no cap (the reference). */
  maxFileBytes: number;
  /** Bytes accepted but not yet written; beyond it the recording is dropped, never the session. */
  maxPendingBytes: number;
  logger: Logger;
  now?: () => number;
  /** Where the session's facts go once it ends (docs/recording.md); none when absent. */
  indexPath?: string;
  identity?: SessionIdentity;
  /**
   * Told of a write error (ENOSPC, EIO, ...) before it is logged; its answer is appended to the
   * one log line (e.g. that new sessions are not recorded for a while).
   */
  onWriteError?: (code: string) => string;
  /** Called once the file is closed and the index line written (retention runs then). */
  onFinished?: (writer: RecordWriter) => void;
}

type RecordState = 'recording' | 'capped' | 'dropped' | 'failed';

/** Writes at most this much in one write() call, so one huge queue does not mean one huge copy. */
const BATCH_BYTES = 256 * 1024;

/**
 * Create-only, never through a symlink: the names `<FILE>.<n>` are predictable, so anyone who
 * can write the recording directory could plant a symlink (or a world-readable file) there. With
 * O_EXCL the open fails on any existing name, symlink or not, and nothing is truncated; the new
 * file gets 0600 from the start (a recording holds every key typed, passwords included).
 */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Names tried per session: `<FILE>.<n>`, then `<FILE>.<n>.1` ... `<FILE>.<n>.<MAX_NAME_TRIES - 1>`. */
export const MAX_NAME_TRIES = 16;

/** The file name of try `attempt` (0-based) for one session. */
export function recordFileName(basePath: string, session: number, attempt: number): string {
  return attempt === 0 ? `${basePath}.${session}` : `${basePath}.${session}.${attempt}`;
}

/** An existing name (EEXIST) or a symlink refused by O_NOFOLLOW (ELOOP on Linux, EMLINK on BSD). */
function nameTaken(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EEXIST' || err.code === 'ELOOP' || err.code === 'EMLINK';
}

/**
 * One session's recording (`--record FILE`), in the reference's format byte for byte
 * (docs/record-format.md). Writes are asynchronous: the session hands over an entry and moves
 * on. The queue is bounded: when the disk is slower than the session and `maxPendingBytes` are
 * waiting, recording stops with one log line (the bridge never waits for the disk and memory
 * never grows). A size cap stops recording the same way. In every case the file is finished
 * with the `'EOF'];` line, so it stays a valid playback file.
 */
export class RecordWriter implements SessionObserver {
  /** The file written: `<FILE>.<n>`, or `<FILE>.<n>.<k>` when the first names were taken. */
  private currentPath: string;
  private state: RecordState = 'recording';
  private handle: FileHandle | null = null;
  private queue: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes written or queued so far, footer excluded. */
  private fileBytes = 0;
  private writing = false;
  private closing = false;
  private readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private readonly now: () => number;
  /** Whether a file was created (the index names it only then). */
  private created = false;
  /** vnc once the target's first bytes are an RFB greeting (the player picks noVNC then). */
  private kind: RecordIndexEntry['kind'] | null = null;

  constructor(private readonly options: RecordWriterOptions) {
    this.currentPath = recordFileName(options.basePath, options.session, 0);
    this.now = options.now ?? Date.now;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    options.logger.info(`opening record file: ${this.currentPath}`);
    this.push(Buffer.from(RECORD_HEADER, 'latin1'));
    void this.openFresh();
  }

  get path(): string {
    return this.currentPath;
  }

  /**
   * Creates the first free name among MAX_NAME_TRIES. A taken name (file, symlink, anything) is
   * left untouched; when all are taken the session goes on unrecorded with one error line.
   */
  private async openFresh(): Promise<void> {
    const { basePath, session, logger } = this.options;
    for (let attempt = 0; attempt < MAX_NAME_TRIES; attempt++) {
      const name = recordFileName(basePath, session, attempt);
      try {
        const handle = await open(name, CREATE_FLAGS, 0o600);
        this.currentPath = name;
        this.created = true;
        if (attempt > 0) logger.warn(`record file name taken, recording to: ${name}`, { tries: attempt + 1 });
        if (this.state === 'failed') {
          await handle.close().catch(() => undefined);
          return;
        }
        this.handle = handle;
        void this.pump();
        return;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (!nameTaken(e)) {
          this.currentPath = name;
          const more = this.options.onWriteError?.(e.code ?? 'EIO') ?? '';
          this.fail('opening record file failed', (e.code ?? e.message) + more);
          return;
        }
      }
    }
    this.fail('opening record file failed, session not recorded', `all ${MAX_NAME_TRIES} names taken`);
  }

  /** Resolves once the file is complete and closed (or recording failed). */
  whenFinished(): Promise<void> {
    return this.finished;
  }

  get status(): RecordState {
    return this.state;
  }

  onClientMessage(data: Buffer): void {
    if (this.state === 'recording' && !this.closing) this.add(recordEntry('}', this.now() - this.options.startMs, data));
  }

  onTargetData(data: Buffer): void {
    if (this.kind === null) this.kind = data.length >= 4 && data.toString('latin1', 0, 4) === 'RFB ' ? 'vnc' : 'stream';
    if (this.state === 'recording' && !this.closing) this.add(recordEntry('{', this.now() - this.options.startMs, data));
  }

  onClose(summary?: SessionSummary): void {
    if (this.closing) return;
    this.closing = true;
    if (summary !== undefined && this.options.indexPath !== undefined) void this.finished.then(() => this.writeIndex(summary));
    else void this.finished.then(() => this.options.onFinished?.(this));
    if (this.state === 'failed') return;
    this.push(Buffer.from(RECORD_FOOTER, 'latin1'));
    void this.pump();
  }

  /** One line per session, after the file is complete (docs/recording.md, "The index"). */
  private async writeIndex(summary: SessionSummary): Promise<void> {
    const { indexPath, identity, logger } = this.options;
    const state = this.state === 'recording' ? 'complete' : this.state;
    const entry = indexEntry(summary, identity ?? null, this.created ? this.currentPath : null, state, this.kind ?? 'stream');
    try {
      await appendIndexEntry(indexPath!, entry);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const more = this.options.onWriteError?.(e.code ?? 'EIO');
      // Already held off (this session's file failed on the same full disk): that was the line.
      if (more === '') logger.debug(`writing record index failed: ${indexPath!}: ${e.code ?? e.message}`);
      else logger.error(`writing record index failed: ${indexPath!}: ${e.code ?? e.message}${more ?? ''}`);
    }
    this.options.onFinished?.(this);
  }

  private add(entry: Buffer): void {
    const { maxFileBytes, maxPendingBytes, logger } = this.options;
    if (maxFileBytes > 0 && this.fileBytes + entry.length + RECORD_FOOTER.length > maxFileBytes) {
      this.state = 'capped';
      logger.warn(`record file reached --max-record-size, recording stopped: ${this.path}`, { max_bytes: maxFileBytes });
      return;
    }
    if (this.pendingBytes + entry.length > maxPendingBytes) {
      this.state = 'dropped';
      logger.warn(`record file cannot keep up with the session, recording stopped: ${this.path}`, {
        pending_bytes: this.pendingBytes,
      });
      return;
    }
    this.push(entry);
    void this.pump();
  }

  private push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.pendingBytes += chunk.length;
    this.fileBytes += chunk.length;
  }

  private async pump(): Promise<void> {
    if (this.writing || this.handle === null) return;
    this.writing = true;
    try {
      while (this.queue.length > 0 && this.state !== 'failed') {
        let take = 0;
        let size = 0;
        while (take < this.queue.length && (take === 0 || size + this.queue[take]!.length <= BATCH_BYTES)) {
          size += this.queue[take]!.length;
          take++;
        }
        const batch = take === 1 ? this.queue[0]! : Buffer.concat(this.queue.slice(0, take), size);
        this.queue.splice(0, take);
        let offset = 0;
        while (offset < batch.length) {
          const { bytesWritten } = await this.handle.write(batch, offset, batch.length - offset);
          offset += bytesWritten;
        }
        this.pendingBytes -= size;
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const more = this.options.onWriteError?.(e.code ?? 'EIO') ?? '';
      this.fail('writing record file failed, session no longer recorded', (e.code ?? e.message) + more);
    } finally {
      this.writing = false;
    }
    if (this.closing && this.queue.length === 0 && this.handle !== null) {
      const handle = this.handle;
      this.handle = null;
      await handle.close().catch(() => undefined);
      this.resolveFinished();
    }
  }

  private fail(what: string, reason: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.queue = [];
    this.pendingBytes = 0;
    this.options.logger.error(`${what}: ${this.path}: ${reason}`);
    const handle = this.handle;
    this.handle = null;
    void (handle ? handle.close().catch(() => undefined) : Promise.resolve()).then(() => this.resolveFinished());
  }
}
