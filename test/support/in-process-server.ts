import net from 'node:net';
import { parseArgv } from '../../src/cli/argv-parser.js';
import { OPTIONS } from '../../src/cli/option-table.js';
import { buildConfig } from '../../src/cli/build-config.js';
import type { Config, TargetSpec } from '../../src/config/config.js';
import type { Logger } from '../../src/log/logger.js';
import type { Dialer } from '../../src/proxy/dial-target.js';
import type { Clock } from '../../src/clock.js';
import type { LiveSession } from '../../src/server/connection-registry.js';
import { WebsockifyServer, type ServerParts } from '../../src/server/websockify-server.js';
import { captureLogger, type CaptureSink } from './capture-logger.js';

/**
 * The WebsockifyServer inside the test process, on 127.0.0.1 port 0, with a logger whose records
 * the test reads back, the metric reasons of every refusal and every session that started
 * collected, and, when the test asks, its own dialer (pairedTargets: real sockets, or a dial
 * that fails) and clock (ManualClock: heartbeats and deadlines without waiting). Tests that need
 * no separate process (one connection's way in, refusals, close precedence) run in milliseconds
 * here; the spawned-CLI suites stay for what only a real process shows.
 */
export interface InProcessServer {
  server: WebsockifyServer;
  config: Config;
  port: number;
  /** `ws://127.0.0.1:PORT/` */
  url: string;
  logger: Logger;
  sink: CaptureSink;
  /** The reason of every refusal counted so far (websockify_handshake_failures_total), in order. */
  refusals: string[];
  /** Every session that started, in order (`done` resolves once it has ended). */
  sessions: LiveSession[];
  /** Stops the server: sessions close with 1001, other connections are dropped. */
  close(): Promise<void>;
}

export interface InProcessOptions {
  /** Server parts besides the counter (a request handler, a TLS upgrader, ...). */
  parts?: ServerParts;
  /** How sessions reach their target (pairedTargets().dial, or a dial that fails). */
  dial?: Dialer;
  /** The clock of handshake deadlines and heartbeats (a ManualClock). */
  clock?: Clock;
}

/**
 * `args` are websockify's own arguments after the listen address (the target, options), as a
 * user would type them: `startInProcessServer(['127.0.0.1:5900', '--heartbeat', '1'])`.
 */
export async function startInProcessServer(args: readonly string[], options: InProcessOptions = {}): Promise<InProcessServer> {
  const config = buildConfig(parseArgv(['127.0.0.1:0', ...args], OPTIONS), { cwd: process.cwd() });
  const { logger, sink } = captureLogger();
  const refusals: string[] = [];
  const sessions: LiveSession[] = [];
  const server = new WebsockifyServer(config, logger, {
    ...options.parts,
    ...(options.dial ? { dial: options.dial } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    onHandshakeFailure: (reason) => refusals.push(reason),
  });
  server.onSessionStart = (session) => void sessions.push(session);
  const address = await server.listen();
  if (address.kind !== 'tcp') throw new Error(`listening on ${address.kind}, not TCP`);
  const port = address.port;
  return {
    server,
    config,
    port,
    url: `ws://127.0.0.1:${port}/`,
    logger,
    sink,
    refusals,
    sessions,
    close: () => server.shutdown(),
  };
}

/**
 * Targets as real TCP socket pairs on loopback: each dial connects to a listener of the test's,
 * resolves with the proxy's end, and hands the target's end to the test (`next()`), which then
 * plays the target: writes, ends, resets. No fake streams: the bridge sees a real net.Socket.
 */
export interface PairedTargets {
  dial: Dialer;
  /** The target's end of the next dial (in the order the dials connect). */
  next(): Promise<net.Socket>;
  /** What each dial was asked to reach. */
  asked: TargetSpec[];
  close(): Promise<void>;
}

export async function pairedTargets(): Promise<PairedTargets> {
  const ready: net.Socket[] = [];
  const waiting: Array<(socket: net.Socket) => void> = [];
  const asked: TargetSpec[] = [];
  const all = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    all.add(socket);
    socket.setNoDelay(true);
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else ready.push(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    asked,
    dial: (target) => {
      asked.push(target);
      return new Promise((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socket));
        all.add(socket);
        socket.once('error', reject);
      });
    },
    next: () => {
      const socket = ready.shift();
      return socket ? Promise.resolve(socket) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const socket of all) socket.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
