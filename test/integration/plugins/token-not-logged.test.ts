import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import { startProxy, type ProxyProcess } from '../../support/proxy-process.js';
import { echoSession } from '../../support/echo-session.js';
import { startEchoTarget, type TcpTarget } from '../../support/targets.js';
import { tempDir } from '../../support/temp-dir.js';
import { closeEvent } from '../../support/ws-client.js';

/** A token no other text in the output could contain by chance. */
function secretToken(): string {
  return `Tok${randomBytes(8).toString('hex')}`;
}

/** Opens a session that the proxy accepts and then fails to connect (1011). */
async function failedConnect(url: string): Promise<number> {
  const ws = new WebSocket(url, ['binary']);
  const closed = closeEvent(ws);
  return (await closed).code;
}

/** A socket file nobody listens on (connect: ECONNREFUSED), as a crashed VNC server leaves. */
function staleSocket(file: string): void {
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', file]);
}

function assertTokensAbsent(output: string, tokens: string[]): void {
  for (const token of tokens) assert.ok(!output.includes(token), `token ${token} found in the proxy output:\n${output}`);
}

describe('UnixDomainSocketDirectory: the token (the socket path) never reaches the log', () => {
  let tmp: ReturnType<typeof tempDir>;
  let echo: net.Server;
  let proxy: ProxyProcess;
  const good = secretToken();
  const stale = secretToken();
  const absent = secretToken();

  before(async () => {
    tmp = tempDir();
    const dir = path.join(tmp.dir, 'sockets');
    mkdirSync(dir);
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(path.join(dir, good), r));
    staleSocket(path.join(dir, stale));
    proxy = await startProxy(['-v', '--token-plugin', 'UnixDomainSocketDirectory', '--token-source', dir, '127.0.0.1:0']);
  });
  after(async () => {
    await proxy.stop();
    await new Promise((r) => echo.close(r));
    tmp.cleanup();
  });

  it('on connect, on close, on a failed connect and for an unknown token', async () => {
    const url = `ws://127.0.0.1:${proxy.port}`;
    await echoSession(`${url}/?token=${good}`);
    await proxy.waitForOutput(/session closed/);
    assert.equal(await failedConnect(`${url}/?token=${stale}`), 1011);
    await proxy.waitForOutput(/Failed to connect to .*ECONNREFUSED/);
    await assert.rejects(echoSession(`${url}/websockify/${absent}`), /HTTP 404/);
    await proxy.waitForOutput(/token not found/);
    assertTokensAbsent(proxy.output(), [good, stale, absent]);
    assert.match(proxy.output(), /connecting to: unix socket .*\/sockets\/\[token\]/);
  });
});

describe('TokenFileName: neither the token nor its file path reaches the log', () => {
  let tmp: ReturnType<typeof tempDir>;
  let target: TcpTarget;
  let proxy: ProxyProcess;
  const good = secretToken();
  const garbage = secretToken();
  const oversized = secretToken();
  const absent = secretToken();

  before(async () => {
    tmp = tempDir();
    const dir = path.join(tmp.dir, 'tokens');
    mkdirSync(dir);
    target = await startEchoTarget();
    writeFileSync(path.join(dir, good), `127.0.0.1:${target.port}\n`);
    writeFileSync(path.join(dir, garbage), 'not a target\n');
    writeFileSync(path.join(dir, oversized), Buffer.alloc(65 * 1024, 0x41));
    proxy = await startProxy(['-v', '--token-plugin', 'TokenFileName', '--token-source', dir, '127.0.0.1:0']);
  });
  after(async () => {
    await proxy.stop();
    await target.close();
    tmp.cleanup();
  });

  it('on a session, a file that is not a target, one that cannot be read and an unknown token', async () => {
    const url = `ws://127.0.0.1:${proxy.port}`;
    await echoSession(`${url}/?token=${good}`);
    await proxy.waitForOutput(/session closed/);
    await assert.rejects(echoSession(`${url}/?token=${garbage}`), /HTTP 502/);
    await proxy.waitForOutput(/does not hold host:port/);
    await assert.rejects(echoSession(`${url}/?token=${oversized}`), /HTTP 502/);
    await proxy.waitForOutput(/TokenFileName: cannot read/);
    await assert.rejects(echoSession(`${url}/websockify/${absent}`), /HTTP 404/);
    await proxy.waitForOutput(/token not found/);
    assertTokensAbsent(proxy.output(), [good, garbage, oversized, absent]);
  });
});
