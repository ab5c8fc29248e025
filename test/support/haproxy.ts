/**
 * A real haproxy (Debian package) in front of several proxy instances, in the foreground with its
 * config in a temp dir, on an ephemeral loopback port.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nginx.js';
import { waitFor } from './wait.js';

export interface Haproxy {
  port: number;
  config: string;
  /** haproxy's own output, with one log line per request (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `config` uses `{{PORT}}` for the frontend port. */
export async function startHaproxy(haproxyBin: string, config: string): Promise<Haproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfy-haproxy-'));
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // One log line per request on stderr, so a failing test can say what haproxy saw.
    const text = config
      .replaceAll('{{PORT}}', String(port))
      .replace(/^global\n/m, 'global\n    log stderr format raw local0\n')
      .replace(/^defaults\n/m, 'defaults\n    log global\n    option httplog\n');
    const file = join(dir, 'haproxy.cfg');
    await writeFile(file, text);
    const proc = spawn(haproxyBin, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // 'exited' ends the wait at once: a haproxy that failed will not listen later.
    let up = await waitFor(async () => (proc.exitCode !== null ? 'exited' : (await listening(port)) && 'up'), {
      timeoutMs: 5000,
      intervalMs: 50,
      what: `haproxy to listen on port ${port}`,
    }).then(
      (state) => state === 'up',
      (err: Error) => {
        out += `\n${err.message}`;
        return false;
      },
    );
    if (up) {
      // The port may answer for another process that took it after freePort(): then haproxy
      // fails to bind and exits, and the tests would talk to a stranger (a 502 from someone
      // else's nginx). Give a losing haproxy the moment it needs to say so.
      await new Promise((r) => setTimeout(r, 200));
      up = proc.exitCode === null && !/Address already in use|cannot bind/i.test(out);
    }
    if (up) {
      return {
        port,
        config: text,
        output: () => out,
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
    lastError = out;
    if (!/Address already in use|cannot bind/i.test(out)) break;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`haproxy did not start:\n${lastError}`);
}
