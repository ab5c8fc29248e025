/** A real redis-server (Debian package) in a temp dir on an ephemeral loopback port, no persistence. */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './nginx.js';

const execFileP = promisify(execFile);

export interface RedisServer {
  port: number;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startRedis(redisServerBin: string): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfy-redis-'));
  let lastOutput = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(
      redisServerBin,
      ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 5000;
    while (!/Ready to accept connections/.test(out) && proc.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (/Ready to accept connections/.test(out)) {
      return {
        port,
        cli: async (...args) => (await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout.trim(),
        async stop() {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    proc.kill('SIGKILL');
    await exited;
    lastOutput = out;
    if (!/Address already in use/.test(out)) break;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start:\n${lastOutput}`);
}
