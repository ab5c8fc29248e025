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
import { startWrappedProgram, type RespawnClock, type WrappedProgram } from '../../src/wrap/wrapped-program.js';
import { Lifecycle } from '../../src/cli/lifecycle.js';
import { NODE_ECHO, PY_ECHO } from '../support/echo-programs.js';
import { ManualClock } from '../support/manual-clock.js';
import { exchange, groupAlive, groupSize, holdPort } from '../support/programs.js';
import { waitFor } from '../support/wait.js';

const records: LogRecord[] = [];
const logger = new Logger([{ write: (r) => void records.push(r) }], 'debug');
/** The CLI's lifecycle signals the program's process groups; its process listeners stay unused here. */
const groups = new Lifecycle();
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

async function wrap(args: string[], listenPort: number | null, extra: { stopGraceMs?: number; clock?: RespawnClock } = {}): Promise<WrappedProgram> {
  const p = await startWrappedProgram(config(args), logger, { listenPort, env: process.env, groups, ...extra });
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

  it('in respawn mode restarts at once twice, then waits out the rate limit (3 starts per 10 s)', async () => {
    const before = records.length;
    const mine = (message: RegExp) => records.slice(before).filter((r) => message.test(r.message));
    const starts = () => mine(/^Starting 'true'$/).length;
    const exits = () => mine(/^Wrapped command exited/).length;
    const clock = new ManualClock();
    const p = await wrap(['--wrap-mode', 'respawn', '1', '--', 'true'], 1, { clock });
    for (let run = 1; run <= 2; run++) {
      await waitFor(() => exits() === run, { what: `run ${run} to exit` });
      clock.advance(0);
      assert.equal(starts(), run + 1, `run ${run + 1} starts at once`);
    }
    await waitFor(() => exits() === 3, { what: 'run 3 to exit' });
    assert.deepEqual(
      mine(/^Command respawning too fast$/).map((r) => r.fields?.retryInMs),
      [10_000],
    );
    clock.advance(9_999);
    assert.equal(starts(), 3, 'no fourth start within 10 s of the mean of the last three');
    clock.advance(1);
    assert.equal(starts(), 4, 'the fourth start once the window has passed');
    await p.stop();
  });

  it('in ignore mode keeps running after the program exits', async () => {
    const clock = new ManualClock();
    const p = await wrap(['--wrap-mode', 'ignore', '1', '--', 'true'], 1, { clock });
    const code = await new Promise<number>((resolve) => p.once('exit', resolve));
    assert.equal(code, 0);
    assert.equal(clock.timers, 0, 'no restart is planned');
    assert.equal(p.pid, null, 'not restarted');
  });

  it("stop() ends the program's whole process group, with SIGKILL after the grace period if SIGTERM is ignored", async () => {
    const p = await wrap(['1', '--', 'sh', '-c', 'trap "" TERM; sleep 60 & sleep 60 & wait'], 1, { stopGraceMs: 400 });
    const pgid = p.pid!;
    await waitFor(() => groupSize(pgid) === 3, { what: 'the shell and its two sleeps' });
    const t = performance.now();
    await p.stop();
    const took = performance.now() - t;
    assert.equal(groupAlive(pgid), false, 'no process of the group survives');
    assert.ok(took >= 350, `waited the grace period (${Math.round(took)} ms)`);
  });

  it('stop() ends a well-behaved program with SIGTERM, without waiting for the grace period', async () => {
    // A grace period far longer than a SIGTERM takes even on a loaded machine: the stop must
    // come well before it (it took up to 2 s with the test suite running beside it).
    const p = await wrap(['1', '--', 'sh', '-c', 'sleep 60 & wait'], 1, { stopGraceMs: 30_000 });
    const pgid = p.pid!;
    await waitFor(() => groupSize(pgid) === 2, { what: 'the shell and its sleep' });
    const t = performance.now();
    await p.stop();
    const took = performance.now() - t;
    assert.equal(groupAlive(pgid), false);
    assert.ok(took < 10_000, `stopped after ${Math.round(took)} ms, not after the 30 s grace period`);
  });

  it('fails to start with a WrapError naming a missing program', async () => {
    await assert.rejects(
      startWrappedProgram(config(['1', '--', '/nonexistent/program']), logger, { listenPort: 1, env: process.env, groups }),
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
