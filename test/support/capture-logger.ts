import { Logger, type LogRecord, type LogSink } from '../../src/log/logger.js';

/** A logger whose records the test can read. */
export function captureLogger(): { logger: Logger; records: LogRecord[]; lines: () => string[] } {
  const records: LogRecord[] = [];
  const sink: LogSink = { write: (record) => records.push(record) };
  return { logger: new Logger([sink], 'debug'), records, lines: () => records.map((r) => `${r.level} ${r.message}`) };
}
