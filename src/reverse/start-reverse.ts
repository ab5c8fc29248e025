import type tls from 'node:tls';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { TokenPlugin } from '../plugins/token/token-plugin.js';
import { ConfigError } from '../errors.js';
import { loadTokenPlugin } from '../plugins/load-plugins.js';
import type { WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import { PrimaryReverseService, WorkerReverseBroker, type PrimaryChannel, type ReverseToWorker } from './reverse-cluster.js';
import { localBroker, type ReverseBroker } from './reverse-pairing.js';
import { ReverseListeners } from './reverse-listener.js';
import type { ReverseMetrics } from '../metrics/reverse-metrics.js';
import { ReverseRegistry } from './reverse-registry.js';

interface ReverseSide {
  registry: ReverseRegistry;
  listeners: ReverseListeners;
  close(): void;
}

/**
 * Builds the registry and listeners --reverse-listen asks for (not yet listening). Which IDs may
 * register: with a `reverse:ID` fixed target, that one; else the token plugin's `hasReverseId`.
 * A plugin without one (Redis, the HTTP APIs: they cannot list their targets) needs
 * --reverse-allow-any-id, said at start rather than by refusing every server later.
 */
function buildReverseSide(
  config: Config,
  logger: Logger,
  tokenPlugin: TokenPlugin | null,
  metrics: ReverseMetrics | null,
  secureContext?: () => tls.SecureContext,
): ReverseSide | null {
  const reverse = config.reverse;
  if (reverse === null) return null;
  let isKnownId: (id: string) => Promise<boolean>;
  const fixed = config.target?.kind === 'reverse' ? config.target.id : null;
  if (fixed !== null) isKnownId = (id) => Promise.resolve(id === fixed);
  else if (tokenPlugin?.hasReverseId) isKnownId = (id) => tokenPlugin.hasReverseId!(id);
  else if (reverse.allowAnyId) isKnownId = () => Promise.resolve(true);
  else
    throw new ConfigError(
      `--reverse-listen: the token plugin ${config.tokenPlugin?.name ?? ''} cannot tell which reverse IDs it names; use TokenFile or ReadOnlyTokenFile, or --reverse-allow-any-id on a trusted network`,
    );
  if (reverse.tls && !secureContext) throw new ConfigError('--reverse-tls needs a certificate: give --cert (and --key)');
  const reverseLog = logger;
  const registry = new ReverseRegistry({ idleTimeoutMs: reverse.idleTimeoutMs, logger: reverseLog, metrics });
  const listeners = new ReverseListeners({
    config: reverse,
    logger: reverseLog,
    registry,
    metrics,
    isKnownId,
    ...(secureContext ? { secureContext } : {}),
  });
  return {
    registry,
    listeners,
    close: () => {
      listeners.close();
      registry.closeAll();
    },
  };
}

/** The primary's reverse side under --workers (reverse-cluster.ts): listener, registry, IPC answers. */
export interface PrimaryReverse {
  service: PrimaryReverseService;
  /** Held servers, registrations and refused servers, added to the workers' metrics on a scrape. */
  figures(): Promise<WorkerMetricsJson>;
  close(): Promise<void>;
}

/**
 * In the --workers primary, before the workers start: loads the token plugin (for the ID
 * check), opens the reverse listeners and logs where. Throws ConfigError or ListenError.
 */
export async function startPrimaryReverse(config: Config, logger: Logger): Promise<PrimaryReverse | null> {
  if (config.reverse === null) return null;
  const plugin =
    config.tokenPlugin !== null && !config.reverse.allowAnyId
      ? await loadTokenPlugin(config.tokenPlugin, { logger, timeoutMs: config.limits.pluginTimeoutMs })
      : null;
  // prom-client is loaded only when a reverse listener is asked for (it is not, by default).
  const [{ Registry }, { ReverseCounters }] = await Promise.all([import('prom-client'), import('../metrics/metrics.js')]);
  const registry = new Registry();
  const counters = new ReverseCounters([registry]);
  let side: ReverseSide;
  try {
    side = buildReverseSide(config, logger, plugin, counters)!;
    for (const where of await side.listeners.listen()) logger.info(`reverse listener on ${where}`);
  } catch (err) {
    await plugin?.close?.();
    throw err;
  }
  return {
    service: new PrimaryReverseService(side.registry, logger),
    figures: () => registry.getMetricsAsJSON() as Promise<WorkerMetricsJson>,
    close: async () => {
      side.close();
      await plugin?.close?.();
    },
  };
}

/** What the CLI needs from the reverse side in a server process (single, or a --workers worker). */
export interface ServerReverse {
  broker: ReverseBroker;
  /** Opens the listeners (a no-op in a worker: the primary owns them); where each listens. */
  listen(): Promise<string[]>;
  close(): void;
}

/**
 * A single process owns listener and registry and takes from it; a --workers worker asks the
 * primary (reverse-cluster.ts) on `primary`, its channel to it (null in a single process), and
 * listens there for its answers, which carry the socket.
 */
export function setUpServerReverse(
  config: Config,
  logger: Logger,
  tokenPlugin: TokenPlugin | null,
  metrics: ReverseMetrics | null,
  primary: PrimaryChannel | null,
  secureContext?: () => tls.SecureContext,
): ServerReverse | null {
  if (config.reverse === null) return null;
  if (primary) {
    const broker = new WorkerReverseBroker((message) => primary.send(message));
    primary.onMessage((received, handle) => {
      const message = received as ReverseToWorker | undefined;
      if (message?.wsfy === 'reverse-taken') broker.answer(message, handle, logger);
    });
    return { broker, listen: () => Promise.resolve([]), close: () => undefined };
  }
  const side = buildReverseSide(config, logger, tokenPlugin, metrics, secureContext)!;
  return { broker: localBroker(side.registry), listen: () => side.listeners.listen(), close: () => side.close() };
}
