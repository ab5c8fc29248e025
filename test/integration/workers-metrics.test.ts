import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CertFactory, type Pair } from '../support/openssl-certs.js';
import { runCli, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { seriesValue } from '../support/metrics-text.js';

/** GET on the --metrics listener. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/**
 * Scrapes until `done` holds (the server books a session's close a moment after the client sees
 * it). On timeout it returns the last scrape: the caller's assertions then say which value differs.
 */
async function scrapeUntil(port: number, done: (text: string) => boolean, timeoutMs = 5_000): Promise<string> {
  let last = { status: 0, body: '' };
  const probe = async (): Promise<boolean> => {
    last = await get(port, '/metrics');
    return last.status !== 200 || done(last.body);
  };
  await waitFor(probe, { timeoutMs, intervalMs: 50, what: 'the scraped metrics to match' }).catch((err: Error) => {
    if (!err.message.startsWith('timed out')) throw err;
  });
  assert.equal(last.status, 200);
  return last.body;
}

async function metricsPort(proxy: ProxyProcess): Promise<number> {
  const line = await proxy.waitForOutput(/metrics and health .*on http:\/\/127\.0\.0\.1:\d+\/metrics/);
  return Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(line)![1]);
}

/** Session ids from the `N: connecting to:` lines: worker 1 of 2 numbers odd, worker 2 even. */
function sessionIds(output: string): number[] {
  return [...output.matchAll(/\]\s+(\d+): connecting to:/g)].map((m) => Number(m[1]));
}

/** Opens a session and echoes `size` bytes through it; closes it unless told to keep it. */
async function echo(port: number, size: number, keepOpen = false): Promise<WebSocket> {
  const ws = await openClient(`ws://127.0.0.1:${port}/`);
  const payload = randomBytes(size);
  const back = receiveBytes(ws, size);
  ws.send(payload);
  assert.ok((await back).equals(payload));
  if (!keepOpen) {
    const closed = closeEvent(ws);
    ws.close(1000);
    assert.equal((await closed).code, 1000);
  }
  return ws;
}

/** Bytes that start like a TLS handshake record (0x16) and then are not one. */
function sendGarbageHello(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x20]), Buffer.alloc(32, 0xee)])));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.resume();
  });
}

/** A client that offers TLS 1.0 only (the server's minimum is TLS 1.2); resolves once refused. */
function connectTls10(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1',
      // OpenSSL 3 will not even send a TLS 1.0 hello at its default security level.
      ciphers: 'DEFAULT@SECLEVEL=0',
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => reject(new Error('a TLS 1.0 client was accepted')));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const TLS_FAILURES = 'websockify_handshake_failures_total';

for (const mode of ['single process', '--workers 2'] as const) {
  describe(`metrics in ${mode}: TLS handshake failures are counted by reason`, () => {
    let certs: CertFactory;
    let pair: Pair;
    let target: TcpTarget;
    let proxy: ProxyProcess;
    let port: number;
    before(async () => {
      certs = new CertFactory();
      pair = certs.signed('server', certs.ca('ca'), 'server');
      target = await startEchoTarget();
      const workers = mode === 'single process' ? [] : ['--workers', '2'];
      proxy = await startProxy([...workers, '--cert', pair.cert, '--key', pair.key, '--metrics', '127.0.0.1:0', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
      port = await metricsPort(proxy);
    });
    after(async () => {
      await proxy.stop();
      await target.close();
      rmSync(certs.dir, { recursive: true, force: true });
    });

    it('counts garbage after a 0x16 byte as tls_bad_hello and a TLS 1.0 client as tls_version', async () => {
      const hello = `${TLS_FAILURES}{reason="tls_bad_hello"}`;
      const version = `${TLS_FAILURES}{reason="tls_version"}`;
      const start = await scrapeUntil(port, () => true);
      // Two of each, so under --workers both workers see one (round robin).
      for (let i = 0; i < 2; i++) await sendGarbageHello(proxy.port);
      for (let i = 0; i < 2; i++) assert.match(await connectTls10(proxy.port), /PROTOCOL|VERSION|ECONNRESET/i);
      const text = await scrapeUntil(
        port,
        (t) => seriesValue(t, hello) - seriesValue(start, hello) >= 2 && seriesValue(t, version) - seriesValue(start, version) >= 2,
      );
      assert.equal(seriesValue(text, hello) - seriesValue(start, hello), 2, text);
      assert.equal(seriesValue(text, version) - seriesValue(start, version), 2, text);
    });
  });
}

/** Every handshake failure sample, summed over reasons. */
function allFailures(text: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${TLS_FAILURES}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

for (const mode of ['single process', '--workers 2'] as const) {
  describe(`metrics in ${mode}: --verify-client refusals are counted as tls_client_cert`, () => {
    it('counts a client without a certificate and one signed by another CA, exactly, and still serves a good client', async () => {
      const certs = new CertFactory();
      const target = await startEchoTarget();
      let proxy: ProxyProcess | null = null;
      try {
        const serverCa = certs.ca('server-ca');
        const server = certs.signed('server', serverCa, 'server', 'localhost');
        const clientCa = certs.ca('client-ca');
        const alice = certs.signed('alice', clientCa, 'client', 'alice');
        const mallory = certs.signed('mallory', certs.ca('rogue-ca'), 'client', 'mallory');
        const workers = mode === 'single process' ? [] : ['--workers', '2'];
        proxy = await startProxy([
          ...workers,
          '--cert',
          server.cert,
          '--key',
          server.key,
          '--verify-client',
          '--cafile',
          clientCa.cert,
          '--metrics',
          '127.0.0.1:0',
          '127.0.0.1:0',
          `127.0.0.1:${target.port}`,
        ]);
        const port = await metricsPort(proxy);
        const wssPort = proxy.port;
        const clientCert = `${TLS_FAILURES}{reason="tls_client_cert"}`;
        // The client checks the server against its CA: only the client certificate can fail.
        const open = (pair: Pair | null): Promise<WebSocket> =>
          new Promise((resolve, reject) => {
            const ws = new WebSocket(`wss://127.0.0.1:${wssPort}/`, ['binary'], {
              ca: readFileSync(serverCa.cert),
              ...(pair ? { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } : {}),
            });
            ws.once('open', () => resolve(ws));
            ws.once('unexpected-response', () => reject(new Error('got an HTTP response')));
            ws.once('error', reject);
          });
        const start = await scrapeUntil(port, () => true);
        assert.equal(seriesValue(start, clientCert), 0);
        await assert.rejects(open(null), (err: NodeJS.ErrnoException) => err.message !== 'got an HTTP response');
        await assert.rejects(open(mallory), (err: NodeJS.ErrnoException) => err.message !== 'got an HTTP response');
        const text = await scrapeUntil(port, (t) => seriesValue(t, clientCert) >= 2);
        assert.equal(seriesValue(text, clientCert), 2, text);
        assert.equal(allFailures(text) - allFailures(start), 2, `only the two refusals were counted:\n${text}`);
        // A client signed by the CA still gets through, and is not counted as a failure.
        const ws = await open(alice);
        const payload = randomBytes(1000);
        const back = receiveBytes(ws, payload.length);
        ws.send(payload);
        assert.ok((await back).equals(payload));
        const closed = closeEvent(ws);
        ws.close(1000);
        assert.equal((await closed).code, 1000);
        const after = await scrapeUntil(port, (t) => seriesValue(t, 'websockify_sessions_total') === 1 && seriesValue(t, 'websockify_sessions_open') === 0);
        assert.equal(seriesValue(after, 'websockify_sessions_total'), 1, after);
        assert.equal(seriesValue(after, clientCert), 2, after);
        assert.equal(allFailures(after) - allFailures(start), 2, after);
      } finally {
        await proxy?.stop();
        await target.close();
        certs.cleanup();
      }
    });
  });
}

describe('--workers 2 with --metrics-path: a scrape on the main port reports the whole server', () => {
  it("sums both workers' sessions and bytes, though the scrape itself reaches one worker", async () => {
    const target = await startEchoTarget();
    const proxy = await startProxy(['--workers', '2', '--metrics-path', '/metrics', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    try {
      const before = sessionIds(proxy.output()).length;
      await Promise.all([echo(proxy.port, 5_000), echo(proxy.port, 7)]);
      const ids = sessionIds(proxy.output()).slice(before);
      assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `sessions landed on one worker only: ${ids.join(',')}`);
      // Each scrape lands on the next worker (round robin): both must see the sum.
      for (let i = 0; i < 2; i++) {
        const text = await scrapeUntil(proxy.port, (t) => seriesValue(t, 'websockify_sessions_open') === 0);
        assert.equal(seriesValue(text, 'websockify_workers_reporting'), 2);
        assert.equal(seriesValue(text, 'websockify_sessions_total'), 2);
        assert.equal(seriesValue(text, 'websockify_bytes_from_client_total'), 5_007);
        assert.equal(seriesValue(text, 'websockify_bytes_to_client_total'), 5_007);
      }
    } finally {
      await proxy.stop();
      await target.close();
    }
  });
});

describe('--workers 2 with --metrics: one scrape reports the whole server', () => {
  let target: TcpTarget;
  let proxy: ProxyProcess;
  let port: number;
  before(async () => {
    target = await startEchoTarget();
    proxy = await startProxy(['--workers', '2', '--metrics', '127.0.0.1:0', '--drain-timeout', '5', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    port = await metricsPort(proxy);
  });
  after(async () => {
    await proxy.stop();
    await target.close();
  });

  it('sums sessions and bytes each way over both workers, exactly, open sessions included', async () => {
    const sizes = [1000, 70_000, 3, 250_001];
    const before = sessionIds(proxy.output()).length;
    // Two at a time: the primary's round robin gives each worker one of each pair.
    for (let i = 0; i < sizes.length; i += 2) await Promise.all(sizes.slice(i, i + 2).map((n) => echo(proxy.port, n)));
    const open = await echo(proxy.port, 4096, true);
    const ids = sessionIds(proxy.output()).slice(before);
    assert.equal(ids.length, sizes.length + 1);
    assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `sessions landed on one worker only: ${ids.join(',')}`);

    const total = sizes.reduce((a, b) => a + b, 0) + 4096;
    const text = await scrapeUntil(
      port,
      (t) => seriesValue(t, 'websockify_sessions_open') === 1 && seriesValue(t, 'websockify_bytes_to_client_total') === total,
    );
    assert.equal(seriesValue(text, 'websockify_workers'), 2);
    assert.equal(seriesValue(text, 'websockify_workers_reporting'), 2);
    assert.equal(seriesValue(text, 'websockify_sessions_total'), sizes.length + 1);
    assert.equal(seriesValue(text, 'websockify_sessions_open'), 1);
    assert.equal(seriesValue(text, 'websockify_bytes_from_client_total'), total);
    assert.equal(seriesValue(text, 'websockify_bytes_to_client_total'), total);
    assert.equal(seriesValue(text, 'websockify_close_codes_total{code="1000"}'), sizes.length);
    assert.equal(seriesValue(text, 'websockify_handshake_duration_seconds_count'), sizes.length + 1);
    // Process metrics are summed too: two workers' resident memory, more than either alone.
    assert.ok(seriesValue(text, 'process_resident_memory_bytes') > 0);
    const closed = closeEvent(open);
    open.close(1000);
    await closed;
  });

  it('still answers within the bound when a worker is stuck, with workers_reporting 1', async () => {
    const pids = [...proxy.output().matchAll(/worker (\d+) of 2 serving \(pid (\d+)\)/g)].map((m) => Number(m[2]));
    assert.equal(pids.length, 2);
    // A stopped process cannot answer the primary's request: the scrape must not wait for it.
    process.kill(pids[1]!, 'SIGSTOP');
    try {
      const started = Date.now();
      const { status, body } = await get(port, '/metrics');
      const took = Date.now() - started;
      assert.equal(status, 200);
      assert.equal(seriesValue(body, 'websockify_workers'), 2);
      assert.equal(seriesValue(body, 'websockify_workers_reporting'), 1);
      assert.ok(took >= 1_500 && took < 4_000, `scrape took ${took} ms (bound: 2 s per worker)`);
    } finally {
      process.kill(pids[1]!, 'SIGCONT');
    }
    // Back: the next scrape holds both again (the late answer to the old request is dropped).
    assert.equal(seriesValue((await get(port, '/metrics')).body, 'websockify_workers_reporting'), 2);
  });

  it('answers /healthz and /readyz, and /readyz turns 503 once SIGTERM starts the drain', async () => {
    assert.equal((await get(port, '/healthz')).status, 200);
    assert.equal((await get(port, '/readyz')).status, 200);
    // A session keeps the workers draining (--drain-timeout 5) while readiness is checked.
    const ws = await echo(proxy.port, 10, true);
    proxy.proc.kill('SIGTERM');
    await proxy.waitForOutput(/In exit \(SIGTERM\)/);
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /draining/);
    ws.close(1000);
  });
});

/** Live processes whose command line holds every one of `args` (as whole arguments). */
function processesWithArgs(...args: string[]): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.every((a) => argv.includes(a)) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('--workers 2 with a --metrics port already in use', () => {
  it('exits 1 at once with one line naming the address and EADDRINUSE, and forks no worker', async () => {
    const occupier = net.createServer((c) => c.end('occupier\n'));
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    const busy = (occupier.address() as net.AddressInfo).port;
    const target = await startEchoTarget();
    try {
      const where = `127.0.0.1:${busy}`;
      const started = Date.now();
      const result = await runCli(['--workers', '2', '--metrics', where, '127.0.0.1:0', `127.0.0.1:${target.port}`], 10_000);
      const took = Date.now() - started;
      assert.equal(result.code, 1, result.stderr);
      assert.ok(took < 3_000, `took ${took} ms to give up`);
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`^\\[[^\\]]+\\] --metrics: cannot listen on ${where}: listen EADDRINUSE: address already in use ${where}$`));
      // Nothing served: no banner, no worker started.
      assert.equal(result.stdout, '');
      assert.doesNotMatch(result.stderr, /worker \d+ of 2|Listen on/);
      assert.deepEqual(processesWithArgs('--metrics', where), [], 'a process of that launch is still running');
      // The port still belongs to whoever held it.
      const greeting = await new Promise<string>((resolve, reject) => {
        const c = net.connect(busy, '127.0.0.1');
        let got = '';
        c.setEncoding('utf8').on('data', (d: string) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
      assert.equal(greeting, 'occupier\n');
    } finally {
      await new Promise<void>((resolve) => occupier.close(() => resolve()));
      await target.close();
    }
  });
});
