import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tempDir } from './temp-dir.js';

export interface RunningRedis {
  port: number;
  /** Runs a redis-cli command against this server. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * Starts a private redis-server on a free loopback port in a temp dir, with persistence off.
 * Fails with a clear message when the Debian package is missing (never skips: CI must run it).
 */
export async function startRedis(extraArgs: string[] = []): Promise<RunningRedis> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error('redis-server is not installed: install the Debian package redis-server (listed in scripts/system-packages.txt)');
  }
  const tmp = tempDir('wsfy-redis-');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir, '--logfile', '', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ready = await waitReady(child);
    if (!ready) continue;
    return {
      port,
      cli: (...args: string[]) => {
        const out = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });
        if (out.status !== 0) throw new Error(`redis-cli failed: ${out.stderr}`);
        return out.stdout.trim();
      },
      stop: async () => {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        tmp.cleanup();
      },
    };
  }
  tmp.cleanup();
  throw new Error('redis-server did not start');
}

function waitReady(child: ChildProcess): Promise<boolean> {
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => done(false), 10_000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      if (!ok) child.kill('SIGKILL');
      resolve(ok);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/Ready to accept connections/i.test(out)) done(true);
    });
    child.once('exit', () => done(false));
  });
}

import { freePort } from './programs.js';

export { freePort };
