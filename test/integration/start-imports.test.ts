import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProxy } from '../support/proxy-process.js';

/**
 * A plain start loads only what it runs: --workers, wrap mode, --web-auth with its pages and
 * --reverse-listen are imported by the starts that use them (docs/performance.md, "Starting
 * up"). Each start here records every file it resolves (support/import-recorder.ts); a file of
 * the bundled CLI (scripts/bundle-cli.mjs) stands for the modules its build record lists.
 */

const RECORDER = fileURLToPath(new URL('../support/import-recorder.js', import.meta.url));
const BUNDLE_RECORD = fileURLToPath(new URL('../../src/cli/main.bundle-meta.json', import.meta.url));
/** For each file of the bundled CLI (dist/src/cli/main.js and its chunks), the modules of dist/src in it. */
const bundled = (JSON.parse(readFileSync(BUNDLE_RECORD, 'utf8')) as { outputs: Record<string, string[]> }).outputs;
// The reverse side's listeners and registry; the pairing (reverse-pairing.js) is on the upgrade path.
const OPTIONAL = [
  '/cluster/set-up-workers.js',
  '/cluster/supervisor.js',
  '/wrap/',
  '/http/web-auth.js',
  '/http/recordings-handler.js',
  '/reverse/start-reverse.js',
  '/reverse/reverse-listener.js',
  '/reverse/reverse-registry.js',
];

/** No client connects, so the target is never dialled. */
const TARGET = '127.0.0.1:9';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wsfy-imports-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let starts = 0;
/** The modules of our own (under dist/src) that a start with `args` loaded by the time it listens. */
async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const log = path.join(dir, `imports-${++starts}.txt`);
  writeFileSync(log, '');
  const proxy = await startProxy(args, { env: { ...process.env, NODE_OPTIONS: `--import ${RECORDER}`, WSFY_IMPORT_LOG: log } });
  await proxy.stop();
  const files = readFileSync(log, 'utf8')
    .split('\n')
    .filter((url) => url.includes('/dist/src/'))
    .map((url) => url.slice(url.indexOf('/dist/src/') + '/dist/src'.length));
  const modules = files.flatMap((file) => (file.startsWith('/cli/') ? (bundled[file.slice('/cli/'.length)] ?? [file]) : [file]));
  return [...new Set(modules.map((module) => module.replace(/^dist\/src/, '')))];
}

const optionalIn = (modules: string[]): string[] => modules.filter((m) => OPTIONAL.some((part) => m.includes(part)));

describe('what a start loads', () => {
  it('the CLI is bundled: a plain start loads a few files, each standing for many modules', async () => {
    const log = path.join(dir, 'files.txt');
    writeFileSync(log, '');
    const proxy = await startProxy(['127.0.0.1:0', TARGET], { env: { ...process.env, NODE_OPTIONS: `--import ${RECORDER}`, WSFY_IMPORT_LOG: log } });
    await proxy.stop();
    const files = new Set(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((url) => url.includes('/dist/src/')),
    );
    const modules = await modulesLoadedBy(['127.0.0.1:0', TARGET]);
    assert.ok(files.size < 20, `${files.size} files of dist/src loaded`);
    assert.ok(modules.length > 60, `standing for ${modules.length} modules`);
  });

  it('a plain start loads the data path and none of the optional parts', async () => {
    const modules = await modulesLoadedBy(['127.0.0.1:0', TARGET]);
    assert.ok(modules.includes('/proxy/bridge.js'), `the recorder saw the data path: ${modules.length} modules`);
    assert.deepEqual(optionalIn(modules), []);
  });

  it('a start with --web-auth, --record and --reverse-listen loads those parts', async () => {
    const tokens = path.join(dir, 'tokens');
    writeFileSync(tokens, 'tok: reverse:abc\n');
    const webAuth = ['--web', dir, '--web-auth', '--auth-plugin', 'BasicHTTPAuth', '--auth-source', 'alice:pw', '--record', path.join(dir, 'rec')];
    const reverse = ['--token-plugin', 'TokenFile', '--token-source', tokens, '--reverse-listen', '127.0.0.1:0'];
    const modules = await modulesLoadedBy([...webAuth, ...reverse, '127.0.0.1:0']);
    for (const part of ['/http/web-auth.js', '/http/recordings-handler.js', '/reverse/start-reverse.js']) {
      assert.ok(modules.includes(part), `${part} loaded`);
    }
    assert.deepEqual(
      optionalIn(modules).filter((m) => m.startsWith('/cluster/') || m.startsWith('/wrap/')),
      [],
    );
  });

  it('a --workers 2 primary loads the supervisor', async () => {
    const modules = await modulesLoadedBy(['--workers', '2', '127.0.0.1:0', TARGET]);
    assert.ok(modules.includes('/cluster/supervisor.js'));
  });
});
