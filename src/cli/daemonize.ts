import cluster from 'node:cluster';
import { spawn } from 'node:child_process';
import type { ParentChannel } from '../cluster/process-signals.js';

/**
 * `-D`: Node cannot fork, so the daemon is a re-spawned copy of this process: detached (its own
 * session, like setsid), stdio on /dev/null, working directory `/` (or the web root, as the
 * reference). The child resolves relative paths against the caller's directory (passed in
 * WEBSOCKIFY_DAEMON_CWD), so nothing breaks after the directory change. The parent waits until
 * the child reports over an IPC channel that it is listening, prints the banner, and exits 0;
 * if the child fails first, the parent prints why and exits 1. Only cli/ reads these variables.
 */
const DAEMON_CHILD_ENV = 'WEBSOCKIFY_DAEMON_CHILD';
export const DAEMON_CWD_ENV = 'WEBSOCKIFY_DAEMON_CWD';
const READY_TIMEOUT_MS = 60_000;

type DaemonMessage = { type: 'ready'; banner: string } | { type: 'failed'; message: string };

export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_CHILD_ENV] === '1';
}

/** Starts the daemon and resolves with the exit status for this (parent) process. */
export function runDaemonParent(options: { argv: readonly string[]; cwd: string; childCwd: string; stderr: NodeJS.WritableStream }): Promise<number> {
  return new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...options.argv], {
      cwd: options.childCwd,
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [DAEMON_CHILD_ENV]: '1', [DAEMON_CWD_ENV]: options.cwd },
    });
    let settled = false;
    const settle = (code: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    const timer = setTimeout(() => {
      options.stderr.write(`websockify: the daemon did not report ready within ${READY_TIMEOUT_MS / 1000}s; stopping it\n`);
      child.kill('SIGTERM');
      settle(1);
    }, READY_TIMEOUT_MS);
    child.on('message', (msg: DaemonMessage) => {
      if (msg.type === 'ready') {
        options.stderr.write(msg.banner.endsWith('\n') ? msg.banner : `${msg.banner}\n`);
        settle(0);
      } else {
        options.stderr.write(`websockify: ${msg.message}\n`);
        settle(1);
      }
    });
    child.on('error', (err) => {
      options.stderr.write(`websockify: cannot start the daemon: ${err.message}\n`);
      settle(1);
    });
    child.on('exit', (code, signal) => {
      if (!settled) options.stderr.write(`websockify: the daemon exited before it was ready (${signal ?? `status ${code}`})\n`);
      settle(code === 0 || code === null ? 1 : code);
    });
  });
}

/** In the child, once listening: hand the banner to the parent and drop the channel. */
export function reportDaemonReady(banner: string, parent: ParentChannel): void {
  // A --workers worker's channel leads to its primary (which passes this on), and the worker
  // needs it for as long as it runs.
  if (cluster.isWorker) return void parent.send({ type: 'ready', banner } satisfies DaemonMessage);
  parent.send({ type: 'ready', banner } satisfies DaemonMessage, () => parent.disconnect());
}

/** In the child, when startup failed (its stderr is /dev/null, so this is the only way out). */
export function reportDaemonFailed(message: string, parent: ParentChannel): Promise<void> {
  return new Promise((resolve) => {
    if (!parent.send({ type: 'failed', message } satisfies DaemonMessage, resolve)) resolve();
  });
}
