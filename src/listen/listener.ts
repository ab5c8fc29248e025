import cluster from 'node:cluster';
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { ListenError } from '../errors.js';
import type { ListenSpec } from '../config/config.js';
import { bindWithMode, checkSocketDirectory, removeStaleSocket } from './unix-socket.js';

/** The reference uses a backlog of 100; a busier server deserves the kernel's usual cap. */
const LISTEN_BACKLOG = 511;

/**
 * Where the server really listens: the bound TCP address (port 0 resolved), the unix socket's
 * path, or the socket handed to us (fd 0 for --inetd, 3 for --systemd-socket). The banner
 * formats it (cli/banner.ts).
 */
export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number; label: string };

export interface OpenedListener {
  server: net.Server;
  address: ListenAddress;
}

/**
 * Opens a listening socket: the server's (server/websockify-server.ts) and each --reverse-listen
 * address (reverse/reverse-listener.ts). Binding a bare port takes IPv4 only (0.0.0.0), or
 * dual-stack `::` with -6, exactly as the reference; a host name is resolved and its first
 * address used (IPv4 first unless -6). Nothing wider than asked is ever opened.
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
        return { server, address: { kind: 'tcp', host: address.address, port: address.port } };
      }
      case 'unix': {
        // Under --workers the primary binds the path for every worker (node:cluster) and has
        // already replaced a stale socket; a worker removing it would unlink the live one.
        checkSocketDirectory(spec.path);
        if (!cluster.isWorker) await removeStaleSocket(spec.path);
        await bindWithMode(spec, () => listen(server, { path: spec.path, backlog: LISTEN_BACKLOG }).then(() => true));
        return { server, address: { kind: 'unix', path: spec.path } };
      }
      case 'fd': {
        await listen(server, { fd: spec.fd } as net.ListenOptions);
        return { server, address: { kind: 'fd', fd: spec.fd, label: spec.label } };
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
