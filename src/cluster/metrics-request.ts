import type { Worker } from 'node:cluster';
import type http from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ClusterMetrics, WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import { type MetricsSource, OpsEndpoints, opsListenerAddress, startOpsListener } from '../metrics/ops-endpoints.js';
import { IpcRequests } from './ipc-request.js';
import { type RenderedMetrics, sendToWorker, type ToPrimary } from './messages.js';
import type { ParentChannel } from './process-signals.js';

/**
 * Metrics under --workers (docs/workers.md): the primary sums the workers' registries, asking
 * each over IPC on every scrape, and serves the sum on --metrics HOST:PORT; a worker's
 * --metrics-path scrape on the main port asks the primary for the same sum.
 */

/** A worker's --metrics-path scrape waits this long for the primary's sum (which waits 2 s per worker). */
const MAIN_PORT_SCRAPE_TIMEOUT_MS = 5_000;

/** The primary's side: the sum over workers, and the --metrics listener. */
export class ClusterScrapes {
  /** The sum over workers, for --metrics and for the workers' --metrics-path scrapes. */
  readonly metrics: ClusterMetrics;
  /** Each scrape gives its own wait (ClusterMetrics: 2 s). */
  private readonly requests = new IpcRequests<WorkerMetricsJson | null>(0);
  private listener: http.Server | null = null;

  /**
   * `live`: the workers that serve now (each is asked on every scrape); `primaryFigures`: what
   * the primary itself counts (--reverse-listen), added to the sum. prom-client is loaded here,
   * so only when metrics are on.
   */
  static async create(workerCount: number, live: () => Worker[], primaryFigures?: () => Promise<WorkerMetricsJson | null>): Promise<ClusterScrapes> {
    const { ClusterMetrics } = await import('../metrics/cluster-metrics.js');
    return new ClusterScrapes(workerCount, live, ClusterMetrics, primaryFigures);
  }

  private constructor(
    private readonly workerCount: number,
    live: () => Worker[],
    Sum: typeof ClusterMetrics,
    primaryFigures?: () => Promise<WorkerMetricsJson | null>,
  ) {
    this.metrics = new Sum((timeoutMs) => this.collect(live(), timeoutMs), workerCount, undefined, primaryFigures);
  }

  /**
   * --metrics HOST:PORT: the primary owns the listener, so a scrape sees the whole server and
   * no worker's data path ever serves one; /readyz follows `isReady`. False (logged): it
   * cannot listen.
   */
  async listen(config: Config, logger: Logger, isReady: () => boolean): Promise<boolean> {
    const listen = config.ops.metricsListen;
    if (listen === null) return true;
    const endpoints = new OpsEndpoints({ metrics: this.metrics, metricsPath: null, healthPath: null, isReady });
    try {
      this.listener = await startOpsListener(endpoints, listen.host, listen.port);
    } catch (err) {
      logger.error(`--metrics: cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`);
      return false;
    }
    this.listener.unref();
    logger.info(`metrics and health for all ${this.workerCount} workers on http://${opsListenerAddress(this.listener)}/metrics`);
    return true;
  }

  close(): void {
    const listener = this.listener;
    this.listener = null;
    if (!listener) return;
    listener.closeAllConnections();
    listener.close();
  }

  /** A worker's answer to 'metrics-request'. */
  answer(seq: number, metrics: WorkerMetricsJson | null): void {
    this.requests.answer(seq, metrics);
  }

  /** A worker's 'scrape' (its --metrics-path): answer with the sum, or null if it cannot be made. */
  scrapeFor(worker: Worker, seq: number): void {
    this.metrics.render().then(
      (result) => sendToWorker(worker, { wsfy: 'scrape-result', seq, result }),
      () => sendToWorker(worker, { wsfy: 'scrape-result', seq, result: null }),
    );
  }

  /** One scrape: every worker's registry, or null for each that does not answer in time. */
  private collect(workers: Worker[], timeoutMs: number): Promise<Array<WorkerMetricsJson | null>> {
    return Promise.all(workers.map((worker) => this.requests.request((seq) => sendToWorker(worker, { wsfy: 'metrics-request', seq }), timeoutMs)));
  }
}

/** A worker's main-port scrape: asks the primary for the sum over all workers. */
export class PrimaryScrape implements MetricsSource {
  private readonly requests = new IpcRequests<RenderedMetrics | null>(MAIN_PORT_SCRAPE_TIMEOUT_MS);

  constructor(private readonly primary: ParentChannel) {}

  async render(): Promise<RenderedMetrics> {
    if (!this.primary.connected) throw new Error('the primary is gone');
    const result = await this.requests.request((seq) => this.primary.send({ wsfy: 'scrape', seq } satisfies ToPrimary));
    if (!result) throw new Error('the primary did not answer in time');
    return result;
  }

  /** The primary's 'scrape-result'. */
  answer(seq: number, result: RenderedMetrics | null): void {
    this.requests.answer(seq, result);
  }
}

/** A worker answers the primary's 'metrics-request' from its own registry (null when it has none or fails). */
export function answerMetricsRequest(
  seq: number,
  metrics: (() => Promise<WorkerMetricsJson>) | undefined,
  send: (message: ToPrimary) => boolean,
  logger: Logger,
): void {
  if (!metrics) {
    send({ wsfy: 'metrics', seq, metrics: null });
    return;
  }
  metrics().then(
    (json) => send({ wsfy: 'metrics', seq, metrics: json }),
    (err: Error) => {
      logger.warn(`metrics: cannot collect this worker's figures: ${err.message}`);
      send({ wsfy: 'metrics', seq, metrics: null });
    },
  );
}
