import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { describeTarget } from '../config/config.js';
import type { SessionSummary } from '../proxy/session-observer.js';
import type { SessionIdentity } from '../admission/session-identity.js';

/**
 * One finished session in the recording index (`<FILE>.index.jsonl`, docs/recording.md): one
 * JSON object per line, in the order sessions ended. Field names are part of the format.
 */
export interface RecordIndexEntry {
  /** Format version of this line. */
  v: 1;
  /** The recording's file name, relative to the index's folder; null when none was created. */
  file: string | null;
  /** complete, capped (--max-record-size), dropped (disk too slow), failed (write error), off (not recorded). */
  record: 'complete' | 'capped' | 'dropped' | 'failed' | 'off';
  /** vnc when the target's first bytes were an RFB greeting, else stream (a terminal, anything). */
  kind: 'vnc' | 'stream';
  session: number;
  /** ISO 8601, UTC. */
  start: string;
  end: string;
  duration_ms: number;
  /** The client address; behind a trusted proxy, the real client it reported. */
  client: string;
  target: string;
  user: string | null;
  cert: string | null;
  /** First 16 hex digits of SHA-256 of the token (never the token itself). */
  token_sha256: string | null;
  /** Bytes received from the client (towards the target). */
  bytes_in: number;
  /** Bytes received from the target (towards the client). */
  bytes_out: number;
  close_code: number;
  closed_by: SessionSummary['closedBy'];
}

/** The index file of a --record base path. Its name never looks like `<FILE>.<n>` (retention skips it). */
export function recordIndexPath(basePath: string): string {
  return `${basePath}.index.jsonl`;
}

export function indexEntry(
  summary: SessionSummary,
  identity: SessionIdentity | null,
  file: string | null,
  record: RecordIndexEntry['record'],
  kind: RecordIndexEntry['kind'],
): RecordIndexEntry {
  return {
    v: 1,
    file: file === null ? null : path.basename(file),
    record,
    kind,
    session: summary.id,
    start: new Date(summary.startedAt).toISOString(),
    end: new Date(summary.startedAt + summary.durationMs).toISOString(),
    duration_ms: summary.durationMs,
    client: summary.client,
    target: summary.target === null ? '' : describeTarget(summary.target),
    user: identity?.user ?? null,
    cert: identity?.certName ?? null,
    token_sha256: identity?.tokenHash ?? null,
    bytes_in: summary.upBytes,
    bytes_out: summary.downBytes,
    close_code: summary.closeCode,
    closed_by: summary.closedBy,
  };
}

/** Appends, never through a symlink; a new index is 0600 like the recordings it describes. */
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;

/**
 * Crash-safe append: the whole line, newline included, goes out in one write() on an O_APPEND
 * descriptor, so concurrent sessions (and worker processes) never interleave and a crash leaves
 * at worst one torn last line, which readIndex skips. A short write (full disk) is not retried:
 * finishing it later could land after another session's line.
 */
export async function appendIndexEntry(indexPath: string, entry: RecordIndexEntry): Promise<void> {
  const line = Buffer.from(JSON.stringify(entry) + '\n', 'utf8');
  const handle = await open(indexPath, APPEND_FLAGS, 0o600);
  try {
    const { bytesWritten } = await handle.write(line, 0, line.length);
    if (bytesWritten !== line.length) throw Object.assign(new Error('short write to the record index'), { code: 'ENOSPC' });
  } finally {
    await handle.close();
  }
}

function isEntry(value: unknown): value is RecordIndexEntry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.v === 1 && typeof v.session === 'number' && typeof v.start === 'string' && typeof v.client === 'string';
}

/**
 * Every line starts with this, and it cannot occur inside a JSON string (its quotes would be
 * escaped): after a torn append, the next session's line is glued to the fragment and is found
 * again from its last occurrence.
 */
const LINE_START = '{"v":';

function parseLine(line: string): RecordIndexEntry | null {
  try {
    const value: unknown = JSON.parse(line);
    return isEntry(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The entries of an index text: a torn last line (no newline) and lines that do not parse are
 * skipped; a complete line glued to a torn one is kept.
 */
export function parseIndex(text: string): RecordIndexEntry[] {
  const lines = text.split('\n');
  // The part after the last newline is an append cut short by a crash or a full disk.
  lines.pop();
  const entries: RecordIndexEntry[] = [];
  for (const line of lines) {
    if (line === '') continue;
    const entry = parseLine(line) ?? parseLine(line.slice(Math.max(0, line.lastIndexOf(LINE_START))));
    if (entry !== null) entries.push(entry);
  }
  return entries;
}

/** The index of a --record base path; empty when there is none yet. */
export async function readIndex(indexPath: string): Promise<RecordIndexEntry[]> {
  try {
    return parseIndex(await readFile(indexPath, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
