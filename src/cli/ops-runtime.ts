import type { Server } from 'node:http';
import type { Writable } from 'node:stream';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { FileSink } from '../log/file-sink.js';
import { formatJsonLine, formatJsonRaw } from '../log/json-format.js';
import { Logger, type LogSink } from '../log/logger.js';
import { StreamSink } from '../log/stream-sink.js';
import { SyslogSink, type SyslogTarget } from '../log/syslog-sink.js';
import { formatTextLine } from '../log/text-format.js';
import type { WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import type { Metrics } from '../metrics/metrics.js';
import { metricsEnabled, type MetricsSource, OpsEndpoints, opsListenerAddress, startOpsListener } from '../metrics/ops-endpoints.js';
import { ReloadHooks } from '../server/reload-hooks.js';
import { buildObserverFactory } from '../server/session-features.js';
import type { ServerParts, WebsockifyServer } from '../server/websockify-server.js';

/**
 * The log sinks from Config: stderr (not in a daemon: its stderr is /dev/null), --log-file,
 * --syslog; text or JSON lines for all of them. Files and sockets are opened now, so a bad
 * path fails the launch with a clear message rather than the first session.
 */
export async function createLogger(config: Config, options: { stderr: Writable; daemonChild: boolean }): Promise<Logger> {
  const json = config.log.format === 'json';
  const line = json ? formatJsonLine : formatTextLine;
  const raw = json ? (t: string) => formatJsonRaw(t) : (t: string) => t.replace(/\n$/, '');
  const sinks: LogSink[] = [];
  if (!options.daemonChild) sinks.push(new StreamSink(options.stderr, line, raw));
  const reportSinkError = (what: string) => (err: Error) => options.stderr.write(`websockify: ${what}: ${err.message}\n`);
  if (config.log.file !== null) {
    try {
      sinks.push(new FileSink(config.log.file, line, raw, reportSinkError(`log file ${config.log.file}`)));
    } catch (err) {
      throw new ConfigError(`cannot open log file ${config.log.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
    }
  }
  if (config.log.syslog !== null) {
    const value = config.log.syslog;
    const colon = value.lastIndexOf(':');
    const target: SyslogTarget =
      colon !== -1 && !value.startsWith('/')
        ? { kind: 'udp', host: value.slice(0, colon).replace(/^\[|\]$/g, '') || 'localhost', port: Number(value.slice(colon + 1)) }
        : { kind: 'unix', path: value };
    try {
      sinks.push(
        await SyslogSink.open({
          target,
          legacy: config.log.legacySyslog,
          facility: config.daemon ? 'daemon' : 'user',
          format: line,
          onError: reportSinkError('syslog'),
        }),
      );
    } catch (err) {
      throw new ConfigError(`--syslog: ${(err as Error).message}`, err);
    }
  }
  return new Logger(sinks, config.verbose ? 'debug' : 'info');
}

/**
 * Metrics, health, reload and drain for one server (docs/operations.md). Everything is off
 * unless its flag is given; with nothing on, the server gets no observer and no hooks.
 */
export class OpsRuntime {
  readonly reload = new ReloadHooks();
  readonly metrics: Metrics | null;
  private readonly endpoints: OpsEndpoints | null;
  private ownListener: Server | null = null;
  private draining = false;

  /**
   * `clusterMetrics`: under --workers, what a main-port scrape renders (the primary's sum over
   * workers) instead of this process's own share. prom-client is loaded only when metrics are
   * on (--metrics or --metrics-path): without them the process never reads it from disk.
   */
  static async create(config: Config, clusterMetrics: MetricsSource | null = null): Promise<OpsRuntime> {
    const metrics = metricsEnabled(config.ops) ? new (await import('../metrics/metrics.js')).Metrics() : null;
    return new OpsRuntime(config, metrics, clusterMetrics);
  }

  private constructor(
    private readonly config: Config,
    metrics: Metrics | null,
    clusterMetrics: MetricsSource | null,
  ) {
    const ops = config.ops;
    this.metrics = metrics;
    this.endpoints =
      ops.metricsListen !== null || ops.metricsPath !== null || ops.healthPath !== null
        ? new OpsEndpoints({ metrics: clusterMetrics ?? this.metrics, metricsPath: ops.metricsPath, healthPath: ops.healthPath, isReady: () => !this.draining })
        : null;
  }

  /** --web-auth: the main port's --metrics-path needs the same auth as the pages (ops-endpoints.ts). */
  guardMainPortMetrics(guard: Parameters<OpsEndpoints['guardMainPortMetrics']>[0]): void {
    this.endpoints?.guardMainPortMetrics(guard);
  }

  /** For a --workers worker: its registry as JSON, for the primary to sum (null without metrics). */
  workerMetrics(): (() => Promise<WorkerMetricsJson>) | undefined {
    const metrics = this.metrics;
    return metrics ? () => metrics.registry.getMetricsAsJSON() as Promise<WorkerMetricsJson> : undefined;
  }

  /** The counter of refused handshakes by reason (TLS failures too), or undefined without metrics. */
  countHandshakeFailure(): ((reason: string) => void) | undefined {
    const metrics = this.metrics;
    return metrics ? (reason) => metrics.handshakeFailed(reason) : undefined;
  }

  serverParts(stdout: Writable, logger?: Logger): Partial<ServerParts> {
    const parts: Partial<ServerParts> = {};
    const observerFor = buildObserverFactory(this.config, this.metrics, stdout, logger);
    if (observerFor) parts.observerFor = observerFor;
    const endpoints = this.endpoints;
    if (endpoints && (this.config.ops.metricsPath !== null || this.config.ops.healthPath !== null)) {
      parts.opsHandler = (req, res) => endpoints.handleMainPort(req, res);
    }
    const count = this.countHandshakeFailure();
    if (count) parts.onHandshakeFailure = count;
    return parts;
  }

  /** After the main listener is up: the --metrics listener, and live byte counts for scrapes. */
  async start(server: WebsockifyServer, logger: Logger): Promise<void> {
    this.reload.first('log files', () => logger.reopen());
    if (this.metrics) {
      this.metrics.setLiveBytes(() => {
        let upBytes = 0;
        let downBytes = 0;
        for (const session of server.registry.sessions) {
          const b = session.bytes?.();
          if (b) {
            upBytes += b.upBytes;
            downBytes += b.downBytes;
          }
        }
        return { upBytes, downBytes };
      });
    }
    // Under --workers the primary serves --metrics for all workers (cluster/metrics-request.ts).
    const listen = this.config.workers > 1 ? null : this.config.ops.metricsListen;
    if (listen && this.endpoints) {
      try {
        this.ownListener = await startOpsListener(this.endpoints, listen.host, listen.port);
      } catch (err) {
        throw new ConfigError(`--metrics: cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`, err);
      }
      const where = opsListenerAddress(this.ownListener);
      logger.info(`metrics and health on http://${where}/metrics`);
    }
  }

  /**
   * SIGTERM, once the caller has stopped accepting (src/cli/main.ts closes the listener before
   * it logs "In exit"): fail readiness, let sessions end on their own for up to
   * --drain-timeout, then the caller closes what is left with 1001.
   */
  async drain(server: WebsockifyServer, logger: Logger): Promise<void> {
    this.draining = true;
    const timeoutMs = this.config.ops.drainTimeoutMs;
    const open = [...server.registry.sessions];
    if (timeoutMs <= 0 || open.length === 0) return;
    logger.info(`draining: waiting up to ${timeoutMs / 1000}s for ${open.length} session(s)`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(open.map((s) => s.done)), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    const listener = this.ownListener;
    this.ownListener = null;
    if (listener) {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  }
}
