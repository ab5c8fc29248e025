import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { get } from '../support/raw-http.js';
import { sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { tempDir } from '../support/temp-dir.js';

/** The built-in console's HTTP side (--novnc, `websockify novnc`) and the vnc.html banner line. */
describe('the built-in console on the proxy port', () => {
  let target: TcpTarget;
  const procs: ProxyProcess[] = [];
  const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  async function proxy(args: string[]): Promise<ProxyProcess> {
    const p = await startProxy(args);
    procs.push(p);
    return p;
  }

  before(async () => {
    target = await startEchoTarget();
  });
  after(async () => {
    for (const p of procs) await p.stop();
    await target.close();
  });

  it('--web-auth with the novnc command protects the page and its WebSocket with the same credentials', async () => {
    const p = await proxy([
      'novnc',
      '--listen',
      '127.0.0.1:0',
      '--vnc',
      `127.0.0.1:${target.port}`,
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:pw',
    ]);
    const refused = await get(p.port, '/vnc.html');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Basic realm="Websockify"', 'the browser needs the challenge to prompt');
    assert.ok(!refused.body.toString().includes('console.js'));
    const page = await get(p.port, '/vnc.html', `Authorization: ${basic('alice', 'pw')}\r\n`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /console\.js/);
    // The upgrade the page then makes carries the same header (browsers resend it on the same origin).
    const noCreds = await sendRaw(p.port, upgradeRequest({ path: '/websockify' }));
    noCreds.socket.destroy();
    assert.equal(noCreds.status, 401);
    const upgraded = await sendRaw(p.port, upgradeRequest({ path: '/websockify', headers: { Authorization: basic('alice', 'pw') } }));
    upgraded.socket.destroy();
    assert.equal(upgraded.status, 101);
    assert.ok(!p.output().includes('alice:pw'));
  });

  it('--web-auth with --novnc is accepted too (it was refused as needing --web)', async () => {
    const p = await proxy(['--novnc', '--web-auth', '--auth-plugin', 'BasicHTTPAuth', '--auth-source', 'alice:pw', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    assert.equal((await get(p.port, '/')).status, 401);
    assert.equal((await get(p.port, '/', `Authorization: ${basic('alice', 'pw')}\r\n`)).status, 200);
  });

  it('redirects the old /vnc_auto.html to vnc.html with the query kept and autoconnect on', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const bare = await get(p.port, '/vnc_auto.html');
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.location, './vnc.html?autoconnect=1');
    const withQuery = await get(p.port, '/vnc_auto.html?host=h&port=6080&path=websockify%3Ftoken%3Dx');
    assert.equal(withQuery.status, 302);
    assert.equal(withQuery.headers.location, './vnc.html?host=h&port=6080&path=websockify%3Ftoken%3Dx&autoconnect=1');
    // A link that says autoconnect itself is left as it is.
    assert.equal((await get(p.port, '/vnc_auto.html?autoconnect=0&token=t')).headers.location, './vnc.html?autoconnect=0&token=t');
    assert.equal((await get(p.port, '/vnc_auto.html', '', 'HEAD')).status, 302);
    assert.equal((await get(p.port, '/vnc_auto.html', '', 'POST')).status, 405);
  });

  it('answers /favicon.ico with the console icon instead of a 404', async () => {
    const p = await proxy(['--novnc', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const icon = await get(p.port, '/favicon.ico');
    assert.equal(icon.status, 200);
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.match(icon.body.toString(), /^<svg /);
    // The page names it, so browsers need not guess.
    assert.match((await get(p.port, '/vnc.html')).body.toString(), /<link rel="icon" href="\.\/favicon\.svg"/);
  });

  it('prints the vnc.html address for a --web root that holds vnc.html, and not for one without', async () => {
    const withConsole = tempDir('wsfy-console-web-');
    const plain = tempDir('wsfy-plain-web-');
    try {
      fs.writeFileSync(path.join(withConsole.dir, 'vnc.html'), '<p>noVNC</p>');
      fs.writeFileSync(path.join(plain.dir, 'index.html'), '<p>site</p>');
      const p = await proxy(['--web', withConsole.dir, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
      const line = await p.waitForOutput(/noVNC console: open /);
      assert.match(line, new RegExp(`http://127\\.0\\.0\\.1:${p.port}/vnc\\.html\\?host=127\\.0\\.0\\.1&port=${p.port}`));
      const q = await proxy(['-v', '--web', plain.dir, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
      // A request's log line comes after every banner line.
      assert.equal((await get(q.port, '/')).status, 200);
      await q.waitForOutput(/"GET \/ HTTP\/1\.1"/);
      assert.doesNotMatch(q.output(), /noVNC console/);
    } finally {
      withConsole.cleanup();
      plain.cleanup();
    }
  });
});
