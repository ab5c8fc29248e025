import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/config.js';
import { HttpRejection, TlsHandshakeError, WebsockifyError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { looksLikeTls, tlsFailureReason, type TlsUpgrader } from '../tls/wrap-tls-socket.js';
import type { ConnectionsPerAddress } from './address-cap.js';
import type { Clock } from '../clock.js';
import { attachConnection, clearDeadline, connectionOf, newConnection, type Connection } from './connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import { acceptProxyProtocol, ProxyProtocolError, type ProxyHeader } from './proxy-protocol.js';
import { refuse, type CountRefusal } from './refusal.js';
import type { TrustedProxies } from './trusted-proxies.js';

interface FrontDoorOptions {
  config: Config;
  logger: Logger;
  registry: ConnectionRegistry;
  httpServer: http.Server;
  tls?: TlsUpgrader;
  /** Counts connections refused here by reason (metrics). */
  onRejected?: CountRefusal;
  /** Address to show for clients of a unix listener (the reference shows the socket path). */
  unixLabel?: string;
  /** --max-connections-per-ip for this process (see address-cap.ts). */
  perAddress?: ConnectionsPerAddress;
  /**
   * --trust-proxy: who may send a PROXY header, and whose connections carry many clients (a
   * trusted TCP peer is not capped per address).
   */
  trusted: TrustedProxies;
  /** The handshake deadline's timer and the accept time. */
  clock: Clock;
}

/** A shared listener rather than a closure per connection. */
function socketOnError(this: net.Socket, err: NodeJS.ErrnoException): void {
  connectionOf(this)?.logger.debug(`client socket error: ${err.code ?? err.message}`);
}

/** A shared listener rather than a closure (and a once-wrapper) per connection. */
function socketOnClose(this: net.Socket): void {
  const connection = connectionOf(this);
  if (!connection) return;
  clearDeadline(connection);
  connection.countedIn?.release(connection.peerAddress);
  connection.countedIn = null;
}

/**
 * One accepted connection, before HTTP, in order: a record with an id and a logger; the PROXY
 * header when --proxy-protocol asks for one; the per-address and total connection caps; a
 * deadline for the whole handshake (slowloris: the reference waits forever once a byte has
 * arrived); the TLS sniff. Then the socket is handed to node:http.
 */
export function createFrontDoor(options: FrontDoorOptions): (socket: net.Socket) => void {
  return function acceptConnection(socket: net.Socket): void {
    const id = options.registry.allocateId();
    const peerAddress = socket.remoteAddress ?? options.unixLabel ?? 'unix';
    const connection = newConnection(id, socket, peerAddress, options.logger.child({ client: peerAddress, session: id }), options.clock);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
    if (options.config.ops.proxyProtocol) readProxyHeaderFirst(options, connection);
    else capConnection(options, connection);
  };
}

/**
 * --proxy-protocol: the header comes before anything else (before the TLS sniff), only from a
 * trusted peer, within --handshake-timeout and a size cap (proxy-protocol.ts).
 */
function readProxyHeaderFirst(front: FrontDoorOptions, connection: Connection): void {
  const socket = connection.socket;
  acceptProxyProtocol(socket, (address) => front.trusted.isTrusted(address), front.config.limits.handshakeTimeoutMs).then(
    (header) => proxyHeaderRead(front, connection, header),
    (err: Error) => {
      // A socket error while waiting (a reset) is refused the same way, in its own words.
      const refusal = err instanceof WebsockifyError ? err : new ProxyProtocolError(err.message);
      refuse(socket, connection.logger, front.onRejected, refusal, { reason: 'proxy_protocol', line: `connection refused: ${refusal.message}` });
    },
  );
}

/** The client the header names is the connection's client from now on: logs and caps use it. */
function proxyHeaderRead(front: FrontDoorOptions, connection: Connection, header: ProxyHeader): void {
  const socket = connection.socket;
  if (socket.destroyed) return;
  connection.proxyHeader = header;
  if (header.source) {
    connection.peerAddress = header.source.address;
    connection.clientAddress = header.source.address;
    connection.addressFrom = 'proxy-protocol';
    connection.logger = front.logger.child({ client: header.source.address, session: connection.id });
  }
  // Still paused (readProxyHeader put back what followed the header): it reads again only
  // once it is handed on, which under --workers may be after the shared cap answers.
  capConnection(front, connection);
}

/** After a PROXY header the socket was left paused; resumed once something listens for its bytes. */
function resumeAfterProxyHeader(connection: Connection): void {
  if (connection.proxyHeader !== null) connection.socket.resume();
}

/**
 * Per address, from accept, by the client address a PROXY header gave or else the TCP peer;
 * not for unix peers (no address), a trusted proxy or a loopback peer (a reverse proxy on this
 * host): all their clients share one address, and are capped per session instead. Then the
 * total, --max-connections.
 */
function capConnection(front: FrontDoorOptions, connection: Connection): void {
  const { socket, peerAddress } = connection;
  const perAddress = front.perAddress;
  const peer = socket.remoteAddress;
  const proxied = connection.proxyHeader?.source != null;
  const capped = perAddress !== undefined && (proxied || (peer !== undefined && !isLoopback(peer) && !front.trusted.isTrusted(peer)));
  if (capped) {
    if (!perAddress.tryAdd(peerAddress)) {
      // No answer: the connection is closed at accept, before a byte is read.
      const refusal = new WebsockifyError(
        'WSFY_ERR_CAPACITY',
        `limit of ${perAddress.perProcessCap} open connections from this address reached (--max-connections-per-ip)`,
      );
      refuse(socket, connection.logger, front.onRejected, refusal, {
        reason: 'address_capacity',
        level: 'warn',
        line: `connection refused: ${refusal.message}`,
        quiet: !perAddress.shouldLog(peerAddress),
      });
      return;
    }
    connection.countedIn = perAddress;
  }

  const admitted = front.registry.admit(front.config.limits.maxConnections);
  if (admitted === true) openConnection(front, connection);
  else if (admitted === false) refuseConnection(front, connection);
  else {
    // With --workers the cap is shared: another process answered (see cluster/shared-gate.ts).
    void admitted.then((ok) => (ok ? openConnection(front, connection) : refuseConnection(front, connection)));
  }
}

function refuseConnection(front: FrontDoorOptions, connection: Connection): void {
  const refusal = new HttpRejection('WSFY_ERR_CAPACITY', 503, 'Service Unavailable: too many connections', { 'Retry-After': '1' });
  refuse(connection.socket, connection.logger, front.onRejected, refusal, {
    reason: 'capacity',
    level: 'warn',
    line: `connection refused: limit of ${front.config.limits.maxConnections} open connections reached`,
  });
  // Read on, so the client's FIN closes the socket before the answer's own deadline does.
  resumeAfterProxyHeader(connection);
}

function openConnection(front: FrontDoorOptions, connection: Connection): void {
  const socket = connection.socket;
  front.registry.trackSocket(socket);
  if (socket.closed) return;
  connection.deadline = front.clock.setTimeout(handshakeDeadlinePassed, front.config.limits.handshakeTimeoutMs, front, connection);
  if (!front.tls) {
    front.httpServer.emit('connection', socket);
    resumeAfterProxyHeader(connection);
    return;
  }
  socket.once('data', (first: Buffer) => sniffFirstByte(front, connection, first));
  resumeAfterProxyHeader(connection);
}

function handshakeDeadlinePassed(front: FrontDoorOptions, connection: Connection): void {
  connection.deadline = null;
  const refusal = new WebsockifyError('WSFY_ERR_REQUEST_TIMEOUT', `handshake timed out after ${front.config.limits.handshakeTimeoutMs / 1000}s`);
  refuse(connection.socket, connection.logger, front.onRejected, refusal, { reason: 'handshake_timeout' });
}

/** TLS and plain on one port, told apart by the first byte (looksLikeTls). */
function sniffFirstByte(front: FrontDoorOptions, connection: Connection, first: Buffer): void {
  const socket = connection.socket;
  socket.pause();
  socket.unshift(first);
  if (looksLikeTls(first[0]!)) {
    const secure = front.tls!(socket, connection.logger, (error, tlsSocket) => tlsHandshakeFailed(front, connection, error, tlsSocket));
    if (!secure) {
      socket.destroy();
      return;
    }
    connection.secure = true;
    attachConnection(secure, connection);
    connection.logger.debug('SSL/TLS (wss://) connection');
    front.httpServer.emit('connection', secure);
    // No resume here: TLS has taken over the handle and reads the unshifted ClientHello
    // from the paused socket's buffer itself; resuming would emit it as plain 'data' first.
    return;
  }
  if (front.config.tls.sslOnly) {
    const refusal = new WebsockifyError('WSFY_ERR_TLS_HANDSHAKE', 'non-SSL connection received but disallowed');
    refuse(socket, connection.logger, front.onRejected, refusal, { reason: 'ssl_only' });
    return;
  }
  front.httpServer.emit('connection', socket);
  // node:http reads new bytes straight from the handle; the unshifted first chunk reaches
  // its parser through 'data' on the next tick, before any new I/O, so order is kept.
  socket.resume();
}

/** Logged and counted here, once; node:http sees the socket fail too and leaves it alone. */
function tlsHandshakeFailed(front: FrontDoorOptions, connection: Connection, error: Error, secure: Duplex): void {
  connection.tlsFailure = error;
  const refusal = error instanceof WebsockifyError ? error : new TlsHandshakeError(error.message, error);
  // A client gone mid-handshake is not counted: it refused nothing of ours, and when our
  // own handshake deadline closed it the front door has already counted handshake_timeout.
  const reason = tlsFailureReason(error);
  refuse(secure, connection.logger, front.onRejected, refusal, {
    reason: reason === 'tls_closed' ? null : reason,
    line: `SSL/TLS handshake failed: ${error.message}`,
  });
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
