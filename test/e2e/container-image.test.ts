/**
 * The container image end to end: contrib/docker/Dockerfile built with podman and run with the
 * README's own commands ("Container"), reached from the host through published ports.
 *
 * No registry is reachable in CI, so the base image is made from Debian packages by
 * contrib/docker/local-base.sh (debootstrap + this machine's Node.js), tagged with a hash of its
 * recipe and reused while it exists; podman's layer cache makes a second build quick.
 * Machine facts the commands need, given through CONTAINERS_CONF (the commands stay verbatim):
 * the runc runtime (crun refuses hybrid cgroups) and ulimits within this machine's hard limits
 * (podman's defaults ask for more and fail).
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { eventually } from '../support/cli-program.js';
import { freePort, run, type Finished } from '../support/programs.js';
import { launchChromium } from '../support/browser.js';
import { lineMatching, readmeBlock, REPO_ROOT, shellLines, substitute } from '../support/doc-blocks.js';
import { CertFactory } from '../support/openssl-certs.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';

const IMAGE = 'localhost/websockify-ts:e2e';
const SIZE_TARGET_MB = 150;
/** The entry point's --drain-timeout and the README's `podman stop -t`. */
const DRAIN_S = 10;
const CHROMIUM = '/usr/bin/chromium';

function unavailable(): string | null {
  const pathDirs = (process.env['PATH'] ?? '').split(':');
  const has = (tool: string): boolean => pathDirs.some((d) => d !== '' && fs.existsSync(path.join(d, tool)));
  for (const [tool, pkg] of [
    ['podman', 'podman'],
    ['runc', 'runc'],
    ['debootstrap', 'debootstrap'],
  ] as const) {
    if (!has(tool)) return `${tool} not found: install the Debian package ${pkg} (listed in scripts/system-packages.txt)`;
  }
  if (process.getuid?.() !== 0) return 'building the base image (debootstrap) and rootful podman need root';
  return null;
}
const missing = unavailable();
if (missing !== null && process.env['CI'] === 'true') throw new Error(missing);

/** The hard limit of `name` in /proc/self/limits ("Max open files"). */
function hardLimit(name: string): number {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? Infinity : Number(hard);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-container-'));
const containersConf = path.join(work, 'containers.conf');
fs.writeFileSync(
  containersConf,
  [
    '[containers]',
    `default_ulimits = ["nofile=${Math.min(hardLimit('Max open files'), 16384)}:${Math.min(hardLimit('Max open files'), 16384)}", ` +
      `"nproc=${Math.min(hardLimit('Max processes'), 4096)}:${Math.min(hardLimit('Max processes'), 4096)}"]`,
    '[engine]',
    'runtime = "runc"',
    '',
  ].join('\n'),
);
const ENV: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: containersConf };

/** Runs a shell script from the repository root (the build context), as a user would. */
function shell(script: string, timeoutMs = 60_000): Promise<Finished> {
  return run('sh', ['-ec', script], ENV, timeoutMs, REPO_ROOT);
}

async function mustRun(script: string, timeoutMs?: number): Promise<string> {
  const result = await shell(script, timeoutMs);
  assert.equal(result.code, 0, `${script}\nexit ${result.code}\n${result.stdout}\n${result.stderr.slice(-4000)}`);
  return result.stdout;
}

/** podman's own messages about systemd timers for health checks (no systemd here) are noise. */
function podmanErrors(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/systemd connection|healthcheck timer|remove healthchecks/i.test(l))
    .join('\n');
}

const containers: string[] = [];
function containerName(readmeName: string): string {
  const name = `wsfy-e2e-${readmeName}-${process.pid}`;
  containers.push(name);
  return name;
}

/** The README run line for `readmeName`, with this test's image, ports, names and targets. */
function runLine(block: string, readmeName: string, pairs: ReadonlyArray<readonly [string, string]>): { script: string; name: string } {
  const name = containerName(readmeName);
  const line = lineMatching(shellLines(readmeBlock(block)), new RegExp(`^podman run .*--name ${readmeName} `));
  const script = substitute(line, [[`--name ${readmeName} `, `--name ${name} `], [' websockify-ts ', ` ${IMAGE} `], ...pairs]);
  return { script, name };
}

function readmeLine(block: string, pattern: RegExp, readmeName: string, name: string): string {
  return substitute(lineMatching(shellLines(readmeBlock(block)), pattern), [[readmeName, name]]);
}

/** GET over http or https (self-signed certificates accepted: the test made them). */
function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    client
      .get(url, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
      })
      .on('error', reject);
  });
}

/** Sends random bytes over the session and checks the echo, byte for byte. */
async function echoBytes(ws: WebSocket, size: number): Promise<void> {
  const data = randomBytes(size);
  const back = receiveBytes(ws, size);
  ws.send(data);
  assert.ok((await back).equals(data), 'the bytes came back unchanged through the container');
}

function openTls(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], { rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/**
 * Each source change leaves the previous build's unnamed stage images behind (about 1 GB); this
 * build's own steps (`--> ID` and `--> Using cache ID` in its output) stay for the next run.
 */
async function removeStaleBuilds(buildOutput: string): Promise<void> {
  const current = [...buildOutput.matchAll(/^--> (?:Using cache )?([0-9a-f]{11,64})\b/gm)].map((m) => m[1]!);
  assert.ok(current.length > 0, 'the build printed its steps');
  const dangling = (await mustRun('podman images --quiet --no-trunc --filter dangling=true')).split('\n').filter(Boolean);
  const stale = dangling.map((id) => id.replace(/^sha256:/, '')).filter((id) => !current.some((c) => id.startsWith(c)));
  if (stale.length > 0) await shell(`podman rmi ${stale.join(' ')} >/dev/null 2>&1 || true`);
}

async function exitCode(name: string): Promise<number> {
  return Number((await mustRun(`podman inspect --format '{{.State.ExitCode}}' ${name}`)).trim());
}

describe('the container image (contrib/docker/Dockerfile, podman)', { skip: missing ?? false, timeout: 25 * 60_000 }, () => {
  let echo: TcpTarget;
  const figures: string[] = [];

  before(async () => {
    // A target on the host, reached from the container's network at host.containers.internal.
    echo = await startEchoTarget('0.0.0.0');
    const started = Date.now();
    const block = readmeBlock('container-local-base');
    const script = substitute(block, [['-t websockify-ts .', `-t ${IMAGE} .`]]);
    const built = await mustRun(script, 20 * 60_000);
    await removeStaleBuilds(built);
    figures.push(`base image + image build: ${((Date.now() - started) / 1000).toFixed(1)} s (a warm machine reuses the base and the cached layers)`);
  });

  after(async () => {
    if (containers.length > 0) await shell(`podman rm -f -t 0 ${containers.join(' ')} >/dev/null 2>&1 || true`);
    await echo?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('is built by the README command with a local base, keeps the compiler out, and stays under the size target', async (t: TestContext) => {
    const plain = lineMatching(shellLines(readmeBlock('container-build')), /^podman build /);
    const local = lineMatching(shellLines(readmeBlock('container-local-base')), /^podman build /);
    assert.equal(
      local,
      plain.replace('podman build ', 'podman build --network host ').replace('--format docker ', '--format docker --build-arg BASE_IMAGE="$base" '),
    );

    const [inspected] = JSON.parse(await mustRun(`podman image inspect ${IMAGE}`)) as Array<{
      Size: number;
      Config: { User: string; Volumes: Record<string, unknown>; StopSignal: string; Entrypoint: string[] };
      Healthcheck?: { Test: string[] };
    }>;
    assert.ok(inspected);
    assert.equal(inspected.Config.User, '1000:1000');
    assert.ok('/data' in inspected.Config.Volumes, 'VOLUME /data');
    assert.equal(inspected.Config.StopSignal, 'SIGTERM');
    assert.match(inspected.Healthcheck?.Test.join(' ') ?? '', /127\.0\.0\.1:9640\/readyz/, 'the HEALTHCHECK survives (--format docker)');

    const probe = await mustRun(
      `podman run --rm --entrypoint sh ${IMAGE} -c 'for c in gcc cc tcc clang apt-get; do command -v $c || true; done; echo @@; ` +
        `ls /app/native/build; echo @@; du -sk /usr/local/bin/node /lib /lib64 /bin /app/node_modules /app/dist /app/web'`,
    );
    const [tools, preload, du] = probe.split('@@\n');
    assert.equal(tools, '', 'no compiler and no apt in the final image');
    assert.equal(preload, 'websockify-preload.so\n', 'the preload library built in the build stage is there');
    // contrib/kubernetes/ stops the pod with a preStop `sleep`: the image must have one.
    await mustRun(`podman run --rm --entrypoint sleep ${IMAGE} 0`);
    const mb = inspected.Size / 1e6;
    const parts = du!
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/))
      .map(([kib, dir]) => `${dir} ${(Number(kib) / 1024).toFixed(1)} MiB`);
    figures.push(
      `image size ${mb.toFixed(1)} MB (podman image inspect .Size: uncompressed, all layers; target < ${SIZE_TARGET_MB} MB). ` +
        `It is Node.js (the official binary is most of it), the libraries node loads, busybox, and the app: ${parts.join(', ')}`,
    );
    for (const line of figures) t.diagnostic(line);
    console.log(figures.map((l) => `container-image: ${l}`).join('\n'));
    assert.ok(mb < SIZE_TARGET_MB, `image is ${mb.toFixed(1)} MB`);
  });

  it('takes exactly the run arguments: a session through a published port to the host, JSON logs, health check, drain on stop', async () => {
    const hostPort = await freePort();
    const { script, name } = runLine('container-run', 'vnc-proxy', [
      ['-p 7000:80 ', `-p ${hostPort}:80 `],
      [' 80 vnc-host:5902', ` 80 host.containers.internal:${echo.port}`],
    ]);
    const started = await shell(script);
    assert.equal(started.code, 0, `${script}\n${podmanErrors(started.stderr)}`);

    const ws = await eventually(() => openClient(`ws://127.0.0.1:${hostPort}/`), 15_000);
    await echoBytes(ws, 256 * 1024);
    const health = readmeLine('container-run', /^podman healthcheck run /, 'vnc-proxy', name);
    assert.equal((await shell(health)).code, 0, 'healthy while serving');

    // podman stop: SIGTERM. The open session gets the drain time, then 1001; the exit is 0.
    const closed = closeEvent(ws, (DRAIN_S + 15) * 1000);
    const stopAt = Date.now();
    const stopping = shell(readmeLine('container-run', /^podman stop /, 'vnc-proxy', name), 40_000);
    await eventually(async () => {
      const during = await shell(health);
      assert.notEqual(during.code, 0, 'the health check fails while draining');
    }, 5_000);
    const { code, reason } = await closed;
    const closedAfter = (Date.now() - stopAt) / 1000;
    assert.equal(code, 1001);
    assert.equal(reason, 'Server shutting down');
    assert.ok(closedAfter >= DRAIN_S - 1, `the session had the drain time (closed after ${closedAfter.toFixed(1)} s)`);
    const stopped = await stopping;
    assert.equal(stopped.code, 0, podmanErrors(stopped.stderr));
    assert.ok((Date.now() - stopAt) / 1000 < 20, 'stopped before podman would SIGKILL');
    assert.equal(await exitCode(name), 0);

    const logs = await shell(`podman logs ${name}`);
    const lines = (logs.stdout + logs.stderr).split('\n').filter((l) => l.startsWith('{'));
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.length >= 5, logs.stderr);
    for (const r of records) assert.ok(typeof r['time'] === 'string' && typeof r['level'] === 'string' && typeof r['msg'] === 'string', JSON.stringify(r));
    const summary = records.find((r) => r['msg'] === 'session closed');
    assert.equal(summary?.['close'], 1001);
    assert.equal(summary?.['bytes_in'], 256 * 1024);
  });

  it('serves the terminal page with --web /app/dist/web', async () => {
    const hostPort = await freePort();
    const { script } = runLine('container-run', 'terminal', [
      ['-p 2023:2023 ', `-p ${hostPort}:2023 `],
      [' telnet-host:23', ` host.containers.internal:${echo.port}`],
    ]);
    await mustRun(script);
    const page = await eventually(() => get(`http://127.0.0.1:${hostPort}/terminal/index.html`), 15_000);
    assert.equal(page.status, 200);
    const scripts = [...page.body.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(scripts.length > 0, page.body);
    for (const src of scripts) {
      const asset = await get(new URL(src, `http://127.0.0.1:${hostPort}/terminal/index.html`).href);
      assert.equal(asset.status, 200, src);
      assert.match(asset.type, /javascript/);
    }
    assert.equal((await get(`http://127.0.0.1:${hostPort}/vendor/xterm/xterm.mjs`)).status, 200);
  });

  it('runs a wrapped program under the preload library from the build stage', async () => {
    const hostPort = await freePort();
    const name = containerName('wrap');
    const server = "require('net').createServer((s)=>s.pipe(s)).listen(6080)";
    await mustRun(`podman run -d --name ${name} -p ${hostPort}:6080 ${IMAGE} 6080 -- node -e "${server}"`);
    // The wrapped program may still be starting when the proxy accepts: retry whole sessions.
    await eventually(async () => {
      const ws = await openClient(`ws://127.0.0.1:${hostPort}/`);
      try {
        const data = randomBytes(4096);
        const back = Promise.race([
          receiveBytes(ws, data.length, 5_000),
          closeEvent(ws).then(({ code }) => Promise.reject(new Error(`closed ${code} before the echo`))),
        ]);
        ws.send(data);
        assert.ok((await back).equals(data));
      } finally {
        ws.close();
      }
    }, 20_000);
    const logs = await shell(`podman logs ${name}`);
    assert.match(logs.stdout + logs.stderr, /wrapped program's port 6080 moved to/);
  });

  it('serves the console over wss with a certificate and a token file from /data, read-only, as uid 1000', async (t: TestContext) => {
    const data = path.join(work, 'data');
    fs.mkdirSync(data, { mode: 0o755 });
    fs.chmodSync(work, 0o755);
    const certs = new CertFactory();
    t.after(() => certs.cleanup());
    fs.copyFileSync(certs.selfPem('self'), path.join(data, 'self.pem'));
    fs.chmodSync(path.join(data, 'self.pem'), 0o644);
    fs.writeFileSync(path.join(data, 'tokens'), `desk1: host.containers.internal:${echo.port}\n`, { mode: 0o644 });
    const hostPort = await freePort();
    const { script, name } = runLine('container-data', 'vnc-console', [
      ['-p 6080:6080 ', `-p ${hostPort}:6080 `],
      ['$PWD/data:', `${data}:`],
    ]);
    await mustRun(script);
    const base = `https://127.0.0.1:${hostPort}`;
    const page = await eventually(() => get(`${base}/vnc.html`), 15_000);
    assert.equal(page.status, 200);
    assert.match(page.body, /console\.js/);
    for (const asset of ['/console.js', '/novnc-lib/core/rfb.js']) {
      const got = await get(`${base}${asset}`);
      assert.equal(got.status, 200, asset);
      assert.match(got.type, /javascript/, asset);
    }

    const ws = await openTls(`wss://127.0.0.1:${hostPort}/websockify?token=desk1`);
    await echoBytes(ws, 64 * 1024);
    ws.close();
    await assert.rejects(openTls(`wss://127.0.0.1:${hostPort}/websockify?token=nosuch`), /HTTP 4\d\d/);

    assert.equal((await mustRun(`podman exec ${name} id -u`)).trim(), '1000');
    assert.notEqual((await shell(`podman exec ${name} touch /app/written`)).code, 0, 'the root filesystem is read-only');
    assert.equal((await mustRun(`podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' ${name}`)).trim(), 'true');

    if (fs.existsSync(CHROMIUM)) {
      // The page in a real browser: every script and style it asks for loads, no script error.
      const browser = await launchChromium(CHROMIUM, { ignoreHTTPSErrors: true });
      t.after(() => browser.close());
      const load = async (): Promise<string[]> => {
        const page2 = await browser.context.newPage();
        const failures: string[] = [];
        page2.on('response', (r) => {
          if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`);
        });
        page2.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
        page2.on('requestfailed', (r) => failures.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
        await page2.goto(`${base}/vnc.html`, { waitUntil: 'networkidle' }).catch((e: Error) => failures.push(`page load: ${e.message}`));
        await page2.close();
        return failures;
      };
      // Chromium aborts every request in flight with ERR_NETWORK_CHANGED when the host's network
      // interfaces change, as podman's do while it sets up or tears down a container's network
      // (about half the runs of this suite on a 2-core machine lost the page's module files that
      // way): the host's network, not the proxy. Such a load is made again, at most twice; any
      // other failure, or a third aborted load, fails the test.
      let failures = await load();
      for (let again = 0; again < 2 && failures.length > 0 && failures.every((f) => f.includes('ERR_NETWORK_CHANGED')); again += 1) {
        t.diagnostic(`load aborted by a network change (${failures.length} requests), loading again`);
        failures = await load();
      }
      assert.deepEqual(failures, []);
    } else {
      t.diagnostic(`${CHROMIUM} not found: the console was checked over HTTP only`);
    }

    await mustRun(`podman stop -t ${DRAIN_S + 10} ${name}`, 40_000);
    assert.equal(await exitCode(name), 0);
  });
});
