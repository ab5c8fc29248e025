import type { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SessionStart } from '../proxy/session.js';
import { combineObservers, type SessionObserver } from '../proxy/session-observer.js';
import { RecordWriter } from '../record/record-writer.js';
import { TrafficObserver } from '../record/traffic-observer.js';

export type ObserverFactory = (id: number, client: string, start: SessionStart) => SessionObserver | null;

/**
 * The per-session features (--record, --traffic, metrics) as one observer factory, or
 * undefined when none is on: then the session holds no observer and the bridge does no work
 * per chunk for any of them.
 */
export function buildObserverFactory(config: Config, metrics: Metrics | null, stdout: Writable): ObserverFactory | undefined {
  const record = config.record;
  const traffic = config.traffic;
  if (record === null && !traffic && metrics === null) return undefined;
  return (id, _client, start) => {
    const startMs = Date.now();
    const parts: SessionObserver[] = [];
    if (metrics) parts.push(metrics.sessionStarted(startMs - (start.acceptedAt ?? startMs)));
    if (record !== null) {
      parts.push(
        new RecordWriter({
          basePath: record,
          session: id,
          startMs,
          maxFileBytes: config.ops.recordMaxBytes,
          maxPendingBytes: config.ops.recordBufferBytes,
          logger: start.logger,
        }),
      );
    }
    if (traffic) {
      const observer = new TrafficObserver(stdout);
      observer.start();
      parts.push(observer);
    }
    return combineObservers(parts);
  };
}
