import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { runCli, startProxy, type ProxyProcess } from '../../support/proxy-process.js';
import { readToEnd, sendRaw, upgradeRequest, connect } from '../../support/raw-ws.js';
import { ipv6LoopbackAvailable, startEchoTarget, type TcpTarget } from '../../support/targets.js';
import { echoSession } from '../../support/echo-session.js';
import { tempDir } from '../../support/temp-dir.js';

const SECRET = 'Zq9-secret-token';

describe('TokenFile routing through the built CLI', () => {
  let tmp: ReturnType<typeof tempDir>;
  let echo: TcpTarget;
  let echo6: TcpTarget | null = null;
  let unixEcho: net.Server;
  let proxy: ProxyProcess;
  let tokens: string;
  let url: string;

  before(async () => {
    tmp = tempDir();
    echo = await startEchoTarget();
    if (await ipv6LoopbackAvailable()) echo6 = await startEchoTarget('::1');
    const sock = path.join(tmp.dir, 'echo.sock');
    unixEcho = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => unixEcho.listen(sock, r));
    tokens = path.join(tmp.dir, 'tokens.cfg');
    const lines = [`${SECRET}: 127.0.0.1:${echo.port}`, `sock: unix_socket:${sock}`, '# comment', ''];
    if (echo6) lines.push(`v6b: [::1]:${echo6.port}`, `v6: ::1:${echo6.port}`);
    writeFileSync(tokens, lines.join('\n') + '\n');
    proxy = await startProxy(['--target-config', tokens, '127.0.0.1:0']);
    url = `ws://127.0.0.1:${proxy.port}`;
  });
  after(async () => {
    await proxy.stop();
    await echo.close();
    await echo6?.close();
    await new Promise((r) => unixEcho.close(r));
    tmp.cleanup();
  });

  it('routes ?token= to the target in the token file', async () => {
    await echoSession(`${url}/websockify?token=${SECRET}`);
  });

  it('routes a unix_socket: target', async () => {
    await echoSession(`${url}/?token=sock`);
  });

  it('routes IPv6 targets written with and without brackets', async (t) => {
    if (!echo6) return t.skip('no IPv6 loopback on this machine');
    await echoSession(`${url}/?token=v6b`);
    await echoSession(`${url}/?token=v6`);
  });

  it('takes the token from the URL path, and from a cookie when the Origin is checked', async () => {
    await echoSession(`${url}/websockify/${SECRET}`);
    const checked = await startProxy(['--target-config', tokens, '--allow-origin', 'https://desk.example', '127.0.0.1:0']);
    try {
      await echoSession(`ws://127.0.0.1:${checked.port}/websockify`, { Cookie: `theme=dark; token=${SECRET}`, Origin: 'https://desk.example' });
    } finally {
      await checked.stop();
    }
  });

  it('answers 404 before the upgrade for an unknown token, logging it without the token', async () => {
    const probe = 'unknown-Probe-7731';
    const answer = await sendRaw(proxy.port, upgradeRequest({ path: `/?token=${probe}` }));
    assert.equal(answer.status, 404);
    const body = (await readToEnd(answer.socket)).toString();
    assert.ok(!body.includes(probe));
    await proxy.waitForOutput(/token not found/);
    assert.ok(!proxy.output().includes(probe), 'the token must not appear in the log');
  });

  it('answers 404 for a missing token', async () => {
    const answer = await sendRaw(proxy.port, upgradeRequest({ path: '/websockify' }));
    assert.equal(answer.status, 404);
    answer.socket.destroy();
  });

  it('never writes a token to the log, whatever source carried it', () => {
    assert.ok(proxy.output().includes("Path: '/websockify/[redacted]'"), proxy.output());
    assert.ok(!proxy.output().includes(SECRET), 'the token must not appear in the log');
  });

  it('sees a token added to the file without a restart', async () => {
    writeFileSync(tokens, `added: 127.0.0.1:${echo.port}\n`, { flag: 'a' });
    await echoSession(`${url}/?token=added`);
  });
});

describe('--silent-token-failure keeps the reference behaviour', () => {
  it('closes the connection with no HTTP response on an unknown token, and still serves known ones', async () => {
    const tmp = tempDir();
    const echo = await startEchoTarget();
    const tokens = path.join(tmp.dir, 'tokens.cfg');
    writeFileSync(tokens, `good: 127.0.0.1:${echo.port}\n`);
    const proxy = await startProxy(['--token-plugin', 'TokenFile', '--token-source', tokens, '--silent-token-failure', '127.0.0.1:0']);
    try {
      const socket = await connect(proxy.port);
      socket.write(upgradeRequest({ path: '/?token=bad' }));
      const received = await readToEnd(socket);
      assert.equal(received.length, 0, 'no bytes at all, as the reference');
      await echoSession(`ws://127.0.0.1:${proxy.port}/?token=good`);
    } finally {
      await proxy.stop();
      await echo.close();
      tmp.cleanup();
    }
  });
});

describe('UnixDomainSocketDirectory through the built CLI: traversal tokens', () => {
  it('refuses every token that would leave the directory with 404 and keeps serving', async () => {
    const tmp = tempDir();
    const dir = path.join(tmp.dir, 'vnc');
    const sibling = path.join(tmp.dir, 'vnc2');
    mkdirSync(dir);
    mkdirSync(sibling);
    const servers = [path.join(dir, 'desk.sock'), path.join(sibling, 'evil.sock'), path.join(tmp.dir, 'top.sock')].map((file) => {
      const server = net.createServer((s) => s.pipe(s));
      server.listen(file);
      return server;
    });
    await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? r(null) : s.once('listening', r)))));
    const proxy = await startProxy(['--token-plugin', 'UnixDomainSocketDirectory', '--token-source', dir, '127.0.0.1:0']);
    try {
      const hostile = ['../vnc2/evil.sock', `${sibling}/evil.sock`, '../top.sock', `${dir}/desk.sock`, '..', '%2e%2e%2Fvnc2%2Fevil.sock', 'desk.sock/..'];
      for (const token of hostile) {
        const answer = await sendRaw(proxy.port, upgradeRequest({ path: `/?token=${encodeURIComponent(token)}` }));
        assert.equal(answer.status, 404, token);
        answer.socket.destroy();
      }
      await echoSession(`ws://127.0.0.1:${proxy.port}/?token=desk.sock`);
    } finally {
      await proxy.stop();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      tmp.cleanup();
    }
  });
});

describe('plugin start-up failures', () => {
  const CASES: Array<[string, string[], RegExp]> = [
    ['an unknown plugin name', ['--token-plugin', 'NoSuchPlugin', '127.0.0.1:0'], /unknown token plugin NoSuchPlugin/],
    [
      'a missing token file',
      ['--token-plugin', 'TokenFile', '--token-source', '/nonexistent/tokens.cfg', '127.0.0.1:0'],
      /cannot read token source \/nonexistent\/tokens\.cfg/,
    ],
    ['a missing source', ['--token-plugin', 'TokenFileName', '127.0.0.1:0'], /requires --token-source/],
    ['a bad Redis source', ['--token-plugin', 'TokenRedis', '--token-source', 'h:notaport', '127.0.0.1:0'], /port is not a port number/],
    ['an unknown auth plugin', ['--auth-plugin', 'Nope', '127.0.0.1:0', '127.0.0.1:1'], /unknown auth plugin Nope/],
    [
      'an unreadable credentials file',
      ['--auth-plugin', 'BasicHTTPAuth', '--auth-source', '@/nonexistent/creds', '127.0.0.1:0', '127.0.0.1:1'],
      /cannot read credentials file/,
    ],
  ];
  for (const [what, args, message] of CASES) {
    it(`exits 1 with a clear message for ${what}`, async () => {
      const { code, stderr } = await runCli(args);
      assert.equal(code, 1, stderr);
      assert.match(stderr, message);
    });
  }
});

describe('--host-token through the built CLI', () => {
  it('routes by the Host header, IPv6 literals included, and ignores ?token=', async () => {
    const tmp = tempDir();
    const echo = await startEchoTarget();
    const tokens = path.join(tmp.dir, 'tokens.cfg');
    writeFileSync(tokens, `desk1.example: 127.0.0.1:${echo.port}\n::1: 127.0.0.1:${echo.port}\n`);
    const proxy = await startProxy(['--token-plugin', 'TokenFile', '--token-source', tokens, '--host-token', '127.0.0.1:0']);
    try {
      const url = `ws://127.0.0.1:${proxy.port}/`;
      await echoSession(url, { Host: `desk1.example:${proxy.port}` });
      await echoSession(url, { Host: `[::1]:${proxy.port}` });
      const answer = await sendRaw(proxy.port, upgradeRequest({ host: 'other.example', path: '/?token=desk1.example' }));
      assert.equal(answer.status, 404);
      answer.socket.destroy();
    } finally {
      await proxy.stop();
      await echo.close();
      tmp.cleanup();
    }
  });
});
