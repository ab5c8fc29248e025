import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ListenError } from '../errors.js';

/**
 * --unix-listen's socket file: where it may be bound, what may be replaced, and its mode. A
 * single process binds it itself (listener.ts); under --workers the primary binds it when the
 * first worker listens (node:cluster), so the same steps run there (cluster/supervisor.ts).
 */

/** The socket's path and its permission bits (--unix-listen-mode). */
interface UnixSocketSpec {
  path: string;
  mode: number;
  /** --unix-listen-group: the group the socket is given after the bind; null keeps ours. */
  gid?: number | null;
}

/**
 * Runs `bind` (which resolves true once the socket is bound, false if it could not be) under a
 * umask that leaves only `mode`, so the socket never exists with wider permissions than asked,
 * then sets the mode exactly. The umask is the process's: it is restored as soon as `bind`
 * settles.
 */
export async function bindWithMode(spec: UnixSocketSpec, bind: () => Promise<boolean>): Promise<boolean> {
  const previous = process.umask(~spec.mode & 0o777);
  let bound: boolean;
  try {
    bound = await bind();
  } finally {
    process.umask(previous);
  }
  if (bound) {
    fs.chmodSync(spec.path, spec.mode);
    if (spec.gid !== undefined && spec.gid !== null) giveSocketToGroup(spec.path, spec.gid);
  }
  return bound;
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
export function checkSocketDirectory(socketPath: string): void {
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
