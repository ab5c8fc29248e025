/**
 * Wrap mode end to end through the built CLI: real programs (Python, Node, socat + inetutils
 * telnetd) reached from a real WebSocket client, exit codes, respawn, and no orphans.
 */
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { CLI, eventually, exited, startCli, wsExchange } from '../support/cli-program.js';
import { NODE_ECHO, PY_ECHO } from '../support/echo-programs.js';
import { freePort, groupAlive, holdPort, requireTool, run, start, tcpOpen, tempDir, type Running } from '../support/programs.js';
import { waitFor } from '../support/wait.js';

const running: Running[] = [];
after(async () => {
  for (const r of running) await r.stop();
});
function track(r: Running): Running {
  running.push(r);
  return r;
}

async function movedSocket(cli: Running): Promise<string> {
  const m = await cli.waitFor(/wrapped program's port \d+ moved to (\S+)/);
  return m[1]!;
}

function wrappedPid(cli: Running): Promise<number> {
  return cli.waitFor(/wrapped program pid (\d+)/).then((m) => Number(m[1]));
}

/** Serves one connection (greets it) and exits: each run is visible to the client. */
const PY_ONE_SHOT = `
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.sendall(('RUN pid=%d\\n' % os.getpid()).encode()); c.close()
`;

describe('wrap mode through the CLI', () => {
  it('proxies a WebSocket client to a wrapped Python TCP server moved onto a private unix socket', async () => {
    const port = await freePort();
    const cli = track(await startCli(['-v', String(port), '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)]));
    const sock = await movedSocket(cli);
    const dir = path.dirname(sock);
    assert.equal(path.basename(sock), `${port}.sock`);
    assert.match(path.basename(dir), /^websockify-wrap-/);
    const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, 'over websocket\n', /over websocket\n/));
    assert.match(got, /^HELLO peer=\["127\.0\.0\.1", 0\] sock=\["127\.0\.0\.1", \d+\]\nover websocket\n$/);
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'the socket directory is private');
    assert.equal(lstatSync(sock).mode & 0o777, 0o600);
    cli.child.kill('SIGTERM');
    assert.equal((await exited(cli)).code, 0);
    assert.equal(existsSync(dir), false, 'the private directory is removed on exit');
  });

  it('proxies to a wrapped Node server, which never listens on TCP itself', async () => {
    const port = await freePort();
    track(await startCli([String(port), '--', process.execPath, '-e', NODE_ECHO, String(port)]));
    const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, 'node\n', /node\n/));
    assert.match(got, /^HELLO .*node\n$/s);
  });

  it('with --wrap-loopback proxies to the program moved onto a loopback TCP port', async () => {
    const port = await freePort();
    const cli = track(await startCli(['--wrap-loopback', String(port), '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)]));
    const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, 'lo\n', /lo\n/));
    assert.match(got, /^HELLO .*lo\n$/s);
    const m = /wrapped program listening on 127\.0\.0\.1:(\d+)/.exec(cli.stderr());
    assert.ok(m, cli.stderr());
    assert.notEqual(Number(m[1]), port);
  });

  it("exits with the wrapped program's exit code in exit mode (the reference exited 0)", async () => {
    const port = await freePort();
    const cli = track(await startCli([String(port), '--', 'sh', '-c', 'sleep 0.3; exit 7']));
    const status = await exited(cli);
    assert.equal(status.code, 7);
    assert.match(cli.stderr(), /Wrapped command exited \(or daemon\)\. Returned 7/);
  });

  it('respawns the program after it exits, and the next client reaches the new run', async () => {
    const port = await freePort();
    const cli = track(await startCli(['--wrap-mode=respawn', String(port), '--', 'python3', '-c', PY_ONE_SHOT, String(port)]));
    const first = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, null, /RUN pid=\d+\n/));
    const second = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, null, /RUN pid=\d+\n/));
    assert.notEqual(first, second, 'a different process answered');
    assert.equal((cli.stderr().match(/Starting 'python3/g) ?? []).length >= 2, true);
    assert.equal(cli.child.exitCode, null, 'the proxy keeps running');
  });

  it('in ignore mode keeps proxying to a program that daemonized (its leader exited), and still stops it on SIGTERM', async () => {
    const port = await freePort();
    // Like vncserver: the started process forks the real server into the background and exits.
    const daemonize = 'python3 -c "$1" 0.0.0.0 "$2" </dev/null >/dev/null & exit 0';
    const cli = track(await startCli(['-v', '--wrap-mode', 'ignore', String(port), '--', 'sh', '-c', daemonize, 'sh', PY_ECHO, String(port)]));
    const pgid = await wrappedPid(cli);
    await cli.waitFor(/Wrapped command exited \(or daemon\)\. Returned 0/);
    const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, 'daemon\n', /daemon\n/));
    assert.match(got, /^HELLO .*daemon\n$/s);
    assert.ok(groupAlive(pgid), 'the background server lives on in the group');
    cli.child.kill('SIGTERM');
    assert.equal((await exited(cli)).code, 0);
    assert.equal(groupAlive(pgid), false, 'and is stopped with us');
  });

  it('with --wrap-loopback and respawn follows each run to its new kernel-chosen port', async () => {
    const port = await freePort();
    const cli = track(await startCli(['--wrap-loopback', '--wrap-mode', 'respawn', String(port), '--', 'python3', '-c', PY_ONE_SHOT, String(port)]));
    const first = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, null, /RUN pid=\d+\n/));
    const second = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, null, /RUN pid=\d+\n/));
    assert.notEqual(first, second);
    const ports = [...cli.stderr().matchAll(/wrapped program listening on 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(ports.length >= 2, cli.stderr());
  });

  it("leaves no process of the program's group after SIGTERM, even one that ignores SIGTERM", async () => {
    const port = await freePort();
    const cli = track(await startCli(['-v', '--shutdown-timeout', '1', String(port), '--', 'sh', '-c', 'trap "" TERM; sleep 300 & sleep 300 & wait']));
    const pgid = await wrappedPid(cli);
    // A fixed time: sh must have set its TERM trap and started both sleeps, which nothing announces.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(groupAlive(pgid));
    cli.child.kill('SIGTERM');
    const status = await exited(cli);
    assert.equal(status.code, 0);
    assert.equal(groupAlive(pgid), false, "the wrapped program's process group is gone");
  });

  it('leaves no orphan when the proxy itself is killed with SIGKILL', async () => {
    const port = await freePort();
    const cli = track(await startCli(['-v', String(port), '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)]));
    const pid = await wrappedPid(cli);
    // The program is well under way (its preload library loaded, its socket bound) once it
    // reports its listening socket on stdout.
    await cli.waitFor(/^LISTENING /m);
    cli.child.kill('SIGKILL');
    await exited(cli);
    await waitFor(() => !processAlive(pid), { timeoutMs: 2_000, intervalMs: 20, what: 'the wrapped program to die with the proxy' });
  });

  it('with -D the command returns 0, the daemon serves the wrapped program, and SIGTERM to the daemon stops the program too', async () => {
    const t = tempDir();
    after(t.cleanup);
    const port = await freePort();
    const logFile = path.join(t.dir, 'd.log');
    // We have no --pid-file: the daemon's pid comes from its log, as an operator would find it.
    const parent = await run(
      process.execPath,
      [CLI, '-D', '-v', '--log-file', logFile, `127.0.0.1:${port}`, '--', 'python3', '-c', PY_ECHO, '0.0.0.0', String(port)],
      process.env,
    );
    assert.equal(parent.code, 0, parent.stderr);
    assert.match(parent.stderr, /^ {2}- Backgrounding \(daemon\)$/m);
    assert.match(parent.stderr, new RegExp(`^ {2}- Listen on 127\\.0\\.0\\.1:${port}$`, 'm'));
    const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const daemonPid = Number(/running in the background as pid (\d+)/.exec(log())?.[1]);
    assert.ok(daemonPid > 0, log());
    let programPid = 0;
    try {
      // The parent is gone; the daemon (its own session, reparented) carries on.
      assert.equal(processAlive(daemonPid), true);
      assert.equal(sessionOf(daemonPid), daemonPid, 'the daemon leads its own session');
      const payload = 'through the daemon \x00\x01\xfe\xff\n';
      const got = await eventually(() => wsExchange(`ws://127.0.0.1:${port}/`, Buffer.from(payload, 'latin1'), /\xff\n$/));
      const hello = /^HELLO peer=\["127\.0\.0\.1", 0\] sock=\["127\.0\.0\.1", \d+\]\n/.exec(got);
      assert.ok(hello, JSON.stringify(got));
      assert.equal(got.slice(hello[0].length), payload, 'the exact bytes came back');
      programPid = Number(/wrapped program pid (\d+)/.exec(log())?.[1]);
      assert.ok(programPid > 0, log());
      // The program leads its own session and process group (setsid), under the daemon.
      assert.equal(sessionOf(programPid), programPid);
      assert.equal(parentOf(programPid), daemonPid);
      assert.equal(groupAlive(programPid), true);
      process.kill(daemonPid, 'SIGTERM');
      await waitFor(() => !processAlive(daemonPid) && !groupAlive(programPid), {
        timeoutMs: 5_000,
        intervalMs: 20,
        what: "the daemon and the wrapped program's group to exit",
      });
      assert.equal(processAlive(daemonPid), false, 'the daemon exited');
      assert.equal(groupAlive(programPid), false, "the wrapped program's process group is gone");
      assert.deepEqual(processesInSession(daemonPid), [], "nothing of the daemon's session is left");
      assert.deepEqual(processesInSession(programPid), [], "nothing of the program's session is left");
      assert.match(log(), /In exit \(SIGTERM\)/);
    } finally {
      for (const pid of [daemonPid, programPid]) if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('works with --unix-listen: the client comes in over a unix socket, the program binds whatever port it likes', async () => {
    const t = tempDir();
    after(t.cleanup);
    const listen = path.join(t.dir, 'ws.sock');
    const held = await holdPort(); // the program can only bind it moved
    after(held.release);
    const programPort = held.port;
    track(await startCli(['--unix-listen', listen, '--', 'python3', '-c', PY_ECHO, '127.0.0.1', String(programPort)]));
    const got = await eventually(() => wsExchange(`ws+unix://${listen}:/`, 'unix\n', /unix\n/));
    assert.match(got, /^HELLO .*unix\n$/s);
  });

  it('works with --inetd: the whole command after -- is run (the reference dropped its first word)', async () => {
    const held = await holdPort(); // the program can only bind it moved
    after(held.release);
    const programPort = held.port;
    // An inetd stand-in: a listening socket on fd 0, then exec the CLI.
    const launcher = `
import os, socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
print('PORT', s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 0)
os.execv(sys.argv[1], sys.argv[1:])
`;
    const cli = track(
      start('python3', ['-c', launcher, process.execPath, CLI, '--inetd', '--', 'python3', '-c', PY_ECHO, '127.0.0.1', String(programPort)], process.env),
    );
    const m = await cli.waitFor(/PORT (\d+)/);
    await cli.waitFor(/Listen for inetd connections/);
    const got = await eventually(() => wsExchange(`ws://127.0.0.1:${m[1]}/`, 'inetd\n', /inetd\n/));
    assert.match(got, /^HELLO .*inetd\n$/s);
  });

  it('reaches a real telnet server (inetutils telnetd under socat) and sees its login prompt', async () => {
    requireTool('socat', 'socat');
    const telnetd = '/usr/sbin/telnetd';
    if (!existsSync(telnetd)) throw new Error('telnetd is required by this test: apt-get install inetutils-telnetd (listed in scripts/system-packages.txt)');
    const port = await freePort();
    // socat listens on the port (moved onto the unix socket) and hands each connection to telnetd
    // as its stdin/stdout, as inetd would.
    track(await startCli([String(port), '--', 'socat', `TCP-LISTEN:${port},reuseaddr,fork`, `EXEC:${telnetd},nofork`]));
    const IAC = 255;
    const got = await eventually(() =>
      wsExchange(`ws://127.0.0.1:${port}/`, null, /login: $/, {
        // Refuse every option the server asks for or offers, so it goes on to the prompt.
        answer: (chunk, ws) => {
          for (let i = 0; i + 2 < chunk.length; i++) {
            if (chunk[i] === IAC && (chunk[i + 1] === 253 || chunk[i + 1] === 251))
              ws.send(Buffer.from([IAC, chunk[i + 1] === 253 ? 252 : 254, chunk[i + 2]!]));
          }
        },
      }),
    );
    assert.ok(got.charCodeAt(0) === IAC, 'telnet negotiation came first');
    assert.match(got, /login: $/);
  });

  it('refuses to start with a clear error when the program does not exist', async () => {
    const port = await freePort();
    const cli = track(start(process.execPath, [CLI, String(port), '--', '/nonexistent/prog'], process.env));
    const status = await exited(cli);
    assert.equal(status.code, 1);
    // One line, before the port is taken: no banner, no "Starting", no port moved for a program that never ran.
    assert.deepEqual(cli.stderr().trim().split('\n'), ["websockify: wrapped program '/nonexistent/prog' not found"]);
    assert.equal(await tcpOpen('127.0.0.1', port), false);
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Field `index` after the command name in /proc/PID/stat (0 state, 1 ppid, 3 session), or 0 once it is gone. */
function statField(pid: number, index: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index]);
  } catch {
    return 0;
  }
}
const parentOf = (pid: number): number => statField(pid, 1);
const sessionOf = (pid: number): number => statField(pid, 3);

/** Live (not zombie) processes whose session is `sid`. */
function processesInSession(sid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => sessionOf(pid) === sid && processAlive(pid));
}
