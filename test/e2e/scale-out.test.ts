import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { findTool } from '../support/system-tool.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { startEchoTarget } from '../support/targets.js';
import { startHaproxy } from '../support/haproxy.js';
import { startNginx } from '../support/nginx.js';
import { startRedis, type RunningRedis } from '../support/redis-server.js';
import { deferCleanup } from '../support/cleanup.js';
import { waitFor } from '../support/wait.js';
import { docBlock, substitute } from '../support/doc-blocks.js';
import { openWebsock, echoRoundTrip, nextEvent } from '../support/websock-node.js';
import type { Websock } from '../../web/websock/websock.js';

/** Sessions an instance has started, counted from its log ("connecting to: ..." per session). */
function sessionsOn(proxy: ProxyProcess): number {
  return proxy.output().match(/connecting to: /g)?.length ?? 0;
}

async function drainScenario(t: TestContext, balancer: 'haproxy' | 'nginx', tokens: 'redis' | 'static', drainTimeoutSec: number): Promise<void> {
  const bin = balancer === 'haproxy' ? findTool(t, '/usr/sbin/haproxy', 'haproxy') : findTool(t, '/usr/sbin/nginx', 'nginx');
  if (bin === null) return;
  if (tokens === 'redis' && findTool(t, '/usr/bin/redis-server', 'redis-server') === null) return;
  const defer = deferCleanup(t);
  const echo = await startEchoTarget();
  defer(() => echo.close());
  let redis: RunningRedis | null = null;
  if (tokens === 'redis') {
    redis = await startRedis();
    defer(() => redis!.stop());
  }
  // Both instances run the same command line, as docs/scaling.md says.
  const args = [
    '--drain-timeout',
    String(drainTimeoutSec),
    ...(redis !== null
      ? ['--token-plugin', 'TokenRedis', '--token-source', `127.0.0.1:${redis.port}:::vnc`, '127.0.0.1:0']
      : ['127.0.0.1:0', `127.0.0.1:${echo.port}`]),
  ];
  const a = await startProxy(args);
  defer(() => a.stop('SIGKILL'));
  const b = await startProxy(args);
  defer(() => b.stop('SIGKILL'));
  // A refused open says what both instances (and the balancer, once there is one) saw.
  const openExplained = (target: string, balancerLog = (): string => ''): Promise<Websock> =>
    openWebsock(target).catch(async (err: Error) => {
      // A fixed time, on the failure path only: haproxy logs a refused request just after answering
      // it, and nothing says when; the diagnostic below wants that line.
      await new Promise((r) => setTimeout(r, 300));
      throw new Error(`${err.message} from ${target}\n--- ${balancer}:\n${balancerLog()}\n--- A:\n${a.output()}\n--- B:\n${b.output()}`);
    });
  let query = '';
  if (redis !== null) {
    // A token added once in Redis is valid on every instance at once, and revoked the same way.
    const token = 'desk-' + Math.random().toString(36).slice(2);
    for (const p of [a, b]) await assert.rejects(openWebsock(`ws://127.0.0.1:${p.port}/?token=${token}`), /HTTP 404/);
    assert.equal(redis.cli('SET', `vnc:${token}`, `127.0.0.1:${echo.port}`), 'OK');
    const running: Websock[] = [];
    for (const p of [a, b]) {
      const sock = await openExplained(`ws://127.0.0.1:${p.port}/?token=${token}`);
      await echoRoundTrip(sock, 1024);
      running.push(sock);
    }
    assert.equal(redis.cli('DEL', `vnc:${token}`), '1');
    for (const p of [a, b]) await assert.rejects(openWebsock(`ws://127.0.0.1:${p.port}/?token=${token}`), /HTTP 404/);
    // Revocation refuses new sessions; the ones admitted before keep running.
    for (const sock of running) {
      await echoRoundTrip(sock, 1024);
      sock.close();
    }
    assert.equal(redis.cli('SET', `vnc:${token}`, `127.0.0.1:${echo.port}`), 'OK');
    query = `?token=${token}`;
  }
  const directSessions = { a: sessionsOn(a), b: sessionsOn(b) };
  const backends = [
    ['10.0.0.11:6080', `127.0.0.1:${a.port}`],
    ['10.0.0.12:6080', `127.0.0.1:${b.port}`],
  ] as const;
  const lb =
    balancer === 'haproxy'
      ? await startHaproxy(bin, substitute(docBlock('scaling.md', 'haproxy'), [['bind :6080', 'bind 127.0.0.1:{{PORT}}'], ...backends]))
      : await startNginx(bin, substitute(docBlock('scaling.md', 'nginx-balancer'), [['listen 80;', 'listen 127.0.0.1:{{PORT}};'], ...backends]));
  defer(() => lb.stop());
  const url = `ws://127.0.0.1:${lb.port}/websockify${query}`;
  const openViaBalancer = (): Promise<Websock> => openExplained(url, () => ('output' in lb ? (lb as { output(): string }).output() : ''));

  // Four long-lived sessions: leastconn puts two on each instance.
  const first: Websock[] = [];
  for (let i = 0; i < 4; i++) {
    const sock = await openViaBalancer();
    await echoRoundTrip(sock, 8192);
    first.push(sock);
  }
  assert.equal(sessionsOn(a) - directSessions.a, 2, a.output());
  assert.equal(sessionsOn(b) - directSessions.b, 2, b.output());

  // Which client sessions live on A? Stop A and see who gets 1001; exactly two must.
  const closes = first.map((sock) => {
    const ev: { code?: number; reason?: string; atMs?: number } = {};
    sock.on('close', (e) => Object.assign(ev, { code: e.code, reason: e.reason, atMs: Date.now() }));
    return ev;
  });
  const sigtermAt = Date.now();
  a.proc.kill('SIGTERM');
  // Logged right after the listener closes (src/cli/main.ts): from here on A refuses new connections.
  await a.waitForOutput(/In exit \(SIGTERM\)/);

  // New sessions right after the SIGTERM all land on B (refused connects are redispatched);
  // with --drain-timeout this happens while A's sessions are still running.
  const bBefore = sessionsOn(b);
  const later: Websock[] = [];
  for (let i = 0; i < 4; i++) {
    const sock = await openViaBalancer();
    await echoRoundTrip(sock, 8192);
    later.push(sock);
  }
  assert.equal(sessionsOn(b) - bBefore, 4);
  if (drainTimeoutSec > 0) {
    // Inside the drain window every old session, on A too, still carries data.
    assert.ok(Date.now() - sigtermAt < drainTimeoutSec * 1000 - 300, 'test too slow to observe the drain window');
    assert.equal(closes.filter((c) => c.code !== undefined).length, 0, 'nothing closed during the drain window');
    for (const sock of first) await echoRoundTrip(sock, 4096);
  }

  await waitFor(() => closes.filter((c) => c.code !== undefined).length >= 2, {
    timeoutMs: drainTimeoutSec * 1000 + 5000,
    intervalMs: 20,
    what: 'the sessions on the stopped instance to close',
  });
  const exit = await a.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, 'the drained instance exits 0');
  const closed = closes.filter((c) => c.code !== undefined);
  assert.equal(closed.length, 2, 'only the stopped instance’s sessions end');
  for (const c of closed) assert.deepEqual([c.code, c.reason], [1001, 'Server shutting down']);
  const drainMs = Math.max(...closed.map((c) => c.atMs! - sigtermAt));
  assert.ok(drainMs >= drainTimeoutSec * 1000 - 50, `1001 came ${drainMs} ms after SIGTERM, before the ${drainTimeoutSec}s drain ended`);
  t.diagnostic(`${balancer}, --drain-timeout ${drainTimeoutSec}: sessions on the stopped instance got 1001 ${drainMs} ms after SIGTERM`);

  // The sessions on B are untouched and still carry data.
  const survivors = first.filter((_, i) => closes[i]!.code === undefined);
  for (const sock of [...survivors, ...later]) await echoRoundTrip(sock, 65536);
  for (const sock of [...survivors, ...later]) {
    const done = nextEvent(sock, 'close');
    sock.close(1000);
    await done;
  }
}

test('two instances sharing TokenRedis behind haproxy (docs/scaling.md): a token set in Redis works at once on both; on SIGTERM with --drain-timeout 3 new sessions land on the other at once, old ones run on and then end with 1001', (t) =>
  drainScenario(t, 'haproxy', 'redis', 3));

test('two instances behind nginx least_conn (docs/scaling.md): SIGTERM without a drain window ends that instance’s sessions with 1001 at once, nginx retries new ones on the other', (t) =>
  drainScenario(t, 'nginx', 'static', 0));
