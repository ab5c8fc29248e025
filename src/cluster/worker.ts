import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import type { SessionLimits } from '../admission/session-limits.js';
import type { WebsockifyServer } from '../server/websockify-server.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { answerMetricsRequest, type PrimaryScrape } from './metrics-request.js';
import type { ParentChannel, WorkerProcess } from './process-signals.js';
import { capacityShare, SharedCapacity, SharedSessions } from './shared-gate.js';

/** A restarted worker numbers its connections from the next million up (ids never repeat). */
const IDS_PER_GENERATION = 1_000_000;

/** Who this worker is, from the environment the primary forked it with. */
interface WorkerIdentity {
  slot: number;
  generation: number;
}

export interface WorkerParts {
  /** --metrics: this worker's registry as JSON, for the primary's sum. */
  metrics?: () => Promise<WorkerMetricsJson>;
  /** --max-sessions-per-ip/--max-sessions-per-token: counted server-wide once attached. */
  sessionLimits?: SessionLimits;
}

/**
 * A worker's side of --workers (docs/workers.md): joins `server` to the others (session ids,
 * the shared caps, the drain) and answers the primary's messages, which come on `primary`.
 */
export function attachWorker(
  config: Config,
  server: WebsockifyServer,
  logger: Logger,
  me: WorkerIdentity,
  parts: WorkerParts,
  primaryScrape: PrimaryScrape | null,
  proc: WorkerProcess,
  primary: ParentChannel,
): void {
  const count = config.workers;
  const sendToPrimary = (message: ToPrimary): boolean => primary.send(message);
  server.registry.numberIds(me.generation * IDS_PER_GENERATION + me.slot + 1, count);

  let capacity: SharedCapacity | null = null;
  if (config.limits.maxConnections > 0) {
    capacity = new SharedCapacity(capacityShare(config.limits.maxConnections, count), sendToPrimary);
    server.registry.capacityGate = capacity;
  }
  let sessions: SharedSessions | null = null;
  const limits = parts.sessionLimits;
  if (limits && (limits.maxPerIp > 0 || limits.maxPerToken > 0)) {
    sessions = new SharedSessions(sendToPrimary);
    limits.shared = sessions;
  }

  // A stop signal that reached this worker itself (a terminal's SIGINT, systemd's SIGTERM to
  // the cgroup): the primary need not ask it again. Before the worker serves, the signal ends
  // it at once (see WorkerProcess.watchStop).
  let signalled = false;
  proc.watchStop(() => {
    if (signalled) return;
    signalled = true;
    sendToPrimary({ wsfy: 'signalled' });
  });
  primary.onMessage((received) => {
    const message = received as ToWorker | undefined;
    switch (message?.wsfy) {
      case 'shutdown':
        // As if the signal had come to us: the server drains (1001) and exits.
        if (!signalled) proc.deliver(message.signal);
        break;
      case 'stop-accepting':
        // stopAccepting() closes the handle at once (its promise waits for open connections).
        void server.stopAccepting();
        sendToPrimary({ wsfy: 'stopped-accepting' });
        break;
      case 'capacity':
        capacity?.answer(message.seq, message.granted);
        break;
      case 'session-slot':
        sessions?.answer(message.seq, message);
        break;
      case 'scrape-result':
        primaryScrape?.answer(message.seq, message.result);
        break;
      case 'metrics-request':
        answerMetricsRequest(message.seq, parts.metrics, sendToPrimary, logger);
        break;
    }
  });
}
