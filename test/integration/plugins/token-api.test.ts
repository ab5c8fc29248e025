import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, PluginFailure, PluginTimeout } from '../../../src/errors.js';
import { BaseTokenAPI } from '../../../src/plugins/token/base-token-api.js';
import { JSONTokenApi } from '../../../src/plugins/token/json-token-api.js';
import { captureLogger } from '../../support/capture-logger.js';

/**
 * A token API on loopback. It records every raw request path, so tests can prove how the token
 * was put in the URL. Routes: /plain/<tok>, /json/<tok>, /hang/<tok>, /fail/<tok>, /huge/<tok>.
 */
describe('BaseTokenAPI and JSONTokenApi against a real HTTP API on loopback', () => {
  let server: http.Server;
  let base: string;
  const seen: string[] = [];
  const hanging = new Set<http.ServerResponse>();

  before(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '';
      seen.push(url);
      const [, route, token = ''] = /^\/([a-z]+)\/([^?]*)/.exec(url) ?? [];
      const decoded = decodeURIComponent(token);
      if (route === 'hang') {
        hanging.add(res);
        return;
      }
      if (route === 'fail') return void res.writeHead(500).end('boom');
      if (route === 'huge') return void res.writeHead(200).end('x'.repeat(200_000));
      const targets: Record<string, string> = { desk1: '127.0.0.1:5901', v6: '[::1]:5906', 'a/b?c=d#e': '10.0.0.9:5909', bad: 'no-port' };
      const target = targets[decoded];
      if (target === undefined) return void res.writeHead(404).end('no such token');
      if (route === 'json') {
        const colon = target.lastIndexOf(':');
        const body =
          decoded === 'bad' ? '{not json' : JSON.stringify({ host: target.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(target.slice(colon + 1)) });
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
      res.writeHead(200).end(target + '\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const ctx = (timeoutMs = 2000) => ({ logger: captureLogger().logger, timeoutMs });

  it('BaseTokenAPI maps a token to the host:port the API answers', async () => {
    const plugin = BaseTokenAPI.create(`${base}/plain/%s`, ctx());
    assert.deepEqual(await plugin.lookup('desk1'), { kind: 'tcp', host: '127.0.0.1', port: 5901 });
    assert.deepEqual(await plugin.lookup('v6'), { kind: 'tcp', host: '::1', port: 5906 });
  });

  it('BaseTokenAPI treats a 404 answer as an unknown token', async () => {
    const plugin = BaseTokenAPI.create(`${base}/plain/%s`, ctx());
    assert.equal(await plugin.lookup('unknown'), null);
  });

  it('URL-encodes the token, so ../, ? and # cannot reach another API path (the reference pasted it in raw)', async () => {
    const plugin = BaseTokenAPI.create(`${base}/plain/%s`, ctx());
    seen.length = 0;
    assert.equal(await plugin.lookup('../fail/x?y=#'), null);
    assert.deepEqual(seen, ['/plain/..%2Ffail%2Fx%3Fy%3D%23']);
    seen.length = 0;
    assert.deepEqual(await plugin.lookup('a/b?c=d#e'), { kind: 'tcp', host: '10.0.0.9', port: 5909 });
    assert.deepEqual(seen, ['/plain/a%2Fb%3Fc%3Dd%23e']);
  });

  it('refuses the dot-segment tokens . and .. without calling the API', async () => {
    const plugin = BaseTokenAPI.create(`${base}/plain/%s`, ctx());
    seen.length = 0;
    assert.equal(await plugin.lookup('..'), null);
    assert.equal(await plugin.lookup('.'), null);
    assert.deepEqual(seen, []);
  });

  it('gives up on a hanging API after the timeout with a PluginTimeout (504)', async () => {
    const plugin = BaseTokenAPI.create(`${base}/hang/%s`, ctx(300));
    const started = Date.now();
    await assert.rejects(plugin.lookup('desk1'), (err: unknown) => err instanceof PluginTimeout && err.httpStatus === 504);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
  });

  it('answers a plugin failure (502) for a 5xx API, an unreachable API, a bad body and a huge body', async () => {
    await assert.rejects(
      BaseTokenAPI.create(`${base}/fail/%s`, ctx()).lookup('desk1'),
      (err: unknown) => err instanceof PluginFailure && err.httpStatus === 502,
    );
    await assert.rejects(BaseTokenAPI.create(`${base}/plain/%s`, ctx()).lookup('bad'), PluginFailure);
    await assert.rejects(BaseTokenAPI.create(`${base}/huge/%s`, ctx()).lookup('desk1'), PluginFailure);
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(BaseTokenAPI.create(`http://127.0.0.1:${port}/%s`, ctx()).lookup('secret-token'), (err: unknown) => {
      assert.ok(err instanceof PluginFailure);
      assert.ok(!err.message.includes('secret-token'), 'the token must not appear in the error');
      return true;
    });
  });

  it('JSONTokenApi maps a token to the host and port of the JSON answer', async () => {
    const plugin = JSONTokenApi.create(`${base}/json/%s`, ctx());
    assert.deepEqual(await plugin.lookup('desk1'), { kind: 'tcp', host: '127.0.0.1', port: 5901 });
    assert.deepEqual(await plugin.lookup('v6'), { kind: 'tcp', host: '::1', port: 5906 });
    assert.equal(await plugin.lookup('unknown'), null);
    await assert.rejects(plugin.lookup('bad'), (err: unknown) => err instanceof PluginFailure && /not JSON/.test(err.message));
  });

  it('refuses at startup a source that is not an http(s) URL with %s', () => {
    assert.throws(() => BaseTokenAPI.create(null, ctx()), ConfigError);
    assert.throws(() => BaseTokenAPI.create(`${base}/plain/`, ctx()), /must contain %s/);
    assert.throws(() => BaseTokenAPI.create('file:///etc/%s', ctx()), /http/);
    assert.throws(() => JSONTokenApi.create('not a url %s', ctx()), /not a valid URL/);
  });

  it('keeps %% as a literal percent sign', async () => {
    const plugin = BaseTokenAPI.create(`${base}/plain/%s?x=100%%`, ctx());
    seen.length = 0;
    await plugin.lookup('desk1');
    assert.deepEqual(seen, ['/plain/desk1?x=100%']);
  });
});
