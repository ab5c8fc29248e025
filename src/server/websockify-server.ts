import type { IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Config, TargetSpec } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { AccessControl, accessOptionsFrom } from '../admission/access-control.js';
import { dialTarget, type Dialer } from '../proxy/dial-target.js';
import type { SessionContext } from '../proxy/session.js';
import { systemClock, type Clock } from '../clock.js';
import { connectionOf } from './connection.js';
import { ConnectionRegistry, type LiveSession } from './connection-registry.js';
import { createFrontDoor } from './front-door.js';
import { createHttpFront, type RequestHandler } from './http-front.js';
import { openListener, type ListenAddress, type OpenedListener } from '../listen/listener.js';
import { TrustedProxies } from './trusted-proxies.js';
import { ConnectionsPerAddress } from './address-cap.js';
import type { ObserverFactory } from './session-features.js';
import type { TlsUpgrader } from '../tls/wrap-tls-socket.js';
import type { ReverseBroker } from '../reverse/reverse-pairing.js';
import type { ReverseMetrics } from '../metrics/reverse-metrics.js';
import { completeUpgrade, createWebSocketServer, handleUpgrade, type UpgradeContext } from './upgrade.js';
import { raiseMallocTrimThreshold } from '../proxy/malloc-trim.js';
import { holdYoungGeneration } from '../proxy/gc-pacing.js';

export interface ServerParts {
  /** Token plugin, auth checks and session caps, built at startup (loadAccessControl). */
  access?: AccessControl;
  /** Serves plain GET/HEAD (the --web server). */
  requestHandler?: RequestHandler;
  tls?: TlsUpgrader;
  targetTlsOptions?: SessionContext['targetTlsOptions'];
  observerFor?: ObserverFactory;
  /** --metrics-path / --health-path on the main port. */
  opsHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Counts refused upgrades by reason (metrics). */
  onHandshakeFailure?: (reason: string) => void;
  /** How sessions reach their target; dialTarget unless a test hands in its own. */
  dial?: Dialer;
  /** Handshake deadlines and heartbeats; the system clock unless a test hands in its own. */
  clock?: Clock;
  /** --reverse-listen: where `reverse:<ID>` targets take their held server (src/reverse). */
  reverse?: ReverseBroker;
  reverseMetrics?: ReverseMetrics | null;
}

/**
 * The whole server, one connection's way in order: listener -> front door (front-door.ts) ->
 * HTTP (http-front.ts) -> upgrade and admission (upgrade.ts) -> session (proxy/session.ts).
 * Built in the constructor; listen() only opens the listener. Owns the registry of live
 * connections so it can stop accepting, drain and shut down cleanly.
 */
export class WebsockifyServer {
  readonly registry = new ConnectionRegistry();
  private listener: OpenedListener | null = null;
  private dynamicTarget: TargetSpec | null;
  private stopped = false;
  /** The front door: what the listener calls for every accepted socket. */
  private readonly accept: (socket: net.Socket) => void;
  /** Called for every session that starts (--run-once uses it). */
  onSessionStart: ((session: LiveSession) => void) | null = null;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
    parts: ServerParts = {},
  ) {
    this.dynamicTarget = config.target;
    const trusted = new TrustedProxies(config.ops.trustProxy);
    const wss = createWebSocketServer(config);
    const clock = parts.clock ?? systemClock;
    const upgrades: UpgradeContext = {
      config,
      access: parts.access ?? new AccessControl(accessOptionsFrom(config, null, null)),
      trusted,
      registry: this.registry,
      session: {
        config,
        completeUpgrade: (req, socket, head, protocol, done) => completeUpgrade(wss, req, socket, head, protocol, done),
        dial: parts.dial ?? dialTarget,
        clock,
        ...(parts.targetTlsOptions ? { targetTlsOptions: parts.targetTlsOptions } : {}),
        ...(parts.observerFor ? { observerFor: parts.observerFor } : {}),
        onSessionEnd: (session) => this.registry.removeSession(session),
      },
      ...(parts.onHandshakeFailure ? { countRefusal: parts.onHandshakeFailure } : {}),
      currentTarget: () => this.dynamicTarget,
      stopping: () => this.stopped,
      sessionStarted: (session) => this.onSessionStart?.(session),
      ...(parts.reverse ? { reverse: parts.reverse } : {}),
      ...(parts.reverseMetrics ? { reverseMetrics: parts.reverseMetrics } : {}),
    };
    const httpServer = createHttpFront({
      config,
      logger,
      onUpgrade: (req, socket, head) => handleUpgrade(upgrades, req, socket, head),
      ...(parts.requestHandler ? { requestHandler: parts.requestHandler } : {}),
      ...(parts.opsHandler ? { opsHandler: parts.opsHandler } : {}),
      ...(parts.onHandshakeFailure ? { onRejected: parts.onHandshakeFailure } : {}),
    });
    this.accept = createFrontDoor({
      config,
      logger,
      registry: this.registry,
      httpServer,
      ...(parts.tls ? { tls: parts.tls } : {}),
      ...(config.listen.kind === 'unix' ? { unixLabel: config.listen.path } : {}),
      ...(parts.onHandshakeFailure ? { onRejected: parts.onHandshakeFailure } : {}),
      perAddress: ConnectionsPerAddress.forProcess(config.limits.maxConnectionsPerIp, config.workers),
      trusted,
      clock,
    });
  }

  /** Wrap mode moves the target at run time (the program's socket). */
  setTarget(target: TargetSpec | null): void {
    this.dynamicTarget = target;
  }

  /** Opens the listener; resolves with where it really listens (port 0 resolved). */
  async listen(): Promise<ListenAddress> {
    // Before the first client: the read buffers' memory then stays with the process (malloc-trim.ts).
    raiseMallocTrimThreshold();
    holdYoungGeneration();
    this.listener = await openListener(this.config.listen, this.accept);
    this.listener.server.on('error', (err: Error) => this.logger.error(`listener error: ${err.message}`));
    return this.listener.address;
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
    this.registry.destroyNonSessionSockets((socket) => connectionOf(socket)?.upgraded === true);
    const allDone = Promise.all(sessions.map((s) => s.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, flushMs + 1_000)));
    await Promise.race([allDone, deadline]);
    clearTimeout(timer);
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
}
