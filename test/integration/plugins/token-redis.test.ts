import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { ConfigError, PluginFailure, PluginTimeout } from '../../../src/errors.js';
import { TokenRedis } from '../../../src/plugins/token/token-redis.js';
import { captureLogger } from '../../support/capture-logger.js';
import { freePort, startRedis, type RunningRedis } from '../../support/redis-server.js';
import { waitFor } from '../../support/wait.js';

describe('TokenRedis against a real redis-server', () => {
  let redis: RunningRedis;
  before(async () => {
    redis = await startRedis(['--requirepass', 'verysecret']);
    const set = (key: string, value: string) => redis.cli('-a', 'verysecret', '--no-auth-warning', 'set', key, value);
    set('json', '{"host": "remote_host:5900"}');
    set('json-spaces', '  {"host": "remote_host:5900"}  ');
    set('json-split', '{"host": "remote_host", "port": 5900}');
    set('plain', 'remote_host:5900');
    set('plain-spaces', ' remote_host:5900 ');
    set('v6', '::1:5901');
    set('v6b', '[::1]:5902');
    set('sock', 'unix_socket:/run/vnc.sock');
    set('badjson', '{"host": "remote_host:5900"   ');
    set('garbage', 'nonsense');
    set('ns1:ns2:inner', 'namespaced:1');
    redis.cli('-a', 'verysecret', '--no-auth-warning', 'rpush', 'Tok-list-4f2a', 'remote_host:5900');
    redis.cli('-a', 'verysecret', '--no-auth-warning', 'hset', 'Tok-hash-9c1e', 'host', 'remote_host:5900');
    redis.cli('-a', 'verysecret', '--no-auth-warning', '-n', '2', 'set', 'db2', 'in-db-two:2');
  });
  after(async () => {
    await redis.stop();
  });

  const plugin = (source: string, timeoutMs = 2000) => TokenRedis.create(source, { logger: captureLogger().logger, timeoutMs });
  const TARGET = { kind: 'tcp', host: 'remote_host', port: 5900 };

  it('reads JSON and plain values, with and without surrounding spaces', async () => {
    const p = plugin(`127.0.0.1:${redis.port}::verysecret`);
    try {
      for (const key of ['json', 'json-spaces', 'json-split', 'plain', 'plain-spaces']) assert.deepEqual(await p.lookup(key), TARGET, key);
      assert.deepEqual(await p.lookup('v6'), { kind: 'tcp', host: '::1', port: 5901 });
      assert.deepEqual(await p.lookup('v6b'), { kind: 'tcp', host: '::1', port: 5902 });
      assert.deepEqual(await p.lookup('sock'), { kind: 'unix', path: '/run/vnc.sock' });
    } finally {
      await p.close();
    }
  });

  it('answers null for a missing key, invalid JSON and an unparseable value', async () => {
    const p = plugin(`127.0.0.1:${redis.port}::verysecret`);
    try {
      assert.equal(await p.lookup('absent'), null);
      assert.equal(await p.lookup('badjson'), null);
      assert.equal(await p.lookup('garbage'), null);
    } finally {
      await p.close();
    }
  });

  it('answers a key of another type exactly like a missing one (404, no key-type oracle), with one log line without the token', async () => {
    const { logger, sink } = captureLogger();
    const p = TokenRedis.create(`127.0.0.1:${redis.port}::verysecret`, { logger, timeoutMs: 2000 });
    try {
      const before = sink.records.length;
      assert.equal(await p.lookup('Tok-list-4f2a'), null);
      const lines = sink.records.slice(before);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!.message, /^TokenRedis: the key for a token is not a string, token not found$/);
      assert.equal(await p.lookup('Tok-hash-9c1e'), null);
      assert.equal(await p.lookup('Tok-absent-77b0'), null);
      assert.ok(!/Tok-/.test(sink.text()), sink.text());
    } finally {
      await p.close();
    }
  });

  it('prefixes the key with a quoted nested namespace and reads the chosen db', async () => {
    const ns = plugin(`127.0.0.1:${redis.port}::verysecret:"ns1:ns2"`);
    const db2 = plugin(`127.0.0.1:${redis.port}:2:verysecret`);
    try {
      assert.deepEqual(await ns.lookup('inner'), { kind: 'tcp', host: 'namespaced', port: 1 });
      assert.equal(await ns.lookup('plain'), null);
      assert.deepEqual(await db2.lookup('db2'), { kind: 'tcp', host: 'in-db-two', port: 2 });
    } finally {
      await ns.close();
      await db2.close();
    }
  });

  it('shares one connection across many lookups', async () => {
    const p = plugin(`127.0.0.1:${redis.port}::verysecret`);
    try {
      const before = Number(/connected_clients:(\d+)/.exec(redis.cli('-a', 'verysecret', '--no-auth-warning', 'info', 'clients'))![1]);
      await Promise.all(Array.from({ length: 50 }, () => p.lookup('plain')));
      const during = Number(/connected_clients:(\d+)/.exec(redis.cli('-a', 'verysecret', '--no-auth-warning', 'info', 'clients'))![1]);
      assert.ok(during - before <= 1, `${during - before} new connections`);
    } finally {
      await p.close();
    }
  });

  it('answers a plugin failure (502), not a crash, with a wrong password', async () => {
    const p = plugin(`127.0.0.1:${redis.port}::wrongpass`);
    try {
      await assert.rejects(p.lookup('plain'), (err: unknown) => err instanceof PluginFailure || err instanceof PluginTimeout);
    } finally {
      await p.close();
    }
  });

  it('answers 502/504 quickly while Redis is down, and recovers when it is back', async () => {
    const port = await freePort();
    const p = plugin(`127.0.0.1:${port}`, 1000);
    try {
      const started = Date.now();
      await assert.rejects(
        p.lookup('plain'),
        (err: unknown) => (err instanceof PluginFailure && err.httpStatus === 502) || (err instanceof PluginTimeout && err.httpStatus === 504),
      );
      assert.ok(Date.now() - started < 3000);
    } finally {
      await p.close();
    }
  });

  it('refuses a malformed source at startup', () => {
    assert.throws(() => plugin('h:1:2:3:4:5'), ConfigError);
    assert.throws(() => plugin('h:notaport'), ConfigError);
    assert.throws(() => TokenRedis.create(null, { logger: captureLogger().logger, timeoutMs: 1000 }), /requires --token-source/);
  });
});

describe('TokenRedis when Redis goes away and comes back', () => {
  it('fails lookups while the server is stopped and serves again after a restart on the same port', async () => {
    const first = await startRedis();
    const port = first.port;
    first.cli('set', 'tok', 'h:1');
    const p = TokenRedis.create(`127.0.0.1:${port}`, { logger: captureLogger().logger, timeoutMs: 1000 });
    try {
      assert.deepEqual(await p.lookup('tok'), { kind: 'tcp', host: 'h', port: 1 });
      await first.stop();
      await assert.rejects(p.lookup('tok'), (err: unknown) => err instanceof PluginFailure || err instanceof PluginTimeout);
      const { spawn } = await import('node:child_process');
      const second = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      try {
        const { spawnSync } = await import('node:child_process');
        const answer = await waitFor(
          async () => {
            try {
              spawnSync('redis-cli', ['-p', String(port), 'set', 'tok', 'h:2']);
              return await p.lookup('tok');
            } catch {
              return null; // still reconnecting
            }
          },
          { timeoutMs: 10_000, intervalMs: 200, what: 'a lookup through the restarted Redis' },
        );
        assert.deepEqual(answer, { kind: 'tcp', host: 'h', port: 2 });
      } finally {
        const exited = new Promise((r) => second.once('exit', r));
        second.kill('SIGTERM');
        await exited;
      }
    } finally {
      await p.close();
    }
  });
});
