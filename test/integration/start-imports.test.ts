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
 * up"). Each start here records every module it resolves (support/import-recorder.ts).
 */

const RECORDER = fileURLToPath(new URL('../support/import-recorder.js', import.meta.url));
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
/** The modules of our own (under dist/src) that a start with `args` resolved by the time it listens. */
async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const log = path.join(dir, `imports-${++starts}.txt`);
  writeFileSync(log, '');
  const proxy = await startProxy(args, { env: { ...process.env, NODE_OPTIONS: `--import ${RECORDER}`, WSFY_IMPORT_LOG: log } });
  await proxy.stop();
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((url) => url.includes('/dist/src/'))
    .map((url) => url.slice(url.indexOf('/dist/src/') + '/dist/src'.length));
}

const optionalIn = (modules: string[]): string[] => modules.filter((m) => OPTIONAL.some((part) => m.includes(part)));

describe('what a start loads', () => {
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
