import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, PluginFailure } from '../../../src/errors.js';
import { ReadOnlyTokenFile } from '../../../src/plugins/token/read-only-token-file.js';
import { TokenFile } from '../../../src/plugins/token/token-file.js';
import { TokenFileName } from '../../../src/plugins/token/token-file-name.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

describe('ReadOnlyTokenFile and TokenFile with real files', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());

  it('reads a file: testhost maps to its target, unknown tokens are null', async () => {
    const file = path.join(tmp.dir, 'one.cfg');
    writeFileSync(file, '# tokens\ntesthost: remote_host:5900\n\n  v6: [::1]:5901\n');
    const { logger } = captureLogger();
    const plugin = await ReadOnlyTokenFile.create(file, { logger, timeoutMs: 1000 });
    assert.deepEqual(await plugin.lookup('testhost'), { kind: 'tcp', host: 'remote_host', port: 5900 });
    assert.deepEqual(await plugin.lookup('v6'), { kind: 'tcp', host: '::1', port: 5901 });
    assert.equal(await plugin.lookup('nope'), null);
  });

  it('reads an empty file as no tokens', async () => {
    const file = path.join(tmp.dir, 'empty.cfg');
    writeFileSync(file, '');
    const { logger } = captureLogger();
    const plugin = await ReadOnlyTokenFile.create(file, { logger, timeoutMs: 1000 });
    assert.equal(await plugin.lookup('testhost'), null);
  });

  it('reads every regular file of a directory (dotfiles too), ignoring subdirectories', async () => {
    const dir = path.join(tmp.dir, 'many');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'a.cfg'), 'ta: a:1\n');
    writeFileSync(path.join(dir, 'b.cfg'), 'tb:\tb:2\n');
    writeFileSync(path.join(dir, '.hidden'), 'th: h:3\n');
    writeFileSync(path.join(dir, 'sub', 'c.cfg'), 'tc: c:4\n');
    const { logger } = captureLogger();
    const plugin = await ReadOnlyTokenFile.create(dir, { logger, timeoutMs: 1000 });
    assert.deepEqual(await plugin.lookup('ta'), { kind: 'tcp', host: 'a', port: 1 });
    assert.deepEqual(await plugin.lookup('tb'), { kind: 'tcp', host: 'b', port: 2 });
    assert.deepEqual(await plugin.lookup('th'), { kind: 'tcp', host: 'h', port: 3 });
    assert.equal(await plugin.lookup('tc'), null);
  });

  it('logs a syntax error naming the file and its own line number, and keeps the good lines', async () => {
    const file = path.join(tmp.dir, 'bad.cfg');
    writeFileSync(file, 'good: g:1\nt3:127.0.0.1:5900\n');
    const { logger, sink } = captureLogger();
    const plugin = await ReadOnlyTokenFile.create(file, { logger, timeoutMs: 1000 });
    assert.deepEqual(await plugin.lookup('good'), { kind: 'tcp', host: 'g', port: 1 });
    assert.match(sink.text(), new RegExp(`Syntax error in ${file.replace(/[.]/g, '\\.')} on line 2`));
  });

  it('ReadOnlyTokenFile ignores later edits; TokenFile sees them on the next lookup', async () => {
    const file = path.join(tmp.dir, 'live.cfg');
    writeFileSync(file, 'x: old:1\n');
    const { logger } = captureLogger();
    const ro = await ReadOnlyTokenFile.create(file, { logger, timeoutMs: 1000 });
    const live = await TokenFile.create(file, { logger, timeoutMs: 1000 });
    writeFileSync(file, 'x: new:2\ny: added:3\n');
    assert.deepEqual(await ro.lookup('x'), { kind: 'tcp', host: 'old', port: 1 });
    assert.deepEqual(await live.lookup('x'), { kind: 'tcp', host: 'new', port: 2 });
    assert.deepEqual(await live.lookup('y'), { kind: 'tcp', host: 'added', port: 3 });
  });

  it('TokenFile sees a same-size edit with an unchanged mtime through the inode of an atomic replace', async () => {
    const file = path.join(tmp.dir, 'atomic.cfg');
    writeFileSync(file, 'x: aaa:1\n');
    const { logger } = captureLogger();
    const live = await TokenFile.create(file, { logger, timeoutMs: 1000 });
    const next = path.join(tmp.dir, 'atomic.cfg.new');
    writeFileSync(next, 'x: bbb:1\n');
    const past = new Date(Date.now() - 60_000);
    utimesSync(next, past, past);
    renameSync(next, file);
    assert.deepEqual(await live.lookup('x'), { kind: 'tcp', host: 'bbb', port: 1 });
  });

  it('TokenFile sees files added to and removed from a directory', async () => {
    const dir = path.join(tmp.dir, 'livedir');
    mkdirSync(dir);
    writeFileSync(path.join(dir, '1.cfg'), 'one: h:1\n');
    const { logger } = captureLogger();
    const live = await TokenFile.create(dir, { logger, timeoutMs: 1000 });
    assert.equal(await live.lookup('two'), null);
    writeFileSync(path.join(dir, '2.cfg'), 'two: h:2\n');
    assert.deepEqual(await live.lookup('two'), { kind: 'tcp', host: 'h', port: 2 });
    rmSync(path.join(dir, '1.cfg'));
    assert.equal(await live.lookup('one'), null);
  });

  it('TokenFile fails closed with a plugin failure (502) when its file disappears', async () => {
    const file = path.join(tmp.dir, 'gone.cfg');
    writeFileSync(file, 'x: h:1\n');
    const { logger } = captureLogger();
    const live = await TokenFile.create(file, { logger, timeoutMs: 1000 });
    rmSync(file);
    await assert.rejects(live.lookup('x'), (err: unknown) => err instanceof PluginFailure && err.httpStatus === 502);
  });

  it('refuses to start without a source, or with a missing file, naming it', async () => {
    const { logger } = captureLogger();
    await assert.rejects(TokenFile.create(null, { logger, timeoutMs: 1000 }), /requires --token-source/);
    await assert.rejects(
      TokenFile.create(path.join(tmp.dir, 'missing.cfg'), { logger, timeoutMs: 1000 }),
      (err: unknown) => err instanceof ConfigError && /missing\.cfg/.test(err.message),
    );
  });
});

describe('TokenFileName with real files', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dir: string;
  before(() => {
    tmp = tempDir();
    dir = path.join(tmp.dir, 'tokens');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'desk1'), '127.0.0.1:5901\n');
    writeFileSync(path.join(dir, 'desk6'), '::1:5906');
    writeFileSync(path.join(dir, 'sock'), 'unix_socket:/run/x.sock');
    writeFileSync(path.join(dir, 'garbage'), 'not a target');
    writeFileSync(path.join(tmp.dir, 'outside'), '10.9.9.9:1');
  });
  after(() => tmp.cleanup());

  it('maps a token to the target in the file of that name (IPv6 and unix_socket too)', async () => {
    const { logger } = captureLogger();
    const plugin = await TokenFileName.create(dir, { logger, timeoutMs: 1000 });
    assert.deepEqual(await plugin.lookup('desk1'), { kind: 'tcp', host: '127.0.0.1', port: 5901 });
    assert.deepEqual(await plugin.lookup('desk6'), { kind: 'tcp', host: '::1', port: 5906 });
    assert.deepEqual(await plugin.lookup('sock'), { kind: 'unix', path: '/run/x.sock' });
    assert.equal(await plugin.lookup('nope'), null);
  });

  it('never reads outside its directory: traversal, absolute and separator tokens are unknown', async () => {
    const { logger } = captureLogger();
    const plugin = await TokenFileName.create(dir, { logger, timeoutMs: 1000 });
    for (const token of ['../outside', '..', '.', '/etc/passwd', `${tmp.dir}/outside`, 'sub/../desk1', 'desk1\0', '..\\outside']) {
      assert.equal(await plugin.lookup(token), null, token);
    }
  });

  it('answers a plugin failure (502) for a file that is not a target', async () => {
    const { logger } = captureLogger();
    const plugin = await TokenFileName.create(dir, { logger, timeoutMs: 1000 });
    await assert.rejects(plugin.lookup('garbage'), (err: unknown) => err instanceof PluginFailure);
  });

  it('refuses to start on a file instead of a directory', async () => {
    const { logger } = captureLogger();
    await assert.rejects(TokenFileName.create(path.join(dir, 'desk1'), { logger, timeoutMs: 1000 }), /requires a directory/);
  });
});
