import type { LogRecord } from './logger.js';

/** Keys the JSON line sets itself; a record field with one of these names is prefixed `field_`. */
const RESERVED = new Set(['time', 'level', 'msg', 'session', 'peer', 'client']);

/**
 * `--log-format json`: one JSON object per line, for log shippers. Fixed keys first
 * (`time` ISO 8601 UTC with milliseconds, `level`, `msg`, `session`, `peer`, `client` the real
 * client address when --trust-proxy or PROXY protocol found one), then the record's fields under
 * their own names (e.g. the `session closed` line's `target`, `duration`, `bytes_in`,
 * `bytes_out`, `close`, `by`); see docs/operations.md for the full list.
 */
export function formatJsonLine(record: LogRecord): string {
  const out: Record<string, unknown> = {
    time: record.time.toISOString(),
    level: record.level,
    msg: record.message,
  };
  if (record.session !== undefined) out.session = record.session;
  if (record.client !== undefined) out.peer = record.client;
  if (record.realClient !== undefined) out.client = record.realClient;
  if (record.fields) {
    for (const [key, value] of Object.entries(record.fields)) {
      if (value === undefined) continue;
      if (!RESERVED.has(key)) out[key] = value;
      // A field repeating a fixed key (session.ts passes `peer`) is dropped when equal, kept
      // under `field_<key>` when it differs, so it can never overwrite the fixed value.
      else if (out[key] !== value) out[`field_${key}`] = value;
    }
  }
  return JSON.stringify(out);
}

/** The startup banner in JSON mode: one record per banner line, so every line stays parseable. */
export function formatJsonRaw(text: string, time: Date = new Date()): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => JSON.stringify({ time: time.toISOString(), level: 'info', msg: line, banner: true }))
    .join('\n');
}
