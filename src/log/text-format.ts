import type { LogRecord } from './logger.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `22/Nov/2026 07:31:26`, the date format of Python's http.server log lines (local time). */
export function httpLogDate(date: Date): string {
  return `${two(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

function formatValue(value: string | number | boolean | null | undefined): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * The reference's line shapes, with a timestamp on every line:
 *   per-connection: `127.0.0.1 - - [22/Nov/2026 07:31:26]   3: connecting to: 127.0.0.1:5900`
 *   server-wide:    `[22/Nov/2026 07:31:26] listener exit due to --timeout 5`
 * Structured fields follow the message as ` key=value`.
 */
export function formatTextLine(record: LogRecord): string {
  const date = httpLogDate(record.time);
  const head = record.client !== undefined ? `${record.client} - - [${date}] ` : `[${date}] `;
  const id = record.session !== undefined ? `${String(record.session).padStart(3)}: ` : '';
  let line = head + id + record.message;
  if (record.fields) {
    for (const [key, value] of Object.entries(record.fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
  }
  if (record.realClient !== undefined) line += ` client=${formatValue(record.realClient)}`;
  return line;
}
