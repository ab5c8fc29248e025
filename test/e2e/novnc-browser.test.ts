import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { CertFactory } from '../support/openssl-certs.js';
import { CANVAS_STEP, canvasCorner, desktopOnCanvas } from '../support/desktop-canvas.js';
import { waitFor } from '../support/wait.js';
import { ROOT_RGB, startDesktop, XEV_AT, XTERM_AT, type Desktop } from '../support/x-desktop.js';

/**
 * The whole chain with real parts: headless Debian chromium -> our proxy (ws:// or wss:// with
 * a self-signed certificate, page served by our web server) -> x11vnc -> Xvfb. For our built-in
 * console (--novnc) and Debian's noVNC (--web /usr/share/novnc), unchanged.
 */
const CHROMIUM = '/usr/bin/chromium';
const DEBIAN_NOVNC = '/usr/share/novnc';
const ARTIFACTS = path.resolve('test-artifacts');

function requireBrowserParts(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: install the Debian package chromium (scripts/system-packages.txt)`);
  if (!fs.existsSync(path.join(DEBIAN_NOVNC, 'vnc.html'))) throw new Error(`${DEBIAN_NOVNC}/vnc.html missing: install the Debian package novnc`);
}

/** Every wait here polls at 200 ms, for 20 s unless told: each probe reads a canvas, a file or the page. */
const POLL = { timeoutMs: 20_000, intervalMs: 200 };

describe('a real desktop in a real browser through the proxy', () => {
  let desktop: Desktop;
  let certs: CertFactory;
  let selfPem: string;
  let userDataDir: string;
  let context: BrowserContext;
  const proxies: ProxyProcess[] = [];

  before(async () => {
    requireBrowserParts();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    desktop = await startDesktop('e2e-pass');
    certs = new CertFactory();
    selfPem = certs.selfPem('self', '127.0.0.1');
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      // The self-signed certificate: what a user does by accepting the browser's warning.
      ignoreHTTPSErrors: true,
      viewport: { width: 1200, height: 900 },
    });
  });
  after(async () => {
    await context?.close();
    for (const p of proxies) await p.stop();
    await desktop?.stop();
    certs?.cleanup();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  const scenarios: Array<{ name: string; secure: boolean; page: 'ours' | 'debian' }> = [
    { name: 'our console over ws', secure: false, page: 'ours' },
    { name: 'our console over wss', secure: true, page: 'ours' },
    { name: "Debian's vnc.html over ws", secure: false, page: 'debian' },
    { name: "Debian's vnc.html over wss", secure: true, page: 'debian' },
  ];

  for (const scenario of scenarios) {
    it(`shows the X desktop and carries typing and clicks: ${scenario.name}`, async (t) => {
      const args = [
        ...(scenario.page === 'ours' ? ['--novnc'] : ['--web', DEBIAN_NOVNC]),
        ...(scenario.secure ? ['--cert', selfPem, '--ssl-only'] : []),
        '127.0.0.1:0',
        `127.0.0.1:${desktop.vncPort}`,
      ];
      const proxy = await startProxy(args);
      proxies.push(proxy);
      const scheme = scenario.secure ? 'https' : 'http';
      const query = `autoconnect=true&resize=off&password=${encodeURIComponent(desktop.password)}&path=websockify`;
      const page = await context.newPage();
      const cspViolations: string[] = [];
      page.on('console', (msg) => {
        if (/Content[- ]Security[- ]Policy/i.test(msg.text())) cspViolations.push(msg.text());
      });
      const slug = scenario.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      try {
        await page.goto(`${scheme}://127.0.0.1:${proxy.port}/vnc.html?${query}`);

        // The canvas must match the X server's own capture, not just exist.
        const lastDiff = await desktopOnCanvas(page, desktop, {
          ...POLL,
          onTimeout: async (err, diff) => {
            await page.screenshot({ path: path.join(ARTIFACTS, `e2e-${slug}-failed.png`) });
            throw new Error(`${err.message} (mean difference ${diff.toFixed(1)}); proxy output:\n${proxy.output()}`);
          },
        });
        t.diagnostic(`canvas vs xwd: mean difference ${lastDiff.toFixed(2)} per channel (0-255), sampled every ${CANVAS_STEP} px`);
        // And the distinctive root colour is really there (not two black screens agreeing).
        const corner = (await canvasCorner(page))!;
        for (let i = 0; i < 3; i++) assert.ok(Math.abs(corner[i]! - ROOT_RGB[i]!) <= 8, `corner ${corner.join(',')} is not the root colour`);

        const canvas = page.locator('canvas').first();
        const box = await canvas.boundingBox();
        assert.ok(box, 'canvas has no box');

        // A click on the xev window reaches the X client.
        const clicksBefore = desktop.clicks();
        await page.mouse.click(box.x + XEV_AT.x + XEV_AT.width / 2, box.y + XEV_AT.y + XEV_AT.height / 2);
        await waitFor(() => desktop.clicks() > clicksBefore, { ...POLL, timeoutMs: 10_000, what: 'xev to see the click' });

        // A typed line reaches the xterm (X focus follows the pointer: no window manager).
        const line = `typed via ${slug} ${Date.now() % 100000}`;
        await page.mouse.click(box.x + XTERM_AT.x + 40, box.y + XTERM_AT.y + 20);
        await page.keyboard.type(line, { delay: 15 });
        await page.keyboard.press('Enter');
        await waitFor(() => desktop.typedLines().includes(line), { ...POLL, timeoutMs: 15_000, what: `the xterm to receive "${line}"` });

        await page.screenshot({ path: path.join(ARTIFACTS, `e2e-${slug}.png`) });
        assert.match(proxy.output(), scenario.secure ? /SSL\/TLS \(wss:\/\/\) WebSocket connection/ : /Plain non-SSL \(ws:\/\/\) WebSocket connection/);
        assert.deepEqual(cspViolations, [], 'the page broke its Content-Security-Policy');
      } finally {
        await page.close();
        await proxy.stop();
      }
    });
  }

  it('gives the console controls users expect: Ctrl-Alt-Del, clipboard both ways, scaling, full screen, reconnect', async () => {
    let proxy = await startProxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${desktop.vncPort}`]);
    proxies.push(proxy);
    const port = proxy.port;
    const page = await context.newPage();
    const status = async (): Promise<string> => (await page.locator('#status').textContent()) ?? '';
    const step = (what: string, probe: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void> =>
      waitFor(probe, { ...POLL, timeoutMs: timeoutMs ?? POLL.timeoutMs, what }).then(
        () => undefined,
        async (err: Error) => {
          await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-console-controls-failed.png') });
          throw new Error(
            `${err.message}; last xterm lines: ${desktop.typedLines().slice(-3).join(' | ')}; clipboard box: ${await page.inputValue('#clipboard')}`,
          );
        },
      );
    const sentToServer: Buffer[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (frame) => sentToServer.push(Buffer.from(frame.payload as Buffer | string))));
    try {
      await page.goto(`http://127.0.0.1:${port}/vnc.html?autoconnect=1&resize=off&password=${desktop.password}`);
      await step('the console to connect', async () => /^Connected/.test(await status()));
      let box = (await page.locator('canvas').first().boundingBox())!;

      // Ctrl-Alt-Del: the pointer rests on xev (X focus follows it), then the button is pressed.
      await page.mouse.click(box.x + XEV_AT.x + 20, box.y + XEV_AT.y + 20);
      const keysBefore = desktop.keysPressed().length;
      await page.click('#ctrl-alt-del');
      await step(
        'xev to see Ctrl-Alt-Del',
        () => {
          const keys = desktop.keysPressed().slice(keysBefore);
          return keys.includes('Control_L') && keys.includes('Alt_L') && keys.includes('Delete');
        },
        10_000,
      );

      // Remote -> browser: a word selected in the xterm (double click) lands in the clipboard box.
      await page.click('#clipboard-toggle');
      // The clipboard panel pushes the screen down: measure again.
      box = (await page.locator('canvas').first().boundingBox())!;
      const marker = `clip${Date.now() % 100000}`;
      // Focus the xterm by clicking its empty last row, so that no later click can extend a
      // selection from an old line.
      await page.mouse.click(box.x + XTERM_AT.x + 200, box.y + XTERM_AT.y + 2 + 5 * 13 + 6);
      await page.keyboard.type(marker, { delay: 15 });
      await page.keyboard.press('Enter');
      await step('the marker line in the xterm', () => desktop.typedLines().includes(marker), 10_000);
      // The xterm has 6 rows: a line entered on the last row scrolls up to row 4.
      const row = Math.min(desktop.typedLines().length - 1, 4);
      // xterm's default font is 6x13 pixels, with a 2-pixel inner border.
      // Wait out xterm's multi-click time (250 ms) so the double click is not read as a triple.
      await new Promise((r) => setTimeout(r, 700));
      await page.mouse.dblclick(box.x + XTERM_AT.x + 2 + 3 * 6, box.y + XTERM_AT.y + 2 + row * 13 + 6);
      await step('the selection to reach the clipboard box', async () => (await page.inputValue('#clipboard')).trim() === marker, 10_000);

      // Browser -> remote: the console sends the box's text as an RFB ClientCutText message
      // (type 6) through the proxy. x11vnc accepts it but, with the extended clipboard that
      // noVNC negotiates, does not set the X selection (an x11vnc limitation), so the check is
      // on the wire, not in the xterm.
      const cutMessagesBefore = sentToServer.filter((f) => f[0] === 6).length;
      await page.fill('#clipboard', `sent${Date.now() % 100000}`);
      await page.click('#clipboard-send');
      await step('a ClientCutText message to go out', () => sentToServer.filter((f) => f[0] === 6).length > cutMessagesBefore, 5_000);

      // Scaling: in a small window the 800x600 desktop is drawn smaller, at full resolution.
      await page.selectOption('#resize', 'scale');
      await page.setViewportSize({ width: 640, height: 420 });
      await step('the canvas to scale down', async () => {
        const b = await page.locator('canvas').first().boundingBox();
        return b !== null && b.width < 640 && b.width > 300;
      });
      await page.setViewportSize({ width: 1200, height: 900 });

      await page.click('#fullscreen');
      await step(
        'full screen',
        () => page.evaluate(() => (globalThis as unknown as { document: { fullscreenElement: unknown } }).document.fullscreenElement !== null),
        5_000,
      );
      await page.click('#fullscreen');

      // Reconnect: the proxy goes away, the console says so and offers Reconnect; it works once
      // the proxy is back on the same port.
      await proxy.stop();
      await step('the console to notice', async () => /^The proxy is shutting down/.test(await status()));
      assert.equal(await page.locator('#reconnect').isVisible(), true);
      proxy = await startProxy(['--novnc', `127.0.0.1:${port}`, `127.0.0.1:${desktop.vncPort}`]);
      proxies.push(proxy);
      await page.click('#reconnect');
      await step('the console to reconnect', async () => /^Connected/.test(await status()));
      await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-console-controls.png') });
    } finally {
      await page.close();
      await proxy.stop();
    }
  });

  it('asks for the VNC password when the link has none, and connects once it is given (our console)', async () => {
    const proxy = await startProxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${desktop.vncPort}`]);
    proxies.push(proxy);
    const page = await context.newPage();
    try {
      // Through / (index.html), which must forward to vnc.html with the query intact.
      await page.goto(`http://127.0.0.1:${proxy.port}/?autoconnect=1&resize=off`);
      await page.waitForURL(/\/vnc\.html\?autoconnect=1&resize=off$/);
      await page.locator('#credentials-dialog').waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(await page.locator('#status').textContent(), 'Password required');
      await page.fill('#password', desktop.password);
      await page.click('#credentials-form button[value=ok]');
      await waitFor(async () => /^Connected/.test((await page.locator('#status').textContent()) ?? ''), { ...POLL, what: 'the console to connect' });
      await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-password-prompt-connected.png') });
      // Disconnect shows the form again; Reconnect is offered only after a lost connection.
      await page.click('#disconnect');
      await waitFor(async () => (await page.locator('#status').textContent()) === 'Disconnected', { ...POLL, what: 'the disconnect' });
      assert.equal(await page.locator('#connect-form').isVisible(), true);
    } finally {
      await page.close();
      await proxy.stop();
    }
  });
});
