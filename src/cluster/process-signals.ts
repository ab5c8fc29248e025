import type { ChildProcess } from 'node:child_process';

/**
 * What the --workers code may do with its process: handed to it by the CLI's lifecycle
 * (src/cli/lifecycle.ts), the one module that installs signal handlers, exits, and signals
 * other processes.
 */

/** The signals that stop a server (drain, then close with 1001). */
export type StopSignal = 'SIGTERM' | 'SIGINT';
/** SIGHUP (reload) and SIGUSR1 (reopen the log files): a server goes on after them. */
export type NoticeSignal = 'SIGHUP' | 'SIGUSR1';

/** The primary: it decides on every signal itself and passes some on to its workers. */
export interface SupervisorProcess {
  onStop(handler: (signal: StopSignal) => void): void;
  onNotice(signal: NoticeSignal, handler: () => void): void;
  /** Sends `signal` to a worker's process. */
  signalChild(child: ChildProcess, signal: NodeJS.Signals): void;
}

/** A worker: it tells the primary about signals that reach it, and is told to stop by it. */
export interface WorkerProcess {
  /**
   * `watcher` sees every SIGTERM/SIGINT, before the server's own handling. From this call on,
   * until the server handles stop signals (after it listens), a stop signal ends the worker at
   * once with status 0 (there is nothing to drain), and a SIGHUP or SIGUSR1 the primary passes
   * on is ignored instead of ending it.
   */
  watchStop(watcher: (signal: StopSignal) => void): void;
  /** Handles `signal` as if it had reached this process (the primary's 'shutdown'). */
  deliver(signal: StopSignal): void;
}

/**
 * The IPC channel to the process that started this one (cli/parent-channel.ts owns it): a
 * worker's to its primary (node:cluster), a -D daemon's to its waiting parent.
 */
export interface ParentChannel {
  /** False once the parent is gone, and in a process started without a channel. */
  readonly connected: boolean;
  /**
   * Sends while the channel is open, and returns true; false, with nothing sent, when it is not.
   * `sent` runs once the message has left (before a disconnect or an exit that must not lose it).
   */
  send(message: unknown, sent?: () => void): boolean;
  /** Every message from the parent, with the handle (a socket) it carries, if any. */
  onMessage(listener: (message: unknown, handle: unknown) => void): void;
  /** Closes the channel (the parent sees it disconnect). */
  disconnect(): void;
}
