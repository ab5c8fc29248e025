import type { ChildProcess } from 'node:child_process';
import type { NoticeSignal, StopSignal, SupervisorProcess, WorkerProcess } from '../cluster/process-signals.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock, type Timer } from '../clock.js';
import type { WebsockifyServer } from '../server/websockify-server.js';
import type { ProcessGroups } from '../wrap/wrapped-program.js';

/** Exit statuses: 0 clean, 1 runtime failure (listen, config files), 2 bad command line. */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT'];
const NOTICE_SIGNALS: readonly NoticeSignal[] = ['SIGHUP', 'SIGUSR1'];

/** What the lifecycle needs of node's `process` (a test hands in its own). */
export type ProcessHandle = Pick<NodeJS.Process, 'on' | 'exit' | 'kill'>;

/**
 * The server's process lifecycle: the one module that listens for signals and for the process's
 * own events, ends the process, and signals other processes. The --workers code gets the narrow
 * views it needs (cluster/process-signals.ts), the wrapped program its process groups
 * (wrap/wrapped-program.ts). The IPC channel to a parent process is parent-channel.ts's.
 *
 * A signal gets one process listener, installed when something first asks for it: until then it
 * keeps its default action, so a single process killed by SIGTERM before it listens ends as
 * killed by it, as it always has.
 */
export class Lifecycle implements SupervisorProcess, WorkerProcess, ProcessGroups {
  private stopHandler: ((signal: StopSignal) => void) | null = null;
  private readonly stopWatchers: Array<(signal: StopSignal) => void> = [];
  private readonly notices = new Map<NoticeSignal, () => void>();
  private readonly listening = new Set<string>();
  private readonly exitHooks = new Set<() => void>();

  constructor(private readonly proc: ProcessHandle = process) {}

  /** SIGTERM and SIGINT: the server's drain, or the supervisor's decision for its workers. */
  onStop(handler: (signal: StopSignal) => void): void {
    this.stopHandler = handler;
    for (const signal of STOP_SIGNALS) this.listen(signal);
  }

  /** SIGHUP or SIGUSR1; replaces an earlier handler of the signal. */
  onNotice(signal: NoticeSignal, handler: () => void): void {
    this.notices.set(signal, handler);
    this.listen(signal);
  }

  watchStop(watcher: (signal: StopSignal) => void): void {
    this.stopWatchers.push(watcher);
    for (const signal of [...STOP_SIGNALS, ...NOTICE_SIGNALS]) this.listen(signal);
  }

  deliver(signal: StopSignal): void {
    this.dispatch(signal);
  }

  signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
    child.kill(signal);
  }

  signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
    try {
      this.proc.kill(-pgid, signal);
      return true;
    } catch {
      return false; // no process of the group is left
    }
  }

  atExit(hook: () => void): () => void {
    this.exitHooks.add(hook);
    if (!this.listening.has('exit')) {
      this.listening.add('exit');
      this.proc.on('exit', () => {
        for (const run of this.exitHooks) run();
      });
    }
    return () => void this.exitHooks.delete(hook);
  }

  exit(code: number): never {
    return this.proc.exit(code);
  }

  private listen(signal: StopSignal | NoticeSignal): void {
    if (this.listening.has(signal)) return;
    this.listening.add(signal);
    this.proc.on(signal, () => this.dispatch(signal));
  }

  private dispatch(signal: StopSignal | NoticeSignal): void {
    if (signal === 'SIGHUP' || signal === 'SIGUSR1') {
      this.notices.get(signal)?.();
      return;
    }
    // Only a worker that does not serve yet listens without a handler (watchStop).
    if (!this.stopHandler) return this.exit(0);
    for (const watcher of this.stopWatchers) watcher(signal);
    this.stopHandler(signal);
  }
}

/** What serve() needs of the server (a test hands in its own). */
export type ServedServer = Pick<WebsockifyServer, 'registry' | 'stopAccepting' | 'shutdown' | 'onSessionStart'>;

interface Serving {
  config: Config;
  server: ServedServer;
  logger: Logger;
  /** SIGTERM's --drain-timeout (ops-runtime.ts): resolves when the 1001 may be sent. */
  drain(): Promise<void>;
  /** SIGHUP: reopen the log files and reload what registered (the TLS certificate). */
  reload(): void;
  /** A --workers worker: the primary says when the server's --timeout stops it accepting. */
  worker: boolean;
  /** --timeout and --idle-timeout run on it (a test hands in a ManualClock). */
  clock?: Clock;
}

interface Served {
  /** Ends the process (status `code`) once the sessions and what closeOnExit added are closed. */
  exit(why: string, code?: number): Promise<void>;
  /** Closed on exit in the order added, after the sessions and before the log. */
  closeOnExit(close: () => Promise<void>): void;
}

/**
 * Runs a listening server until it should stop: SIGTERM/SIGINT (drain, then 1001; a second
 * signal skips the wait, a third stops waiting at all), SIGHUP (reload) and SIGUSR1 (reopen
 * logs), --run-once, --timeout and --idle-timeout.
 */
export function serve(lifecycle: Lifecycle, serving: Serving): Served {
  const { config, server, logger } = serving;
  const clock = serving.clock ?? systemClock;
  const closers: Array<() => Promise<void>> = [];
  let exiting = false;
  const exit = async (why: string, code = 0): Promise<void> => {
    if (exiting) return;
    exiting = true;
    logger.info(why);
    // Sessions first (they close with 1001 while a wrapped program still answers), then the
    // rest, then the program and its process group (the reference left it running).
    await server.shutdown();
    for (const close of closers) await close();
    await logger.close();
    lifecycle.exit(code);
  };

  let stopSignals = 0;
  lifecycle.onStop((signal) => {
    stopSignals++;
    if (stopSignals === 1) {
      // The listener closes before the line is written: whoever reads "In exit" (an operator,
      // a test, a supervisor) may count on new connections being refused from then on. Logged
      // first, a client could connect between the write and the close and be reset (seen as a
      // 502 from haproxy in test/e2e/scale-out.test.ts on a busy machine). Not awaited:
      // server.close() resolves only once every connection is gone.
      void server.stopAccepting();
      logger.info(`In exit (${signal})`);
      // --drain-timeout: readiness fails and sessions may end on their own before the 1001.
      void serving.drain().then(() => exit('closing remaining sessions'));
    } else if (!exiting) {
      void exit('second signal: closing remaining sessions now');
    } else {
      lifecycle.exit(EXIT_FAILURE); // a third signal: stop waiting
    }
  });
  // SIGHUP: reopen logs and reload what registered (the TLS certificate); sessions stay.
  lifecycle.onNotice('SIGHUP', () => {
    logger.info('SIGHUP: reloading');
    serving.reload();
  });
  // SIGUSR1: reopen log files only (logrotate's usual postrotate signal).
  lifecycle.onNotice('SIGUSR1', () => logger.reopen());

  // --run-once: the first WebSocket session (whatever its outcome) is the last.
  if (config.runOnce) {
    server.onSessionStart = (session) => {
      server.onSessionStart = null;
      void server.stopAccepting();
      void session.done.then(() => exit('run-once: session finished'));
    };
  }

  // --timeout N: stop accepting N seconds after launch; exit once the last connection closes.
  if (config.timeoutSec > 0) {
    const timer = clock.setTimeout(() => {
      // Close the listener first (server.close() releases the socket at once), then say so: a
      // client that reads this line and connects must be refused, not accepted and then reset.
      const stopped = server.stopAccepting();
      // Under --workers the primary says it once every worker has closed (cluster/supervisor.ts).
      if (!serving.worker) logger.info(`listener exit due to --timeout ${config.timeoutSec}`);
      void stopped.then(async () => {
        await Promise.all([...server.registry.sessions].map((s) => s.done));
        await server.registry.whenEmpty();
        await exit('all sessions finished');
      });
    }, config.timeoutSec * 1000);
    unref(timer);
  }

  // --idle-timeout N: exit after N seconds with no open connection, counted from the launch and
  // again from each moment the last connection closes.
  if (config.idleTimeoutSec > 0) {
    let idle: Timer | null = null;
    const startIdle = (): void => {
      idle = clock.setTimeout(() => void exit(`listener exit due to --idle-timeout ${config.idleTimeoutSec}`), config.idleTimeoutSec * 1000);
      unref(idle);
    };
    server.registry.on('empty', startIdle);
    server.registry.on('occupied', () => {
      if (idle) clock.clear(idle);
      idle = null;
    });
    if (server.registry.openConnections === 0) startIdle();
  }

  return { exit, closeOnExit: (close) => void closers.push(close) };
}

/** A pending --timeout or --idle-timeout does not by itself keep the process alive. */
function unref(timer: Timer): void {
  (timer as Partial<NodeJS.Timeout>).unref?.();
}
