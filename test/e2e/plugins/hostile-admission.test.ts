import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startProxy, type ProxyProcess } from '../../support/proxy-process.js';
import { readToEnd, sendRaw, upgradeRequest } from '../../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../../support/targets.js';
import { echoSession, openSession } from '../../support/echo-session.js';
import { startRedis } from '../../support/redis-server.js';
import { tempDir } from '../../support/temp-dir.js';
import { waitFor } from '../../support/wait.js';

async function status(port: number, options: Parameters<typeof upgradeRequest>[0]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const answer = await sendRaw(port, upgradeRequest(options));
  const body = (await readToEnd(answer.socket)).toString();
  return { status: answer.status, headers: answer.headers, body };
}

describe('token API plugins through the built CLI: injection and a hanging API', () => {
  let echo: TcpTarget;
  let api: http.Server;
  let apiBase: string;
  const seen: string[] = [];
  const hanging = new Set<http.ServerResponse>();
  let proxy: ProxyProcess;
  let hangProxy: ProxyProcess;

  before(async () => {
    echo = await startEchoTarget();
    api = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url?.startsWith('/hang/')) {
        hanging.add(res);
        return;
      }
      if (req.url === '/tokens/good') return void res.writeHead(200).end(`127.0.0.1:${echo.port}`);
      // The injection target: a reference proxy would have reached this path.
      if (req.url?.startsWith('/admin')) return void res.writeHead(200).end(`127.0.0.1:${echo.port}`);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    apiBase = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    proxy = await startProxy(['--token-plugin', 'BaseTokenAPI', '--token-source', `${apiBase}/tokens/%s`, '127.0.0.1:0']);
    hangProxy = await startProxy(['--token-plugin', 'JSONTokenApi', '--token-source', `${apiBase}/hang/%s`, '--plugin-timeout', '0.5', '127.0.0.1:0']);
  });
  after(async () => {
    await proxy.stop();
    await hangProxy.stop();
    for (const res of hanging) res.destroy();
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
    await echo.close();
  });

  it('routes a good token through the API', async () => {
    await echoSession(`ws://127.0.0.1:${proxy.port}/?token=good`);
  });

  it('URL-encodes an injected token: it cannot reach another API path (404, not a session)', async () => {
    seen.length = 0;
    const injected = '../admin?x=1#';
    const answer = await status(proxy.port, { path: `/?token=${encodeURIComponent(injected)}` });
    assert.equal(answer.status, 404);
    assert.deepEqual(seen, ['/tokens/..%2Fadmin%3Fx%3D1%23']);
    await echoSession(`ws://127.0.0.1:${proxy.port}/?token=good`);
  });

  it('answers 504 when the API hangs past --plugin-timeout, and keeps serving', async () => {
    const started = Date.now();
    const answer = await status(hangProxy.port, { path: '/?token=anything' });
    assert.equal(answer.status, 504);
    assert.ok(Date.now() - started < 4000);
    assert.ok(!answer.body.includes('127.0.0.1'), 'plugin details stay in the log');
    // The same process still serves: a plain request is answered, and the other proxy a session.
    const again = await status(hangProxy.port, { path: '/?token=other' });
    assert.equal(again.status, 504);
    await echoSession(`ws://127.0.0.1:${proxy.port}/?token=good`);
  });
});

describe('TokenRedis through the built CLI: Redis down and back', () => {
  it('answers 502/504 while Redis is down, keeps running, and serves again when Redis is back', async () => {
    const echo = await startEchoTarget();
    const redis = await startRedis();
    const port = redis.port;
    redis.cli('set', 'desk', `127.0.0.1:${echo.port}`);
    const proxy = await startProxy(['--token-plugin', 'TokenRedis', '--token-source', `127.0.0.1:${port}`, '--plugin-timeout', '1', '127.0.0.1:0']);
    let second: ReturnType<typeof spawn> | null = null;
    try {
      await echoSession(`ws://127.0.0.1:${proxy.port}/?token=desk`);
      assert.equal((await status(proxy.port, { path: '/?token=absent' })).status, 404);
      await redis.stop();
      const down = await status(proxy.port, { path: '/?token=desk' });
      assert.ok(down.status === 502 || down.status === 504, `got ${down.status}`);
      assert.equal(proxy.proc.exitCode, null, 'the proxy is still running');
      const tmp = tempDir('wsfy-redis2-');
      second = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp.dir], {
        stdio: 'ignore',
      });
      await waitFor(
        () => {
          spawn('redis-cli', ['-p', String(port), 'set', 'desk', `127.0.0.1:${echo.port}`], { stdio: 'ignore' });
          return echoSession(`ws://127.0.0.1:${proxy.port}/?token=desk`).then(
            () => true,
            () => false,
          );
        },
        { timeoutMs: 10_000, intervalMs: 250, what: 'a session to succeed once Redis is back' },
      );
      tmp.cleanup();
    } finally {
      await proxy.stop();
      if (second) {
        const exited = new Promise((r) => second!.once('exit', r));
        second.kill('SIGTERM');
        await exited;
      }
      await echo.close();
    }
  });
});

describe('auth through the built CLI', () => {
  let echo: TcpTarget;
  let tmp: ReturnType<typeof tempDir>;
  let proxy: ProxyProcess;
  let certProxy: ProxyProcess;
  const goodAuth = `Basic ${Buffer.from('alice:wonder land').toString('base64')}`;
  const ORIGIN = 'https://desk.example';

  before(async () => {
    echo = await startEchoTarget();
    tmp = tempDir();
    writeFileSync(path.join(tmp.dir, 'creds'), '# users\nalice:wonder land\n');
    writeFileSync(path.join(tmp.dir, 'tokens.cfg'), `good: 127.0.0.1:${echo.port}\n`);
    proxy = await startProxy(
      [
        '--token-plugin',
        'TokenFile',
        '--token-source',
        'tokens.cfg',
        '--auth-plugin',
        'BasicHTTPAuth',
        '--auth-source',
        '@creds',
        '--allow-origin',
        ORIGIN,
        '127.0.0.1:0',
      ],
      { cwd: tmp.dir },
    );
    certProxy = await startProxy(['--auth-plugin', 'ClientCertCNAuth', '--auth-source', 'alice bob', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
  });
  after(async () => {
    await proxy.stop();
    await certProxy.stop();
    await echo.close();
    tmp.cleanup();
  });

  it('demands Basic credentials with 401 and the Websockify realm', async () => {
    const answer = await status(proxy.port, { path: '/?token=good', headers: { Origin: ORIGIN } });
    assert.equal(answer.status, 401);
    assert.equal(answer.headers['www-authenticate'], 'Basic realm="Websockify"');
  });

  it('answers the same 401 for a known and an unknown token: no token oracle before auth', async () => {
    assert.equal((await status(proxy.port, { path: '/?token=good', headers: { Origin: ORIGIN } })).status, 401);
    assert.equal((await status(proxy.port, { path: '/?token=nope', headers: { Origin: ORIGIN } })).status, 401);
  });

  const BAD: Array<[string, string, number]> = [
    ['bad base64 padding', 'Basic abc', 403],
    ['base64 garbage without a colon', `Basic ${'x'.repeat(28)}`, 403],
    ['non-alphabet characters', 'Basic !!!!', 403],
    ['another scheme', 'Bearer abc', 403],
    ['a wrong password', `Basic ${Buffer.from('alice:wonderland').toString('base64')}`, 401],
  ];
  for (const [what, header, expected] of BAD) {
    it(`answers ${expected} for ${what} and keeps serving`, async () => {
      assert.equal((await status(proxy.port, { path: '/?token=good', headers: { Origin: ORIGIN, Authorization: header } })).status, expected);
      await echoSession(`ws://127.0.0.1:${proxy.port}/?token=good`, { Authorization: goodAuth, Origin: ORIGIN });
    });
  }

  it('needs every check: good credentials from a foreign Origin get 403', async () => {
    const answer = await status(proxy.port, { path: '/?token=good', headers: { Origin: 'https://evil.example', Authorization: goodAuth } });
    assert.equal(answer.status, 403);
    assert.equal((await status(proxy.port, { path: '/?token=good', headers: { Authorization: goodAuth } })).status, 403);
  });

  it('answers 404 for an unknown token once authenticated', async () => {
    assert.equal((await status(proxy.port, { path: '/?token=nope', headers: { Origin: ORIGIN, Authorization: goodAuth } })).status, 404);
  });

  for (const name of ['SSL_CLIENT_S_DN_CN', 'ssl_client_s_dn_cn', 'Ssl_Client_S_Dn_Cn', 'SSL_Client_S_DN_CN']) {
    it(`ignores a spoofed ${name} header over plain ws:// (403, the reference gave 101)`, async () => {
      assert.equal((await status(certProxy.port, { headers: { [name]: 'alice' } })).status, 403);
    });
  }
});

describe('concurrent-session limits through the built CLI', () => {
  it('answers 429 beyond --max-sessions-per-token and serves again once a session ends', async () => {
    const echo = await startEchoTarget();
    const tmp = tempDir();
    writeFileSync(path.join(tmp.dir, 'tokens.cfg'), `a: 127.0.0.1:${echo.port}\nb: 127.0.0.1:${echo.port}\n`);
    const proxy = await startProxy(['--target-config', path.join(tmp.dir, 'tokens.cfg'), '--max-sessions-per-token', '1', '127.0.0.1:0']);
    try {
      const url = `ws://127.0.0.1:${proxy.port}`;
      const closeA = await openSession(`${url}/?token=a`);
      assert.equal((await status(proxy.port, { path: '/?token=a' })).status, 429);
      await echoSession(`${url}/?token=b`);
      await closeA();
      await waitFor(
        () =>
          echoSession(`${url}/?token=a`).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 2_000, intervalMs: 100, what: 'the slot to be given back when the session ends' },
      );
    } finally {
      await proxy.stop();
      await echo.close();
      tmp.cleanup();
    }
  });

  it('answers 429 beyond --max-sessions-per-ip', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['--max-sessions-per-ip', '2', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const url = `ws://127.0.0.1:${proxy.port}/`;
      const closers = [await openSession(url), await openSession(url)];
      assert.equal((await status(proxy.port, {})).status, 429);
      await closers[0]!();
      await waitFor(
        () =>
          echoSession(url).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 2_000, intervalMs: 100, what: 'the per-address slot to be given back' },
      );
      await closers[1]!();
    } finally {
      await proxy.stop();
      await echo.close();
    }
  });
});
