import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from '../support/browser.js';
import { reverseListenerPort, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { CANVAS_STEP, canvasCorner, desktopOnCanvas } from '../support/desktop-canvas.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';
import { ROOT_RGB, startDesktop, XTERM_AT, type Desktop } from '../support/x-desktop.js';

/**
 * A VNC server behind NAT, for real (docs/reverse.md): x11vnc, with no listening port of its own
 * (`-rfbport 0`), connects out to --reverse-listen with the UltraVNC repeater ID
 * (`-connect repeater=ID:<id>+host:port`), or with no ID to a listener bound to one; Debian's
 * noVNC, unchanged, in headless chromium reaches it with an ordinary token whose target is
 * `reverse:<id>` (`path=websockify?token=...`). The canvas must match the X server's own capture.
 */
const CHROMIUM = '/usr/bin/chromium';
const DEBIAN_NOVNC = '/usr/share/novnc';
const ARTIFACTS = path.resolve('test-artifacts');
const WAIT_MS = 45_000;
const ID = '418203967';
/** The ID of the listener bound to one ID, for a server that sends none (x11vnc -connect host:port). */
const FIXED_ID = '530917264';

/** Waits until the page's canvas matches xwd's capture of the desktop; returns the mean difference. */
function desktopShown(page: Page, desktop: Desktop, proxy: ProxyProcess, slug: string): Promise<number> {
  return desktopOnCanvas(page, desktop, {
    timeoutMs: WAIT_MS,
    intervalMs: 200,
    onTimeout: async (err, lastDiff) => {
      await page.screenshot({ path: path.join(ARTIFACTS, `e2e-reverse-${slug}-failed.png`) });
      throw new Error(`${err.message} (mean difference ${lastDiff.toFixed(1)}); proxy output:\n${proxy.output()}`);
    },
  });
}

describe('reverse connection from x11vnc to noVNC in chromium', () => {
  let desktop: Desktop;
  let browser: Browser;
  let proxy: ProxyProcess;
  let reverseVnc: ChildProcess | null = null;
  const dir = tempDir('wsfy-reverse-e2e-');
  let reversePort = 0;
  let fixedPort = 0;
  let logCount = 0;

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: install the Debian package chromium (scripts/system-packages.txt)`);
    if (!fs.existsSync(path.join(DEBIAN_NOVNC, 'vnc.html'))) throw new Error(`${DEBIAN_NOVNC}/vnc.html missing: install the Debian package novnc`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    desktop = await startDesktop('reverse-pw');
    browser = await launchChromium(CHROMIUM);
    const tokens = path.join(dir.dir, 'tokens.cfg');
    fs.writeFileSync(tokens, `office-desk: reverse:${ID}\nplain-desk: reverse:${FIXED_ID}\n`);
    proxy = await startProxy([
      '--web',
      DEBIAN_NOVNC,
      '--token-plugin',
      'TokenFile',
      '--token-source',
      tokens,
      '--reverse-listen',
      '127.0.0.1:0',
      '--reverse-listen',
      `127.0.0.1:0=${FIXED_ID}`,
      '127.0.0.1:0',
    ]);
    reversePort = await reverseListenerPort(proxy);
    fixedPort = await reverseListenerPort(proxy, 'fixed');
  });

  after(async () => {
    await browser?.close();
    if (reverseVnc && reverseVnc.exitCode === null) {
      const exited = new Promise((resolve) => reverseVnc!.once('exit', resolve));
      reverseVnc.kill('SIGTERM');
      await exited;
    }
    await proxy?.stop();
    await desktop?.stop();
    dir.cleanup();
  });

  /**
   * x11vnc on the desktop's display, connecting out (`connect`: the -connect value); resolves once
   * the proxy holds it. -rfbport 0: it listens nowhere, as behind NAT; -once: it exits when its
   * viewer leaves.
   */
  async function connectX11vnc(connect = `repeater=ID:${ID}+127.0.0.1:${reversePort}`): Promise<void> {
    const registered = (proxy.output().match(/reverse server registered/g) ?? []).length;
    const logFile = path.join(dir.dir, `x11vnc-reverse-${++logCount}.log`);
    const log = fs.openSync(logFile, 'a');
    reverseVnc = spawn('x11vnc', ['-display', desktop.display, '-passwd', desktop.password, '-connect', connect, '-rfbport', '0', '-noxdamage', '-once'], {
      env: { ...process.env, DISPLAY: desktop.display },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    await waitFor(() => (proxy.output().match(/reverse server registered/g) ?? []).length > registered, {
      timeoutMs: WAIT_MS,
      intervalMs: 100,
      what: 'x11vnc to register',
    }).catch((err: Error) => {
      throw new Error(`${err.message}\nx11vnc:\n${fs.readFileSync(logFile, 'utf8')}\nproxy:\n${proxy.output()}`);
    });
  }

  async function upgradeStatus(token: string): Promise<number> {
    const answer = await sendRaw(proxy.port, upgradeRequest({ path: `/websockify?token=${token}`, headers: { 'Sec-WebSocket-Protocol': 'binary' } }));
    return answer.status;
  }

  /** Debian's vnc.html, unchanged: the token rides in its `path` setting. */
  function novncUrl(token: string): string {
    const query = `autoconnect=true&resize=off&path=${encodeURIComponent(`websockify?token=${token}`)}&password=${encodeURIComponent(desktop.password)}`;
    return `http://127.0.0.1:${proxy.port}/vnc.html?${query}`;
  }

  /** Waits for x11vnc to exit (-once: when its viewer left). */
  async function x11vncExited(): Promise<void> {
    const vnc = reverseVnc!;
    if (vnc.exitCode === null && vnc.signalCode === null) await new Promise((resolve) => vnc.once('exit', resolve));
  }

  it('x11vnc -connect repeater=ID:... is held; the token reaches its desktop, typing reaches the xterm, a second viewer gets 409', async (t) => {
    assert.equal(await upgradeStatus('office-desk'), 503, 'before x11vnc connects');
    await connectX11vnc();

    const page = await browser.context.newPage();
    try {
      await page.goto(novncUrl('office-desk'));
      const diff = await desktopShown(page, desktop, proxy, 'token');
      t.diagnostic(`canvas vs xwd: mean difference ${diff.toFixed(2)} per channel (0-255), sampled every ${CANVAS_STEP} px`);
      const corner = (await canvasCorner(page))!;
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(corner[i]! - ROOT_RGB[i]!) <= 8, `corner ${corner.join(',')} is not the root colour`);

      // A typed line reaches the xterm (X focus follows the pointer: no window manager).
      const box = (await page.locator('canvas').first().boundingBox())!;
      const typed = `reverse typed ${Date.now() % 100000}`;
      await page.mouse.click(box.x + XTERM_AT.x + 40, box.y + XTERM_AT.y + 20);
      await page.keyboard.type(typed, { delay: 15 });
      await page.keyboard.press('Enter');
      await waitFor(() => desktop.typedLines().includes(typed), { timeoutMs: 15_000, intervalMs: 100, what: `the xterm to receive "${typed}"` });

      assert.equal(await upgradeStatus('office-desk'), 409, 'a second viewer while the first is paired');
      await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-reverse-x11vnc.png') });
    } finally {
      await page.close();
    }
    assert.match(proxy.output(), /reverse server paired with browser/);
  });

  it('x11vnc restarted after its viewer left is reachable again', async () => {
    await x11vncExited();
    await waitFor(async () => (await upgradeStatus('office-desk')) === 503, { timeoutMs: WAIT_MS, intervalMs: 200, what: 'the ID to be free again' });
    await connectX11vnc();
    const page = await browser.context.newPage();
    try {
      await page.goto(novncUrl('office-desk'));
      await desktopShown(page, desktop, proxy, 'restarted');
    } finally {
      await page.close();
    }
  });

  it('x11vnc -connect host:port (no ID) reaches a listener bound to one ID, and its token reaches the desktop', async () => {
    await x11vncExited();
    await connectX11vnc(`127.0.0.1:${fixedPort}`);
    const page = await browser.context.newPage();
    try {
      await page.goto(novncUrl('plain-desk'));
      await desktopShown(page, desktop, proxy, 'fixed-id');
    } finally {
      await page.close();
    }
    for (const id of [ID, FIXED_ID]) assert.ok(!proxy.output().includes(id), 'the proxy logged a reverse ID in clear');
  });
});
