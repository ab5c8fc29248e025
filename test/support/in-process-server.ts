import { parseArgv } from '../../src/cli/argv-parser.js';
import { OPTIONS } from '../../src/cli/option-table.js';
import { buildConfig } from '../../src/config/build-config.js';
import type { Config } from '../../src/config/config.js';
import type { Logger } from '../../src/log/logger.js';
import { WebsockifyServer, type ServerParts } from '../../src/server/websockify-server.js';
import { captureLogger, type CaptureSink } from './capture-logger.js';

/**
 * The WebsockifyServer inside the test process, on 127.0.0.1 port 0, with a logger whose records
 * the test reads back and the metric reasons of every refusal collected. Tests that need no
 * separate process (one connection's way in, refusals, close precedence) run in milliseconds
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
  /** Stops the server: sessions close with 1001, other connections are dropped. */
  close(): Promise<void>;
}

export interface InProcessOptions {
  /** Server parts besides the counter (a request handler, a TLS upgrader, ...). */
  parts?: ServerParts;
}

/**
 * `args` are websockify's own arguments after the listen address (the target, options), as a
 * user would type them: `startInProcessServer(['127.0.0.1:5900', '--heartbeat', '1'])`.
 */
export async function startInProcessServer(args: readonly string[], options: InProcessOptions = {}): Promise<InProcessServer> {
  const config = buildConfig(parseArgv(['127.0.0.1:0', ...args], OPTIONS), { cwd: process.cwd() });
  const { logger, sink } = captureLogger();
  const refusals: string[] = [];
  const server = new WebsockifyServer(config, logger, { ...options.parts, onHandshakeFailure: (reason) => refusals.push(reason) });
  const description = await server.listen();
  const port = Number(description.slice(description.lastIndexOf(':') + 1));
  return {
    server,
    config,
    port,
    url: `ws://127.0.0.1:${port}/`,
    logger,
    sink,
    refusals,
    close: () => server.shutdown(),
  };
}

/** Resolves once `condition` holds, checking every few milliseconds; fails naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
