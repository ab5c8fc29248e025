import cluster from 'node:cluster';
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ListenError } from '../errors.js';
import { formatHost, type ListenSpec } from '../config/config.js';

/** The reference uses a backlog of 100; a busier server deserves the kernel's usual cap. */
const LISTEN_BACKLOG = 511;

export interface OpenedListener {
  server: net.Server;
  /** Where we really listen, for the banner and logs: `127.0.0.1:6080`, a path, or `inetd`. */
  description: string;
}

/**
 * Opens the listening socket. Binding a bare port takes IPv4 only (0.0.0.0), or dual-stack `::`
 * with -6, exactly as the reference; a host name is resolved and its first address used
 * (IPv4 first unless -6). Nothing wider than asked is ever opened.
 */
export async function openListener(spec: ListenSpec, onConnection: (socket: net.Socket) => void): Promise<OpenedListener> {
  const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, onConnection);
  server.maxConnections = Infinity;
  try {
    switch (spec.kind) {
      case 'tcp': {
        const host = await resolveListenHost(spec.host, spec.preferIpv6);
        await listen(server, { host, port: spec.port, backlog: LISTEN_BACKLOG });
        const address = server.address() as net.AddressInfo;
        return { server, description: `${formatHost(address.address)}:${address.port}` };
      }
      case 'unix': {
        // Under --workers the primary binds the path for every worker (node:cluster) and has
        // already replaced a stale socket; a worker removing it would unlink the live one.
        checkSocketDirectory(spec.path);
        if (!cluster.isWorker) await removeStaleSocket(spec.path);
        // Bind under a umask so the socket never exists with wider permissions than asked.
        const previous = process.umask(~spec.mode & 0o777);
        let listening: Promise<void>;
        try {
          listening = listen(server, { path: spec.path, backlog: LISTEN_BACKLOG });
        } finally {
          process.umask(previous);
        }
        await listening;
        fs.chmodSync(spec.path, spec.mode);
        if (spec.gid !== null) giveSocketToGroup(spec.path, spec.gid);
        return { server, description: `unix socket ${spec.path}` };
      }
      case 'fd': {
        await listen(server, { fd: spec.fd } as net.ListenOptions);
        return { server, description: spec.label };
      }
    }
  } catch (err) {
    server.close();
    if (err instanceof ListenError) throw err;
    throw new ListenError(`Opening socket failed: ${(err as Error).message}`, err);
  }
}

async function resolveListenHost(host: string, preferIpv6: boolean): Promise<string> {
  if (host === '') return preferIpv6 ? '::' : '0.0.0.0';
  if (net.isIP(host)) return host;
  const addresses = await dns.lookup(host, { all: true });
  const ordered = [...addresses].sort((a, b) => (preferIpv6 ? b.family - a.family : a.family - b.family));
  if (ordered.length === 0) throw new ListenError(`Opening socket failed: cannot resolve ${host}`);
  return ordered[0]!.address;
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/**
 * --unix-listen-group: a web server's workers run as their own user (www-data), so a 0660 socket
 * owned by our group only is EACCES for them. chown(2) after the bind, never before: the socket
 * exists under the umask-limited mode until then, so it is never wider than asked.
 */
function giveSocketToGroup(socketPath: string, gid: number): void {
  try {
    fs.chownSync(socketPath, -1, gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EPERM' ? 'operation not permitted (run as root, or as a member of that group)' : (code ?? (err as Error).message);
    throw new ListenError(`Opening socket failed: cannot give ${socketPath} to group ${gid} (--unix-listen-group): ${why}`, err);
  }
}

/**
 * Binding a unix socket in a directory that does not exist fails with EACCES (libuv reports
 * ENOENT from bind as EACCES), which sends users looking at permissions: name the real cause.
 */
function checkSocketDirectory(socketPath: string): void {
  const dir = path.dirname(path.resolve(socketPath));
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ListenError(`Opening socket failed: directory ${dir} does not exist (--unix-listen ${socketPath})`, err);
    return; // EACCES and the like: let bind report it
  }
  if (!stat.isDirectory()) throw new ListenError(`Opening socket failed: ${dir} is not a directory (--unix-listen ${socketPath})`);
}

/**
 * The reference unlinks whatever is at the path, even a live socket of another running server.
 * We replace only a stale socket: one that exists but where nothing accepts a connection. A
 * path where a server answers is "address in use", as a TCP port would be; a path that is not a
 * socket is never removed.
 */
export async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new ListenError(`Opening socket failed: ${socketPath} exists and is not a socket`);
  if (await socketAnswers(socketPath)) {
    throw new ListenError(`Opening socket failed: address already in use: ${socketPath} (another server is listening there)`);
  }
  fs.unlinkSync(socketPath);
}

/** True when something accepts a connection on the unix socket at socketPath. */
function socketAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    // ECONNREFUSED: a socket file nobody listens on (the server died without unlinking it).
    probe.once('error', () => resolve(false));
  });
}
