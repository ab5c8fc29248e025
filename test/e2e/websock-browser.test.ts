import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { findTool } from '../support/system-tool.js';
import { deferCleanup } from '../support/cleanup.js';
import { launchChromium } from '../support/browser.js';
import { startProxy } from '../support/proxy-process.js';
import { startEchoTarget } from '../support/targets.js';
import { REPO_ROOT } from '../support/doc-blocks.js';

test('the browser build of Websock (an ES module from dist/web) echoes through the proxy in binary and base64 modes', async (t) => {
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  if (chromiumPath === null) return;
  const webRoot = join(REPO_ROOT, 'dist', 'web');
  assert.ok(existsSync(join(webRoot, 'websock', 'websock.js')), 'dist/web is missing: run npm run build first');
  const defer = deferCleanup(t);
  const echo = await startEchoTarget();
  defer(() => echo.close());
  const proxy = await startProxy(['--web', webRoot, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
  defer(() => proxy.stop());
  const browser = await launchChromium(chromiumPath);
  defer(() => browser.close());
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${proxy.port}/terminal/index.html?autoconnect=0`);

  for (const protocols of [['binary', 'base64'], ['base64']]) {
    const result = await page.evaluate(
      async ([port, protos]) => {
        // Runs in the page: the same file npm users import as websockify-ts/websock.
        const { Websock } = (await import('/websock/websock.js' as string)) as typeof import('../../web/websock/websock.js');
        const sock = new Websock();
        const size = 300_000;
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (i * 7919) & 0xff;
        const opened = new Promise<string>((resolve) => sock.on('open', (e) => resolve(e.mode)));
        sock.open(`ws://127.0.0.1:${port}/`, protos);
        const mode = await opened;
        sock.sQpush32(0xcafebabe);
        sock.flush();
        sock.send(data);
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (!sock.rQwait('echo', 4 + size)) resolve();
          };
          sock.on('message', check);
        });
        const magic = sock.rQshift32();
        const back = sock.rQshiftBytes(size);
        let same = back.length === size;
        for (let i = 0; same && i < size; i++) same = back[i] === data[i];
        const closed = new Promise<number>((resolve) => sock.on('close', (e) => resolve(e.code)));
        sock.close(1000);
        return { mode, magic, same, closeCode: await closed };
      },
      [proxy.port, protocols] as const,
    );
    assert.deepEqual(result, { mode: protocols[0], magic: 0xcafebabe, same: true, closeCode: 1000 });
  }
});

test('in the browser, a text frame in binary mode gives an error event and a close the browser allows (1000)', async (t) => {
  const chromiumPath = findTool(t, '/usr/bin/chromium', 'chromium');
  if (chromiumPath === null) return;
  const defer = deferCleanup(t);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'binary' });
  await once(wss, 'listening');
  defer(
    () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(r);
      }),
  );
  const serverSaw = new Promise<{ code: number; reason: string }>((resolve) => {
    wss.on('connection', (ws) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.send('this is text');
    });
  });
  // The proxy here only serves the page (--web); the WebSocket goes to the misbehaving server.
  const web = await startProxy(['--web', join(REPO_ROOT, 'dist', 'web'), '127.0.0.1:0', '127.0.0.1:1']);
  defer(() => web.stop());
  const browser = await launchChromium(chromiumPath);
  defer(() => browser.close());
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${web.port}/terminal/index.html?autoconnect=0`);
  const port = (wss.address() as { port: number }).port;
  const result = await page.evaluate(async (p) => {
    const { Websock } = (await import('/websock/websock.js' as string)) as typeof import('../../web/websock/websock.js');
    const sock = new Websock();
    const errors: string[] = [];
    sock.on('error', (e) => errors.push(e.message));
    const closed = new Promise<number>((resolve) => sock.on('close', (e) => resolve(e.code)));
    sock.open(`ws://127.0.0.1:${p}/`);
    return { code: await closed, errors };
  }, port);
  assert.deepEqual(result, { code: 1000, errors: ['text frame in binary mode'] });
  assert.deepEqual(await serverSaw, { code: 1000, reason: 'text frame in binary mode' });
});
