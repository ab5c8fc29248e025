import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from '../support/browser.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';
import { DESKTOP_HEIGHT, DESKTOP_WIDTH, ROOT_RGB, startDesktop, type Desktop } from '../support/x-desktop.js';

/**
 * A VNC server behind NAT, for real (docs/reverse.md): x11vnc connects out to --reverse-listen
 * with the UltraVNC repeater ID (`-connect repeater=ID:<id>+host:port`), and noVNC in headless
 * chromium reaches it with an ordinary token whose target is `reverse:<id>`. The canvas must
 * match the X server's own capture.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const WAIT_MS = 45_000;
const ID = '418203967';

interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

/** The page's VNC canvas sampled every `step` px, [r, g, b, ...] row by row (null before there is one). */
function canvasGrid(page: Page, step: number): Promise<number[] | null> {
  return page.evaluate((s) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(q: string): Iterable<CanvasLike> } }).document;
    const canvas = [...doc.querySelectorAll('canvas')].find((c) => c.width > 100);
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return null;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const out: number[] = [];
    for (let y = 0; y < canvas.height; y += s) {
      for (let x = 0; x < canvas.width; x += s) {
        const i = (y * canvas.width + x) * 4;
        out.push(data[i]!, data[i + 1]!, data[i + 2]!);
      }
    }
    return out;
  }, step);
}

/** Mean absolute difference per channel between the sampled canvas and xwd's capture. */
function meanDifference(grid: number[], desktop: Desktop, step: number): number {
  const shot = desktop.capture();
  let total = 0;
  let i = 0;
  for (let y = 0; y < DESKTOP_HEIGHT; y += step) {
    for (let x = 0; x < DESKTOP_WIDTH; x += step) {
      const [r, g, b] = shot.rgb(x, y);
      total += Math.abs(r - grid[i]!) + Math.abs(g - grid[i + 1]!) + Math.abs(b - grid[i + 2]!);
      i += 3;
    }
  }
  return total / i;
}

describe('reverse connection from x11vnc to noVNC in chromium', () => {
  let desktop: Desktop;
  let browser: Browser;
  let proxy: ProxyProcess;
  let reverseVnc: ChildProcess | null = null;
  const dir = tempDir('wsfy-reverse-e2e-');

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: install the Debian package chromium (scripts/system-packages.txt)`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    desktop = await startDesktop('reverse-pw');
    browser = await launchChromium(CHROMIUM);
    const tokens = path.join(dir.dir, 'tokens.cfg');
    fs.writeFileSync(tokens, `office-desk: reverse:${ID}\n`);
    proxy = await startProxy(['--novnc', '--token-plugin', 'TokenFile', '--token-source', tokens, '--reverse-listen', '127.0.0.1:0', '127.0.0.1:0']);
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

  it('x11vnc -connect repeater=ID:... is held, and the token reaches its desktop', async (t) => {
    const line = await proxy.waitForOutput(/reverse listener on 127\.0\.0\.1:\d+/);
    const reversePort = Number(/127\.0\.0\.1:(\d+)/.exec(line)![1]);
    // The same display as the desktop's own x11vnc: this one connects out (its own listening port stays on localhost, unused).
    const log = fs.openSync(path.join(dir.dir, 'x11vnc-reverse.log'), 'a');
    reverseVnc = spawn(
      'x11vnc',
      ['-display', desktop.display, '-passwd', desktop.password, '-connect', `repeater=ID:${ID}+127.0.0.1:${reversePort}`, '-localhost', '-noxdamage', '-once'],
      { env: { ...process.env, DISPLAY: desktop.display }, stdio: ['ignore', log, log] },
    );
    await proxy.waitForOutput(/reverse server registered/, WAIT_MS).catch((err: Error) => {
      throw new Error(`${err.message}\nx11vnc:\n${fs.readFileSync(path.join(dir.dir, 'x11vnc-reverse.log'), 'utf8')}\nproxy:\n${proxy.output()}`);
    });

    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${proxy.port}/vnc.html?autoconnect=1&resize=off&token=office-desk#password=${encodeURIComponent(desktop.password)}`);
    const step = 10;
    let lastDiff = Infinity;
    await waitFor(
      async () => {
        const grid = await canvasGrid(page, step);
        if (!grid || grid.length !== Math.ceil(DESKTOP_WIDTH / step) * Math.ceil(DESKTOP_HEIGHT / step) * 3) return false;
        lastDiff = meanDifference(grid, desktop, step);
        return lastDiff < 6;
      },
      { timeoutMs: WAIT_MS, intervalMs: 200, what: 'the canvas to show the X desktop' },
    ).catch(async (err: Error) => {
      await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-reverse-x11vnc-failed.png') });
      throw new Error(`${err.message} (mean difference ${lastDiff.toFixed(1)}); proxy output:\n${proxy.output()}`);
    });
    t.diagnostic(`canvas vs xwd: mean difference ${lastDiff.toFixed(2)} per channel (0-255), sampled every ${step} px`);
    const corner = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(q: string): Iterable<CanvasLike> } }).document;
      const c = [...doc.querySelectorAll('canvas')].find((x) => x.width > 100)!;
      return Array.from(c.getContext('2d')!.getImageData(c.width - 5, c.height - 5, 1, 1).data).slice(0, 3);
    });
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(corner[i]! - ROOT_RGB[i]!) <= 8, `corner ${corner.join(',')} is not the root colour`);
    assert.match(proxy.output(), /reverse server paired with browser/);
    assert.ok(!proxy.output().includes(ID), 'the proxy logged the reverse ID in clear');
    await page.close();
  });
});
