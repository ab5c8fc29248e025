import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { WebSocket, WebSocketServer } from 'ws';
import { wsPackage } from '../ws-package.js';
import type { Config, TargetSpec } from '../config/config.js';
import { HttpRejection, PluginFailure, PluginTimeout, TokenRejection, WebsockifyError } from '../errors.js';
import type { AccessControl } from '../admission/access-control.js';
import { admit } from '../admission/admit.js';
import { redactPath, redactTokenPath } from '../log/redact.js';
import { startSession, type Session, type SessionContext } from '../proxy/session.js';
import { resolveClientAddress } from './client-address.js';
import { clearDeadline, connectionOf, type Connection } from './connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import { buildProxyV2Header } from './proxy-protocol.js';
import { pairReverse, type PairedAdmission, type ReverseBroker } from '../reverse/reverse-pairing.js';
import type { ReverseMetrics } from '../metrics/reverse-metrics.js';
import { refuse, type CountRefusal } from './refusal.js';
import type { TrustedProxies } from './trusted-proxies.js';

/** What the upgrade step needs from its server: one object per server, shared by every upgrade. */
export interface UpgradeContext {
  config: Config;
  /** Token plugin, auth checks, Origin allow-list and session caps (admission/access-control.ts). */
  access: AccessControl;
  trusted: TrustedProxies;
  registry: ConnectionRegistry;
  session: SessionContext;
  countRefusal?: CountRefusal;
  /** The fixed target now (wrap mode moves it at run time). */
  currentTarget(): TargetSpec | null;
  /** The server stopped accepting: new upgrades get 503. */
  stopping(): boolean;
  /** A session started (--run-once ends the server after the first). */
  sessionStarted(session: Session): void;
  /** --reverse-listen: where `reverse:<ID>` targets take their held server (src/reverse). */
  reverse?: ReverseBroker;
  reverseMetrics?: ReverseMetrics;
}

/**
 * An upgrade request node:http has parsed (http-front.ts checked its size and Upgrade header),
 * in order: refused while shutting down; the real client from trusted forwarding headers; the
 * reference's two log lines; admission (admission/admit.ts: the handshake, the caps, auth, the
 * token, the target); then the session (proxy/session.ts), or the refusal.
 */
export function handleUpgrade(ctx: UpgradeContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const connection = connectionOf(socket);
  if (!connection) {
    // Every socket node:http hands us came through the front door.
    socket.destroy();
    return;
  }
  if (ctx.stopping()) {
    refuse(socket, connection.logger, ctx.countRefusal, new HttpRejection('WSFY_ERR_CAPACITY', 503, 'Server shutting down'), {
      reason: 'shutting_down',
      line: 'handshake refused: 503 Server shutting down',
    });
    return;
  }
  resolveClient(ctx, connection, req);
  const log = connection.logger;
  log.info(`${connection.secure ? 'SSL/TLS (wss://)' : 'Plain non-SSL (ws://)'} WebSocket connection`);
  const redact = ctx.config.tokenPlugin !== null && !ctx.config.hostToken ? redactTokenPath : redactPath;
  if ((req.url ?? '/') !== '/') log.info(`Path: '${redact(req.url ?? '')}'`);
  const facts = {
    clientAddress: connection.clientAddress,
    peerCertificate: connection.secure ? peerCertificateOf(socket as TLSSocket) : null,
  };
  admit(req, facts, { config: ctx.config, access: ctx.access, currentTarget: ctx.currentTarget })
    .then((admission) => pairReverse(admission, ctx.reverse, log, ctx.reverseMetrics))
    .then(
      (admission) => startAdmitted(ctx, connection, req, socket, head, admission),
      (err: unknown) => refuseUpgrade(ctx, connection, socket, err),
    )
    .catch((err: unknown) => {
      // Not a refusal of the client's: our own failure while starting the session.
      const failure = new WebsockifyError('WSFY_ERR_INTERNAL', (err as Error)?.message ?? String(err));
      refuse(socket, connection.logger, undefined, failure, { reason: null, level: 'error', line: `handler exception: ${failure.message}` });
    });
}

/**
 * --trust-proxy: forwarding headers count only from trusted peers (docs/operations.md). The
 * peer is the client a PROXY header named, else the socket's peer; a unix peer has no address,
 * and '' is what `--trust-proxy unix` trusts. After a PROXY header without a source the headers
 * are the client's own (client-address.ts).
 */
function resolveClient(ctx: UpgradeContext, connection: Connection, req: IncomingMessage): void {
  if (ctx.trusted.empty) return;
  const proxyHeader = connection.proxyHeader;
  const peer = proxyHeader?.source?.address ?? connection.socket.remoteAddress ?? '';
  const real = resolveClientAddress(peer, req.headers, ctx.trusted, { proxyHeaderWithoutSource: proxyHeader !== null && proxyHeader.source === null });
  if (real.via === 'peer' || real.address === connection.peerAddress) return;
  connection.clientAddress = real.address;
  connection.addressFrom = real.via;
  connection.logger = connection.logger.child({ realClient: real.address });
  connection.logger.debug(`client address from ${real.via}`);
}

function startAdmitted(ctx: UpgradeContext, connection: Connection, req: IncomingMessage, socket: Duplex, head: Buffer, admission: PairedAdmission): void {
  // ws drops a socket that can no longer read or write (the client sent FIN while it was
  // being admitted) without calling back: do it before the dial, not after.
  if (socket.destroyed || !socket.readable || !socket.writable) {
    admission.release();
    admission.heldSocket?.destroy();
    socket.destroy();
    return;
  }
  clearDeadline(connection);
  connection.upgraded = true;
  let session: Session;
  try {
    session = startSession(ctx.session, {
      id: connection.id,
      client: connection.clientAddress,
      logger: connection.logger,
      req,
      socket,
      head,
      handshake: admission.handshake,
      target: admission.target,
      acceptedAt: connection.acceptedAt,
      ...(ctx.config.ops.sendProxyV2 ? { preamble: proxyV2For(connection) } : {}),
      release: admission.release,
      ...(admission.heldSocket ? { heldSocket: admission.heldSocket } : {}),
    });
  } catch (err) {
    admission.release();
    admission.heldSocket?.destroy();
    throw err;
  }
  if (!session.isEnded) ctx.registry.addSession(session);
  ctx.sessionStarted(session);
}

/** Admission said no: its typed error becomes the answer (admission/admit.ts lists the order). */
function refuseUpgrade(ctx: UpgradeContext, connection: Connection, socket: Duplex, err: unknown): void {
  const log = connection.logger;
  if (!(err instanceof WebsockifyError) || err.httpStatus === undefined) {
    const failure = new HttpRejection('WSFY_ERR_INTERNAL', 500, 'Internal Server Error');
    refuse(socket, log, ctx.countRefusal, failure, { level: 'error', line: `handler exception: ${(err as Error)?.message ?? String(err)}` });
    return;
  }
  const note = err instanceof TokenRejection && err.logNote ? `; ${err.logNote}` : '';
  if (err instanceof TokenRejection && err.silent) {
    // --silent-token-failure: the reference's close with no HTTP response.
    refuse(socket, log, ctx.countRefusal, err, { silent: true, line: `handshake refused: ${err.message} (closed without a response)${note}` });
    return;
  }
  // A plugin failure's details (Redis address, API error) are for the log only.
  const shown = err instanceof PluginFailure || err instanceof PluginTimeout ? (STATUS_CODES[err.httpStatus] ?? 'Error') : err.message;
  refuse(socket, log, ctx.countRefusal, err, { shown, line: `handshake refused: ${err.httpStatus} ${err.message}${note}` });
}

/**
 * --send-proxy-v2: the real client (the PROXY source port when a balancer told us, else the
 * peer's port, else 0 for an address taken from a header) and the address it connected to.
 */
function proxyV2For(connection: Connection): Buffer {
  const raw = connection.socket;
  const clientAddress = connection.clientAddress;
  const proxied = connection.proxyHeader?.source;
  const port = proxied && proxied.address === clientAddress ? proxied.port : raw.remoteAddress === clientAddress ? (raw.remotePort ?? 0) : 0;
  const source = clientAddress ? { address: clientAddress, port } : null;
  const destination = raw.localAddress ? { address: raw.localAddress, port: raw.localPort ?? 0 } : null;
  return buildProxyV2Header(source, destination);
}

function peerCertificateOf(socket: TLSSocket): ReturnType<TLSSocket['getPeerCertificate']> | null {
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? cert : null;
}

/**
 * The subprotocol admission chose, for the one handleUpgrade call in progress. ws asks for it
 * (handleProtocols) synchronously inside handleUpgrade, in completeUpgrade, when the client
 * offered any; we set it just before the call and clear it just after. That keeps the choice
 * with admission (handshake.ts) instead of a property patched onto the request.
 */
let protocolOfThisCall: string | false = false;

function chosenProtocol(): string | false {
  return protocolOfThisCall;
}

/** The server's one WebSocketServer: it writes the 101 and frames; we never let it listen or track clients. */
export function createWebSocketServer(config: Config): WebSocketServer {
  return new wsPackage.WebSocketServer({
    noServer: true,
    clientTracking: false,
    // Off, so ws never reads Sec-WebSocket-Extensions. Turning it on would need the same
    // header parsed in validateHandshake first: ws refuses a bad offer after the dial started.
    perMessageDeflate: false,
    maxPayload: config.limits.maxMessageBytes,
    handleProtocols: chosenProtocol,
  });
}

/** Writes the 101 with `protocol` (or none) and hands the socket to ws; `done` gets the WebSocket. */
export function completeUpgrade(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocol: string | null,
  done: (ws: WebSocket) => void,
): void {
  protocolOfThisCall = protocol ?? false;
  try {
    wss.handleUpgrade(req, socket, head, done);
  } finally {
    protocolOfThisCall = false;
  }
}
