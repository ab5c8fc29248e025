import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

export { tempDir } from './temp-dir.js';

/** Fails (not skips) with a clear message when a Debian tool the test needs is missing. */
export function requireTool(name: string, debianPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const where = found.stdout.trim();
  if (found.status !== 0 || where === '') {
    throw new Error(`${name} is required by this test: apt-get install ${debianPackage} (listed in scripts/system-packages.txt)`);
  }
  return where;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (with a time limit) and collects its output. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 10_000, cwd?: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not finish within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Running {
  child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (or rejects on exit / timeout). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

/** Starts a long-running program; `stop()` ends it (SIGTERM, then SIGKILL) and waits for it to be gone. */
export function start(command: string, args: string[], env: NodeJS.ProcessEnv, options: { detached?: boolean } = {}): Running {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const l of listeners) l();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.on('close', () => {
    for (const l of listeners) l();
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(re) ?? err.match(re);
          if (m) {
            done();
            resolve(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before printing ${re}; stdout=${out} stderr=${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${command} did not print ${re} within ${timeoutMs} ms; stdout=${out} stderr=${err}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      // SIGTERM first, so a proxy cleans up as in production (its wrap directory under /tmp,
      // its wrapped program); SIGKILL only if it has not exited within 3 s.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
}

/** Connects (TCP host:port or a unix path), sends `send`, and collects everything until EOF or `untilRe`. */
export function exchange(where: { host: string; port: number } | { path: string }, send: string, untilRe: RegExp = /\n/, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in where ? net.connect(where.path) : net.connect(where.port, where.host);
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer matching ${untilRe} within ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(send));
    sock.on('data', (d: string) => {
      got += d;
      if (untilRe.test(got)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** True if something accepts TCP connections on host:port. */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, host);
    sock.on('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });
}

/** A port that was free a moment ago (only for tests that need a fixed number to move). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True while any process in process group `pgid` exists. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Holds a TCP port on 0.0.0.0 for the whole test: a program told to bind it can only succeed
 * if the preload library moved its bind elsewhere, and no other process can take the port
 * meanwhile (unlike a port that was merely free a moment ago).
 */
export async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '0.0.0.0', exclusive: true }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
