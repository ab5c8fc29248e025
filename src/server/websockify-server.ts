import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { Config, TargetSpec } from '../config/config.js';
import { PluginFailure, PluginTimeout, TokenRejection, WebsockifyError } from '../errors.js';
import { writeRawHttpError } from '../http/error-response.js';
import { redactPath, redactTokenPath } from '../log/redact.js';
import type { Logger } from '../log/logger.js';
import { AccessControl, accessOptionsFrom } from '../admission/access-control.js';
import { admit } from '../admission/admit.js';
import { startSession, type Session, type SessionContext } from '../proxy/session.js';
import { ConnectionRegistry, type LiveSession } from './connection-registry.js';
import { clearDeadline, createFrontDoor, infoFor, type TlsUpgrader } from './front-door.js';
import { createHttpFront, type RequestHandler } from './http-front.js';
import { openListener, type OpenedListener } from './listener.js';
import { resolveClientAddress } from './client-address.js';
import { buildProxyV2Header, proxiedPeerOf, proxyHeaderWithoutSource, withProxyProtocol } from './proxy-protocol.js';
import { TrustedProxies } from './trusted-proxies.js';
import { ConnectionsPerAddress } from './address-cap.js';
import type { ObserverFactory } from './session-features.js';

export interface ServerParts {
  /** Token plugin, auth checks and session caps, built at startup (loadAccessControl). */
  access?: AccessControl;
  /** Serves plain GET/HEAD (the --web server). */
  requestHandler?: RequestHandler;
  tls?: TlsUpgrader;
  targetTlsOptions?: SessionContext['targetTlsOptions'];
  observerFor?: ObserverFactory;
  /** --metrics-path / --health-path on the main port. */
  opsHandler?: (req: IncomingMessage, res: import('node:http').ServerResponse) => boolean;
  /** Counts refused upgrades by reason (metrics). */
  onHandshakeFailure?: (reason: string) => void;
}

/**
 * The whole server: listener -> front door -> HTTP -> admit -> session. Owns the registry of
 * live connections so it can stop accepting, drain and shut down cleanly.
 */
export class WebsockifyServer {
  readonly registry = new ConnectionRegistry();
  private listener: OpenedListener | null = null;
  private readonly sessionSockets = new WeakSet<Duplex>();
  private dynamicTarget: TargetSpec | null;
  private stopped = false;
  private readonly trusted: TrustedProxies;
  /** Called for every session that starts (--run-once uses it). */
  onSessionStart: ((session: LiveSession) => void) | null = null;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
    private readonly parts: ServerParts = {},
  ) {
    this.dynamicTarget = config.target;
    this.trusted = new TrustedProxies(config.ops.trustProxy);
  }

  /** Wrap mode moves the target at run time (the program's socket). */
  setTarget(target: TargetSpec | null): void {
    this.dynamicTarget = target;
  }

  get description(): string {
    return this.listener?.description ?? '';
  }

  async listen(): Promise<string> {
    const { config, logger, parts } = this;
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Off, so ws never reads Sec-WebSocket-Extensions. Turning it on would need the same
      // header parsed in validateHandshake first: ws refuses a bad offer after the dial started.
      perMessageDeflate: false,
      maxPayload: config.limits.maxMessageBytes,
      // The subprotocol was already chosen by validateHandshake; ws only echoes it.
      handleProtocols: (_offered, req) => (req as IncomingMessage & { wsfyProtocol?: string }).wsfyProtocol ?? false,
    });
    const sessionContext: SessionContext = {
      config,
      wss,
      ...(parts.targetTlsOptions ? { targetTlsOptions: parts.targetTlsOptions } : {}),
      ...(parts.observerFor ? { observerFor: parts.observerFor } : {}),
      onSessionEnd: (session) => this.registry.removeSession(session),
    };
    const loggerFor = (socket: Duplex): Logger => infoFor(socket)?.logger ?? logger;
    const access = parts.access ?? new AccessControl(accessOptionsFrom(config, null, null));

    const httpServer = createHttpFront({
      config,
      logger,
      loggerFor,
      onRequestComplete: clearDeadline,
      ...(parts.requestHandler ? { requestHandler: parts.requestHandler } : {}),
      ...(parts.opsHandler ? { opsHandler: parts.opsHandler } : {}),
      ...(parts.onHandshakeFailure ? { onRejected: parts.onHandshakeFailure } : {}),
      onUpgrade: (req, socket, head) => {
        const info = infoFor(socket);
        let log = info?.logger ?? logger;
        if (this.stopped) {
          parts.onHandshakeFailure?.('shutting_down');
          writeRawHttpError(socket, 503, 'Server shutting down');
          return;
        }
        // --trust-proxy: forwarding headers count only from trusted peers (docs/operations.md).
        const peer = info?.client ?? (socket as net.Socket).remoteAddress ?? '';
        const raw = info?.raw ?? (socket as net.Socket);
        const real = this.trusted.empty
          ? { address: peer, via: 'peer' as const }
          : resolveClientAddress(raw.remoteAddress === undefined && !proxiedPeerOf(raw) ? '' : peer, req.headers, this.trusted, {
              proxyHeaderWithoutSource: proxyHeaderWithoutSource(raw),
            });
        const clientAddress = real.via === 'peer' ? peer : real.address;
        if (clientAddress !== peer) {
          log = log.child({ realClient: clientAddress });
          log.debug(`client address from ${real.via}`);
        }
        log.info(`${info?.secure ? 'SSL/TLS (wss://)' : 'Plain non-SSL (ws://)'} WebSocket connection`);
        const redact = config.tokenPlugin !== null && !config.hostToken ? redactTokenPath : redactPath;
        if ((req.url ?? '/') !== '/') log.info(`Path: '${redact(req.url ?? '')}'`);
        const facts = {
          clientAddress,
          peerCertificate: info?.secure ? peerCertificateOf(socket as TLSSocket) : null,
        };
        admit(req, facts, {
          config,
          access,
          currentTarget: () => this.dynamicTarget,
        })
          .then(
            (admission) => {
              // ws drops a socket that can no longer read or write (the client sent FIN while
              // it was being admitted) without calling back: do it before the dial, not after.
              if (socket.destroyed || !socket.readable || !socket.writable) {
                admission.release();
                socket.destroy();
                return;
              }
              clearDeadline(socket);
              this.sessionSockets.add(info?.raw ?? socket);
              (req as IncomingMessage & { wsfyProtocol?: string }).wsfyProtocol = admission.handshake.protocol ?? undefined;
              let session: Session;
              try {
                session = startSession(sessionContext, {
                  id: info?.id ?? 0,
                  client: facts.clientAddress,
                  logger: log,
                  req,
                  socket,
                  head,
                  handshake: admission.handshake,
                  target: admission.target,
                  ...(info ? { acceptedAt: info.acceptedAt } : {}),
                  ...(config.ops.sendProxyV2 ? { preamble: this.proxyV2For(raw, clientAddress) } : {}),
                  release: admission.release,
                });
              } catch (err) {
                admission.release();
                throw err;
              }
              if (!session.isEnded) this.registry.addSession(session);
              this.onSessionStart?.(session);
            },
            (err: unknown) => {
              parts.onHandshakeFailure?.(err instanceof WebsockifyError ? err.code.replace(/^WSFY_ERR_/, '').toLowerCase() : 'internal');
              if (err instanceof TokenRejection && err.silent) {
                // --silent-token-failure: the reference's close with no HTTP response.
                log.info(`handshake refused: ${err.message} (closed without a response)${err.logNote ? `; ${err.logNote}` : ''}`, { code: err.code });
                socket.destroy();
              } else if (err instanceof WebsockifyError && err.httpStatus !== undefined) {
                const note = err instanceof TokenRejection && err.logNote ? `; ${err.logNote}` : '';
                log.info(`handshake refused: ${err.httpStatus} ${err.message}${note}`, { code: err.code });
                // A plugin failure's details (Redis address, API error) are for the log only.
                const shown = err instanceof PluginFailure || err instanceof PluginTimeout ? (STATUS_CODES[err.httpStatus] ?? 'Error') : err.message;
                writeRawHttpError(socket, err.httpStatus, shown, { ...err.headers });
              } else {
                log.error(`handler exception: ${(err as Error).message}`);
                writeRawHttpError(socket, 500, 'Internal Server Error');
              }
            },
          )
          .catch((err: unknown) => {
            log.error(`handler exception: ${(err as Error)?.message ?? String(err)}`);
            socket.destroy();
          });
      },
    });

    let frontDoor = createFrontDoor({
      config,
      logger,
      registry: this.registry,
      httpServer,
      ...(parts.tls ? { tls: parts.tls } : {}),
      ...(config.listen.kind === 'unix' ? { unixLabel: config.listen.path } : {}),
      ...(parts.onHandshakeFailure ? { onRejected: parts.onHandshakeFailure } : {}),
      perAddress: ConnectionsPerAddress.forProcess(config.limits.maxConnectionsPerIp, config.workers),
      isTrustedPeer: (address) => this.trusted.isTrusted(address),
    });
    if (config.ops.proxyProtocol) {
      frontDoor = withProxyProtocol(
        frontDoor,
        (a) => this.trusted.isTrusted(a),
        config.limits.handshakeTimeoutMs,
        (socket, err) => {
          logger.child({ client: socket.remoteAddress ?? 'unix' }).info(`connection refused: ${err.message}`);
          parts.onHandshakeFailure?.('proxy_protocol');
        },
      );
    }
    this.listener = await openListener(config.listen, frontDoor);
    this.listener.server.on('error', (err: Error) => logger.error(`listener error: ${err.message}`));
    return this.listener.description;
  }

  /**
   * --send-proxy-v2: the real client (the PROXY source port when a balancer told us, else the
   * peer's port, else 0 for an address taken from a header) and the address it connected to.
   */
  private proxyV2For(raw: net.Socket, clientAddress: string): Buffer {
    const proxied = proxiedPeerOf(raw);
    const port = proxied && proxied.address === clientAddress ? proxied.port : raw.remoteAddress === clientAddress ? (raw.remotePort ?? 0) : 0;
    const source = clientAddress ? { address: clientAddress, port } : null;
    const destination = raw.localAddress ? { address: raw.localAddress, port: raw.localPort ?? 0 } : null;
    return buildProxyV2Header(source, destination);
  }

  /** Stop accepting new connections; live ones go on. */
  async stopAccepting(): Promise<void> {
    this.stopped = true;
    const server = this.listener?.server;
    if (!server || !server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * SIGTERM/SIGINT: stop accepting, close every session with 1001 (queued bytes are flushed
   * first), drop connections that are not sessions, and wait at most shutdownTimeoutMs.
   */
  async shutdown(code = 1001, reason = 'Server shutting down'): Promise<void> {
    const closing = this.stopAccepting();
    const flushMs = this.config.limits.shutdownTimeoutMs;
    const sessions = [...this.registry.sessions];
    for (const session of sessions) session.close(code, reason, flushMs);
    this.registry.destroyNonSessionSockets((socket) => this.sessionSockets.has(socket));
    const allDone = Promise.all(sessions.map((s) => s.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, flushMs + 1_000)));
    await Promise.race([allDone, deadline]);
    clearTimeout(timer);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}

function peerCertificateOf(socket: TLSSocket): ReturnType<TLSSocket['getPeerCertificate']> | null {
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? cert : null;
}
