import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/config.js';
import { writeRawHttpError } from '../http/error-response.js';
import type { Logger } from '../log/logger.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { ConnectionsPerAddress } from './address-cap.js';
import { proxiedPeerOf } from './proxy-protocol.js';

/**
 * Turns a raw socket into TLS when its first byte says so (0x16 handshake record, 0x80 SSLv2
 * hello), as the reference does on the same port. Returns null to refuse the connection.
 * Supplied by the TLS module when a certificate is configured.
 */
export type TlsUpgrader = (socket: net.Socket, logger: Logger) => Duplex | null;

export interface FrontDoorOptions {
  config: Config;
  logger: Logger;
  registry: ConnectionRegistry;
  httpServer: http.Server;
  tls?: TlsUpgrader;
  /** Counts connections refused here by reason (metrics). */
  onRejected?: (reason: string) => void;
  /** Address to show for clients of a unix listener (the reference shows the socket path). */
  unixLabel?: string;
  /** --max-connections-per-ip for this process (see address-cap.ts). */
  perAddress?: ConnectionsPerAddress;
  /** A TCP peer listed in --trust-proxy: its connections carry many clients, so it is not capped per address. */
  isTrustedPeer?: (address: string) => boolean;
}

export interface ConnectionInfo {
  id: number;
  client: string;
  logger: Logger;
  /** true when the client spoke TLS to us. */
  secure: boolean;
  /** The raw TCP/unix socket under any TLS layer. */
  raw: net.Socket;
  deadline: NodeJS.Timeout | null;
  /** Accept time (ms since the epoch): the start of the handshake latency metric. */
  acceptedAt: number;
}

const connectionInfo = new WeakMap<Duplex, ConnectionInfo>();

export function infoFor(socket: Duplex): ConnectionInfo | undefined {
  return connectionInfo.get(socket);
}

/** A shared listener rather than a closure (and a once-wrapper) per connection. */
function socketOnClose(this: Duplex): void {
  clearDeadline(this);
}

/** The handshake deadline no longer applies once a request is complete or the upgrade is done. */
export function clearDeadline(socket: Duplex): void {
  const info = connectionInfo.get(socket);
  if (info?.deadline) {
    clearTimeout(info.deadline);
    info.deadline = null;
  }
}

/**
 * One accepted connection, before HTTP: a session id and logger, the connection cap (503), a
 * deadline for the whole handshake (slowloris: the reference waits forever once a byte has
 * arrived), and the TLS sniff. Then the socket is handed to node:http.
 */
export function createFrontDoor(options: FrontDoorOptions): (socket: net.Socket) => void {
  const { config, registry, httpServer } = options;
  const limits = config.limits;

  return function acceptConnection(socket: net.Socket): void {
    const id = registry.allocateId();
    // With --proxy-protocol the balancer's header names the client (read before we get here).
    const proxied = proxiedPeerOf(socket)?.address;
    const client = proxied ?? socket.remoteAddress ?? options.unixLabel ?? 'unix';
    const logger = options.logger.child({ client, session: id });
    socket.on('error', (err: NodeJS.ErrnoException) => logger.debug(`client socket error: ${err.code ?? err.message}`));

    // Per address, from accept, by the client address a PROXY header gave or else the TCP peer;
    // not for unix peers (no address), a trusted proxy or a loopback peer (a reverse proxy on
    // this host): all their clients share one address, and are capped per session instead.
    const perAddress = options.perAddress;
    const peer = socket.remoteAddress;
    const capped = perAddress !== undefined && (proxied !== undefined || (peer !== undefined && !isLoopback(peer) && !options.isTrustedPeer?.(peer)));
    if (capped) {
      if (!perAddress.tryAdd(client)) {
        if (perAddress.shouldLog(client)) {
          logger.warn(`connection refused: limit of ${perAddress.perProcessCap} open connections from this address reached (--max-connections-per-ip)`, {
            code: 'WSFY_ERR_CAPACITY',
          });
        }
        options.onRejected?.('address_capacity');
        socket.destroy();
        return;
      }
      socket.once('close', () => perAddress.release(client));
    }

    const admitted = registry.admit(limits.maxConnections);
    if (admitted === true) openConnection(socket, id, client, logger);
    else if (admitted === false) refuseConnection(socket, logger);
    else {
      // With --workers the cap is shared: another process answered (see cluster/shared-gate.ts).
      void admitted.then((ok) => (ok ? openConnection(socket, id, client, logger) : refuseConnection(socket, logger)));
    }
  };

  function refuseConnection(socket: net.Socket, logger: Logger): void {
    logger.warn(`connection refused: limit of ${limits.maxConnections} open connections reached`, { code: 'WSFY_ERR_CAPACITY' });
    options.onRejected?.('capacity');
    writeRawHttpError(socket, 503, 'Service Unavailable: too many connections', { 'Retry-After': '1' });
  }

  function openConnection(socket: net.Socket, id: number, client: string, logger: Logger): void {
    registry.trackSocket(socket);
    if (socket.closed) return;

    const info: ConnectionInfo = { id, client, logger, secure: false, raw: socket, deadline: null, acceptedAt: Date.now() };
    info.deadline = setTimeout(() => {
      info.deadline = null;
      logger.info(`handshake timed out after ${limits.handshakeTimeoutMs / 1000}s`, { code: 'WSFY_ERR_REQUEST_TIMEOUT' });
      options.onRejected?.('handshake_timeout');
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    socket.on('close', socketOnClose);
    connectionInfo.set(socket, info);

    if (!options.tls) {
      httpServer.emit('connection', socket);
      return;
    }
    const upgradeTls = options.tls;
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      const byte = first[0];
      if (byte === 0x16 || byte === 0x80) {
        const secure = upgradeTls(socket, logger);
        if (!secure) {
          socket.destroy();
          return;
        }
        info.secure = true;
        connectionInfo.set(secure, info);
        logger.debug('SSL/TLS (wss://) connection');
        httpServer.emit('connection', secure);
        // No resume here: TLS has taken over the handle and reads the unshifted ClientHello
        // from the paused socket's buffer itself; resuming would emit it as plain 'data' first.
        return;
      } else if (config.tls.sslOnly) {
        logger.info('non-SSL connection received but disallowed');
        options.onRejected?.('ssl_only');
        socket.destroy();
        return;
      }
      httpServer.emit('connection', socket);
      // node:http reads new bytes straight from the handle; the unshifted first chunk reaches
      // its parser through 'data' on the next tick, before any new I/O, so order is kept.
      socket.resume();
    });
  }
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
