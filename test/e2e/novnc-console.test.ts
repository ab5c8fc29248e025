import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from '../support/browser.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { closedPort } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';
import { startDesktop, type Desktop } from '../support/x-desktop.js';

/**
 * The built-in console (--novnc) in headless Debian chromium against a real x11vnc: basic auth
 * at the proxy (--web-auth), what the page says when a connection fails, token= links,
 * /vnc_auto.html, the desktop's name and the full-screen button.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
// The machine running the suite may be busy: waits are on conditions, with room to spare.
const WAIT_MS = 45_000;

function status(page: Page): Promise<string> {
  return page
    .locator('#status')
    .textContent()
    .then((t) => t ?? '');
}

/** Waits until the status line matches `re`; on timeout, fails with what it said instead. */
async function waitForStatus(page: Page, re: RegExp, what: string, proxy?: ProxyProcess): Promise<string> {
  try {
    await page.waitForFunction(
      ([source, flags]) =>
        new RegExp(source, flags).test(
          (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('status').textContent,
        ),
      [re.source, re.flags] as const,
      { timeout: WAIT_MS, polling: 100 },
    );
  } catch {
    const slug = what.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    await page.screenshot({ path: path.join(ARTIFACTS, `e2e-console-${slug}-failed.png`) }).catch(() => undefined);
    assert.fail(`the console never said ${what} (${re}); it says: ${await status(page)}${proxy ? `\nproxy output:\n${proxy.output()}` : ''}`);
  }
  return status(page);
}

describe('the built-in console in chromium: auth, failure messages, links', () => {
  let desktop: Desktop;
  let browser: Browser;
  const proxies: ProxyProcess[] = [];

  async function proxy(args: string[]): Promise<ProxyProcess> {
    const p = await startProxy(args);
    proxies.push(p);
    return p;
  }

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: install the Debian package chromium (scripts/system-packages.txt)`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    desktop = await startDesktop('console-pw');
    browser = await launchChromium(CHROMIUM);
  });
  after(async () => {
    await browser?.close();
    for (const p of proxies) await p.stop();
    await desktop?.stop();
  });

  it('with --web-auth: the page is 401 with a Basic challenge, and with the credentials both page and desktop connect', async () => {
    const p = await proxy([
      'novnc',
      '--listen',
      '127.0.0.1:0',
      '--vnc',
      `127.0.0.1:${desktop.vncPort}`,
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:web-pw',
    ]);
    const url = `http://127.0.0.1:${p.port}/vnc.html?autoconnect=1&resize=off#password=${encodeURIComponent(desktop.password)}`;

    // No credentials: the browser gets the challenge (a person would see the prompt; headless
    // chromium gives up with ERR_INVALID_AUTH_CREDENTIALS), and no page.
    const anonymous = await browser.context.newPage();
    try {
      const seen: Array<{ status: number; challenge: string | null }> = [];
      anonymous.on('response', (r) => {
        if (r.url().includes('/vnc.html')) seen.push({ status: r.status(), challenge: r.headers()['www-authenticate'] ?? null });
      });
      const loaded = await anonymous.goto(url).then(
        () => true,
        () => false,
      );
      assert.equal(loaded, false, 'the page loaded without credentials');
      assert.deepEqual(seen, [{ status: 401, challenge: 'Basic realm="Websockify"' }]);
    } finally {
      await anonymous.close();
    }

    // Credentials as a user types them into the prompt: the page loads, and the WebSocket
    // upgrade passes the same check.
    const authed = await launchChromium(CHROMIUM, { httpCredentials: { username: 'alice', password: 'web-pw' } });
    try {
      const page = await authed.context.newPage();
      const response = await page.goto(url);
      assert.equal(response?.status(), 200);
      await waitForStatus(page, /^Connected to /, 'connected behind --web-auth', p);
      assert.match(p.output(), /Path: '\/websockify'/);
    } finally {
      await authed.close();
    }
  });

  it('shows the desktop name once connected, and the full-screen button says how to leave', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${desktop.vncPort}`]);
    const page = await browser.context.newPage();
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    try {
      // The old noVNC name for an autoconnecting page still works.
      await page.goto(`http://127.0.0.1:${p.port}/vnc_auto.html?resize=off#password=${encodeURIComponent(desktop.password)}`);
      await page.waitForURL(/\/vnc\.html\?resize=off&autoconnect=1#password=/, { timeout: WAIT_MS });
      const text = await waitForStatus(page, /^Connected to /, 'connected', p);
      // x11vnc names its desktop (host:display); the console says that, not the proxy's address.
      const title = await page.title();
      const name = title.replace(/ - websockify-ts console$/, '');
      assert.notEqual(name, title, `the title carries the desktop name: ${title}`);
      assert.equal(text, `Connected to ${name}`);
      assert.notEqual(text, 'Connected to 127.0.0.1');

      await page.click('#fullscreen');
      await page.waitForFunction(() => (globalThis as unknown as { document: { fullscreenElement: unknown } }).document.fullscreenElement !== null, undefined, {
        timeout: WAIT_MS,
      });
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('fullscreen').textContent ===
          'Exit full screen',
        undefined,
        { timeout: WAIT_MS },
      );
      await page.click('#fullscreen');
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('fullscreen').textContent ===
          'Full screen',
        undefined,
        { timeout: WAIT_MS },
      );
      // Not one 404 on the way (the favicon was one on every load).
      assert.deepEqual(failed, []);
    } finally {
      await page.close();
    }
  });

  it('says the VNC password was refused, and asks for it again on Reconnect', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${desktop.vncPort}`]);
    const page = await browser.context.newPage();
    try {
      await page.goto(`http://127.0.0.1:${p.port}/vnc.html?autoconnect=1&resize=off#password=wrong-password`);
      const text = await waitForStatus(page, /^Authentication failed: the VNC server refused the password/, 'the password was refused', p);
      assert.match(text, /Check the password/);
      assert.equal(await page.locator('#reconnect').isVisible(), true);
      await page.click('#reconnect');
      await page.locator('#credentials-dialog').waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.fill('#password', desktop.password);
      await page.click('#credentials-form button[value=ok]');
      await waitForStatus(page, /^Connected to /, 'connected with the right password', p);
    } finally {
      await page.close();
    }
  });

  it('says the proxy could not reach the VNC server (close 1011) when the target is down', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${await closedPort()}`]);
    const page = await browser.context.newPage();
    try {
      await page.goto(`http://127.0.0.1:${p.port}/vnc.html?autoconnect=1`);
      const text = await waitForStatus(page, /^The proxy could not reach the VNC server/, 'the target is down', p);
      assert.match(text, /"Failed to connect to downstream server"/);
      assert.match(text, /Check that the VNC server is running/);
    } finally {
      await page.close();
    }
  });

  it('passes token= to the proxy, and says when the proxy refuses an unknown token (HTTP 404 on the upgrade)', async () => {
    const tokens = tempDir('wsfy-console-tokens-');
    try {
      const file = path.join(tokens.dir, 'tokens.cfg');
      fs.writeFileSync(file, `desk1: 127.0.0.1:${desktop.vncPort}\n`);
      const p = await proxy(['--novnc', '--token-plugin', 'TokenFile', '--token-source', file, '127.0.0.1:0']);
      const page = await browser.context.newPage();
      try {
        await page.goto(`http://127.0.0.1:${p.port}/vnc.html?autoconnect=1&resize=off&token=desk1#password=${encodeURIComponent(desktop.password)}`);
        await waitForStatus(page, /^Connected to /, 'connected with token desk1', p);
        await page.goto(`http://127.0.0.1:${p.port}/vnc.html?autoconnect=1&token=no-such-desk#password=x`);
        const text = await waitForStatus(page, /^The server refused the connection/, 'the token was refused', p);
        assert.match(text, /the token in the link is unknown or not allowed/);
        // The proxy really did refuse that token (not some other failure).
        await p.waitForOutput(/WSFY_ERR_TOKEN_UNKNOWN/);
      } finally {
        await page.close();
      }
    } finally {
      tokens.cleanup();
    }
  });

  it('says the proxy is shutting down (close 1001), then that it cannot be reached', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${desktop.vncPort}`]);
    const page = await browser.context.newPage();
    try {
      await page.goto(`http://127.0.0.1:${p.port}/vnc.html?autoconnect=1&resize=off#password=${encodeURIComponent(desktop.password)}`);
      await waitForStatus(page, /^Connected to /, 'connected', p);
      await p.stop();
      const text = await waitForStatus(page, /^The proxy is shutting down/, 'the proxy is shutting down', p);
      assert.match(text, /"Server shutting down"/);
      await page.click('#reconnect');
      await waitForStatus(page, /^Cannot reach the proxy at 127\.0\.0\.1:\d+/, 'the proxy is gone', p);
    } finally {
      await page.close();
    }
  });
});
