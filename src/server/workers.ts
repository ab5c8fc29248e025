import cluster, { type Worker } from 'node:cluster';
import fs from 'node:fs';
import type http from 'node:http';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { ClusterMetrics, type WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import { type MetricsSource, OpsEndpoints, opsListenerAddress, startOpsListener } from '../metrics/ops-endpoints.js';
import { RespawnLimiter } from '../wrap/respawn-limiter.js';
import type { CapacityGate } from './connection-registry.js';
import { removeStaleSocket } from './listener.js';
import type { WebsockifyServer } from './websockify-server.js';

/**
 * --workers N: one supervising primary and N node:cluster workers that each run the whole
 * server (docs/workers.md). The primary serves nothing itself: it binds the listener for the
 * workers (node:cluster's round-robin handle: it accepts and hands each connection to the next
 * worker, so even 8 connections opened at once split evenly), restarts a worker that crashes,
 * and turns SIGTERM/SIGINT and --timeout into one decision for all of them. With --workers 1
 * none of this runs: no extra process, nothing on the data path.
 */

/** Environment the primary gives each worker (read here from the env main passes down). */
const SLOT_ENV = 'WSFY_WORKER_SLOT';
const GENERATION_ENV = 'WSFY_WORKER_GENERATION';
const BANNER_ENV = 'WSFY_WORKER_BANNER';

/** A restarted worker numbers its connections from the next million up (ids never repeat). */
const IDS_PER_GENERATION = 1_000_000;
/**
 * On SIGINT from a terminal (or SIGTERM from systemd to the whole cgroup) every worker gets the
 * signal itself; the primary waits this long before asking the others, so no worker sees two
 * signals (a second one means "stop waiting" and would skip the drain).
 */
const SIGNAL_GRACE_MS = 200;
/** A worker still alive this long after the drain deadline is killed. */
const KILL_SLACK_MS = 5_000;

type ToWorker =
  | { wsfy: 'shutdown'; signal: NodeJS.Signals }
  | { wsfy: 'stop-accepting' }
  | { wsfy: 'capacity'; seq: number; granted: boolean }
  | { wsfy: 'metrics-request'; seq: number }
  | { wsfy: 'scrape-result'; seq: number; result: RenderedMetrics | null };
/** What cli/daemonize.ts sends a daemon's parent (type 'ready' or 'failed'). */
type DaemonReport = { type: 'ready' | 'failed'; [key: string]: unknown };
type ToPrimary =
  | { wsfy: 'signalled' }
  | { wsfy: 'acquire'; seq: number }
  | { wsfy: 'release' }
  | { wsfy: 'metrics'; seq: number; metrics: WorkerMetricsJson | null }
  | { wsfy: 'scrape'; seq: number };

type RenderedMetrics = Awaited<ReturnType<MetricsSource['render']>>;
/** A worker's --metrics-path scrape waits this long for the primary's sum (which waits 2 s per worker). */
const MAIN_PORT_SCRAPE_TIMEOUT_MS = 5_000;

/** Whether this process is a worker started by setUpWorkers. */
export function isWorkerProcess(env: NodeJS.ProcessEnv): boolean {
  return cluster.isWorker && env[SLOT_ENV] !== undefined;
}

export interface WorkerSetup {
  /** In the primary: resolves with the exit status once every worker has stopped. Else null. */
  readonly primary: Promise<number> | null;
  /**
   * In a worker with --metrics-path: the whole server's figures, summed by the primary, for a
   * scrape on the main port (which reaches one worker). Null elsewhere.
   */
  readonly clusterMetrics: MetricsSource | null;
  /**
   * In a worker: joins `server` to the others (ids, shared cap, drain) and, with --metrics,
   * answers the primary's scrapes from `metrics` (its registry as JSON). A no-op elsewhere.
   */
  attach(server: WebsockifyServer, logger: Logger, metrics?: () => Promise<WorkerMetricsJson>): void;
}

/**
 * Called once by the CLI right after the logger exists. In the primary (config.workers > 1)
 * it forks the workers and supervises them; the caller only waits for `primary`. In a worker
 * and in a single process the caller goes on as usual and calls `attach` on its server.
 */
export function setUpWorkers(config: Config, logger: Logger, env: NodeJS.ProcessEnv): WorkerSetup {
  if (isWorkerProcess(env)) {
    return {
      primary: null,
      clusterMetrics: config.ops.metricsPath !== null ? primaryScrape : null,
      attach: (server, log, metrics) =>
        attachWorker(
          config,
          server,
          log,
          {
            slot: Number(env[SLOT_ENV]),
            generation: Number(env[GENERATION_ENV] ?? '0'),
            banner: env[BANNER_ENV] === '1',
          },
          metrics,
        ),
    };
  }
  if (config.workers <= 1) return { primary: null, clusterMetrics: null, attach: () => undefined };
  return { primary: new Supervisor(config, logger).run(), clusterMetrics: null, attach: () => undefined };
}

/**
 * The cap on open connections is the server's, not each worker's: each worker may hold
 * `share` connections without asking, and the rest of the cap is a pool in the primary that a
 * worker borrows from one connection at a time. A quarter-cap share each (half the cap in
 * all) keeps the default cap of 20,000 free of IPC until a worker holds 5,000 connections.
 */
function capacityShare(cap: number, workers: number): number {
  return Math.floor(cap / (2 * workers));
}

interface Slot {
  index: number;
  worker: Worker | null;
  generation: number;
  listening: boolean;
  signalled: boolean;
  /** Connections this worker borrowed from the pool. */
  borrowed: number;
  limiter: RespawnLimiter;
  restartTimer: NodeJS.Timeout | null;
}

class Supervisor {
  private readonly slots: Slot[];
  private readonly cap: number;
  private pool: number;
  private stopping = false;
  private stoppedAccepting = false;
  private failed = false;
  private startupDone = false;
  private resolveDone!: (code: number) => void;
  /** --metrics: the listener the primary serves scrapes on (the workers serve no metrics port). */
  private opsListener: http.Server | null = null;
  private scrapeSeq = 0;
  /** The sum over workers, for --metrics and for the workers' --metrics-path scrapes. */
  private readonly metrics: ClusterMetrics;
  private readonly scrapes = new Map<number, (metrics: WorkerMetricsJson | null) => void>();
  private readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  private finished = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    const count = config.workers;
    this.slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: null,
      generation: 0,
      listening: false,
      signalled: false,
      borrowed: 0,
      limiter: new RespawnLimiter(),
      restartTimer: null,
    }));
    this.metrics = new ClusterMetrics((timeoutMs) => this.collectMetrics(timeoutMs), count);
    this.cap = config.limits.maxConnections;
    this.pool = this.cap - count * capacityShare(this.cap, count);
  }

  async run(): Promise<number> {
    // Round robin whatever NODE_CLUSTER_SCHED_POLICY says: with the kernel choosing, a burst of
    // connections tends to land on one worker.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    this.installSignalHandlers();
    // Before the workers: a --metrics port that cannot be bound fails the launch at once, and
    // the banner (printed by the last worker) means scrapes are answered too.
    if (!(await this.startMetrics())) return 1;
    let restoreUmask: (() => void) | null = null;
    const listen = this.config.listen;
    if (listen.kind === 'unix') {
      // This process binds the path (node:cluster): replace a stale socket, and bind under a
      // umask so it never exists with wider permissions than asked, as a single process does.
      try {
        await removeStaleSocket(listen.path);
      } catch (err) {
        this.logger.error((err as Error).message);
        return 1;
      }
      const previous = process.umask(~listen.mode & 0o777);
      restoreUmask = () => {
        process.umask(previous);
        restoreUmask = null;
      };
    }

    // Worker 1 alone first: a listen failure is then reported once, by one worker. The last
    // worker prints the banner, so "Listen on" means every worker serves.
    const count = this.slots.length;
    const first = await this.startAndWait([this.slots[0]!], count === 1);
    restoreUmask?.();
    if (listen.kind === 'unix' && first) fs.chmodSync(listen.path, listen.mode);
    if (first && count > 2 && !this.stopping) await this.startAndWait(this.slots.slice(1, count - 1), false);
    if (first && count > 1 && !this.stopping) await this.startAndWait([this.slots[count - 1]!], true);
    if (!this.stopping && this.slots.every((s) => s.listening)) this.startupDone = true;
    else if (!this.stopping) {
      this.failed = true;
      this.stopAll('SIGTERM');
    }
    if (this.startupDone && this.config.timeoutSec > 0) {
      // --timeout counts from the launch, for the whole server: the workers stop accepting
      // together (each also has its own timer, which fires a little later and finds it done).
      const elapsed = process.uptime() * 1000;
      setTimeout(() => this.stopAccepting(), Math.max(0, this.config.timeoutSec * 1000 - elapsed)).unref();
    }
    return this.done;
  }

  /**
   * --metrics HOST:PORT under --workers: the primary owns the listener, so a scrape sees the
   * whole server and no worker's data path ever serves one; /readyz fails once it drains.
   */
  private async startMetrics(): Promise<boolean> {
    const listen = this.config.ops.metricsListen;
    if (listen === null) return true;
    const endpoints = new OpsEndpoints({ metrics: this.metrics, metricsPath: null, healthPath: null, isReady: () => !this.stopping && !this.stoppedAccepting });
    try {
      this.opsListener = await startOpsListener(endpoints, listen.host, listen.port);
    } catch (err) {
      this.logger.error(`--metrics: cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`);
      return false;
    }
    this.opsListener.unref();
    const where = opsListenerAddress(this.opsListener);
    this.logger.info(`metrics and health for all ${this.slots.length} workers on http://${where}/metrics`);
    return true;
  }

  /** One scrape: every live, listening worker's registry, or null for each that does not answer in time. */
  private collectMetrics(timeoutMs: number): Promise<Array<WorkerMetricsJson | null>> {
    const live = this.slots.filter((s) => s.worker !== null && s.listening && s.worker.isConnected());
    return Promise.all(
      live.map(
        (slot) =>
          new Promise<WorkerMetricsJson | null>((resolve) => {
            const seq = ++this.scrapeSeq;
            const timer = setTimeout(() => finish(null), timeoutMs);
            const finish = (metrics: WorkerMetricsJson | null): void => {
              clearTimeout(timer);
              this.scrapes.delete(seq);
              resolve(metrics);
            };
            this.scrapes.set(seq, finish);
            this.send(slot.worker!, { wsfy: 'metrics-request', seq });
          }),
      ),
    );
  }

  /** Forks the workers of `slots` and resolves true once all listen, false if one exits first. */
  private startAndWait(slots: Slot[], banner: boolean): Promise<boolean> {
    return Promise.all(
      slots.map(
        (slot) =>
          new Promise<boolean>((resolve) => {
            const worker = this.fork(slot, banner);
            worker.once('listening', () => resolve(true));
            worker.once('exit', () => resolve(false));
          }),
      ),
    ).then((all) => all.every(Boolean));
  }

  private fork(slot: Slot, banner: boolean): Worker {
    const worker = cluster.fork({
      [SLOT_ENV]: String(slot.index),
      [GENERATION_ENV]: String(slot.generation),
      [BANNER_ENV]: banner ? '1' : '0',
    });
    slot.worker = worker;
    slot.listening = false;
    slot.signalled = false;
    const pid = worker.process.pid;
    worker.once('listening', () => {
      slot.listening = true;
      this.logger.info(`worker ${slot.index + 1} of ${this.slots.length} serving (pid ${pid})`);
      if (this.stoppedAccepting) this.send(worker, { wsfy: 'stop-accepting' });
    });
    worker.on('message', (message: ToPrimary) => this.onMessage(slot, worker, message));
    worker.once('exit', (code: number | null, signal: string | null) => this.onExit(slot, worker, code, signal as NodeJS.Signals | null));
    return worker;
  }

  private onMessage(slot: Slot, worker: Worker, message: ToPrimary | DaemonReport): void {
    if ('type' in message) return this.passOnDaemonReport(slot, message);
    switch (message?.wsfy) {
      case 'signalled':
        slot.signalled = true;
        break;
      case 'acquire': {
        const granted = this.pool > 0;
        if (granted) {
          this.pool -= 1;
          slot.borrowed += 1;
        }
        this.send(worker, { wsfy: 'capacity', seq: message.seq, granted });
        break;
      }
      case 'release':
        if (slot.borrowed > 0) {
          slot.borrowed -= 1;
          this.pool += 1;
        }
        break;
      case 'metrics':
        this.scrapes.get(message.seq)?.(message.metrics);
        break;
      case 'scrape': {
        const seq = message.seq;
        this.metrics.render().then(
          (result) => this.send(worker, { wsfy: 'scrape-result', seq, result }),
          () => this.send(worker, { wsfy: 'scrape-result', seq, result: null }),
        );
        break;
      }
    }
  }

  /**
   * -D: the daemon parent waits on this process's channel for "ready" (with the banner) or
   * "failed". Workers report to us; the banner worker's "ready" means every worker serves.
   */
  private passOnDaemonReport(slot: Slot, report: DaemonReport): void {
    if (!process.send) return;
    if (report.type === 'failed') process.send(report);
    else if (slot.index === this.slots.length - 1 && slot.generation === 0) process.send(report, () => process.disconnect?.());
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    this.pool += slot.borrowed;
    slot.borrowed = 0;
    const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
    const pid = worker.process.pid;
    if (this.stopping) {
      if (code !== 0) this.failed = true;
    } else if (!this.startupDone) {
      // Its own reason (a listen failure, a bad file) is already on stderr.
      this.failed = true;
      this.stopAll('SIGTERM');
    } else if (code === 0 && signal === null) {
      // --timeout or --idle-timeout: the worker finished on purpose.
      this.logger.debug(`worker ${slot.index + 1} (pid ${pid}) finished`);
    } else if (this.stoppedAccepting) {
      this.failed = true;
      this.logger.warn(`worker ${slot.index + 1} (pid ${pid}) ${how}; not restarted: the server no longer accepts (--timeout)`);
    } else {
      this.restart(slot, `worker ${slot.index + 1} (pid ${pid}) ${how}`);
    }
    this.finishIfIdle();
  }

  /** The reference's respawn rule (three starts per ~10 s): a crash loop cannot spin the CPU. */
  private restart(slot: Slot, what: string): void {
    const now = Date.now();
    const delay = slot.limiter.delayMs(now);
    slot.limiter.started(now + delay);
    slot.generation += 1;
    this.logger.warn(`${what}; restarting it${delay > 0 ? ` in ${(delay / 1000).toFixed(1)}s` : ''}`);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (!this.stopping && !this.stoppedAccepting) this.fork(slot, false);
      this.finishIfIdle();
    }, delay);
  }

  private finishIfIdle(): void {
    if (this.finished) return;
    if (this.slots.some((s) => s.worker !== null || s.restartTimer !== null)) return;
    this.finished = true;
    this.closeMetrics();
    this.resolveDone(this.failed ? 1 : 0);
  }

  private closeMetrics(): void {
    const listener = this.opsListener;
    this.opsListener = null;
    if (!listener) return;
    listener.closeAllConnections();
    listener.close();
  }

  private stopAccepting(): void {
    this.stoppedAccepting = true;
    for (const slot of this.slots) if (slot.worker && slot.listening) this.send(slot.worker, { wsfy: 'stop-accepting' });
  }

  /** Drain: every worker closes its sessions with 1001 and exits; restarts are cancelled. */
  private stopAll(signal: NodeJS.Signals): void {
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    setTimeout(() => {
      for (const slot of this.slots) if (slot.worker && !slot.signalled) this.send(slot.worker, { wsfy: 'shutdown', signal });
    }, SIGNAL_GRACE_MS);
    setTimeout(() => {
      for (const slot of this.slots) {
        if (!slot.worker) continue;
        this.logger.warn(`worker ${slot.index + 1} (pid ${slot.worker.process.pid}) did not stop in time; killing it`);
        this.failed = true;
        slot.worker.process.kill('SIGKILL');
      }
    }, SIGNAL_GRACE_MS + this.config.limits.shutdownTimeoutMs + KILL_SLACK_MS).unref();
    this.finishIfIdle();
  }

  private installSignalHandlers(): void {
    // Reload and log reopening belong to the workers; unhandled, SIGHUP would end the primary.
    for (const signal of ['SIGHUP', 'SIGUSR1'] as const) {
      process.on(signal, () => {
        for (const slot of this.slots) slot.worker?.process.kill(signal);
      });
    }
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        if (this.stopping && !this.finished) {
          // A second signal: stop waiting, as a single process does.
          for (const slot of this.slots) slot.worker?.process.kill(signal);
          this.finished = true;
          this.resolveDone(1);
          return;
        }
        this.logger.info(`In exit (${signal}): stopping ${this.slots.filter((s) => s.worker).length} workers`);
        this.stopAll(signal);
      });
    }
  }

  private send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }
}

/** The worker's side of the shared connection cap (see capacityShare). */
class SharedCapacity implements CapacityGate {
  /** Connections admitted and not yet closed. */
  private held = 0;
  private borrowed = 0;
  private seq = 0;
  private readonly waiting = new Map<number, (granted: boolean) => void>();

  constructor(
    private readonly share: number,
    private readonly send: (message: ToPrimary) => boolean,
  ) {}

  acquire(): boolean | Promise<boolean> {
    if (this.held < this.share + this.borrowed) {
      this.held += 1;
      return true;
    }
    return new Promise((resolve) => {
      const seq = ++this.seq;
      this.waiting.set(seq, resolve);
      if (!this.send({ wsfy: 'acquire', seq })) this.answer(seq, false);
    });
  }

  answer(seq: number, granted: boolean): void {
    const resolve = this.waiting.get(seq);
    if (!resolve) return;
    this.waiting.delete(seq);
    if (granted) {
      this.borrowed += 1;
      this.held += 1;
    }
    resolve(granted);
  }

  release(): void {
    this.held -= 1;
    if (this.borrowed > 0 && this.held < this.share + this.borrowed) {
      this.borrowed -= 1;
      this.send({ wsfy: 'release' });
    }
  }
}

/** A worker's main-port scrape: asks the primary for the sum over all workers. */
class PrimaryScrape implements MetricsSource {
  private seq = 0;
  private readonly waiting = new Map<number, (result: RenderedMetrics | null) => void>();

  render(): Promise<RenderedMetrics> {
    return new Promise((resolve, reject) => {
      if (!process.connected || !process.send) return reject(new Error('the primary is gone'));
      const seq = ++this.seq;
      const timer = setTimeout(() => this.answer(seq, null), MAIN_PORT_SCRAPE_TIMEOUT_MS);
      this.waiting.set(seq, (result) => {
        clearTimeout(timer);
        if (result) resolve(result);
        else reject(new Error('the primary did not answer in time'));
      });
      process.send({ wsfy: 'scrape', seq } satisfies ToPrimary);
    });
  }

  answer(seq: number, result: RenderedMetrics | null): void {
    const settle = this.waiting.get(seq);
    this.waiting.delete(seq);
    settle?.(result);
  }
}

const primaryScrape = new PrimaryScrape();

function attachWorker(
  config: Config,
  server: WebsockifyServer,
  logger: Logger,
  me: { slot: number; generation: number; banner: boolean },
  metrics?: () => Promise<WorkerMetricsJson>,
): void {
  const count = config.workers;
  server.registry.numberIds(me.generation * IDS_PER_GENERATION + me.slot + 1, count);
  // One banner for the server, from the worker started last: by then every worker listens.
  if (!me.banner) logger.raw = () => undefined;

  const send = (message: ToPrimary): boolean => {
    if (!process.connected || !process.send) return false;
    process.send(message);
    return true;
  };
  let capacity: SharedCapacity | null = null;
  if (config.limits.maxConnections > 0) {
    capacity = new SharedCapacity(capacityShare(config.limits.maxConnections, count), send);
    server.registry.capacityGate = capacity;
  }

  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) {
        // The CLI's own handler is not installed yet (we are not listening): nothing to drain.
        process.exit(0);
      }
      if (signalled) return;
      signalled = true;
      send({ wsfy: 'signalled' });
    });
  }
  // Until the CLI installs its own handlers (after listening), a SIGHUP or SIGUSR1 passed on
  // by the primary would end this worker by default: ignore it instead.
  for (const signal of ['SIGHUP', 'SIGUSR1'] as const) process.on(signal, () => undefined);
  process.on('message', (message: ToWorker) => {
    switch (message?.wsfy) {
      case 'shutdown':
        // As if the signal had come to us: the CLI's handler drains (1001) and exits.
        if (!signalled) process.kill(process.pid, message.signal);
        break;
      case 'stop-accepting':
        void server.stopAccepting();
        break;
      case 'capacity':
        capacity?.answer(message.seq, message.granted);
        break;
      case 'scrape-result':
        primaryScrape.answer(message.seq, message.result);
        break;
      case 'metrics-request': {
        const seq = message.seq;
        if (!metrics) send({ wsfy: 'metrics', seq, metrics: null });
        else
          metrics().then(
            (json) => send({ wsfy: 'metrics', seq, metrics: json }),
            (err: Error) => {
              logger.warn(`metrics: cannot collect this worker's figures: ${err.message}`);
              send({ wsfy: 'metrics', seq, metrics: null });
            },
          );
        break;
      }
    }
  });
}
