/**
 * The build of the preload library on machines with and without a compiler, and wrap mode's
 * error when the library is missing: the message must name the fix.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { packageRoot } from '../../src/wrap/preload-library.js';
import { freePort, run, tempDir } from '../support/programs.js';

const root = packageRoot();
const t = tempDir('wsfy-native-build-');
after(t.cleanup);

/** A copy of the package's build inputs, so the real native/build is never touched. */
function copyPackage(name: string): string {
  const dir = path.join(t.dir, name);
  mkdirSync(path.join(dir, 'native'), { recursive: true });
  cpSync(path.join(root, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
  cpSync(path.join(root, 'native', 'websockify-preload.c'), path.join(dir, 'native', 'websockify-preload.c'));
  cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  return dir;
}

it('without a C compiler the native build explains itself and does not fail the build', async () => {
  const dir = copyPackage('no-cc');
  const r = await run('sh', [path.join(dir, 'scripts', 'build-native.sh')], { ...process.env, CC: '/nonexistent/cc' });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /build-native: skipped: no C compiler \('\/nonexistent\/cc' not found\); install one/);
  assert.equal(existsSync(path.join(dir, 'native', 'build', 'websockify-preload.so')), false);
});

it('with the system cc it builds native/build/websockify-preload.so with warnings as errors, exporting the intercepted calls', async () => {
  const dir = copyPackage('with-cc');
  const r = await run('sh', [path.join(dir, 'scripts', 'build-native.sh')], process.env, 60_000);
  assert.equal(r.code, 0, r.stderr);
  const so = path.join(dir, 'native', 'build', 'websockify-preload.so');
  assert.ok(existsSync(so), r.stderr);
  const nm = await run('nm', ['-D', '--defined-only', so], process.env);
  for (const fn of ['bind', 'connect', 'accept', 'accept4', 'getsockname', 'getpeername', 'socket']) {
    assert.match(nm.stdout, new RegExp(`\\bT ${fn}\\n`), `exports ${fn}`);
  }
});

it('wrap mode in an installed package (no tsconfig.json) refuses to start without the library, naming npm rebuild', async () => {
  const dir = copyPackage('no-lib');
  cpSync(path.join(root, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const port = await freePort();
  const r = await run(process.execPath, [path.join(dir, 'dist', 'src', 'cli', 'main.js'), String(port), '--', 'true'], process.env);
  assert.equal(r.code, 1);
  const lib = path.join(dir, 'native', 'build', 'websockify-preload.so');
  assert.ok(
    r.stderr.includes(
      `wrap mode needs the preload library ${lib}, which was not built when websockify-ts was installed (that needs a C compiler): ` +
        `install one (e.g. apt-get install gcc libc6-dev) and run 'npm rebuild websockify-ts' (with -g for a global install)`,
    ),
    r.stderr,
  );
  assert.doesNotMatch(r.stderr, /Listen on/, 'it fails before taking the port');
});

it('wrap mode in a checkout (tsconfig.json beside package.json) names npm run build instead', async () => {
  const dir = copyPackage('no-lib-checkout');
  cpSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  cpSync(path.join(root, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const port = await freePort();
  const r = await run(process.execPath, [path.join(dir, 'dist', 'src', 'cli', 'main.js'), String(port), '--', 'true'], process.env);
  assert.equal(r.code, 1);
  const lib = path.join(dir, 'native', 'build', 'websockify-preload.so');
  assert.ok(
    r.stderr.includes(
      `wrap mode needs the preload library ${lib}, which is missing: install a C compiler (e.g. apt-get install gcc libc6-dev) and run 'npm run build'`,
    ),
    r.stderr,
  );
});
