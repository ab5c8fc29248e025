import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI, as users run it. */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * The Node flags of the built CLI's `#!/usr/bin/env -S node FLAGS` line (the collector flags of
 * docs/performance.md): every test runs the proxy under them, as its launchers start it.
 */
export const LAUNCHER_NODE_FLAGS: readonly string[] = shebangNodeFlags(readFileSync(CLI_PATH, 'utf8'));

/** The flags of a `#!/usr/bin/env -S node FLAGS` first line of `source`; none without one. */
export function shebangNodeFlags(source: string): string[] {
  const flags = /^#!\/usr\/bin\/env -S node (.+)$/.exec(source.split('\n', 1)[0] ?? '')?.[1] ?? '';
  return flags.split(/\s+/).filter(Boolean);
}

/**
 * Arguments put before every test's own, from WSFY_TEST_EXTRA_ARGS (split on spaces), so the
 * whole suite can run against another mode: `WSFY_TEST_EXTRA_ARGS="--workers 2" ./run-tests integration`.
 */
export const EXTRA_ARGS: readonly string[] = (process.env.WSFY_TEST_EXTRA_ARGS ?? '').split(/\s+/).filter(Boolean);

/** The extra arguments go after a leading subcommand (`novnc`), which must stay first. */
function withExtraArgs(args: readonly string[]): string[] {
  return args[0] === 'novnc' ? ['novnc', ...EXTRA_ARGS, ...args.slice(1)] : [...EXTRA_ARGS, ...args];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProxyProcess {
  proc: ChildProcess;
  host: string;
  port: number;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves with the first output line matching `pattern` (waits up to timeoutMs). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<ExitStatus>;
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** Resident set size of the proxy process, in KiB. */
  rssKiB(): number;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Wait for the banner's `Listen on` line (default true). */
  waitForListen?: boolean;
  stdio0?: 'ignore' | 'pipe' | number;
}

export async function startProxy(args: readonly string[], options: StartOptions = {}): Promise<ProxyProcess> {
  const proc = spawn(process.execPath, [...LAUNCHER_NODE_FLAGS, CLI_PATH, ...withExtraArgs(args)], {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    stdio: [options.stdio0 ?? 'ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: Array<() => void> = [];
  const onChunk = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of waiters.splice(0)) waiter();
  };
  proc.stdout!.on('data', onChunk);
  proc.stderr!.on('data', onChunk);
  const exited = new Promise<ExitStatus>((resolve) => {
    proc.once('exit', (code, signal) => {
      for (const waiter of waiters.splice(0)) waiter();
      resolve({ code, signal });
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const waitForOutput = (pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${pattern} in proxy output:\n${output}`)), timeoutMs);
      const check = (): void => {
        const line = output.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) {
          clearTimeout(deadline);
          resolve(line);
        } else if (hasExited) {
          clearTimeout(deadline);
          reject(new Error(`proxy exited before printing ${pattern}:\n${output}`));
        } else waiters.push(check);
      };
      check();
    });

  const proxy: ProxyProcess = {
    proc,
    host: '',
    port: 0,
    output: () => output,
    waitForOutput,
    exited,
    async stop(signal = 'SIGTERM') {
      if (!hasExited) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
    rssKiB() {
      // With --workers the server is a process tree: count every process in it.
      return processTree(proc.pid ?? 0).reduce((sum, pid) => {
        try {
          const status = readFileSync(`/proc/${pid}/status`, 'utf8');
          return sum + Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
        } catch {
          return sum;
        }
      }, 0);
    },
  };
  if (options.waitForListen !== false) {
    const line = await waitForOutput(/Listen on /);
    const match = /Listen on (\[?[^\s\]]*\]?):(\d+)/.exec(line);
    if (match) {
      proxy.host = match[1]!.replace(/^\[|\]$/g, '');
      proxy.port = Number(match[2]);
    }
  }
  return proxy;
}

/** Runs the CLI to completion (for usage errors and --help). */
export async function runCli(
  args: readonly string[],
  timeoutMs = 10_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [...LAUNCHER_NODE_FLAGS, CLI_PATH, ...withExtraArgs(args)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `pid` and all its descendants, from /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${all[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${all[i]}/task/${tid}/children`, 'utf8').trim();
        if (children) all.push(...children.split(/\s+/).map(Number));
      } catch {
        // The task ended meanwhile.
      }
    }
  }
  return all;
}

/** The port of a --reverse-listen listener from the proxy's output: the plain one, or (`fixed`) the one bound to an ID. */
export async function reverseListenerPort(proxy: ProxyProcess, kind: 'plain' | 'fixed' = 'plain'): Promise<number> {
  const line = await proxy.waitForOutput(kind === 'plain' ? /reverse listener on 127\.0\.0\.1:\d+$/m : /reverse listener on 127\.0\.0\.1:\d+ \(fixed id/);
  return Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
}
