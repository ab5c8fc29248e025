import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../../src/errors.js';
import { AuthChain } from '../../../src/plugins/auth/auth-chain.js';
import { ExpectOrigin } from '../../../src/plugins/auth/expect-origin.js';
import { loadAuthPlugin, loadAuthPlugins, loadTokenPlugin } from '../../../src/plugins/load-plugins.js';
import { TokenFile } from '../../../src/plugins/token/token-file.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

const ctx = () => ({ logger: captureLogger().logger, timeoutMs: 1000 });

describe('loadTokenPlugin / loadAuthPlugin', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
    writeFileSync(path.join(tmp.dir, 'tokens.cfg'), 'a: h:1\n');
    writeFileSync(
      path.join(tmp.dir, 'plugins.mjs'),
      [
        'export class MyPlugin {',
        '  constructor(source) { this.source = source; }',
        '  async lookup(token) { return token === "ok" ? { kind: "tcp", host: this.source, port: 5900 } : null; }',
        '}',
        'export function lookupFactory(source, context) {',
        '  return { lookup: async (token) => (token === context.timeoutMs.toString() ? { kind: "unix", path: source } : null) };',
        '}',
        'export async function asyncFactory(source) { return { lookup: async () => ({ kind: "tcp", host: source, port: 1 }) }; }',
        'export const readyObject = { lookup: async () => null };',
        'export const notAPlugin = { hello: 1 };',
        'export class Gate { async authenticate(req) { if (req.headers["x-ok"] !== "1") throw new Error("no"); } }',
        'export default class DefaultPlugin { async lookup() { return null; } }',
      ].join('\n'),
    );
    writeFileSync(path.join(tmp.dir, 'broken.mjs'), 'export const x = ;\n');
  });
  after(() => tmp.cleanup());

  it('builds a reference plugin by its class name, and by its Python module path', async () => {
    const source = path.join(tmp.dir, 'tokens.cfg');
    assert.ok((await loadTokenPlugin({ name: 'TokenFile', source }, ctx())) instanceof TokenFile);
    const viaPython = await loadTokenPlugin({ name: 'websockify.token_plugins.TokenFile', source }, ctx());
    assert.deepEqual(await viaPython.lookup('a'), { kind: 'tcp', host: 'h', port: 1 });
  });

  it('loads a user class as module.mjs:ExportName, built with the source', async () => {
    const plugin = await loadTokenPlugin({ name: `${tmp.dir}/plugins.mjs:MyPlugin`, source: 'desk.example' }, ctx());
    assert.deepEqual(await plugin.lookup('ok'), { kind: 'tcp', host: 'desk.example', port: 5900 });
    assert.equal(await plugin.lookup('nope'), null);
  });

  it('loads a user factory function (sync or async) and a ready object', async () => {
    const f = await loadTokenPlugin({ name: `${tmp.dir}/plugins.mjs:lookupFactory`, source: '/run/x.sock' }, ctx());
    assert.deepEqual(await f.lookup('1000'), { kind: 'unix', path: '/run/x.sock' });
    const a = await loadTokenPlugin({ name: `${tmp.dir}/plugins.mjs:asyncFactory`, source: 'h' }, ctx());
    assert.deepEqual(await a.lookup('x'), { kind: 'tcp', host: 'h', port: 1 });
    const o = await loadTokenPlugin({ name: `${tmp.dir}/plugins.mjs:readyObject`, source: null }, ctx());
    assert.equal(await o.lookup('x'), null);
    const d = await loadTokenPlugin({ name: `${tmp.dir}/plugins.mjs`, source: null }, ctx());
    assert.equal(await d.lookup('x'), null);
  });

  it('loads a user auth plugin', async () => {
    const gate = await loadAuthPlugin({ name: `${tmp.dir}/plugins.mjs:Gate`, source: null }, ctx());
    await gate.authenticate({ headers: { 'x-ok': '1' }, method: 'GET', url: '/', clientAddress: '', peerCertificate: null, target: null });
  });

  const FAILURES: Array<[string, { name: string; source: string | null }, RegExp]> = [
    ['an unknown name, listing the built-in ones', { name: 'TokenFiel', source: null }, /unknown token plugin TokenFiel \(built in: .*TokenFile/],
    ['a Python class path', { name: 'mypkg.plugins.Lookup', source: null }, /looks like a Python class path/],
    ['a TypeScript file', { name: './plugin.ts', source: null }, /compile TypeScript plugins/],
    ['a missing source', { name: 'TokenFile', source: null }, /requires --token-source/],
    ['an unreadable file', { name: 'TokenFile', source: '/nonexistent/tokens.cfg' }, /cannot read token source \/nonexistent\/tokens\.cfg/],
    ['a missing module', { name: '/nonexistent/p.mjs:X', source: null }, /cannot load \/nonexistent\/p\.mjs/],
    ['a module that does not parse', { name: 'BROKEN:X', source: null }, /cannot load/],
    ['a missing export', { name: 'PLUGINS:Nope', source: null }, /has no export named Nope/],
    ['an export without lookup()', { name: 'PLUGINS:notAPlugin', source: null }, /does not have a lookup\(\) method/],
  ];
  for (const [what, spec, message] of FAILURES) {
    it(`fails fast with a clear message for ${what}`, async () => {
      const name = spec.name.replace('BROKEN', `${tmp.dir}/broken.mjs`).replace('PLUGINS', `${tmp.dir}/plugins.mjs`);
      await assert.rejects(loadTokenPlugin({ ...spec, name }, ctx()), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('combines several auth plugins and --allow-origin into one chain', async () => {
    const chain = await loadAuthPlugins([{ name: 'BasicHTTPAuth', source: 'u:p' }], ['https://ok.example'], ctx());
    assert.ok(chain instanceof AuthChain);
    assert.equal(chain.plugins.length, 2);
    assert.ok((await loadAuthPlugins([], ['https://ok.example'], ctx())) instanceof ExpectOrigin);
    assert.equal(await loadAuthPlugins([], [], ctx()), null);
    await assert.rejects(loadAuthPlugins([{ name: 'Nope', source: null }], [], ctx()), /unknown auth plugin Nope/);
  });
});
