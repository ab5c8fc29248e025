import cluster from 'node:cluster';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { MetricsSource } from '../metrics/ops-endpoints.js';
import type { WebsockifyServer } from '../server/websockify-server.js';
import { SLOT_ENV } from './messages.js';
import type { WorkerParts } from './worker.js';

/**
 * What the CLI needs to know of --workers before it loads the rest of it: the primary and the
 * worker side (set-up-workers.ts) are loaded only in processes that run them, so a single
 * process starts ~10 ms of CPU sooner (docs/performance.md, "Starting up").
 */

/** Whether this process is a worker started by setUpWorkers. */
export function isWorkerProcess(env: NodeJS.ProcessEnv): boolean {
  return cluster.isWorker && env[SLOT_ENV] !== undefined;
}

/** Whether this process runs any of --workers: as the primary of N > 1, or as one of its workers. */
export function takesPartInWorkers(config: Config, env: NodeJS.ProcessEnv): boolean {
  return config.workers > 1 || isWorkerProcess(env);
}

export interface WorkerSetup {
  /** In the primary: resolves with the exit status once every worker has stopped. Else null. */
  readonly primary: Promise<number> | null;
  /**
   * True where once-per-server lines (the certificate loaded, reloaded) belong: a single
   * process, or the first worker; the other workers log them at debug level only.
   */
  readonly speaksForServer: boolean;
  /**
   * Whether this process prints the banner: a single process does; of N workers only the one
   * started last, when every worker listens.
   */
  readonly printsBanner: boolean;
  /**
   * In a worker with --metrics-path: the whole server's figures, summed by the primary, for a
   * scrape on the main port (which reaches one worker). Null elsewhere.
   */
  readonly clusterMetrics: MetricsSource | null;
  /**
   * In a worker: joins `server` to the others (ids, shared caps, drain) and, with --metrics,
   * answers the primary's scrapes from `parts.metrics` (its registry as JSON);
   * `parts.sessionLimits` (the per-IP and per-token caps) then count server-wide. A no-op
   * elsewhere.
   */
  attach(server: WebsockifyServer, logger: Logger, parts?: WorkerParts): void;
}

/** A process that neither supervises workers nor is one (--workers 1, the default). */
export const SINGLE_PROCESS: WorkerSetup = {
  primary: null,
  speaksForServer: true,
  printsBanner: true,
  clusterMetrics: null,
  attach: () => undefined,
};
