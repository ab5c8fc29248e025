import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { CLI_PATH, processTree, runCli, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { closedPort, startEchoTarget, startTcpTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { CertFactory } from '../support/openssl-certs.js';
import { waitFor } from '../support/wait.js';

const TWO = ['--workers', '2'];

/** Session ids from the `  N: connecting to:` lines, in order of appearance. */
function sessionIds(output: string): number[] {
  return [...output.matchAll(/\]\s+(\d+): connecting to:/g)].map((m) => Number(m[1]));
}

/** pid of each `worker K of N serving (pid P)` line, by K (the latest line wins). */
function workerPids(output: string): Map<number, number> {
  const pids = new Map<number, number>();
  for (const m of output.matchAll(/worker (\d+) of \d+ serving \(pid (\d+)\)/g)) pids.set(Number(m[1]), Number(m[2]));
  return pids;
}

async function echoOnce(port: number, payload: Buffer): Promise<void> {
  const ws = await openClient(`ws://127.0.0.1:${port}/`);
  const back = receiveBytes(ws, payload.length);
  ws.send(payload);
  assert.ok((await back).equals(payload), `${payload.length} bytes came back altered`);
  const closed = closeEvent(ws);
  ws.close(1000);
  assert.equal((await closed).code, 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('--workers 2: the core checks hold with two processes behind one listener', () => {
  let echo: TcpTarget;
  let proxy: ProxyProcess;
  before(async () => {
    echo = await startEchoTarget();
    proxy = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
  });
  after(async () => {
    await proxy.stop();
    await echo.close();
  });

  it('runs a supervising primary and two workers, all printing to the one stderr, with one banner', async () => {
    await proxy.waitForOutput(/worker 2 of 2 serving/);
    const pids = workerPids(proxy.output());
    assert.equal(pids.size, 2);
    assert.notEqual(pids.get(1), pids.get(2));
    const tree = processTree(proxy.proc.pid!);
    for (const pid of pids.values()) assert.ok(tree.includes(pid), `worker ${pid} is a child of the primary`);
    assert.equal(proxy.output().match(/WebSocket server settings:/g)?.length, 1, 'one banner');
  });

  it('echoes random payloads byte for byte on sessions spread over both workers, with unique ids', async () => {
    const before = sessionIds(proxy.output()).length;
    const sizes = [0, 1, 125, 65536, 65537, 1024 * 1024, 3 * 1024 * 1024 + 5, 77];
    // Two at a time, so the round robin gives each worker some.
    for (let i = 0; i < sizes.length; i += 2) {
      await Promise.all(sizes.slice(i, i + 2).map((size) => echoOnce(proxy.port, randomBytes(size))));
    }
    const ids = sessionIds(proxy.output()).slice(before);
    assert.equal(ids.length, sizes.length);
    assert.equal(new Set(ids).size, ids.length, `ids repeat: ${ids.join(',')}`);
    // Worker 1 of 2 numbers 1, 3, 5, ...; worker 2 numbers 2, 4, 6, ...
    assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `sessions landed on one worker only: ${ids.join(',')}`);
  });

  it('closes 1000 "Target closed" after every byte the target sent, and 1011 when the target refuses', async () => {
    const payload = randomBytes(2 * 1024 * 1024 + 3);
    const source = await startTcpTarget((socket) => socket.end(payload));
    const refused = await closedPort();
    const p2 = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${source.port}`]);
    const p3 = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${refused}`]);
    try {
      for (let i = 0; i < 2; i++) {
        const ws = await openClient(`ws://127.0.0.1:${p2.port}/`);
        const closed = closeEvent(ws);
        const data = await receiveBytes(ws, payload.length);
        assert.ok(data.equals(payload));
        assert.deepEqual(await closed, { code: 1000, reason: 'Target closed' });
        const ws3 = await openClient(`ws://127.0.0.1:${p3.port}/`);
        assert.deepEqual(await closeEvent(ws3), { code: 1011, reason: 'Failed to connect to downstream server' });
      }
    } finally {
      await Promise.all([p2.stop(), p3.stop()]);
      await source.close();
    }
  });

  it('on SIGTERM closes the sessions of every worker with 1001 and exits 0', async () => {
    const p2 = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    await p2.waitForOutput(/worker 2 of 2 serving/);
    const clients = await Promise.all([1, 2, 3, 4].map(() => openClient(`ws://127.0.0.1:${p2.port}/`)));
    // Which ids they get depends on which worker each lands on (1, 2, 3, 5 is possible).
    for (let i = 0; i < 50 && sessionIds(p2.output()).length < 4; i++) await sleep(100);
    assert.equal(sessionIds(p2.output()).length, 4);
    const ids = sessionIds(p2.output());
    assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), 'both workers hold sessions');
    const closes = clients.map((ws) => closeEvent(ws));
    const status = await p2.stop('SIGTERM');
    for (const close of await Promise.all(closes)) assert.equal(close.code, 1001);
    assert.deepEqual(status, { code: 0, signal: null });
    assert.equal(p2.output().match(/In exit \(SIGTERM\)$/gm)?.length, 2, 'each worker drained once');
  });
});

describe('--workers: supervision', () => {
  let echo: TcpTarget;
  before(async () => {
    echo = await startEchoTarget();
  });
  after(async () => {
    await echo.close();
  });

  it('restarts a worker that is killed, logs it, and keeps serving with fresh unique ids', async () => {
    const proxy = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      // A session on each worker, one of which is lost with its worker.
      const held = await Promise.all([1, 2].map(() => openClient(`ws://127.0.0.1:${proxy.port}/`)));
      const firstClose = Promise.race(held.map((ws, i) => closeEvent(ws, 10_000).then((close) => ({ i, code: close.code }))));
      const victim = workerPids(proxy.output()).get(1)!;
      process.kill(victim, 'SIGKILL');
      const lost = await firstClose;
      assert.equal(lost.code, 1006, "the killed worker's session ends abruptly");
      const survivor = held[1 - lost.i]!;
      assert.equal(survivor.readyState, WebSocket.OPEN, 'the other worker keeps its session');
      const still = receiveBytes(survivor, 5);
      survivor.send(Buffer.from('alive'));
      assert.equal((await still).toString(), 'alive');
      await proxy.waitForOutput(new RegExp(`worker 1 \\(pid ${victim}\\) was killed by SIGKILL; restarting it`));
      await proxy.waitForOutput(/worker 1 of 2 serving \(pid (\d+)\)[^]*$/);
      for (let i = 0; i < 50 && workerPids(proxy.output()).get(1) === victim; i++) await sleep(100);
      const successor = workerPids(proxy.output()).get(1)!;
      assert.notEqual(successor, victim);
      assert.ok(processTree(proxy.proc.pid!).includes(successor));
      for (let i = 0; i < 6; i++) await echoOnce(proxy.port, randomBytes(1000));
      const ids = sessionIds(proxy.output());
      assert.equal(new Set(ids).size, ids.length, `ids repeat: ${ids.join(',')}`);
      assert.ok(
        ids.some((id) => id > 1_000_000),
        `the restarted worker numbers from the next million: ${ids.join(',')}`,
      );
      for (const ws of held) ws.terminate();
      const status = await proxy.stop('SIGTERM');
      assert.deepEqual(status, { code: 0, signal: null });
    } finally {
      await proxy.stop('SIGKILL');
    }
  });

  it('passes SIGHUP on to every worker (each reloads) and keeps serving', async () => {
    const proxy = await startProxy([...TWO, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      proxy.proc.kill('SIGHUP');
      for (let i = 0; i < 50 && (proxy.output().match(/SIGHUP: reloading/g)?.length ?? 0) < 2; i++) await sleep(100);
      assert.equal(proxy.output().match(/SIGHUP: reloading/g)?.length, 2, proxy.output());
      await echoOnce(proxy.port, Buffer.from('still here'));
      assert.deepEqual(await proxy.stop('SIGTERM'), { code: 0, signal: null });
    } finally {
      await proxy.stop('SIGKILL');
    }
  });

  it('logs the certificate once for the server, not once per worker, at start and on SIGHUP', async () => {
    const certs = new CertFactory();
    const ca = certs.ca('ca');
    const server = certs.signed('localhost', ca, 'server');
    const proxy = await startProxy([...TWO, '--cert', server.cert, '--key', server.key, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      await proxy.waitForOutput(/worker 2 of 2 serving/);
      assert.equal(proxy.output().match(/tls: loaded certificate/g)?.length, 1, proxy.output());
      proxy.proc.kill('SIGHUP');
      await proxy.waitForOutput(/tls: reloaded after/);
      await waitFor(() => (proxy.output().match(/SIGHUP: reloading/g)?.length ?? 0) >= 2, { what: 'both workers reloading' });
      assert.equal(proxy.output().match(/tls: reloaded after/g)?.length, 1, proxy.output());
      assert.deepEqual(await proxy.stop('SIGTERM'), { code: 0, signal: null });
    } finally {
      await proxy.stop('SIGKILL');
      rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it('-D with --workers: the parent returns once every worker serves, and SIGTERM to the daemon stops them all', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wsfy-workers-'));
    const log = path.join(dir, 'daemon.log');
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      const { code, stderr } = await runCli([...TWO, '-D', '--log-file', log, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
      assert.equal(code, 0, stderr);
      const port = Number(/Listen on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
      const pids = workerPids(readFileSync(log, 'utf8'));
      assert.equal(pids.size, 2, 'both workers served before the parent returned');
      await echoOnce(port, Buffer.from('daemon'));
      const primary = Number(
        readFileSync(`/proc/${pids.get(1)}/stat`, 'utf8')
          .split(') ')[1]!
          .split(' ')[1],
      );
      process.kill(primary, 'SIGTERM');
      const all = [primary, ...pids.values()];
      for (let i = 0; i < 100 && all.some(alive); i++) await sleep(100);
      assert.deepEqual(all.filter(alive), [], 'the daemon and its workers are gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shares --max-connections across workers: the cap is the server's", async () => {
    const proxy = await startProxy([...TWO, '--max-connections', '3', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      const held = await Promise.all([1, 2, 3].map(() => openClient(`ws://127.0.0.1:${proxy.port}/`)));
      for (let i = 0; i < 2; i++) await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/`), /HTTP 503/);
      const closed = closeEvent(held[0]!);
      held[0]!.close();
      await closed;
      await sleep(200);
      const again = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      again.close();
      for (const ws of held.slice(1)) ws.close();
    } finally {
      await proxy.stop();
    }
  });

  it('exits 1 naming the reason when the listen port is taken, reported once', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    const { code, stderr } = await runCli([...TWO, `127.0.0.1:${port}`, '127.0.0.1:1']);
    holder.close();
    assert.equal(code, 1);
    assert.equal(stderr.match(/Opening socket failed: .*EADDRINUSE/g)?.length, 1, stderr);
  });

  it('listens on a unix socket with the asked mode, shared by both workers', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wsfy-workers-'));
    const listenPath = path.join(dir, 'listen.sock');
    const proxy = await startProxy([...TWO, '--unix-listen', listenPath, '--unix-listen-mode', '0640', `127.0.0.1:${echo.port}`], { waitForListen: false });
    try {
      await proxy.waitForOutput(/Listen on unix socket/);
      assert.equal(statSync(listenPath).mode & 0o777, 0o640);
      for (let i = 0; i < 4; i++) {
        const ws = new WebSocket(`ws+unix://${listenPath}:/`, ['binary']);
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        const back = receiveBytes(ws, 4);
        ws.send(Buffer.from('unix'));
        assert.equal((await back).toString(), 'unix');
        ws.close();
      }
      const ids = sessionIds(proxy.output());
      assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `both workers served: ${ids.join(',')}`);
    } finally {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts on a listening socket passed as fd 0 with --inetd, in both workers', async () => {
    const launcher = [
      'import os, socket, sys',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)',
      'print(s.getsockname()[1], flush=True)',
      'os.dup2(s.fileno(), 0)',
      'os.execv(sys.argv[1], sys.argv[1:])',
    ].join('\n');
    const child = spawn('python3', ['-c', launcher, process.execPath, CLI_PATH, ...TWO, '--inetd', `127.0.0.1:${echo.port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      for (let i = 0; i < 100 && !stderr.includes('inetd connections'); i++) await sleep(100);
      assert.match(stderr, /Listen for inetd connections/);
      for (let i = 0; i < 4; i++) await echoOnce(Number(stdout.trim()), Buffer.from('inetd'));
      const ids = sessionIds(stderr);
      assert.ok(ids.some((id) => id % 2 === 1) && ids.some((id) => id % 2 === 0), `both workers served: ${ids.join(',')}`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it('--timeout applies to the whole server: no worker accepts after it, and the last session ends the server', async () => {
    // 3 s from launch: two workers must start (and a session open) before it, on a busy machine too.
    const proxy = await startProxy([...TWO, '--timeout', '3', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    await proxy.waitForOutput(/listener exit due to --timeout 3/, 10_000);
    for (let i = 0; i < 4; i++) await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/`), /ECONNREFUSED/);
    const back = receiveBytes(ws, 3);
    ws.send(Buffer.from('yes'));
    assert.equal((await back).toString(), 'yes', 'the live session still works');
    ws.close();
    assert.deepEqual(await proxy.exited, { code: 0, signal: null });
  });

  it('runs one process for --workers 1 and for --run-once, and one worker per core for auto', async () => {
    for (const args of [
      ['--workers', '1'],
      ['--workers', '3', '--run-once'],
    ]) {
      const proxy = await startProxy([...args, '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
      try {
        assert.deepEqual(processTree(proxy.proc.pid!), [proxy.proc.pid], `${args.join(' ')}: no extra process`);
      } finally {
        await proxy.stop();
      }
    }
    const cores = os.availableParallelism();
    const auto = await startProxy(['--workers', 'auto', '127.0.0.1:0', `127.0.0.1:${echo.port}`]);
    try {
      if (cores > 1) {
        await auto.waitForOutput(new RegExp(`worker ${cores} of ${cores} serving`));
        assert.equal(workerPids(auto.output()).size, cores);
      } else assert.deepEqual(processTree(auto.proc.pid!), [auto.proc.pid]);
    } finally {
      await auto.stop();
    }
  });

  it('refuses a --workers value that is not a count or auto, exiting 2', async () => {
    for (const value of ['0', '-1', 'two', '1.5', '5000']) {
      const { code, stderr } = await runCli(['--workers', value, '6080', 'a:1']);
      assert.equal(code, 2, value);
      assert.match(stderr, /option --workers: invalid value/);
    }
  });
});
