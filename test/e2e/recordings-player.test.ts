import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { readIndex, type RecordIndexEntry } from '../../src/record/record-index.js';
import { launchChromium } from '../support/browser.js';
import { deferCleanup } from '../support/cleanup.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { findTool } from '../support/system-tool.js';
import { startTelnetServer } from '../support/telnet-server.js';
import { waitFor } from '../support/wait.js';
import { DESKTOP_HEIGHT, DESKTOP_WIDTH, startDesktop, XTERM_AT, type Desktop } from '../support/x-desktop.js';
import { canvasGrid, type CanvasLike } from '../support/desktop-canvas.js';

/**
 * Recordings an auditor can replay: a real desktop (Xvfb + x11vnc) used through the built-in
 * console with --record, then the /recordings/ page replays the file through noVNC in the same
 * browser; a telnet session through the terminal page replays in the terminal player.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test-artifacts');
const WAIT_MS = 45_000;
const STEP = 8;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const webRoot = path.join(repoRoot, 'dist', 'web');

interface PlayerApi {
  open(file: string): Promise<unknown>;
  seek(ms: number): void;
  settle(): Promise<void>;
  canvas(): CanvasLike | null;
  text(): string;
  entries(): Array<{ file: string }>;
  player: { duration: number; position: number } | null;
}
type Win = { recordingsPlayer: PlayerApi };

/** Mean absolute difference per channel (0-255). */
function diff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length, 'canvases of different sizes');
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i]! - b[i]!);
  return total / a.length;
}

function xwdGrid(desktop: Desktop): number[] {
  const shot = desktop.capture();
  const out: number[] = [];
  for (let y = 0; y < DESKTOP_HEIGHT; y += STEP) for (let x = 0; x < DESKTOP_WIDTH; x += STEP) out.push(...shot.rgb(x, y));
  return out;
}

/** Every wait here polls at 150 ms: each probe reads the index, a canvas or the screen. */
const POLL = { timeoutMs: WAIT_MS, intervalMs: 150 };

async function indexEntry(dir: string, kind: RecordIndexEntry['kind']): Promise<RecordIndexEntry> {
  return waitFor(async () => (await readIndex(path.join(dir, 'rec.index.jsonl'))).find((e) => e.kind === kind) ?? null, {
    ...POLL,
    what: `a ${kind} session in the index`,
  });
}

async function openInPlayer(page: Page, port: number, file: string): Promise<number> {
  await page.goto(`http://127.0.0.1:${port}/recordings/`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
  assert.ok(await page.locator(`tr[data-file="${file}"]`).count(), `${file} is listed`);
  return page.evaluate(async (f) => {
    const api = (globalThis as unknown as Win).recordingsPlayer;
    await api.open(f);
    return api.player!.duration;
  }, file);
}

async function seekAndSettle(page: Page, ms: number): Promise<void> {
  await page.evaluate(async (t) => {
    const api = (globalThis as unknown as Win).recordingsPlayer;
    api.seek(t);
    await api.settle();
  }, ms);
}

async function stop(proxy: ProxyProcess): Promise<void> {
  await proxy.stop();
}

test('a recorded VNC session replays in the player: the last frame matches the live one, the middle shows an earlier state', async (t) => {
  const chromium = findTool(t, CHROMIUM, 'chromium');
  if (chromium === null) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const defer = deferCleanup(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-rec-e2e-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const desktop = await startDesktop('rec-pass');
  defer(() => desktop.stop());
  const proxy = await startProxy(
    [
      '--novnc',
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:web-pw',
      '--record',
      'rec',
      '127.0.0.1:0',
      `127.0.0.1:${desktop.vncPort}`,
    ],
    { cwd: dir },
  );
  defer(() => stop(proxy));
  const browser = await launchChromium(chromium, { httpCredentials: { username: 'alice', password: 'web-pw' } });
  defer(() => browser.close());

  // The live session: the console shows the desktop, then a line is typed into the xterm.
  const live = await browser.context.newPage();
  await live.goto(`http://127.0.0.1:${proxy.port}/vnc.html?autoconnect=1&resize=off#password=${encodeURIComponent(desktop.password)}`);
  const before = await waitFor(
    async () => {
      const g = await canvasGrid(live, STEP, 'console');
      return g !== null && diff(g, xwdGrid(desktop)) < 6 && g;
    },
    { ...POLL, what: 'the live canvas to show the desktop' },
  );
  const typedAt = Date.now();
  const box = (await live.locator('canvas').first().boundingBox())!;
  await live.mouse.click(box.x + XTERM_AT.x + 40, box.y + XTERM_AT.y + 20);
  const line = `recorded ${'#'.repeat(30)} ${typedAt % 100000}`;
  await live.keyboard.type(line, { delay: 10 });
  await live.keyboard.press('Enter');
  await waitFor(() => desktop.typedLines().includes(line), { ...POLL, what: 'the xterm to receive the line' });
  await waitFor(
    async () => {
      const g = await canvasGrid(live, STEP, 'console');
      return g !== null && diff(g, xwdGrid(desktop)) < 3 && diff(g, before) > 0.05;
    },
    { ...POLL, what: 'the live canvas to show the typed line' },
  );
  // Stable: nothing more arrives before the session ends. A fixed time: it stands for "nothing
  // else happens", which no condition can signal.
  await new Promise((r) => setTimeout(r, 500));
  const last = (await canvasGrid(live, STEP, 'console'))!;
  await live.screenshot({ path: path.join(ARTIFACTS, 'e2e-recording-live.png') });
  await live.close();

  const entry = await indexEntry(dir, 'vnc');
  assert.equal(entry.user, 'alice');
  assert.equal(entry.record, 'complete');
  const player = await browser.context.newPage();
  const pageErrors: string[] = [];
  player.on('pageerror', (e) => pageErrors.push(String(e)));
  const duration = await openInPlayer(player, proxy.port, entry.file!);
  assert.ok(duration > 0);

  // The end: the replayed canvas is the last live frame.
  await seekAndSettle(player, duration);
  const end = (await canvasGrid(player, STEP, 'player'))!;
  assert.ok(end, 'the player drew no canvas');
  const endDiff = diff(end, last);
  t.diagnostic(`replayed end vs last live frame: mean difference ${endDiff.toFixed(3)} per channel`);
  await player.screenshot({ path: path.join(ARTIFACTS, 'e2e-recording-replayed-end.png') });
  assert.ok(endDiff < 1, `replayed end differs from the live frame by ${endDiff.toFixed(2)}`);

  // Before the typing: the earlier state (seeking backwards restarts and replays up to there).
  const middle = typedAt - Date.parse(entry.start) - 100;
  assert.ok(middle > 0 && middle < duration);
  await seekAndSettle(player, middle);
  const mid = (await canvasGrid(player, STEP, 'player'))!;
  const midToBefore = diff(mid, before);
  const midToLast = diff(mid, last);
  t.diagnostic(`replayed middle vs live before typing ${midToBefore.toFixed(3)}, vs the end ${midToLast.toFixed(3)}`);
  await player.screenshot({ path: path.join(ARTIFACTS, 'e2e-recording-replayed-middle.png') });
  assert.ok(midToBefore < 1, `the middle is not the state before typing (${midToBefore.toFixed(2)})`);
  assert.ok(midToLast > 0.1 && midToLast > midToBefore, 'the middle already shows the typed line');
  assert.match((await player.textContent('#time')) ?? '', /^\d+:\d\d\.\d \/ \d+:\d\d\.\d$/);

  // Play from there at 32x: it runs to the end by itself.
  await player.selectOption('#speed', '32');
  await player.click('#play');
  await player.waitForSelector('#state[data-state="ended"]', { timeout: WAIT_MS, state: 'attached' });
  assert.equal(await canvasGrid(player, STEP, 'player').then((g) => diff(g!, last) < 1), true, 'played to the end, the canvas is the last frame');
  assert.deepEqual(pageErrors, []);
});

test('a recorded telnet session replays its text in the terminal player', async (t) => {
  const chromium = findTool(t, CHROMIUM, 'chromium');
  const telnetd = findTool(t, '/usr/sbin/telnetd', 'inetutils-telnetd');
  if (chromium === null || telnetd === null) return;
  const defer = deferCleanup(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-rec-e2e-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const telnet = await startTelnetServer(telnetd);
  defer(() => telnet.close());
  const proxy = await startProxy(
    [
      '--web',
      webRoot,
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:web-pw',
      '--record',
      'rec',
      '127.0.0.1:0',
      `127.0.0.1:${telnet.port}`,
    ],
    { cwd: dir },
  );
  defer(() => stop(proxy));
  const browser = await launchChromium(chromium, { httpCredentials: { username: 'alice', password: 'web-pw' } });
  defer(() => browser.close());

  const live = await browser.context.newPage();
  await live.goto(`http://127.0.0.1:${proxy.port}/terminal/index.html`);
  await live.waitForSelector('#status[data-state="connected"]', { timeout: WAIT_MS });
  const screen = (): Promise<string> => live.evaluate(() => (globalThis as unknown as { wstelnet: { screenText(): string } }).wstelnet.screenText());
  await waitFor(async () => /bash-[\d.]+#\s*$/m.test(await screen()), { ...POLL, what: 'the bash prompt' });
  await live.keyboard.type('echo audit-$((6*7))-done');
  await live.keyboard.press('Enter');
  await waitFor(async () => /^audit-42-done$/m.test(await screen()), { ...POLL, what: 'the command output' });
  await live.keyboard.type('exit');
  await live.keyboard.press('Enter');
  await live.waitForSelector('#status[data-state="closed"]', { timeout: WAIT_MS });
  await live.close();

  const entry = await indexEntry(dir, 'stream');
  const player = await browser.context.newPage();
  const duration = await openInPlayer(player, proxy.port, entry.file!);
  await seekAndSettle(player, duration);
  const text = await player.evaluate(() => (globalThis as unknown as Win).recordingsPlayer.text());
  assert.match(text, /^audit-42-done$/m, text);
  assert.match(text, /echo audit-\$\(\(6\*7\)\)-done/);
  // No telnet negotiation leaks into the text.
  assert.ok(!/[\xfb-\xff]/.test(text), JSON.stringify(text));
  await seekAndSettle(player, 0);
  assert.doesNotMatch(await player.evaluate(() => (globalThis as unknown as Win).recordingsPlayer.text()), /audit-42-done/);
});
