import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { findTool } from '../support/system-tool.js';
import { deferCleanup } from '../support/cleanup.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { startNginx, htpasswdLine, selfSignedCert, type Nginx } from '../support/nginx.js';
import { docBlock, substitute, REPO_ROOT } from '../support/doc-blocks.js';
import { openWebsock, echoRoundTrip, nextEvent } from '../support/websock-node.js';
import { launchChromium } from '../support/browser.js';
import { startTelnetServer } from '../support/telnet-server.js';
import { startDesktop, ROOT_RGB, XTERM_AT } from '../support/x-desktop.js';
import { canvasCorner } from '../support/desktop-canvas.js';
import { waitFor } from '../support/wait.js';

const SOCKET_IN_DOCS = '/run/websockify/websockify.sock';

interface Stack {
  nginx: Nginx;
  proxy: ProxyProcess;
  target: { port: number; close(): Promise<void> };
  dir: string;
}

/**
 * target <- websockify-ts on a Unix socket <- nginx running the documented block `name`.
 * `edit` applies the test-only substitutions on top of the standard ones.
 */
async function startStack(
  nginxBin: string,
  name: string,
  opts: {
    proxyArgs?: string[];
    edits?: Array<readonly [string, string]>;
    files?: Record<string, string>;
    target?: { port: number; close(): Promise<void> };
    /** false when a token plugin picks the target (no positional target argument). */
    positionalTarget?: boolean;
  } = {},
): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfy-edge-'));
  const socketPath = join(dir, 'websockify.sock');
  const target: TcpTarget | { port: number; close(): Promise<void> } = opts.target ?? (await startEchoTarget());
  let proxy: ProxyProcess | undefined;
  try {
    const positional = opts.positionalTarget === false ? [] : [`127.0.0.1:${target.port}`];
    proxy = await startProxy([...(opts.proxyArgs ?? []), '--unix-listen', socketPath, ...positional]);
    assert.match(proxy.output(), /Listen on unix socket/);
    const conf = substitute(docBlock('nginx.md', name), [[SOCKET_IN_DOCS, socketPath], ...(opts.edits ?? [])]);
    const nginx = await startNginx(nginxBin, conf, opts.files ?? {});
    return { nginx, proxy, target, dir };
  } catch (err) {
    // Half-started: stop what runs, or the leftover child keeps the test runner alive.
    await proxy?.stop('SIGKILL');
    await target.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopStack(s: Stack): Promise<void> {
  await s.nginx.stop();
  await s.proxy.stop();
  await s.target.close();
  await rm(s.dir, { recursive: true, force: true });
}

test('nginx -> Unix socket (docs block unix-socket): a Websock session echoes 256 KiB in both modes', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return;
  const s = await startStack(nginxBin, 'unix-socket', { edits: [['listen 80;', 'listen 127.0.0.1:{{PORT}};']] });
  t.after(() => stopStack(s));
  for (const protocols of [['binary', 'base64'], ['base64']]) {
    const sock = await openWebsock(`ws://127.0.0.1:${s.nginx.port}/websockify`, {}, protocols);
    assert.equal(sock.mode, protocols[0]);
    await echoRoundTrip(sock, 256 * 1024);
    const closed = nextEvent(sock, 'close');
    sock.close(1000, 'done');
    assert.equal((await closed).code, 1000);
  }
  // Both sessions really crossed the proxy: its summary lines count every byte each way.
  const summaries = (): number => s.proxy.output().match(/session closed .*bytes_in=262144 bytes_out=262144 close=1000/g)?.length ?? 0;
  await waitFor(() => summaries() >= 2, { timeoutMs: 5000, intervalMs: 20, what: 'two summary lines' }).catch((err: Error) => {
    throw new Error(`${err.message}\n${s.proxy.output()}`);
  });
  assert.equal(summaries(), 2, s.proxy.output());
});

test('sub-path with basic auth (docs block subpath-basic-auth): 401 without or with wrong credentials, pages and WebSocket under /novnc/ with them', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return;
  const s = await startStack(nginxBin, 'subpath-basic-auth', {
    edits: [
      ['listen 80;', 'listen 127.0.0.1:{{PORT}};'],
      ['/etc/nginx/.htpasswd', '{{DIR}}/htpasswd'],
      ['/usr/share/websockify-ts/web/', join(REPO_ROOT, 'dist', 'web') + '/'],
    ],
    files: { htpasswd: await htpasswdLine('alice', 's3cret pass') },
  });
  t.after(() => stopStack(s));
  const base = `127.0.0.1:${s.nginx.port}`;
  const good = 'Basic ' + Buffer.from('alice:s3cret pass').toString('base64');
  const bad = 'Basic ' + Buffer.from('alice:wrong').toString('base64');

  const page = `http://${base}/novnc/terminal/index.html`;
  assert.equal((await fetch(page)).status, 401);
  assert.equal((await fetch(page, { headers: { authorization: bad } })).status, 401);
  const ok = await fetch(page, { headers: { authorization: good } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /wstelnet/);
  assert.equal((await fetch(`http://${base}/novnc/websock/websock.js`, { headers: { authorization: good } })).status, 200);

  await assert.rejects(openWebsock(`ws://${base}/novnc/websockify`), /HTTP 401/);
  await assert.rejects(openWebsock(`ws://${base}/novnc/websockify`, { headers: { authorization: bad } }), /HTTP 401/);
  const sock = await openWebsock(`ws://${base}/novnc/websockify`, { headers: { authorization: good } });
  await echoRoundTrip(sock, 64 * 1024);
  sock.close();
});

test('TLS terminated at nginx (docs block tls): wss to nginx, plain WebSocket over the Unix socket, real client address from X-Forwarded-For trusted only from nginx', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return;
  const { cert, key } = await selfSignedCert();
  const s = await startStack(nginxBin, 'tls', {
    proxyArgs: ['--trust-proxy', 'unix'],
    edits: [
      ['listen 443 ssl;', 'listen 127.0.0.1:{{PORT}} ssl;'],
      ['/etc/ssl/websockify/fullchain.pem', '{{DIR}}/cert.pem'],
      ['/etc/ssl/websockify/privkey.pem', '{{DIR}}/key.pem'],
    ],
    files: { 'cert.pem': cert, 'key.pem': key },
  });
  t.after(() => stopStack(s));
  // An untrusted certificate is refused; the right CA is accepted.
  await assert.rejects(openWebsock(`wss://127.0.0.1:${s.nginx.port}/websockify`), /self-signed|certificate/i);
  await assert.rejects(openWebsock(`ws://127.0.0.1:${s.nginx.port}/websockify`), /HTTP 400/); // plain http to a TLS port
  // The client forges X-Forwarded-For; nginx appends the real address, and the proxy, trusting
  // only its Unix-socket peer, walks from the right and logs the real one.
  const sock = await openWebsock(`wss://127.0.0.1:${s.nginx.port}/websockify`, { ca: cert, headers: { 'x-forwarded-for': '203.0.113.9' } });
  await echoRoundTrip(sock, 128 * 1024);
  const closed = nextEvent(sock, 'close');
  sock.close(1000);
  await closed;
  const line = await s.proxy.waitForOutput(/session closed /, 5000);
  assert.match(line, / client=127\.0\.0\.1( |$)/);
  assert.doesNotMatch(s.proxy.output(), /203\.0\.113\.9/);
});

test('--heartbeat 1 keeps a session idle for 9 s alive through proxy_read_timeout 3s; without it nginx cuts the session after ~3 s', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return;
  const edits = [
    ['listen 80;', 'listen 127.0.0.1:{{PORT}};'],
    ['proxy_read_timeout 61s;', 'proxy_read_timeout 3s;'],
  ] as const;
  const defer = deferCleanup(t);
  const withHb = await startStack(nginxBin, 'unix-socket', { proxyArgs: ['--heartbeat', '1'], edits: [...edits] });
  defer(() => stopStack(withHb));
  const withoutHb = await startStack(nginxBin, 'unix-socket', { edits: [...edits] });
  defer(() => stopStack(withoutHb));
  const kept = await openWebsock(`ws://127.0.0.1:${withHb.nginx.port}/websockify`);
  const cut = await openWebsock(`ws://127.0.0.1:${withoutHb.nginx.port}/websockify`);
  await Promise.all([echoRoundTrip(kept, 1024), echoRoundTrip(cut, 1024)]);
  const idleStart = Date.now();
  let keptClosed = false;
  kept.on('close', () => (keptClosed = true));
  const cutClosed = nextEvent(cut, 'close', 20_000).then((e) => ({ ...e, afterMs: Date.now() - idleStart }));

  await new Promise((r) => setTimeout(r, 9000)); // 3 x proxy_read_timeout, no data either way
  const cutEvent = await cutClosed;
  assert.equal(cutEvent.code, 1006, 'nginx drops the TCP connection without a close frame');
  assert.ok(cutEvent.afterMs >= 2500 && cutEvent.afterMs < 6000, `cut after ${cutEvent.afterMs} ms, expected about 3000`);
  t.diagnostic(`without heartbeat: cut after ${cutEvent.afterMs} ms of idleness`);

  assert.equal(keptClosed, false, 'the heartbeat session survived 9 s of idleness');
  await echoRoundTrip(kept, 4096); // and still carries data
  kept.close();
});

test('the whole /novnc/ prefix to the proxy (docs block subpath-whole-prefix): pages from --web, and ?token= survives the rewrite to reach TokenFile', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  if (nginxBin === null) return;
  const defer = deferCleanup(t);
  const echo = await startEchoTarget();
  defer(() => echo.close());
  const tokenDir = await mkdtemp(join(tmpdir(), 'wsfy-edge-tokens-'));
  defer(() => rm(tokenDir, { recursive: true, force: true }));
  await writeFile(join(tokenDir, 'tokens'), `desk1: 127.0.0.1:${echo.port}\n`);
  const s = await startStack(nginxBin, 'subpath-whole-prefix', {
    target: { port: 1, close: async () => undefined }, // unused: the token decides the target
    proxyArgs: ['--web', join(REPO_ROOT, 'dist', 'web'), '--token-plugin', 'TokenFile', '--token-source', join(tokenDir, 'tokens')],
    positionalTarget: false,
    edits: [['listen 80;', 'listen 127.0.0.1:{{PORT}};']],
  });
  defer(() => stopStack(s));
  const base = `127.0.0.1:${s.nginx.port}`;

  const page = await fetch(`http://${base}/novnc/terminal/index.html?path=novnc/websockify`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /wstelnet/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff', 'served by the proxy’s web server');
  assert.equal((await fetch(`http://${base}/novnc/terminal/missing.html`)).status, 404);

  await assert.rejects(openWebsock(`ws://${base}/novnc/websockify`), /HTTP 404/); // no token
  await assert.rejects(openWebsock(`ws://${base}/novnc/websockify?token=nope`), /HTTP 404/);
  const sock = await openWebsock(`ws://${base}/novnc/websockify?token=desk1`);
  await echoRoundTrip(sock, 32 * 1024);
  sock.close();
});

async function screenMatches(page: Page, re: RegExp): Promise<string> {
  const read = (): Promise<string> => page.evaluate(() => (globalThis as unknown as { wstelnet: { screenText(): string } }).wstelnet.screenText());
  try {
    await page.waitForFunction(
      ([src, flags]) => new RegExp(src, flags).test((globalThis as unknown as { wstelnet: { screenText(): string } }).wstelnet.screenText()),
      [re.source, re.flags] as const,
      { timeout: 15_000, polling: 100 },
    );
  } catch {
    assert.fail(`screen never matched ${re}; it shows:\n${await read()}`);
  }
  return read();
}

test('chromium: the terminal page under /novnc/ behind basic auth reaches a telnetd shell with path=novnc/websockify', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  const telnetd = findTool(t, '/usr/sbin/telnetd', 'inetutils-telnetd');
  if (nginxBin === null || chromiumPath === null || telnetd === null) return;
  const defer = deferCleanup(t);
  const telnet = await startTelnetServer(telnetd);
  defer(() => telnet.close());
  const s = await startStack(nginxBin, 'subpath-basic-auth', {
    target: telnet,
    edits: [
      ['listen 80;', 'listen 127.0.0.1:{{PORT}};'],
      ['/etc/nginx/.htpasswd', '{{DIR}}/htpasswd'],
      ['/usr/share/websockify-ts/web/', join(REPO_ROOT, 'dist', 'web') + '/'],
    ],
    files: { htpasswd: await htpasswdLine('alice', 'pw-for-browser') },
  });
  // The browser answers nginx's 401 challenge as if the user typed the credentials in its prompt.
  defer(() => stopStack(s));
  const browser = await launchChromium(chromiumPath, { httpCredentials: { username: 'alice', password: 'pw-for-browser' } });
  defer(() => browser.close());
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${s.nginx.port}/novnc/terminal/index.html?path=novnc/websockify`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
  await screenMatches(page, /bash-[\d.]+#\s*$/m);
  await page.keyboard.type('echo through-nginx-$((40+2))');
  await page.keyboard.press('Enter');
  await screenMatches(page, /^through-nginx-42$/m);
});

test('chromium: the noVNC console under /novnc/ behind nginx basic auth (docs block novnc-console) shows a real X desktop and carries typing', async (t) => {
  const nginxBin = findTool(t, '/usr/sbin/nginx', 'nginx');
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  if (nginxBin === null || chromiumPath === null) return;
  const defer = deferCleanup(t);
  const desktop = await startDesktop('edge-vnc');
  defer(() => desktop.stop());
  const s = await startStack(nginxBin, 'novnc-console', {
    target: { port: desktop.vncPort, close: async () => undefined },
    proxyArgs: ['--novnc', '--heartbeat', '30'],
    edits: [
      ['listen 80;', 'listen 127.0.0.1:{{PORT}};'],
      ['/etc/nginx/.htpasswd', '{{DIR}}/htpasswd'],
    ],
    files: { htpasswd: await htpasswdLine('alice', 'desk-pw') },
  });
  defer(() => stopStack(s));
  const base = `http://127.0.0.1:${s.nginx.port}`;
  assert.equal((await fetch(`${base}/novnc/vnc.html`)).status, 401, 'the console itself is behind basic auth');

  const browser = await launchChromium(chromiumPath, { httpCredentials: { username: 'alice', password: 'desk-pw' } });
  defer(() => browser.close());
  const page = await browser.context.newPage();
  const query = `autoconnect=true&resize=off&password=${encodeURIComponent(desktop.password)}&path=novnc/websockify`;
  await page.goto(`${base}/novnc/vnc.html?${query}`);

  // The desktop's unmistakable root colour in the canvas corner: the framebuffer came through.
  const corner = (): Promise<number[] | null> => canvasCorner(page);
  let seen = null as number[] | null; // set by the probe below
  const isRoot = (rgb: number[] | null): boolean => rgb !== null && rgb.every((v, i) => Math.abs(v - ROOT_RGB[i]!) <= 8);
  await waitFor(async () => isRoot((seen = await corner())), { timeoutMs: 20_000, intervalMs: 200, what: "the desktop's root colour in the canvas" }).catch(
    (err: Error) => {
      throw new Error(`${err.message}: canvas corner ${String(seen)}\n${s.proxy.output()}`);
    },
  );
  assert.ok(
    seen !== null && seen.every((v, i) => Math.abs(v - ROOT_RGB[i]!) <= 8),
    `canvas corner ${String(seen)} is not the desktop's root colour\n${s.proxy.output()}`,
  );

  // Keyboard input reaches an X client on that desktop.
  const box = await page.locator('canvas').first().boundingBox();
  assert.ok(box, 'canvas has no box');
  const line = `via nginx subpath ${Date.now() % 100000}`;
  await page.mouse.click(box.x + XTERM_AT.x + 40, box.y + XTERM_AT.y + 20);
  await page.keyboard.type(line, { delay: 15 });
  await page.keyboard.press('Enter');
  await waitFor(() => desktop.typedLines().includes(line), { timeoutMs: 15_000, intervalMs: 100, what: `the xterm to receive "${line}"` });
  assert.ok(desktop.typedLines().includes(line), `the xterm never received "${line}"`);
  // The session crossed nginx into the proxy's Unix socket with the prefixed path.
  assert.match(s.proxy.output(), /Path: '\/websockify/);
});
