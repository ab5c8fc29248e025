import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import type { ConnectionsPerAddress } from './address-cap.js';
import type { Clock, Timer } from '../clock.js';
import type { ProxyHeader } from './proxy-protocol.js';

/** Where a connection's client address came from. */
type AddressSource = 'peer' | 'proxy-protocol' | 'x-forwarded-for' | 'x-real-ip' | 'forwarded';

/**
 * What the front door knows about one accepted socket, from accept until it closes or becomes
 * a session: one record per connection, found through one symbol on the socket (and on the TLS
 * socket over it), as ws finds its WebSocket on the socket (`kWebSocket`). Every step of the way
 * in (PROXY header, caps, deadline, TLS sniff, HTTP, upgrade) reads and writes this record
 * rather than a table of its own, so one connection's facts are in one place and go with it.
 */
export interface Connection {
  /** Increases for every accepted connection, as the reference's handler id; log lines show it. */
  readonly id: number;
  /** The raw TCP or unix socket, under any TLS layer: what the registry tracks. */
  readonly socket: net.Socket;
  /** Bound to the client and the id; gains the real client once a trusted header names it. */
  logger: Logger;
  /** The client spoke TLS to us. */
  secure: boolean;
  /**
   * The address the connection came from: the client a PROXY header named, else the socket's
   * peer, else the unix listener's label. Log lines show it as the client; the per-address
   * connection cap counts it.
   */
  peerAddress: string;
  /** Who we believe the client is: the peer address, or what a trusted proxy's header said. */
  clientAddress: string;
  addressFrom: AddressSource;
  /** The PROXY header read before anything else (--proxy-protocol), or null without one. */
  proxyHeader: ProxyHeader | null;
  /**
   * Why the TLS handshake failed, or null. The failure is logged and counted once, by the
   * front door; node:http, which also sees it, must not answer it as a bad request.
   */
  tlsFailure: Error | null;
  /** Accept time (ms since the epoch): the start of the handshake latency metric. */
  readonly acceptedAt: number;
  /** The handshake deadline, until a request is complete or the upgrade is admitted. */
  deadline: Timer | null;
  /** The server's clock, which set the deadline and clears it. */
  readonly clock: Clock;
  /** The per-address count this connection holds a place in, given back when it closes. */
  countedIn: ConnectionsPerAddress | null;
  /** Became a WebSocket session: shutdown closes it with 1001 instead of dropping it. */
  upgraded: boolean;
}

const kConnection = Symbol('wsfy.connection');
interface Carrier {
  [kConnection]?: Connection;
}

/** The record of the connection `socket` belongs to (raw or TLS), if the front door accepted it. */
export function connectionOf(socket: Duplex): Connection | undefined {
  return (socket as Carrier)[kConnection];
}

/** Makes `connection` findable from `socket` (the raw socket at accept, the TLS socket over it later). */
export function attachConnection(socket: Duplex, connection: Connection): void {
  (socket as Carrier)[kConnection] = connection;
}

/** A fresh record for an accepted socket: a plain connection whose client is its peer. */
export function newConnection(id: number, socket: net.Socket, peerAddress: string, logger: Logger, clock: Clock): Connection {
  const connection: Connection = {
    id,
    socket,
    logger,
    secure: false,
    peerAddress,
    clientAddress: peerAddress,
    addressFrom: 'peer',
    proxyHeader: null,
    tlsFailure: null,
    acceptedAt: clock.now(),
    deadline: null,
    clock,
    countedIn: null,
    upgraded: false,
  };
  attachConnection(socket, connection);
  return connection;
}

/** The handshake deadline no longer applies once a request is complete or the upgrade is admitted. */
export function clearDeadline(connection: Connection | undefined): void {
  if (connection?.deadline) {
    connection.clock.clear(connection.deadline);
    connection.deadline = null;
  }
}
