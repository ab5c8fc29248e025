import { AggregatorRegistry, Gauge, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** One worker's registry as `registry.getMetricsAsJSON()` gives it (it crosses IPC as JSON). */
export type WorkerMetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Asks every live worker for its figures; a worker that has not answered in time yields null. */
type CollectFromWorkers = (timeoutMs: number) => Promise<Array<WorkerMetricsJson | null>>;

/** Long enough for a busy worker's event loop, short enough for Prometheus' default 10 s scrape timeout. */
const WORKER_SCRAPE_TIMEOUT_MS = 2_000;

/**
 * --metrics under --workers N, served by the primary (docs/workers.md). Each scrape asks every
 * worker for its registry over the cluster IPC channel and sums them with prom-client's
 * AggregatorRegistry.aggregate: counters, open sessions and histograms are summed; process
 * metrics follow prom-client's own aggregators (CPU and memory summed, start time omitted,
 * version taken from the first). A worker that is restarting or does not answer within the
 * timeout is left out of that scrape, and `websockify_workers_reporting` says so.
 */
export class ClusterMetrics {
  constructor(
    private readonly collect: CollectFromWorkers,
    private readonly workerCount: number,
    private readonly timeoutMs = WORKER_SCRAPE_TIMEOUT_MS,
    /** The primary's own figures added to the sum (--reverse-listen: the primary holds the servers). */
    private readonly primaryFigures: () => Promise<WorkerMetricsJson | null> = () => Promise.resolve(null),
  ) {}

  async render(): Promise<{ contentType: string; body: string }> {
    const [answers, primary] = await Promise.all([this.collect(this.timeoutMs), this.primaryFigures()]);
    const present = answers.filter((a): a is WorkerMetricsJson => a !== null);
    const aggregated = AggregatorRegistry.aggregate(primary === null ? present : [...present, primary]);
    const own = [aggregated];
    new Gauge({ name: 'websockify_workers', help: 'Workers the server runs (--workers)', registers: own }).set(this.workerCount);
    new Gauge({
      name: 'websockify_workers_reporting',
      help: 'Workers whose figures are in this scrape (fewer while one restarts or is too slow to answer)',
      registers: own,
    }).set(present.length);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  }
}
