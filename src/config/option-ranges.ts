import { UsageError } from '../errors.js';

/**
 * The longest delay Node's timers keep: setTimeout/setInterval store the delay as a signed 32-bit
 * count of milliseconds, and anything above it becomes 1 ms (a --heartbeat of 3,000,000 would
 * ping hundreds of times a second, a --timeout of 2,200,000 would exit at once). So every
 * duration in seconds stops at 2,147,483 (24.8 days).
 */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

interface NumericRange {
  min: number;
  max: number;
  /** How the bounds are shown in the error message. */
  unit: 'seconds' | 'bytes' | 'count';
  /** A value allowed below min, meaning "off" (0 for optional caps and timers). */
  off?: number;
}

/**
 * The range each numeric option really works in; a value outside it is refused at start with
 * exit 2, never clamped or silently turned into "no limit". Every option of kind int, number or
 * bytes has an entry (a unit test keeps it so).
 */
export const OPTION_RANGES: Readonly<Record<string, NumericRange>> = {
  timeout: { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'idle-timeout': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'tls-watch-interval': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  heartbeat: { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'heartbeat-timeout': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'message-timeout': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'handshake-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  // 0 would mean no idle limit in node:http; an idle keep-alive connection always has one.
  'keepalive-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'connect-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'drain-timeout': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'shutdown-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'plugin-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  // ws keeps maxPayload as a 32-bit integer (2 GiB and more wrap to "no limit"), and a text or
  // base64 message is held whole in memory: 1 GiB is the most that is both enforced and sane.
  'max-message-size': { min: 1, max: GiB, unit: 'bytes' },
  // node:http's parser takes any size; past 1 MiB of headers a request is an attack, not a client.
  'max-header-size': { min: KiB, max: MiB, unit: 'bytes' },
  'max-headers': { min: 8, max: 10_000, unit: 'count' },
  'max-connections': { min: 0, max: 10_000_000, unit: 'count' },
  'max-connections-per-ip': { min: 0, max: 10_000_000, unit: 'count' },
  // The pause threshold for one session's queue: past 256 MiB one slow client could hold the
  // memory of thousands of well-behaved ones.
  'buffer-size': { min: KiB, max: 256 * MiB, unit: 'bytes' },
  'initial-buffer-size': { min: KiB, max: 256 * MiB, unit: 'bytes' },
  // The bytes all sessions of one process may hold while paused; 0 = no budget.
  'memory-budget': { min: MiB, max: 1024 * GiB, unit: 'bytes', off: 0 },
  'max-record-size': { min: 4 * KiB, max: 1024 * GiB, unit: 'bytes', off: 0 },
  // Not a timer (retention compares file times): a minute to a century.
  'record-max-age': { min: 60, max: 100 * 365 * 86_400, unit: 'seconds', off: 0 },
  'record-max-total': { min: MiB, max: 1024 * 1024 * GiB, unit: 'bytes', off: 0 },
  'max-sessions-per-token': { min: 0, max: 10_000_000, unit: 'count' },
  'max-sessions-per-ip': { min: 0, max: 10_000_000, unit: 'count' },
  'reverse-id-timeout': { min: 0.001, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  'reverse-idle-timeout': { min: 0, max: MAX_TIMER_SECONDS, unit: 'seconds' },
  // Each held server is one open socket: past a million the file-descriptor limit comes first.
  'reverse-max-held': { min: 1, max: 1_000_000, unit: 'count' },
  'reverse-max-held-per-ip': { min: 1, max: 1_000_000, unit: 'count' },
};

/** A size as the options take and print it: 16M, 64K, 1G; bytes when no unit divides it. */
export function formatSize(value: number): string {
  for (const [size, suffix] of [
    [GiB, 'G'],
    [MiB, 'M'],
    [KiB, 'K'],
  ] as const) {
    if (value >= size && value % size === 0) return `${value / size}${suffix}`;
  }
  return String(value);
}

function show(value: number, unit: NumericRange['unit']): string {
  return unit === 'bytes' ? formatSize(value) : String(value);
}

/** Throws a UsageError naming the option and its range when value is outside it. */
export function checkOptionRange(name: string, value: number): void {
  const range = OPTION_RANGES[name];
  if (range === undefined) return;
  if (range.off !== undefined && value === range.off) return;
  if (Number.isFinite(value) && value >= range.min && value <= range.max) return;
  const unit = range.unit === 'count' ? '' : ` ${range.unit}`;
  const off = range.off !== undefined ? ` (or ${range.off} for none)` : '';
  throw new UsageError(`option --${name}: ${value} is out of range: use ${show(range.min, range.unit)} to ${show(range.max, range.unit)}${unit}${off}`);
}
