import * as http from 'node:http';
import type { OpsConfig } from '../config/config.js';

/** What a scrape renders: one process's Metrics, or the primary's sum over workers (ClusterMetrics). */
export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** Whether --metrics or --metrics-path asks for Prometheus metrics (and so for prom-client). */
export function metricsEnabled(ops: OpsConfig): boolean {
  return ops.metricsListen !== null || ops.metricsPath !== null;
}

interface OpsEndpointOptions {
  metrics: MetricsSource | null;
  /** Main-port paths (`--metrics-path`, `--health-path`); null = not served there. */
  metricsPath: string | null;
  healthPath: string | null;
  /** False while draining (SIGTERM): readiness fails so load balancers stop sending. */
  isReady: () => boolean;
}

/**
 * The operator endpoints. On their own listener (`--metrics HOST:PORT`): `/metrics`,
 * `/healthz` (alive: 200 while the process runs) and `/readyz` (503 while draining). On the main
 * port only the paths given by flags are answered, and only for GET/HEAD, before the web server.
 */
export class OpsEndpoints {
  /** What answers `--metrics-path` on the main port; guarded by --web-auth when pages are. */
  private mainPortMetrics: (req: http.IncomingMessage, res: http.ServerResponse) => void;

  constructor(private readonly options: OpsEndpointOptions) {
    this.mainPortMetrics = (_req, res) => void this.sendMetrics(res);
  }

  /**
   * --web-auth: the main port's `--metrics-path` passes the same checks as the pages (a 401 with
   * the plugin's challenge otherwise), so adding a password to the pages never leaves the
   * metrics public. `--health-path` stays open: load balancers probe it without credentials,
   * and it tells only `ready` or `draining`.
   */
  guardMainPortMetrics(
    guard: (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) => (req: http.IncomingMessage, res: http.ServerResponse) => void,
  ): void {
    this.mainPortMetrics = guard(this.mainPortMetrics);
  }

  /** For the main port's plain-request path: true when it answered the request. */
  handleMainPort(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '/').split('?')[0];
    if (this.options.metricsPath !== null && path === this.options.metricsPath && this.options.metrics) {
      this.mainPortMetrics(req, res);
      return true;
    }
    if (this.options.healthPath !== null && path === this.options.healthPath) {
      this.sendReady(res);
      return true;
    }
    return false;
  }

  /** The request handler of the own listener. */
  handleOwn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (path === '/metrics' && this.options.metrics) return void this.sendMetrics(res);
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (path === '/readyz') return this.sendReady(res);
    send(res, 404, 'not found\n');
  }

  private sendReady(res: http.ServerResponse): void {
    if (this.options.isReady()) send(res, 200, 'ready\n');
    else send(res, 503, 'draining\n');
  }

  private async sendMetrics(res: http.ServerResponse): Promise<void> {
    try {
      const { contentType, body } = await this.options.metrics!.render();
      send(res, 200, body, contentType);
    } catch (err) {
      send(res, 500, `metrics failed: ${(err as Error).message}\n`);
    }
  }
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** `--metrics HOST:PORT`: the endpoints on a listener of their own (keep it on loopback or a private network). */
export async function startOpsListener(endpoints: OpsEndpoints, host: string, port: number): Promise<http.Server> {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => endpoints.handleOwn(req, res));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '' ? undefined : host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** `HOST:PORT` of a started ops listener, for the log line that tells where it is (port 0 picks one). */
export function opsListenerAddress(server: http.Server): string {
  const address = server.address();
  return typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
}
