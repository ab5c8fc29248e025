import type { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SessionStart } from '../proxy/session.js';
import { combineObservers, type SessionObserver } from '../proxy/session-observer.js';
import type { Logger } from '../log/logger.js';
import { Recorder } from '../record/recorder.js';
import { TrafficObserver } from '../record/traffic-observer.js';

export type ObserverFactory = (id: number, client: string, start: SessionStart) => SessionObserver | null;

/**
 * The per-session features (--record, --traffic, metrics) as one observer factory, or
 * undefined when none is on: then the session holds no observer and the bridge does no work
 * per chunk for any of them.
 */
export function buildObserverFactory(config: Config, metrics: Metrics | null, stdout: Writable, logger?: Logger): ObserverFactory | undefined {
  const record = config.record;
  const traffic = config.traffic;
  if (record === null && !traffic && metrics === null) return undefined;
  let recorder = record !== null && logger !== undefined ? startRecorder(config, record, logger) : null;
  return (id, _client, start) => {
    const startMs = Date.now();
    const parts: SessionObserver[] = [];
    if (metrics) parts.push(metrics.sessionStarted(startMs - (start.acceptedAt ?? startMs)));
    if (record !== null) {
      const writer = (recorder ??= startRecorder(config, record, start.logger)).writerFor(id, startMs, start.logger, start.identity ?? null);
      if (writer) parts.push(writer);
    }
    if (traffic) {
      const observer = new TrafficObserver(stdout);
      observer.start();
      parts.push(observer);
    }
    return combineObservers(parts);
  };
}

/** After a write error (a full disk), new sessions go unrecorded this long, or until retention frees space. */
const RECORD_BACKOFF_MS = 60_000;
const RECORD_SWEEP_INTERVAL_MS = 3_600_000;

/** The process's Recorder; its first retention pass runs now, at start. */
function startRecorder(config: Config, basePath: string, logger: Logger): Recorder {
  const recorder = new Recorder({
    basePath,
    maxAgeMs: config.ops.recordMaxAgeMs,
    maxTotalBytes: config.ops.recordMaxTotalBytes,
    maxFileBytes: config.ops.recordMaxBytes,
    maxPendingBytes: config.ops.recordBufferBytes,
    backoffMs: RECORD_BACKOFF_MS,
    sweepIntervalMs: RECORD_SWEEP_INTERVAL_MS,
    logger,
  });
  void recorder.sweep();
  return recorder;
}
