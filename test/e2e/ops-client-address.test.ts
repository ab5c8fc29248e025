import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseProxyHeader } from '../../src/server/proxy-protocol.js';
import { startProxy } from '../support/proxy-process.js';
import { closedPort, ipv6LoopbackAvailable, startEchoTarget, startTcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { WebSocket } from 'ws';

function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function session(url: string, headers: Record<string, string> = {}): Promise<void> {
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const c = new WebSocket(url, ['binary'], { headers });
    c.once('open', () => resolve(c));
    c.once('error', reject);
  });
  ws.send(Buffer.from('ping'));
  await receiveBytes(ws, 4);
  ws.close(1000);
  await closeEvent(ws);
}

test('X-Forwarded-For from an untrusted peer is ignored; from a trusted one the rightmost untrusted hop is the client', async () => {
  const target = await startEchoTarget();
  const untrusting = await startProxy(['--log-format', 'json', '--trust-proxy', '10.0.0.0/8', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  const trusting = await startProxy(['--log-format', 'json', '--trust-proxy', '127.0.0.1,10.0.0.0/8', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    await session(`ws://127.0.0.1:${untrusting.port}/`, { 'X-Forwarded-For': '6.6.6.6', 'X-Real-IP': '6.6.6.6' });
    await untrusting.waitForOutput(/session closed/);
    const spoofed = jsonLines(untrusting.output()).find((r) => r.msg === 'session closed')!;
    assert.equal(spoofed.peer, '127.0.0.1');
    assert.equal(spoofed.client, undefined, 'a spoofed header must not become the client address');
    assert.ok(!untrusting.output().includes('6.6.6.6'));

    await session(`ws://127.0.0.1:${trusting.port}/`, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.23, 10.1.1.1' });
    await trusting.waitForOutput(/session closed/);
    const real = jsonLines(trusting.output()).filter((r) => r.session === 1);
    assert.ok(real.length >= 2);
    for (const r of real.filter((x) => x.msg !== 'Plain non-SSL (ws://) WebSocket connection')) assert.equal(r.client, '198.51.100.23', JSON.stringify(r));
    assert.equal(real.find((r) => r.msg === 'session closed')!.peer, '127.0.0.1');
  } finally {
    await untrusting.stop();
    await trusting.stop();
    await target.close();
  }
});

test('--send-proxy-v2 prefixes the target stream with the real client address', async () => {
  let header: Buffer | null = null;
  const target = await startTcpTarget((socket) => {
    socket.once('data', (first) => {
      const parsed = parseProxyHeader(first);
      assert.notEqual(parsed, 'more');
      if (parsed === 'more') return;
      header = first.subarray(0, parsed.length);
      socket.write(JSON.stringify(parsed.header));
      socket.write(first.subarray(parsed.length));
      socket.pipe(socket);
    });
  });
  const proxy = await startProxy(['--send-proxy-v2', '--trust-proxy', '127.0.0.1', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const c = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, ['binary'], { headers: { 'X-Forwarded-For': '203.0.113.77' } });
      c.once('open', () => resolve(c));
      c.once('error', reject);
    });
    let reply = '';
    const complete = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        reply += data.toString();
        if (reply.endsWith('}}x')) resolve();
      });
    });
    ws.send(Buffer.from('x'));
    await complete;
    ws.close(1000);
    await closeEvent(ws);
    assert.ok(header);
    const got = JSON.parse(reply.slice(0, -1)) as { source: { address: string; port: number }; destination: { port: number } };
    assert.deepEqual(got.source, { address: '203.0.113.77', port: 0 });
    assert.equal(got.destination.port, proxy.port);
  } finally {
    await proxy.stop();
    await target.close();
  }
});

test('--proxy-protocol behind a real haproxy (send-proxy-v2): the client address is the one haproxy saw; direct clients are refused', async () => {
  const v6 = await ipv6LoopbackAvailable();
  const target = await startEchoTarget();
  const proxy = await startProxy(['--log-format', 'json', '--proxy-protocol', '--trust-proxy', '127.0.0.1', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-haproxy-e2e-'));
  const front = await closedPort();
  const bind = v6 ? `[::1]:${front}` : `127.0.0.1:${front}`;
  await writeFile(
    path.join(dir, 'haproxy.cfg'),
    `global\n  maxconn 50\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n` +
      `frontend f\n  bind ${bind}\n  default_backend b\nbackend b\n  server s 127.0.0.1:${proxy.port} send-proxy-v2\n`,
  );
  const haproxy = spawn('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  haproxy.on('error', (err) => assert.fail(`haproxy is needed (Debian package haproxy): ${err.message}`));
  try {
    const host = v6 ? '[::1]' : '127.0.0.1';
    const ws = await waitFor(() => openClient(`ws://${host}:${front}/`).catch(() => null), {
      timeoutMs: 5_000,
      intervalMs: 50,
      what: 'a connection through haproxy',
    });
    const local = (ws as unknown as { _socket: net.Socket })._socket.localPort;
    ws.send(Buffer.from('hi'));
    await receiveBytes(ws, 2);
    ws.close(1000);
    await closeEvent(ws);
    await proxy.waitForOutput(/session closed/);
    const closed = jsonLines(proxy.output()).find((r) => r.msg === 'session closed')!;
    assert.equal(closed.peer, v6 ? '::1' : '127.0.0.1');
    assert.ok(local);
    // A direct client sends no PROXY header: its connection is dropped, never served.
    const direct = await openClient(`ws://127.0.0.1:${proxy.port}/`).then(
      () => 'opened',
      (err: Error) => err.message,
    );
    assert.notEqual(direct, 'opened');
    await proxy.waitForOutput(/connection refused: connection did not start with a PROXY protocol header|connection refused: timed out/);
  } finally {
    haproxy.kill('SIGTERM');
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});
