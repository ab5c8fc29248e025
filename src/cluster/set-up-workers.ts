import cluster from 'node:cluster';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { MetricsSource } from '../metrics/ops-endpoints.js';
import type { WebsockifyServer } from '../server/websockify-server.js';
import { BANNER_ENV, GENERATION_ENV, SLOT_ENV } from './messages.js';
import { PrimaryScrape } from './metrics-request.js';
import type { ParentChannel, SupervisorProcess, WorkerProcess } from './process-signals.js';
import { Supervisor } from './supervisor.js';
import { attachWorker, type WorkerParts } from './worker.js';

/**
 * --workers N (docs/workers.md): the CLI's two calls. With N > 1 the process started becomes a
 * supervising primary (supervisor.ts) and forks N workers, each of which runs the whole server
 * and joins the others (worker.ts). With --workers 1 none of this runs: no extra process,
 * nothing on the data path.
 */

/** Whether this process is a worker started by setUpWorkers. */
export function isWorkerProcess(env: NodeJS.ProcessEnv): boolean {
  return cluster.isWorker && env[SLOT_ENV] !== undefined;
}

interface WorkerSetup {
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

/**
 * Called once by the CLI right after the logger exists. In the primary (config.workers > 1)
 * it forks the workers and supervises them; the caller only waits for `primary`. In a worker
 * and in a single process the caller goes on as usual and calls `attach` on its server.
 * `parent`: this process's channel to the one that started it (a worker's primary, a -D
 * daemon's parent).
 */
export function setUpWorkers(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  proc: SupervisorProcess & WorkerProcess,
  parent: ParentChannel,
): WorkerSetup {
  if (isWorkerProcess(env)) {
    const primaryScrape = config.ops.metricsPath !== null ? new PrimaryScrape(parent) : null;
    const me = { slot: Number(env[SLOT_ENV]), generation: Number(env[GENERATION_ENV] ?? '0') };
    return {
      primary: null,
      speaksForServer: me.slot === 0,
      printsBanner: env[BANNER_ENV] === '1',
      clusterMetrics: primaryScrape,
      attach: (server, log, parts) => attachWorker(config, server, log, me, parts ?? {}, primaryScrape, proc, parent),
    };
  }
  if (config.workers <= 1) return { primary: null, speaksForServer: true, printsBanner: true, clusterMetrics: null, attach: () => undefined };
  const primary = new Supervisor(config, logger, proc, parent).run();
  return { primary, speaksForServer: false, printsBanner: false, clusterMetrics: null, attach: () => undefined };
}
