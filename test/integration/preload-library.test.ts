/**
 * The preload library under a real LD_PRELOAD, in real programs (python3, node, socat), checked
 * from outside: where the program really listens, what it believes, and what a client sees.
 */
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { findPreloadLibrary, packageRoot } from '../../src/wrap/preload-library.js';
import { NODE_ECHO, PY_ECHO } from '../support/echo-programs.js';
import { exchange, freePort, holdPort, requireTool, run, start, tempDir, type Running } from '../support/programs.js';
import { waitFor } from '../support/wait.js';

let lib: string;
const cleanups: Array<() => void | Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

before(() => {
  // Build it if the test runs before `npm run build` did (the build script is idempotent).
  spawnSync('sh', [path.join(packageRoot(), 'scripts', 'build-native.sh')], { stdio: 'inherit' });
  lib = findPreloadLibrary();
});

function envWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: lib, ...vars };
  // Never let the runner's own environment switch a mode on by accident.
  for (const k of Object.keys(env)) if (/^(UNSOCK_|REBIND_|WSFY_PRELOAD_)/.test(k) && !(k in vars)) delete env[k];
  return env;
}

function track(r: Running): Running {
  cleanups.push(() => r.stop());
  return r;
}

function privateDir(): string {
  const t = tempDir('wsfy-preload-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('rebind mode', () => {
  it('moves an IPv4 bind of the old port on 0.0.0.0 to 127.0.0.1:NEW and nothing listens on the old port', async () => {
    // We hold the old port: the program's bind of it can only succeed if it was moved.
    const held = await holdPort();
    cleanups.push(held.release);
    const [oldPort, newPort] = [held.port, await freePort()];
    const p = track(
      start('python3', ['-c', PY_ECHO, '0.0.0.0', String(oldPort)], envWith({ REBIND_OLD_PORT: String(oldPort), REBIND_NEW_PORT: String(newPort) })),
    );
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!), ['127.0.0.1', newPort]);
    assert.match(await exchange({ host: '127.0.0.1', port: newPort }, 'ping\n', /ping\n/), /^HELLO .*ping\n$/s);
  });

  it('moves a dual-stack IPv6 bind to the v4-mapped loopback so 127.0.0.1:NEW answers', async () => {
    const [oldPort, newPort] = [await freePort(), await freePort()];
    const p = track(
      start('python3', ['-c', PY_ECHO, '::', String(oldPort), 'dual'], envWith({ REBIND_OLD_PORT: String(oldPort), REBIND_NEW_PORT: String(newPort) })),
    );
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!).slice(0, 2), ['::ffff:127.0.0.1', newPort]);
    assert.match(await exchange({ host: '127.0.0.1', port: newPort }, 'x\n', /x\n/), /HELLO/);
  });

  it('moves an IPv6-only bind to [::1]:NEW', async () => {
    const [oldPort, newPort] = [await freePort(), await freePort()];
    const p = track(
      start('python3', ['-c', PY_ECHO, '::', String(oldPort), 'v6only'], envWith({ REBIND_OLD_PORT: String(oldPort), REBIND_NEW_PORT: String(newPort) })),
    );
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!).slice(0, 2), ['::1', newPort]);
    assert.match(await exchange({ host: '::1', port: newPort }, 'x\n', /x\n/), /HELLO/);
  });

  it('leaves binds of other ports alone', async () => {
    const [oldPort, other] = [await freePort(), await freePort()];
    const p = track(start('python3', ['-c', PY_ECHO, '127.0.0.1', String(other)], envWith({ REBIND_OLD_PORT: String(oldPort), REBIND_NEW_PORT: '1' })));
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!), ['127.0.0.1', other]);
  });

  it('with NEW port 0 picks a free loopback port and reports it to WSFY_PRELOAD_REPORT', async () => {
    const oldPort = await freePort();
    const report = path.join(privateDir(), 'report');
    const p = track(
      start('node', ['-e', NODE_ECHO, String(oldPort)], envWith({ REBIND_OLD_PORT: String(oldPort), REBIND_NEW_PORT: '0', WSFY_PRELOAD_REPORT: report })),
    );
    await p.waitFor(/LISTENING/);
    const line = readFileSync(report, 'utf8');
    const m = /^inet 127\.0\.0\.1 (\d+)\n$/.exec(line);
    assert.ok(m, `report line: ${JSON.stringify(line)}`);
    assert.match(await exchange({ host: '127.0.0.1', port: Number(m![1]) }, 'hi\n', /hi\n/), /HELLO/);
  });

  it('bin/rebind exports the names the library reads (the reference script exported wrong ones)', async () => {
    const [oldPort, newPort] = [await freePort(), await freePort()];
    const env = envWith({});
    delete env.LD_PRELOAD;
    const p = track(start(path.join(packageRoot(), 'bin', 'rebind'), [String(oldPort), String(newPort), 'python3', '-c', PY_ECHO, '', String(oldPort)], env));
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!), ['127.0.0.1', newPort]);
  });

  it('refuses a malformed REBIND_NEW_PORT with a message naming it, before the program runs', async () => {
    const r = await run('python3', ['-c', 'print("ran")'], envWith({ REBIND_OLD_PORT: '5000', REBIND_NEW_PORT: '26161x' }));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /websockify-preload: REBIND_NEW_PORT must be a port number 0-65535 \(got "26161x"\)/);
  });
});

describe('parent watch', () => {
  it('with WSFY_PRELOAD_PARENT the direct child is terminated when that parent is killed (no orphan)', async () => {
    // sh is the "proxy": it starts a long sleep under the library naming itself as the parent,
    // prints the child's pid, and is then killed with SIGKILL, which it cannot clean up after.
    const script = 'WSFY_PRELOAD_PARENT=$$ python3 -c "import time; time.sleep(60)" & echo CHILD $!; wait';
    const p = track(start('sh', ['-c', script], envWith({})));
    const m = await p.waitFor(/CHILD (\d+)/);
    const child = Number(m[1]);
    // A fixed time on purpose: the parent watch must not end the child while the parent lives.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alive(child), 'child runs while its parent does');
    p.child.kill('SIGKILL');
    await waitFor(() => !alive(child), { timeoutMs: 2_000, intervalMs: 20, what: 'the child to end with its parent' });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie waiting for its new parent to reap it has already ended.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('unsock mode', () => {
  it('puts a Python server bound to 0.0.0.0:PORT on DIR/PORT.sock with UNSOCK_MODE, and it reports IPv4 addresses', async () => {
    const dir = privateDir();
    const held = await holdPort(); // the TCP port is ours: the program can only bind it moved
    cleanups.push(held.release);
    const port = held.port;
    const p = track(
      start(
        'python3',
        ['-c', PY_ECHO, '0.0.0.0', String(port)],
        envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1/0', UNSOCK_PORT: String(port), UNSOCK_MODE: '640' }),
      ),
    );
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.deepEqual(JSON.parse(m[1]!), ['127.0.0.1', port]);
    const sock = path.join(dir, `${port}.sock`);
    const st = lstatSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o7777, 0o640);
    const got = await exchange({ path: sock }, 'data\n', /data\n/);
    assert.equal(got, `HELLO peer=["127.0.0.1", 0] sock=["127.0.0.1", ${port}]\ndata\n`);
  });

  it('puts a Node server listening on the default host on DIR/PORT.sock when IPv6 is blocked', async () => {
    const dir = privateDir();
    const held = await holdPort();
    cleanups.push(held.release);
    const port = held.port;
    const p = track(
      start(
        'node',
        ['-e', NODE_ECHO, String(port)],
        envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1/0', UNSOCK_PORT: String(port), UNSOCK_BLOCK_INET6: '1' }),
      ),
    );
    const m = await p.waitFor(/LISTENING (.*)/);
    assert.equal(JSON.parse(m[1]!).port, port);
    const got = await exchange({ path: path.join(dir, `${port}.sock`) }, 'n\n', /n\n/);
    assert.match(got, /^HELLO peer=\["127\.0\.0\.1",0\] sock=\["127\.0\.0\.1",\d+\]\nn\n$/);
  });

  it('makes socket(AF_INET6) fail with EAFNOSUPPORT under UNSOCK_BLOCK_INET6=1', async () => {
    const dir = privateDir();
    const r = await run(
      'python3',
      ['-c', 'import socket\ntry:\n socket.socket(socket.AF_INET6)\n print("made")\nexcept OSError as e:\n print(e.errno)'],
      envWith({ UNSOCK_DIR: dir, UNSOCK_BLOCK_INET6: '1' }),
    );
    assert.equal(r.stdout.trim(), '97'); // EAFNOSUPPORT on Linux
  });

  it('replaces a stale socket file but never a regular file', async () => {
    const dir = privateDir();
    const port = await freePort();
    const sock = path.join(dir, `${port}.sock`);
    // A stale socket: bound by a process that exited without unlinking it.
    const stale = await run('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`], envWith({}));
    assert.equal(stale.code, 0);
    assert.ok(lstatSync(sock).isSocket());
    const env = envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1/0', UNSOCK_PORT: String(port) });
    const p = track(start('python3', ['-c', PY_ECHO, '0.0.0.0', String(port)], env));
    await p.waitFor(/LISTENING/);
    assert.match(await exchange({ path: sock }, 'z\n', /z\n/), /HELLO/);
    // A live one is not stolen: a second server gets EADDRINUSE.
    const second = await run('python3', ['-c', PY_ECHO, '0.0.0.0', String(port)], env);
    assert.match(second.stderr, /Address already in use/);
    // A regular file in the way is left alone.
    const other = await freePort();
    writeFileSync(path.join(dir, `${other}.sock`), 'keep me');
    const third = await run('python3', ['-c', PY_ECHO, '0.0.0.0', String(other)], { ...env, UNSOCK_PORT: String(other) });
    assert.match(third.stderr, /Address already in use/);
    assert.equal(readFileSync(path.join(dir, `${other}.sock`), 'utf8'), 'keep me');
  });

  it('binds port 0 to a random DIR/N.sock when every port is covered, and getsockname reports N', async () => {
    const dir = privateDir();
    const p = track(start('python3', ['-c', PY_ECHO, '127.0.0.1', '0'], envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.0/8' })));
    const m = await p.waitFor(/LISTENING (.*)/);
    const [host, n] = JSON.parse(m[1]!) as [string, number];
    assert.equal(host, '127.0.0.0');
    assert.ok(n >= 1024 && n <= 65535);
    assert.ok(existsSync(path.join(dir, `${n}.sock`)));
    assert.match(await exchange({ path: path.join(dir, `${n}.sock`) }, 'q\n', /q\n/), /HELLO/);
  });

  it('binds port 0 over real TCP when only one port is covered (unsock failed with EINVAL here)', async () => {
    const dir = privateDir();
    const p = track(start('python3', ['-c', PY_ECHO, '127.0.0.1', '0'], envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1/0', UNSOCK_PORT: '6080' })));
    const m = await p.waitFor(/LISTENING (.*)/);
    const [, n] = JSON.parse(m[1]!) as [string, number];
    assert.match(await exchange({ host: '127.0.0.1', port: n }, 'q\n', /q\n/), /HELLO/);
  });

  it('turns a connect to a covered address into a connect to DIR/PORT.sock, and leaves others on TCP', async () => {
    const dir = privateDir();
    const port = await freePort();
    const server = net.createServer((c: net.Socket) => c.end('via unix\n'));
    await new Promise<void>((resolve) => server.listen(path.join(dir, `${port}.sock`), resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const tcp = net.createServer((c: net.Socket) => c.end('via tcp\n'));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => tcp.close(() => resolve())));
    const tcpPort = (tcp.address() as net.AddressInfo).port;
    const client = `
import socket, sys
for p in (${port}, ${tcpPort}):
    c = socket.create_connection(('127.0.0.1', p))
    print(c.recv(100).decode().strip(), c.getpeername())
`;
    const r = await run('python3', ['-c', client], envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1', UNSOCK_PORT: String(port) }));
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `via unix ('127.0.0.1', ${port})\nvia tcp ('127.0.0.1', ${tcpPort})\n`);
  });

  it('answers ECONNREFUSED (not ENOENT) when no DIR/PORT.sock exists', async () => {
    const dir = privateDir();
    const r = await run(
      'python3',
      ['-c', 'import socket\ntry:\n socket.create_connection(("127.0.0.1", 7))\nexcept OSError as e:\n print(e.errno)'],
      envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1' }),
    );
    assert.equal(r.stdout.trim(), '111');
  });

  it('with UNSOCK_ACCEPT_CONVERT_ALL shows a foreign unix peer as UNSOCK_ADDR:UNSOCK_PORT', async () => {
    const dir = privateDir();
    const sockPath = path.join(dir, 'foreign');
    const code = `
import socket
s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sockPath)}); s.listen(1)
print('LISTENING []', flush=True)
c, peer = s.accept()
print('PEER', peer, flush=True)
`;
    const p = track(start('python3', ['-c', code], envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '10.1.2.3', UNSOCK_PORT: '6080', UNSOCK_ACCEPT_CONVERT_ALL: '1' })));
    await p.waitFor(/LISTENING/);
    const c = net.connect(sockPath);
    cleanups.push(() => void c.destroy());
    const m = await p.waitFor(/PEER (.*)/);
    assert.equal(m[1], "('10.1.2.3', 6080)");
  });

  it('serves socat (Debian) listening on the covered port', async () => {
    requireTool('socat', 'socat');
    const dir = privateDir();
    const port = await freePort();
    track(
      start(
        'socat',
        [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, 'SYSTEM:echo socat-here'],
        envWith({ UNSOCK_DIR: dir, UNSOCK_ADDR: '127.0.0.1', UNSOCK_PORT: String(port) }),
      ),
    );
    const sock = path.join(dir, `${port}.sock`);
    await waitFor(() => existsSync(sock), { timeoutMs: 5_000, intervalMs: 20, what: `socat's socket ${sock}` });
    assert.equal(await exchange({ path: sock }, '', /socat-here\n/), 'socat-here\n');
  });

  for (const [vars, message] of [
    [{ UNSOCK_DIR: 'relative/dir' }, /UNSOCK_DIR must be an absolute path \(got "relative\/dir"\)/],
    [{ UNSOCK_DIR: '/tmp/' + 'x'.repeat(100) }, /UNSOCK_DIR is too long/],
    [{ UNSOCK_DIR: '/etc/hostname' }, /UNSOCK_DIR \/etc\/hostname is not a directory/],
    [{ UNSOCK_DIR: '@DIR', UNSOCK_ADDR: '127.0.0' }, /UNSOCK_ADDR must be a\.b\.c\.d or a\.b\.c\.d\/bits/],
    [{ UNSOCK_DIR: '@DIR', UNSOCK_ADDR: '127.0.0.1/33' }, /UNSOCK_ADDR must be/],
    [{ UNSOCK_DIR: '@DIR', UNSOCK_PORT: '70000' }, /UNSOCK_PORT must be a port number/],
    [{ UNSOCK_DIR: '@DIR', UNSOCK_MODE: '999' }, /UNSOCK_MODE must be an octal file mode/],
    [{ UNSOCK_DIR: '@DIR', UNSOCK_BLOCK_INET6: 'yes' }, /UNSOCK_BLOCK_INET6 must be 1 or 0/],
    [{ UNSOCK_PORT: '6080' }, /UNSOCK_PORT is set but UNSOCK_DIR is not/],
  ] as const) {
    it(`refuses bad configuration ${JSON.stringify(vars)} with a clear message and exit status 1`, async () => {
      const dir = privateDir();
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(vars)) env[k] = v === '@DIR' ? dir : v;
      const r = await run('python3', ['-c', 'print("ran")'], envWith(env));
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp('^websockify-preload: ' + message.source));
    });
  }
});
