import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { bindWithMode, removeStaleSocket } from '../listen/unix-socket.js';
import { RespawnLimiter } from '../wrap/respawn-limiter.js';
import { BANNER_ENV, type DaemonReport, GENERATION_ENV, SLOT_ENV, sendToWorker, type ToPrimary } from './messages.js';
import { metricsEnabled } from '../metrics/ops-endpoints.js';
import { ClusterScrapes } from './metrics-request.js';
import type { ParentChannel, StopSignal, SupervisorProcess } from './process-signals.js';
import { SharedCaps } from './shared-gate.js';
import { startPrimaryReverse, type PrimaryReverse } from '../reverse/start-reverse.js';

/**
 * The primary of --workers N (docs/workers.md). It serves nothing itself: it binds the listener
 * for the workers (node:cluster's round-robin handle: it accepts and hands each connection to
 * the next worker, so even 8 connections opened at once split evenly), restarts a worker that
 * crashes, turns SIGTERM/SIGINT and --timeout into one decision for all of them, passes SIGHUP
 * and SIGUSR1 on, and answers the workers' requests for the shared caps (shared-gate.ts) and
 * the summed metrics (metrics-request.ts).
 */

/**
 * On SIGINT from a terminal (or SIGTERM from systemd to the whole cgroup) every worker gets the
 * signal itself; the primary waits this long before asking the others, so no worker sees two
 * signals (a second one means "stop waiting" and would skip the drain).
 */
const SIGNAL_GRACE_MS = 200;
/** A worker still alive this long after the drain deadline is killed. */
const KILL_SLACK_MS = 5_000;

interface Slot {
  index: number;
  worker: Worker | null;
  generation: number;
  listening: boolean;
  signalled: boolean;
  limiter: RespawnLimiter;
  restartTimer: NodeJS.Timeout | null;
}

export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private stoppedAccepting = false;
  /** Workers asked to stop accepting that have not yet said they did (--timeout). */
  private readonly stillAccepting = new Set<Slot>();
  private failed = false;
  private startupDone = false;
  private resolveDone!: (code: number) => void;
  /** --max-connections, --max-sessions-per-ip and --max-sessions-per-token for the whole server. */
  private readonly caps: SharedCaps<Worker>;
  /** --metrics and the workers' --metrics-path scrapes: the sum over workers (null: metrics are off). */
  private scrapes: ClusterScrapes | null = null;
  private readonly done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  private finished = false;
  /** --reverse-listen: this process owns the reverse listener (docs/reverse.md). */
  private reverse: PrimaryReverse | null = null;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly proc: SupervisorProcess,
    /** -D: the daemon's parent, which waits for the report (passOnDaemonReport). */
    private readonly parent: ParentChannel,
  ) {
    const count = config.workers;
    this.slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: null,
      generation: 0,
      listening: false,
      signalled: false,
      limiter: new RespawnLimiter(),
      restartTimer: null,
    }));
    this.caps = new SharedCaps(config.limits, count);
  }

  async run(): Promise<number> {
    // Round robin whatever NODE_CLUSTER_SCHED_POLICY says: with the kernel choosing, a burst of
    // connections tends to land on one worker.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    this.installSignalHandlers();
    // Before the workers: a --metrics port that cannot be bound fails the launch at once, and
    // the banner (printed by the last worker) means scrapes are answered too.
    if (metricsEnabled(this.config.ops)) {
      const live = (): Worker[] => this.slots.flatMap((s) => (s.worker !== null && s.listening && s.worker.isConnected() ? [s.worker] : []));
      this.scrapes = await ClusterScrapes.create(this.slots.length, live, () => this.reverse?.figures() ?? Promise.resolve(null));
      if (!(await this.scrapes.listen(this.config, this.logger, () => !this.stopping && !this.stoppedAccepting))) return 1;
    }
    try {
      this.reverse = await startPrimaryReverse(this.config, this.logger);
    } catch (err) {
      this.logger.error((err as Error).message);
      return 1;
    }
    // Worker 1 alone first: a listen failure is then reported once, by one worker. The last
    // worker prints the banner, so "Listen on" means every worker serves.
    const count = this.slots.length;
    const startFirst = (): Promise<boolean> => this.startAndWait([this.slots[0]!], count === 1);
    const listen = this.config.listen;
    let first: boolean;
    if (listen.kind === 'unix') {
      // This process binds the path when worker 1 listens (node:cluster): replace a stale
      // socket first, and bind with the socket's mode, as a single process does.
      try {
        await removeStaleSocket(listen.path);
      } catch (err) {
        this.logger.error((err as Error).message);
        return 1;
      }
      first = await bindWithMode(listen, startFirst);
    } else {
      first = await startFirst();
    }
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
    this.caps.join(worker);
    slot.listening = false;
    slot.signalled = false;
    const pid = worker.process.pid;
    worker.once('listening', () => {
      slot.listening = true;
      this.logger.info(`worker ${slot.index + 1} of ${this.slots.length} serving (pid ${pid})`);
      if (this.stoppedAccepting) sendToWorker(worker, { wsfy: 'stop-accepting' });
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
      case 'stopped-accepting':
        this.onStoppedAccepting(slot);
        break;
      case 'acquire':
        sendToWorker(worker, { wsfy: 'capacity', seq: message.seq, granted: this.caps.lend(worker) });
        break;
      case 'release':
        this.caps.giveBack(worker);
        break;
      case 'take-session': {
        const { seq, kind, key } = message;
        sendToWorker(worker, { wsfy: 'session-slot', seq, kind, key, granted: this.caps.take(worker, kind, key) });
        break;
      }
      case 'give-session':
        this.caps.give(worker, message.kind, message.key);
        break;
      case 'metrics':
        this.scrapes?.answer(message.seq, message.metrics);
        break;
      case 'scrape':
        if (this.scrapes) this.scrapes.scrapeFor(worker, message.seq);
        else sendToWorker(worker, { wsfy: 'scrape-result', seq: message.seq, result: null });
        break;
      case 'reverse-take':
      case 'reverse-ended':
        this.reverse?.service.onMessage(worker, message);
        break;
    }
  }

  /**
   * -D: the daemon parent waits on this process's channel for "ready" (with the banner) or
   * "failed". Workers report to us; the banner worker's "ready" means every worker serves.
   */
  private passOnDaemonReport(slot: Slot, report: DaemonReport): void {
    if (report.type === 'failed') this.parent.send(report);
    else if (slot.index === this.slots.length - 1 && slot.generation === 0) this.parent.send(report, () => this.parent.disconnect());
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    // Its connections and sessions died with it: what it borrowed and held is free again.
    this.caps.leave(worker);
    this.reverse?.service.onWorkerExit(worker);
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
    this.scrapes?.close();
    void this.reverse?.close();
    this.resolveDone(this.failed ? 1 : 0);
  }

  private stopAccepting(): void {
    this.stoppedAccepting = true;
    for (const slot of this.slots) {
      if (slot.worker && slot.listening) {
        this.stillAccepting.add(slot);
        sendToWorker(slot.worker, { wsfy: 'stop-accepting' });
      }
    }
  }

  /**
   * Said once, by the primary, when no worker accepts any more: the listening socket is closed,
   * so a client that connects after reading the line is refused (each worker's own timer is silent).
   */
  private onStoppedAccepting(slot: Slot): void {
    if (!this.stillAccepting.delete(slot) || this.stillAccepting.size > 0) return;
    this.logger.info(`listener exit due to --timeout ${this.config.timeoutSec}`);
  }

  /** Drain: every worker closes its sessions with 1001 and exits; restarts are cancelled. */
  private stopAll(signal: StopSignal): void {
    this.stopping = true;
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
    }
    setTimeout(() => {
      for (const slot of this.slots) if (slot.worker && !slot.signalled) sendToWorker(slot.worker, { wsfy: 'shutdown', signal });
    }, SIGNAL_GRACE_MS);
    setTimeout(
      () => {
        for (const slot of this.slots) {
          if (!slot.worker) continue;
          this.logger.warn(`worker ${slot.index + 1} (pid ${slot.worker.process.pid}) did not stop in time; killing it`);
          this.failed = true;
          this.proc.signalChild(slot.worker.process, 'SIGKILL');
        }
      },
      SIGNAL_GRACE_MS + this.config.limits.shutdownTimeoutMs + KILL_SLACK_MS,
    ).unref();
    this.finishIfIdle();
  }

  private installSignalHandlers(): void {
    // Reload and log reopening belong to the workers; unhandled, SIGHUP would end the primary.
    this.proc.onNotice('SIGHUP', () => this.signalWorkers('SIGHUP'));
    this.proc.onNotice('SIGUSR1', () => this.signalWorkers('SIGUSR1'));
    this.proc.onStop((signal) => {
      if (this.stopping && !this.finished) {
        // A second signal: stop waiting, as a single process does.
        this.signalWorkers(signal);
        this.finished = true;
        this.resolveDone(1);
        return;
      }
      this.logger.info(`In exit (${signal}): stopping ${this.slots.filter((s) => s.worker).length} workers`);
      this.stopAll(signal);
    });
  }

  private signalWorkers(signal: NodeJS.Signals): void {
    for (const slot of this.slots) if (slot.worker) this.proc.signalChild(slot.worker.process, signal);
  }
}
