import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { BANNER_ENV, GENERATION_ENV, SLOT_ENV } from './messages.js';
import { PrimaryScrape } from './metrics-request.js';
import type { ParentChannel, SupervisorProcess, WorkerProcess } from './process-signals.js';
import { Supervisor } from './supervisor.js';
import { attachWorker } from './worker.js';
import { isWorkerProcess, SINGLE_PROCESS, type WorkerSetup } from './worker-role.js';

/**
 * --workers N (docs/workers.md): the CLI's two calls. With N > 1 the process started becomes a
 * supervising primary (supervisor.ts) and forks N workers, each of which runs the whole server
 * and joins the others (worker.ts). With --workers 1 none of this runs: no extra process,
 * nothing on the data path.
 */

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
  if (config.workers <= 1) return SINGLE_PROCESS;
  const primary = new Supervisor(config, logger, proc, parent).run();
  return { primary, speaksForServer: false, printsBanner: false, clusterMetrics: null, attach: () => undefined };
}
