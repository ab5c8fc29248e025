import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Metrics } from '../../src/metrics/metrics.js';
import { OpsEndpoints, startOpsListener } from '../../src/metrics/ops-endpoints.js';
import type { SessionSummary } from '../../src/proxy/session-observer.js';
import { fixturePath } from '../support/fixture-path.js';
import { startProxy } from '../support/proxy-process.js';
import { startEchoTarget } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';
import { closeEvent, openClient } from '../support/ws-client.js';
import { requiredSeriesValue } from '../support/metrics-text.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function summary(part: Pick<SessionSummary, 'id' | 'upBytes' | 'downBytes' | 'closeCode' | 'closedBy'>): SessionSummary {
  return { client: '127.0.0.1', target: { kind: 'tcp', host: '127.0.0.1', port: 5900 }, startedAt: 0, durationMs: 10, ...part };
}

test('the metrics listener reports sessions, bytes, failures, close codes and handshake latency', async () => {
  const metrics = new Metrics();
  let live = { upBytes: 0, downBytes: 0 };
  metrics.setLiveBytes(() => live);
  let ready = true;
  const server = await startOpsListener(new OpsEndpoints({ metrics, metricsPath: null, healthPath: null, isReady: () => ready }), '127.0.0.1', 0);
  const port = (server.address() as AddressInfo).port;
  try {
    const a = metrics.sessionStarted(12);
    const b = metrics.sessionStarted(30);
    metrics.sessionStarted(2000);
    metrics.handshakeFailed('bad-token');
    metrics.handshakeFailed('bad-token');
    metrics.handshakeFailed('version');
    live = { upBytes: 100, downBytes: 5000 };
    let scrape = await get(port, '/metrics');
    assert.equal(scrape.status, 200);
    assert.match(scrape.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(requiredSeriesValue(scrape.body, 'websockify_sessions_open'), 3);
    assert.equal(requiredSeriesValue(scrape.body, 'websockify_bytes_to_client_total'), 5000);

    // Session a closes: its bytes leave the live sum and enter the closed total; totals never drop.
    a.onClose!(summary({ id: 1, upBytes: 60, downBytes: 3000, closeCode: 1000, closedBy: 'target' }));
    a.onClose!(summary({ id: 1, upBytes: 60, downBytes: 3000, closeCode: 1000, closedBy: 'target' }));
    b.onClose!(summary({ id: 2, upBytes: 0, downBytes: 0, closeCode: 1011, closedBy: 'connect' }));
    live = { upBytes: 40 + 7, downBytes: 2000 + 11 };
    scrape = await get(port, '/metrics');
    const text = scrape.body;
    assert.equal(requiredSeriesValue(text, 'websockify_sessions_open'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_sessions_total'), 3);
    assert.equal(requiredSeriesValue(text, 'websockify_bytes_from_client_total'), 107);
    assert.equal(requiredSeriesValue(text, 'websockify_bytes_to_client_total'), 5011);
    assert.equal(requiredSeriesValue(text, 'websockify_handshake_failures_total{reason="bad-token"}'), 2);
    assert.equal(requiredSeriesValue(text, 'websockify_handshake_failures_total{reason="version"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_target_connect_failures_total'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="1000"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="1011"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_handshake_duration_seconds_count'), 3);
    assert.equal(requiredSeriesValue(text, 'websockify_handshake_duration_seconds_bucket{le="0.025"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_handshake_duration_seconds_bucket{le="0.05"}'), 2);
    assert.ok(requiredSeriesValue(text, 'process_resident_memory_bytes') > 0);

    assert.deepEqual(await get(port, '/healthz').then((r) => [r.status, r.body]), [200, 'ok\n']);
    assert.deepEqual(await get(port, '/readyz').then((r) => [r.status, r.body]), [200, 'ready\n']);
    ready = false;
    assert.deepEqual(await get(port, '/readyz').then((r) => [r.status, r.body]), [503, 'draining\n']);
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/nope')).status, 404);
    assert.equal((await get(port, '/metrics', 'POST')).status, 405);
  } finally {
    server.close();
  }
});

test('on the main port only the configured paths are answered, the rest falls through', async () => {
  const metrics = new Metrics({ processMetrics: false });
  const ops = new OpsEndpoints({ metrics, metricsPath: '/internal/metrics', healthPath: '/health', isReady: () => true });
  const server = http.createServer((req, res) => {
    if (!ops.handleMainPort(req, res)) {
      res.writeHead(405);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const m = await get(port, '/internal/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^# HELP websockify_sessions_open/m);
    assert.doesNotMatch(m.body, /process_resident_memory_bytes/);
    assert.equal((await get(port, '/health')).status, 200);
    assert.equal((await get(port, '/metrics')).status, 405);
    assert.equal((await get(port, '/healthz')).status, 405);
  } finally {
    server.close();
  }
});

test('close codes chosen by clients are scraped in buckets, not as labels of their own', async () => {
  const target = await startEchoTarget();
  const proxy = await startProxy(['--log-format', 'json', '--metrics', '127.0.0.1:0', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const line = await proxy.waitForOutput(/metrics and health .*on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const port = Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(line)![1]);
    const codes = [4001, 4777, 3123, 1000, 1001];
    for (const code of codes) {
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      const closed = closeEvent(ws);
      ws.close(code);
      assert.equal((await closed).code, code);
    }
    // Metrics are counted just before each session's summary line: wait for all five.
    for (let id = 1; id <= codes.length; id++) await proxy.waitForOutput(new RegExp(`"msg":"session closed","session":${id},`));
    const text = (await get(port, '/metrics')).body;
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="4xxx"}'), 2);
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="3xxx"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="1000"}'), 1);
    assert.equal(requiredSeriesValue(text, 'websockify_close_codes_total{code="1001"}'), 1);
    assert.ok(!/code="4001"|code="4777"|code="3123"/.test(text), text);
  } finally {
    await proxy.stop();
    await target.close();
  }
});

test('with --web-auth, --metrics-path asks for the pages credentials while --health-path stays open and says only ready', async () => {
  const target = await startEchoTarget();
  const tmp = tempDir();
  writeFileSync(path.join(tmp.dir, 'index.html'), '<p>private</p>');
  const proxy = await startProxy([
    '--web',
    tmp.dir,
    '--web-auth',
    '--auth-plugin',
    'BasicHTTPAuth',
    '--auth-source',
    'alice:s3cret',
    '--metrics-path',
    '/metrics',
    '--health-path',
    '/health',
    '127.0.0.1:0',
    `127.0.0.1:${target.port}`,
  ]);
  const basic = (userPass: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(userPass).toString('base64')}` });
  try {
    const refused = await getWith(proxy.port, '/metrics', {});
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Basic realm="Websockify"');
    assert.doesNotMatch(refused.body, /websockify_/);
    assert.equal((await getWith(proxy.port, '/metrics?x=1', {})).status, 401);
    const wrong = await getWith(proxy.port, '/metrics', basic('alice:nope'));
    assert.ok(wrong.status === 401 || wrong.status === 403, String(wrong.status));
    assert.doesNotMatch(wrong.body, /websockify_/);
    await proxy.waitForOutput(/web request refused: 401 \/metrics/);

    const scrape = await getWith(proxy.port, '/metrics', basic('alice:s3cret'));
    assert.equal(scrape.status, 200);
    assert.match(scrape.body, /^# HELP websockify_sessions_open/m);

    // Load balancers probe health without credentials; it tells nothing but ready/draining.
    const health = await getWith(proxy.port, '/health', {});
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ready\n');
    const shown = Object.keys(health.headers).filter((h) => !['connection', 'keep-alive', 'date'].includes(h));
    assert.deepEqual(shown.sort(), ['cache-control', 'content-length', 'content-type']);
    assert.equal(proxy.output().includes('s3cret'), false);
  } finally {
    await proxy.stop();
    await target.close();
    tmp.cleanup();
  }
});

test('without --web-auth, --metrics-path is answered without credentials as before', async () => {
  const target = await startEchoTarget();
  const proxy = await startProxy(['--metrics-path', '/metrics', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const scrape = await getWith(proxy.port, '/metrics', {});
    assert.equal(scrape.status, 200);
    assert.match(scrape.body, /^# HELP websockify_sessions_open/m);
  } finally {
    await proxy.stop();
    await target.close();
  }
});

function getWith(port: number, urlPath: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The modules every process of a proxy run loaded (test/fixtures/preload/loaded-modules.mjs), until it exits on SIGTERM. */
async function modulesLoadedBy(args: string[]): Promise<{ text: string; processes: number }> {
  const { dir, cleanup } = tempDir();
  try {
    const file = path.join(dir, 'loaded');
    const preload = pathToFileURL(fixturePath('preload', 'loaded-modules.mjs')).href;
    const env = { ...process.env, WSFY_LOADED_MODULES_FILE: file, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}` };
    const proxy = await startProxy(args, { env });
    await proxy.stop('SIGTERM');
    const text = readFileSync(file, 'utf8');
    return { text, processes: text.split('\n').filter((l) => l.startsWith('pid ')).length };
  } finally {
    cleanup();
  }
}

const PROM_CLIENT = `${path.sep}node_modules${path.sep}prom-client${path.sep}`;

test('prom-client is loaded only when metrics are on', async () => {
  const plain = await modulesLoadedBy(['--health-path', '/healthz', '127.0.0.1:0', '127.0.0.1:1']);
  assert.equal(plain.processes, 1);
  assert.ok(!plain.text.includes(PROM_CLIENT), 'prom-client loaded without --metrics or --metrics-path');
  // The probe sees it when it is loaded (so the check above can fail).
  const metered = await modulesLoadedBy(['--metrics-path', '/metrics', '127.0.0.1:0', '127.0.0.1:1']);
  assert.ok(metered.text.includes(PROM_CLIENT), 'the probe did not see prom-client under --metrics-path');
});

test('under --workers neither the primary nor a worker loads prom-client without metrics', async () => {
  const plain = await modulesLoadedBy(['--workers', '2', '127.0.0.1:0', '127.0.0.1:1']);
  assert.equal(plain.processes, 3);
  assert.ok(!plain.text.includes(PROM_CLIENT), 'prom-client loaded under --workers without metrics');
});
