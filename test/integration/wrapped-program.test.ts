/**
 * Wrap mode's supervisor with real programs under the real preload library: where the program's
 * port ends up, the private directory, exit codes, respawn rate, and stopping the whole group.
 */
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseArgv } from '../../src/cli/argv-parser.js';
import { OPTIONS } from '../../src/cli/option-table.js';
import { buildConfig } from '../../src/cli/build-config.js';
import { WrapError } from '../../src/errors.js';
import { Logger, type LogRecord } from '../../src/log/logger.js';
import { findPreloadLibrary, packageRoot } from '../../src/wrap/preload-library.js';
import { startWrappedProgram, type WrappedProgram } from '../../src/wrap/wrapped-program.js';
import { NODE_ECHO, PY_ECHO } from '../support/echo-programs.js';
import { exchange, groupAlive, holdPort } from '../support/programs.js';

const records: LogRecord[] = [];
const logger = new Logger([{ write: (r) => void records.push(r) }], 'debug');
const programs: WrappedProgram[] = [];
after(async () => {
  for (const p of programs) await p.stop();
});
before(() => {
  spawnSync('sh', [path.join(packageRoot(), 'scripts', 'build-native.sh')], { stdio: 'inherit' });
  findPreloadLibrary();
});

function config(args: string[]) {
  return buildConfig(parseArgv(args, OPTIONS), { cwd: process.cwd() });
}

async function wrap(args: string[], listenPort: number | null, extra: { stopGraceMs?: number; respawnWindowMs?: number } = {}): Promise<WrappedProgram> {
  const p = await startWrappedProgram(config(args), logger, { listenPort, env: process.env, ...extra });
  programs.push(p);
  return p;
}

/** A port we hold on 0.0.0.0: the program can only bind it if the library moved the bind. */
async function heldPort(): Promise<number> {
  const held = await holdPort();
  after(held.release);
  return held.port;
}

describe('wrapped program', () => {
  it("moves the program's listen port onto PORT.sock in a private 0700 directory, socket mode 0600", async () => {
    const port = await heldPort();
    const p = await wrap([String(port), '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)], port);
    const target = await p.waitForTarget();
    assert.deepEqual(target, { kind: 'unix', path: path.join(p.dir, `${port}.sock`) });
    assert.equal(statSync(p.dir).mode & 0o777, 0o700);
    assert.equal(lstatSync(target.kind === 'unix' ? target.path : '').mode & 0o777, 0o600);
    assert.match(await exchange({ path: path.join(p.dir, `${port}.sock`) }, 'abc\n', /abc\n/), /^HELLO peer=\["127\.0\.0\.1", 0\].*abc\n$/s);
    const dir = p.dir;
    await p.stop();
    assert.equal(existsSync(dir), false, 'the private directory is removed on stop');
  });

  it('moves a Node program listening on its default (IPv6) host too', async () => {
    const port = await heldPort();
    const p = await wrap([String(port), '--', 'node', '-e', NODE_ECHO, String(port)], port);
    await p.waitForTarget();
    assert.match(await exchange({ path: path.join(p.dir, `${port}.sock`) }, 'n\n', /n\n/), /HELLO/);
  });

  it('with --wrap-loopback moves it to a kernel-chosen loopback port, reported back (no free-port race)', async () => {
    const port = await heldPort();
    const p = await wrap(['--wrap-loopback', String(port), '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)], port);
    const target = await p.waitForTarget();
    assert.equal(target.kind, 'tcp');
    if (target.kind !== 'tcp') return;
    assert.equal(target.host, '127.0.0.1');
    assert.notEqual(target.port, port);
    assert.match(await exchange({ host: target.host, port: target.port }, 'l\n', /l\n/), /HELLO/);
  });

  it('with --unix-listen (no listen port) follows whatever port the program binds', async () => {
    const port = await heldPort();
    const p = await wrap(['--unix-listen', '/tmp/unused.sock', '--', 'python3', '-c', PY_ECHO, '127.0.0.1', String(port)], null);
    const target = await p.waitForTarget();
    assert.deepEqual(target, { kind: 'unix', path: path.join(p.dir, `${port}.sock`) });
    assert.match(await exchange({ path: target.kind === 'unix' ? target.path : '' }, 'u\n', /u\n/), /HELLO/);
  });

  it("in exit mode resolves exitCode with the program's exit status (the reference always gave 0)", async () => {
    const p = await wrap(['1', '--', 'sh', '-c', 'exit 3'], 1);
    assert.equal(await p.exitCode, 3);
  });

  it('in exit mode reports a program killed by a signal as 128+signal', async () => {
    const p = await wrap(['1', '--', 'sh', '-c', 'kill -TERM $$'], 1);
    assert.equal(await p.exitCode, 143);
  });

  it('in respawn mode restarts at once twice, then waits out the rate limit (3 starts per window)', async () => {
    const before = records.length;
    const starts: number[] = [];
    const t0 = performance.now();
    const p = await wrap(['--wrap-mode', 'respawn', '1', '--', 'true'], 1, { respawnWindowMs: 1_500 });
    starts.push(0);
    p.on('spawn', () => starts.push(performance.now() - t0));
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(starts.length, 3, `starts at ${starts.map(Math.round).join(', ')} ms`);
    assert.ok(records.slice(before).some((r) => r.message === 'Command respawning too fast'));
    await new Promise((r) => setTimeout(r, 1_200));
    assert.ok(starts.length >= 4, `a start is allowed again after the window: ${starts.map(Math.round).join(', ')}`);
    assert.ok(starts[3]! >= 1_000, 'the fourth start waited for the window');
    await p.stop();
  });

  it('in ignore mode keeps running after the program exits', async () => {
    const p = await wrap(['--wrap-mode', 'ignore', '1', '--', 'true'], 1);
    const code = await new Promise<number>((resolve) => p.once('exit', resolve));
    assert.equal(code, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(p.pid, null, 'not restarted');
  });

  it("stop() ends the program's whole process group, with SIGKILL after the grace period if SIGTERM is ignored", async () => {
    const p = await wrap(['1', '--', 'sh', '-c', 'trap "" TERM; sleep 60 & sleep 60 & wait'], 1, { stopGraceMs: 400 });
    const pgid = p.pid!;
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(groupAlive(pgid));
    const t = performance.now();
    await p.stop();
    const took = performance.now() - t;
    assert.equal(groupAlive(pgid), false, 'no process of the group survives');
    assert.ok(took >= 350, `waited the grace period (${Math.round(took)} ms)`);
  });

  it('stop() ends a well-behaved program with SIGTERM, without waiting for the grace period', async () => {
    const p = await wrap(['1', '--', 'sh', '-c', 'sleep 60 & wait'], 1, { stopGraceMs: 5_000 });
    const pgid = p.pid!;
    await new Promise((r) => setTimeout(r, 100));
    const t = performance.now();
    await p.stop();
    assert.equal(groupAlive(pgid), false);
    assert.ok(performance.now() - t < 2_000);
  });

  it('fails to start with a WrapError naming a missing program', async () => {
    await assert.rejects(
      startWrappedProgram(config(['1', '--', '/nonexistent/program']), logger, { listenPort: 1, env: process.env }),
      (err: unknown) =>
        err instanceof WrapError && err.code === 'WSFY_ERR_WRAP' && /could not start the wrapped program '\/nonexistent\/program': not found/.test(err.message),
    );
  });
});

describe('preload library lookup', () => {
  it('names the platform when not on Linux', () => {
    assert.throws(() => findPreloadLibrary('darwin'), /wrap mode needs Linux \(LD_PRELOAD\); this is darwin/);
  });

  it('finds the built library under native/build from the package root', () => {
    assert.equal(findPreloadLibrary(), path.join(packageRoot(), 'native', 'build', 'websockify-preload.so'));
  });
});

describe('wrap options', () => {
  it('refuses --wrap-loopback with --unix-listen', () => {
    assert.throws(() => config(['--unix-listen', '/tmp/x.sock', '--wrap-loopback', '--', 'prog']), /--wrap-loopback needs a TCP listen port/);
  });

  it('refuses --wrap-loopback without a command', () => {
    assert.throws(() => config(['--wrap-loopback', '6080', 'localhost:5900']), /You must give a command after -- to use --wrap-loopback/);
  });

  it('keeps every word of the command with --inetd (the reference dropped the first)', () => {
    const c = config(['--inetd', '--', 'prog', 'a', 'b']);
    assert.deepEqual(c.wrap?.command, ['prog', 'a', 'b']);
  });
});
