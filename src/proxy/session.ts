import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { describeTarget, type Config, type TargetSpec } from '../config/config.js';
import { TargetConnectError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { LiveSession } from '../server/connection-registry.js';
import { Bridge, type BridgeEnd } from './bridge.js';
import { dialTarget, type DialOptions } from './dial-target.js';
import type { ValidatedHandshake } from './handshake.js';
import type { SessionObserver, SessionSummary } from './session-observer.js';

export interface SessionContext {
  config: Config;
  wss: WebSocketServer;
  /** Extra options for --ssl-target connections (CA, etc.). */
  targetTlsOptions?: DialOptions['tlsOptions'];
  /** Builds recording/traffic/metrics hooks for a session; null when none is enabled. */
  observerFor?: (id: number, client: string, start: SessionStart) => SessionObserver | null;
}

export interface SessionStart {
  id: number;
  client: string;
  logger: Logger;
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  handshake: ValidatedHandshake;
  target: TargetSpec;
  /** When the connection was accepted (ms since the epoch), for the handshake latency metric. */
  acceptedAt?: number;
  /** Bytes written to the target before any client data (--send-proxy-v2 header). */
  preamble?: Buffer;
}

/**
 * One WebSocket session end to end: the 101, the dial (started at once, so the target connects
 * while the 101 is written), the bridge, and one summary line. The reference connects only
 * after the 101 and closes with 1011 "Failed to connect to downstream server" on failure; so
 * do we. Client bytes that arrive while the target is being dialled are kept (the reference
 * loses bytes pipelined after the request headers).
 */
export function startSession(ctx: SessionContext, start: SessionStart): LiveSession {
  const { config } = ctx;
  const { id, client, logger, target } = start;
  // Long-lived closures below must not capture `start`: it holds the request, which would then
  // stay in memory for the whole session.
  const wireMode = start.handshake.mode;
  const startedAt = Date.now();
  const observer = ctx.observerFor?.(id, client, start) ?? null;
  const targetLabel = describeTarget(target);

  logger.info(`connecting to: ${target.kind === 'unix' ? 'unix socket ' : ''}${targetLabel}${config.targetTls ? ' (using SSL)' : ''}`);
  const dialing = dialTarget(target, {
    tls: config.targetTls,
    timeoutMs: config.limits.connectTimeoutMs,
    tlsOptions: ctx.targetTlsOptions,
  });
  // Never leave a rejection unhandled if the upgrade fails before we await it.
  dialing.catch(() => undefined);

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let bridge: Bridge | null = null;
  let ws: WebSocket | null = null;
  let pendingClose: { code: number; reason: string; flushMs: number } | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let pongTimer: NodeJS.Timeout | null = null;

  const finish = (end: BridgeEnd | { closeCode: number; closedBy: SessionSummary['closedBy'] }): void => {
    if (heartbeat) clearInterval(heartbeat);
    if (pongTimer) clearTimeout(pongTimer);
    const summary: SessionSummary = {
      id,
      client,
      target,
      startedAt,
      durationMs: Date.now() - startedAt,
      bytesFromClient: bridge?.bytesFromClient ?? 0,
      bytesFromTarget: bridge?.bytesFromTarget ?? 0,
      closeCode: end.closeCode,
      closedBy: end.closedBy,
    };
    observer?.onClose?.(summary);
    logger.info('session closed', {
      peer: client,
      target: targetLabel,
      duration: `${(summary.durationMs / 1000).toFixed(3)}s`,
      bytes_in: summary.bytesFromClient,
      bytes_out: summary.bytesFromTarget,
      close: summary.closeCode,
      by: summary.closedBy,
    });
    resolveDone();
  };

  const session: LiveSession = {
    id,
    done,
    bytes: () => ({ fromClient: bridge?.bytesFromClient ?? 0, fromTarget: bridge?.bytesFromTarget ?? 0 }),
    close(code, reason, flushMs) {
      if (bridge) bridge.close(code, reason, flushMs);
      else if (ws) ws.close(code, reason);
      else pendingClose = { code, reason, flushMs };
    },
  };

  // ws destroys a socket that died before the 101 without calling back; release the dial then.
  const upgradeSocket = start.socket;
  upgradeSocket.once('close', () => {
    if (ws) return;
    dialing.then((targetSocket) => targetSocket.destroy(), () => undefined);
    finish({ closeCode: 1006, closedBy: 'client' });
  });

  ctx.wss.handleUpgrade(start.req, start.socket, start.head, (socket) => {
    ws = socket;
    // Hold client bytes until the target answers; they are replayed into the bridge in order.
    ws.pause();
    const early: Array<[Buffer, boolean]> = [];
    const keepEarly = (data: Buffer, isBinary: boolean): void => void early.push([data, isBinary]);
    const onEarlyError = (err: Error): void => logger.info(`client error while connecting: ${err.message}`);
    ws.on('message', keepEarly);
    ws.on('error', onEarlyError);
    if (pendingClose) ws.close(pendingClose.code, pendingClose.reason);

    dialing.then(
      (targetSocket) => {
        const client = ws!;
        client.removeListener('message', keepEarly);
        client.removeListener('error', onEarlyError);
        if (client.readyState !== client.OPEN) {
          targetSocket.destroy();
          if (client.readyState === client.CLOSED) finish({ closeCode: 1006, closedBy: 'client' });
          else client.once('close', (code: number) => finish({ closeCode: code, closedBy: 'client' }));
          return;
        }
        if (start.preamble) targetSocket.write(start.preamble);
        bridge = new Bridge(client, targetSocket as net.Socket, {
          mode: wireMode,
          highWaterBytes: config.limits.bufferHighWaterBytes,
          flushMs: config.limits.shutdownTimeoutMs,
          observer,
          onProtocolError: (message) => logger.info(`client protocol error: ${message}`),
          onTargetError: (message) => logger.info(`target connection error: ${message}`),
        });
        for (const [data, isBinary] of early) bridge.replay(data, isBinary);
        startHeartbeat(client);
        client.resume();
        void bridge.done.then(finish);
      },
      (err: unknown) => {
        const client = ws!;
        client.removeListener('message', keepEarly);
        logger.info(err instanceof TargetConnectError ? err.message : `Failed to connect to ${targetLabel}: ${String(err)}`);
        client.once('close', () => finish({ closeCode: 1011, closedBy: 'connect' }));
        if (client.readyState === client.OPEN) client.close(1011, 'Failed to connect to downstream server');
        else if (client.readyState === client.CLOSED) finish({ closeCode: 1011, closedBy: 'connect' });
        client.resume();
      },
    );
  });

  /**
   * --heartbeat N pings every N seconds, as the reference (which never waits for pongs).
   * With --heartbeat-timeout T, a client that has not answered within T seconds is dropped.
   */
  function startHeartbeat(client: WebSocket): void {
    if (config.heartbeatSec <= 0) return;
    const timeoutMs = config.heartbeatTimeoutSec * 1000;
    if (timeoutMs > 0) {
      client.on('pong', () => {
        if (pongTimer) clearTimeout(pongTimer);
        pongTimer = null;
      });
    }
    heartbeat = setInterval(() => {
      if (client.readyState !== client.OPEN) return;
      client.ping();
      if (timeoutMs > 0 && !pongTimer) {
        pongTimer = setTimeout(() => {
          logger.info(`heartbeat timeout: no pong within ${config.heartbeatTimeoutSec}s`);
          bridge?.terminate();
        }, timeoutMs);
      }
    }, config.heartbeatSec * 1000);
  }

  return session;
}
