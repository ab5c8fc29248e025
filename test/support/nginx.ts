/**
 * A real nginx (the Debian package) for tests: its own prefix, config, pid, logs and temp dirs in
 * a fresh temp directory, on an ephemeral loopback port, never touching /etc/nginx or /var/log.
 * The server blocks under test come from the same functions docs/nginx.md was written from.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const execFileP = promisify(execFile);

export interface Nginx {
  port: number;
  dir: string;
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

// nginx cannot report a port-0 bind back to us, so it is given a port that was free a moment ago.
import { freePort } from './programs.js';

export { freePort };

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`nginx exited (${proc.exitCode ?? proc.signalCode}) before listening`);
      return accepts(port);
    },
    { timeoutMs, intervalMs: 50, what: `nginx to listen on port ${port}` },
  );
}

export interface NginxOptions {
  /**
   * The `user` directive: the workers run as this user (needs root), as nginx as packaged does
   * (`user www-data;`). Default: the test's own user.
   */
  user?: string;
}

/**
 * Starts nginx with `server` (the text of one or more server blocks, with `{{PORT}}` for the
 * listen port and `{{DIR}}` for the temp dir) inside a minimal http block.
 */
export async function startNginx(nginxBin: string, server: string, files: Record<string, string> = {}, options: NginxOptions = {}): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfy-nginx-'));
  // Unprivileged workers must reach their temp dirs (nginx gives them the dirs it creates).
  if (options.user !== undefined) await chmod(dir, 0o711);
  for (const sub of ['logs', 'temp']) await mkdir(join(dir, sub));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content, { mode: 0o600 });
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // As root, workers would drop to "nobody" and lose access to the 0600 files and the proxy's
    // 0600 Unix socket in our temp dir; keep them as the test's user unless asked otherwise.
    const user = options.user !== undefined ? `user ${options.user};` : process.getuid?.() === 0 ? 'user root;' : '';
    const conf = `
${user}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log info;
events { worker_connections 512; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;
  types { text/html html; text/css css; text/javascript js mjs; application/json map; }
  default_type application/octet-stream;
${server.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir)}
}
`;
    await writeFile(join(dir, 'nginx.conf'), conf);
    const proc = spawn(nginxBin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      await waitForPort(port, proc, 5000);
      // The port may answer for another process that took it after freePort(); nginx then logs
      // the failed bind at once (and retries for seconds): do not hand a stranger's port out.
      await new Promise((r) => setTimeout(r, 200));
      const early = `${stderr}${await readFile(join(dir, 'logs', 'error.log'), 'utf8').catch(() => '')}`;
      if (/Address already in use/.test(early)) throw new Error(`port ${port} taken by another process: Address already in use`);
    } catch (err) {
      proc.kill('SIGKILL');
      await exited;
      const log = await readFile(join(dir, 'logs', 'error.log'), 'utf8').catch(() => '');
      lastError = `${String(err)}\n${stderr}\n${log}`;
      if (/Address already in use/.test(lastError)) continue; // lost the free-port race: retry
      break;
    }
    return {
      port,
      dir,
      errorLog: () => readFile(join(dir, 'logs', 'error.log'), 'utf8'),
      async stop() {
        proc.kill('SIGQUIT'); // graceful: finish logging, remove the pid file
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`nginx did not start:\n${lastError}`);
}

/** An htpasswd line as `openssl passwd -apr1` makes it (nginx reads the apr1 scheme itself). */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const { stdout } = await execFileP('openssl', ['passwd', '-apr1', password]);
  return `${user}:${stdout.trim()}\n`;
}

/** A self-signed certificate for 127.0.0.1/localhost, returned as PEM strings. */
export async function selfSignedCert(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfy-cert-'));
  try {
    await execFileP('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-newkey',
      'rsa:2048',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
