import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_PATH, startProxy } from '../support/proxy-process.js';
import { closedPort, startEchoTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
      .on('error', () => resolve(0));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function roundTrip(ws: import('ws').WebSocket, text: string): Promise<void> {
  ws.send(Buffer.from(text));
  assert.equal((await receiveBytes(ws, text.length)).toString(), text);
}

test('SIGHUP reopens the log file and keeps live sessions intact', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-hup-'));
  const target = await startEchoTarget();
  const proxy = await startProxy(['--log-file', 'ws.log', '127.0.0.1:0', `127.0.0.1:${target.port}`], { cwd: dir });
  try {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    await roundTrip(ws, 'before');
    await rename(path.join(dir, 'ws.log'), path.join(dir, 'ws.log.1'));
    proxy.proc.kill('SIGHUP');
    await proxy.waitForOutput(/reloaded log files/);
    await roundTrip(ws, 'after the reload');
    ws.close(1000);
    assert.equal((await closeEvent(ws)).code, 1000);
    await waitFor(async () => (await readFile(path.join(dir, 'ws.log'), 'utf8').catch(() => '')).includes('session closed'), {
      what: 'a summary line in ws.log',
    });
    assert.match(await readFile(path.join(dir, 'ws.log.1'), 'utf8'), /Listen on/);
    assert.equal(proxy.proc.exitCode, null);
  } finally {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGTERM drains: readiness fails at once, new connections are refused, live sessions get 1001 after --drain-timeout, exit 0', async () => {
  const target = await startEchoTarget();
  const proxy = await startProxy(['--metrics', '127.0.0.1:0', '--drain-timeout', '1.5', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const line = await proxy.waitForOutput(/metrics and health on/);
    const base = /http:\/\/([\d.]+:\d+)\//.exec(line)![1]!;
    assert.equal(await status(`http://${base}/readyz`), 200);
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    await roundTrip(ws, 'one');
    const closed = closeEvent(ws, 10_000);
    const sentAt = Date.now();
    proxy.proc.kill('SIGTERM');
    await waitFor(async () => (await status(`http://${base}/readyz`)) === 503, { what: '/readyz to answer 503' });
    assert.equal(await status(`http://${base}/healthz`), 200);
    // Still proxying during the drain; the listener no longer accepts.
    await roundTrip(ws, 'during the drain');
    await assert.rejects(openClient(`ws://127.0.0.1:${proxy.port}/`));
    const { code, reason } = await closed;
    const waited = Date.now() - sentAt;
    assert.equal(code, 1001);
    assert.equal(reason, 'Server shutting down');
    assert.ok(waited >= 1400, `closed after ${waited}ms, before the drain timeout`);
    assert.deepEqual(await proxy.exited, { code: 0, signal: null });
  } finally {
    await proxy.stop();
    await target.close();
  }
});

test('a real systemd-socket-activate hands its socket to --systemd-socket', async () => {
  const target = await startEchoTarget();
  const port = await closedPort();
  const proc = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, process.execPath, CLI_PATH, '--systemd-socket', `127.0.0.1:${target.port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d.toString()));
  proc.stderr!.on('data', (d) => (output += d.toString()));
  proc.on('error', (err) => assert.fail(`systemd-socket-activate is needed (Debian package systemd): ${err.message}`));
  try {
    // systemd-socket-activate listens first and starts us on the first connection.
    const ws = await waitFor(() => openClient(`ws://127.0.0.1:${port}/`).catch(() => null), {
      timeoutMs: 5_000,
      intervalMs: 50,
      what: 'a connection through the activated socket',
    }).catch((err: Error) => {
      throw new Error(`${err.message}:\n${output}`);
    });
    await roundTrip(ws, 'activated');
    ws.close(1000);
    await closeEvent(ws);
    assert.match(output, /Listen on inherited socket \(systemd socket\)/);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await target.close();
  }
});

test('--systemd-socket without LISTEN_FDS fails with a clear message', async () => {
  const proc = spawn(process.execPath, [CLI_PATH, '--systemd-socket', '127.0.0.1:5900'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LISTEN_FDS: '', LISTEN_PID: '' },
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d.toString()));
  const code = await new Promise((r) => proc.once('exit', r));
  assert.equal(code, 2);
  assert.match(err, /--systemd-socket: no socket was passed/);
});

test('-D daemonizes: the parent exits 0 after the child listens, relative paths still work, the daemon logs to --log-file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-daemon-'));
  const target = await startEchoTarget();
  let pid = 0;
  try {
    const parent = spawn(process.execPath, [CLI_PATH, '-D', '--log-file', 'd.log', '--record', 'rec', '127.0.0.1:0', `127.0.0.1:${target.port}`], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    parent.stderr!.on('data', (d) => (err += d.toString()));
    const code = await new Promise((r) => parent.once('exit', r));
    assert.equal(code, 0, err);
    assert.match(err, /  - Backgrounding \(daemon\)/);
    const port = Number(/Listen on 127\.0\.0\.1:(\d+)/.exec(err)![1]);
    const log = await readFile(path.join(dir, 'd.log'), 'utf8');
    pid = Number(/running in the background as pid (\d+)/.exec(log)![1]);
    assert.notEqual(pid, parent.pid);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    await roundTrip(ws, 'daemon');
    ws.close(1000);
    await closeEvent(ws);
    // --record and --log-file were relative to the caller's directory, although the daemon runs in /.
    await waitFor(async () => (await readFile(path.join(dir, 'rec.1'), 'latin1').catch(() => '')).endsWith("'EOF'];\n"), { what: 'the end of rec.1' });
    await waitFor(async () => (await readFile(path.join(dir, 'd.log'), 'utf8')).includes('session closed'), { what: 'a summary line in d.log' });
  } finally {
    if (pid) process.kill(pid, 'SIGTERM');
    await target.close();
    if (pid) await waitFor(() => !processAlive(pid), { what: `the daemon (pid ${pid}) to exit` });
    await rm(dir, { recursive: true, force: true });
  }
});

test('--syslog through the CLI: RFC 5424 lines with facility user, and facility daemon under -D', async () => {
  const dgram = await import('node:dgram');
  const server = dgram.createSocket('udp4');
  const got: string[] = [];
  server.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const target = await startEchoTarget();
  let daemonPid = 0;
  try {
    const fg = await startProxy(['--syslog', `127.0.0.1:${port}`, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    await waitFor(() => got.some((l) => l.includes('Listen on')), { what: 'the Listen on line over syslog' });
    const banner = got.find((l) => l.includes('Listen on'))!;
    assert.match(
      banner,
      new RegExp(`^<14>1 \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ \\S+ websockify ${fg.proc.pid} - -   - Listen on 127\\.0\\.0\\.1:${fg.port}$`),
    );
    await fg.stop();

    got.length = 0;
    const parent = spawn(process.execPath, [CLI_PATH, '-D', '--legacy-syslog', '--syslog', `127.0.0.1:${port}`, '127.0.0.1:0', `127.0.0.1:${target.port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const code = await new Promise((r) => parent.once('exit', r));
    assert.equal(code, 0);
    await waitFor(() => got.some((l) => l.includes('running in the background as pid')), { what: 'the daemon line over syslog' });
    const line = got.find((l) => l.includes('running in the background as pid'))!;
    daemonPid = Number(/as pid (\d+)/.exec(line)![1]);
    // daemon (3) * 8 + info (6) = 30, legacy header with the daemon's own pid.
    assert.match(line, new RegExp(`^<30>websockify\\[${daemonPid}\\]: `));
  } finally {
    if (daemonPid) process.kill(daemonPid, 'SIGTERM');
    server.close();
    await target.close();
  }
});
