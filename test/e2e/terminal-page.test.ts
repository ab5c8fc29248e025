import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { findTool } from '../support/system-tool.js';
import { deferCleanup } from '../support/cleanup.js';
import { startTelnetServer } from '../support/telnet-server.js';
import { launchChromium } from '../support/browser.js';
import { startProxy } from '../support/proxy-process.js';
import { startTcpTarget } from '../support/targets.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const webRoot = join(repoRoot, 'dist', 'web');

function screen(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as unknown as { wstelnet: { screenText(): string } }).wstelnet.screenText());
}

async function waitForScreen(page: Page, re: RegExp, what: string): Promise<string> {
  try {
    await page.waitForFunction(
      ([src, flags]) => new RegExp(src, flags).test((globalThis as unknown as { wstelnet: { screenText(): string } }).wstelnet.screenText()),
      [re.source, re.flags] as const,
      { timeout: 15_000, polling: 100 },
    );
  } catch {
    assert.fail(`screen never showed ${what}; it shows:\n${await screen(page)}`);
  }
  return screen(page);
}

function termSize(page: Page): Promise<{ cols: number; rows: number }> {
  return page.evaluate(() => {
    const t = (globalThis as unknown as { wstelnet: { term: { cols: number; rows: number } } }).wstelnet.term;
    return { cols: t.cols, rows: t.rows };
  });
}

test('the terminal page gets a shell prompt from a real telnetd through the proxy, negotiates TTYPE and NAWS, and follows resizes', async (t) => {
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  const telnetd = findTool(t, '/usr/sbin/telnetd', 'inetutils-telnetd');
  if (chromiumPath === null || telnetd === null) return;
  assert.ok(existsSync(join(webRoot, 'terminal', 'index.html')), 'dist/web is missing: run npm run build first');

  const defer = deferCleanup(t);
  const telnet = await startTelnetServer(telnetd);
  defer(() => telnet.close());
  // One port for the page and the WebSocket, as users run it: websockify --web dist/web ...
  const proxy = await startProxy(['--web', webRoot, '127.0.0.1:0', `127.0.0.1:${telnet.port}`]);
  defer(() => proxy.stop());
  const browser = await launchChromium(chromiumPath);
  defer(() => browser.close());

  const page = await browser.context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // No host/port/path parameters: the page defaults to its own origin and path "websockify".
  await page.goto(`http://127.0.0.1:${proxy.port}/terminal/index.html`);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 10_000 });
  assert.match((await page.textContent('#status')) ?? '', /Connected \(binary\)/);
  await waitForScreen(page, /bash-[\d.]+#\s*$/m, 'the bash prompt');

  // Typing goes keyboard -> xterm -> telnet encoding -> Websock -> proxy -> telnetd -> bash.
  const size = await termSize(page);
  assert.ok(size.cols > 40 && size.rows > 10, `terminal fitted to the page: ${JSON.stringify(size)}`);
  await page.keyboard.type('stty size; echo $((6*7)) $TERM');
  await page.keyboard.press('Enter');
  let text = await waitForScreen(page, /^42 xterm-256color$/m, 'the command output');
  // NAWS told the pty the fitted size; TERMINAL-TYPE set $TERM.
  assert.match(text, new RegExp(`^${size.rows} ${size.cols}$`, 'm'));

  // A smaller window refits the terminal; the new size must reach the pty through NAWS.
  await page.setViewportSize({ width: 600, height: 400 });
  await page.waitForFunction(
    (old) => {
      const term = (globalThis as unknown as { wstelnet: { term: { cols: number } } }).wstelnet.term;
      return term.cols < old;
    },
    size.cols,
    { timeout: 10_000 },
  );
  const smaller = await termSize(page);
  await page.keyboard.type('clear; stty size');
  await page.keyboard.press('Enter');
  text = await waitForScreen(page, new RegExp(`^${smaller.rows} ${smaller.cols}$`, 'm'), `stty size ${smaller.rows} ${smaller.cols}`);

  const negotiated = await page.evaluate(() => {
    const n = (globalThis as unknown as { wstelnet: { negotiator: { remoteEcho: boolean } } }).wstelnet.negotiator;
    return n.remoteEcho;
  });
  assert.equal(negotiated, true, 'telnetd took over echoing (WILL ECHO)');

  await page.keyboard.type('exit');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#status[data-state="closed"]', { timeout: 10_000 });
  assert.deepEqual(pageErrors, []);
});

test('with telnet=0 the terminal page talks to a plain line service: bytes pass untouched both ways', async (t) => {
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  if (chromiumPath === null) return;
  const defer = deferCleanup(t);
  // A line service that is not telnet: a prompt, then each line upper-cased; it records raw bytes.
  const received: Buffer[] = [];
  const service = await startTcpTarget((socket) => {
    socket.write('ready> ');
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      pending += chunk.toString('latin1');
      let cr: number;
      while ((cr = pending.indexOf('\r')) >= 0) {
        // Work on raw bytes (latin1 round-trips them), so the UTF-8 of 'é' goes back unchanged.
        socket.write(Buffer.from(`\r\n${pending.slice(0, cr).toUpperCase()}\r\nready> `, 'latin1'));
        pending = pending.slice(cr + 1);
      }
    });
  });
  defer(() => service.close());
  const proxy = await startProxy(['--web', webRoot, '127.0.0.1:0', `127.0.0.1:${service.port}`]);
  defer(() => proxy.stop());
  const browser = await launchChromium(chromiumPath);
  defer(() => browser.close());
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${proxy.port}/terminal/index.html?telnet=0`);
  await waitForScreen(page, /ready>\s*$/m, 'the service prompt');
  await page.keyboard.type('hello \u00e9');
  await page.keyboard.press('Enter');
  await waitForScreen(page, /^HELLO \u00e9$/m, 'the upper-cased line');
  // No IAC, no CR NUL: exactly the UTF-8 bytes typed and a bare CR.
  assert.deepEqual([...Buffer.concat(received)], [...Buffer.from('hello \u00e9\r', 'utf8')]);
});

test('with --web-auth the terminal page and its WebSocket pass on the credentials the browser was given; without them the page is 401', async (t) => {
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  if (chromiumPath === null) return;
  const defer = deferCleanup(t);
  const service = await startTcpTarget((socket) => {
    socket.write('auth-ok> ');
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      let cr: number;
      while ((cr = pending.indexOf('\r')) >= 0) {
        socket.write(`\r\n${pending.slice(0, cr).toUpperCase()}\r\n`);
        pending = pending.slice(cr + 1);
      }
    });
  });
  defer(() => service.close());
  const proxy = await startProxy([
    '--web',
    webRoot,
    '--web-auth',
    '--auth-plugin',
    'BasicHTTPAuth',
    '--auth-source',
    'alice:term-pw',
    '127.0.0.1:0',
    `127.0.0.1:${service.port}`,
  ]);
  defer(() => proxy.stop());
  const url = `http://127.0.0.1:${proxy.port}/terminal/index.html?telnet=0`;

  const anonymous = await launchChromium(chromiumPath);
  defer(() => anonymous.close());
  const bare = await anonymous.context.newPage();
  const statuses: number[] = [];
  bare.on('response', (r) => {
    if (r.url().includes('/terminal/index.html')) statuses.push(r.status());
  });
  // Headless chromium cannot prompt: it gives up on the 401 challenge.
  assert.equal(
    await bare.goto(url).then(
      () => true,
      () => false,
    ),
    false,
  );
  assert.deepEqual(statuses, [401]);

  const browser = await launchChromium(chromiumPath, { httpCredentials: { username: 'alice', password: 'term-pw' } });
  defer(() => browser.close());
  const page = await browser.context.newPage();
  assert.equal((await page.goto(url))?.status(), 200);
  await waitForScreen(page, /auth-ok>\s*$/m, 'the service prompt behind --web-auth');
  await page.keyboard.type('hello');
  await page.keyboard.press('Enter');
  await waitForScreen(page, /^HELLO$/m, 'the upper-cased line');
});
