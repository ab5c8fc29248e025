import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProxy } from '../support/proxy-process.js';
import { sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, startTcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { requiredSeriesValue } from '../support/metrics-text.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'wsfy-ops-e2e-'));
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

test('--record writes FILE.<session> in the reference format through the real CLI, and --traffic prints to stdout', async () => {
  const dir = await tempDir();
  // A VNC-like target: greets first, then echoes.
  const target = await startTcpTarget((socket) => {
    socket.write('RFB 003.008\n');
    socket.pipe(socket);
  });
  const proxy = await startProxy(['--record', 'rec', '--traffic', '127.0.0.1:0', `127.0.0.1:${target.port}`], { cwd: dir });
  try {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    assert.equal((await receiveBytes(ws, 12)).toString(), 'RFB 003.008\n');
    ws.send(Buffer.from([0x00, 0x27, 0x5c, 0xff]));
    assert.deepEqual(await receiveBytes(ws, 4), Buffer.from([0x00, 0x27, 0x5c, 0xff]));
    ws.close(1000);
    await closeEvent(ws);
    const file = path.join(dir, 'rec.1');
    await proxy.waitForOutput(/session closed/);
    await waitFor(async () => (await readFile(file, 'latin1').catch(() => '')).endsWith("'EOF'];\n"), { what: 'the end of the recording' });
    const text = await readFile(file, 'latin1');
    const lines = text.split('\n');
    assert.equal(lines[0], 'var VNC_frame_data = [');
    assert.match(lines[1]!, /^'\{\d+\{RFB 003\.008\\n',$/);
    assert.match(lines[2]!, /^'\}\d+\}\\x00\\'\\\\\\xff',$/);
    assert.match(lines[3]!, /^'\{\d+\{\\x00\\'\\\\\\xff',$/);
    assert.equal(lines[4], "'EOF'];");
    assert.equal(lines[5], '');
    assert.match(proxy.output(), new RegExp(`opening record file: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(proxy.output(), /  - Recording to '.*rec\.\*'/);
    // --traffic: the legend and the tokens on stdout.
    assert.ok(proxy.output().includes('\nTraffic Legend:\n    }  - Client receive\n'));
    assert.match(proxy.output(), /\{<\}>\{</);
  } finally {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('--log-format json with --log-file: every line parses, the session line carries peer, target, bytes, duration and close code; SIGUSR1 reopens', async () => {
  const dir = await tempDir();
  const target = await startEchoTarget();
  const logFile = path.join(dir, 'ws.log');
  const proxy = await startProxy(['--log-format', 'json', '--log-file', 'ws.log', '127.0.0.1:0', `127.0.0.1:${target.port}`], { cwd: dir });
  try {
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    ws.send(Buffer.alloc(1000, 1));
    await receiveBytes(ws, 1000);
    ws.close(1000);
    await closeEvent(ws);
    await proxy.waitForOutput(/session closed/);
    const stderrLines = proxy.output().trim().split('\n');
    const records = stderrLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const closed = records.find((r) => r.msg === 'session closed')!;
    assert.equal(closed.level, 'info');
    assert.equal(closed.session, 1);
    assert.equal(closed.peer, '127.0.0.1');
    assert.equal(closed.target, `127.0.0.1:${target.port}`);
    assert.equal(closed.bytes_in, 1000);
    assert.equal(closed.bytes_out, 1000);
    assert.equal(closed.close, 1000);
    assert.match(String(closed.duration), /^\d+\.\d{3}s$/);
    assert.ok(records.some((r) => r.banner === true && /Listen on 127\.0\.0\.1:\d+/.test(String(r.msg))));
    // The same lines went to the file.
    const fileLines = (await readFile(logFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      fileLines.some((r) => r.msg === 'session closed' && r.bytes_in === 1000),
      JSON.stringify(fileLines),
    );
    // logrotate: rename, SIGUSR1, and the next line lands in a new file.
    await rename(logFile, `${logFile}.1`);
    proxy.proc.kill('SIGUSR1');
    await waitFor(() => existsSync(logFile), { what: 'the log file reopened after SIGUSR1' });
    const ws2 = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    ws2.close(1000);
    await closeEvent(ws2);
    await waitFor(async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('session closed'), { what: 'a summary line in the new log file' });
    assert.ok(!(await readFile(`${logFile}.1`, 'utf8')).includes('"session":2'));
  } finally {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('--metrics: a scrape after real sessions counts them, their bytes, close codes and failures', async () => {
  const target = await startEchoTarget();
  const proxy = await startProxy(['--metrics', '127.0.0.1:0', '--health-path', '/lb-check', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    const line = await proxy.waitForOutput(/metrics and health on/);
    const base = /http:\/\/([\d.]+:\d+)\/metrics/.exec(line)![1]!;
    for (let i = 0; i < 2; i++) {
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      ws.send(Buffer.alloc(300, 7));
      await receiveBytes(ws, 300);
      ws.close(1000);
      await closeEvent(ws);
    }
    // One that stays open: its bytes count before it closes.
    const open = await openClient(`ws://127.0.0.1:${proxy.port}/`);
    open.send(Buffer.alloc(50, 1));
    await receiveBytes(open, 50);
    // A refused handshake (an unsupported WebSocket version).
    const refused = await sendRaw(proxy.port, upgradeRequest({ headers: { 'Sec-WebSocket-Version': '99' } }));
    assert.ok(refused.status >= 400, refused.statusLine);
    refused.socket.destroy();
    // One refused by the HTTP layer itself (an upgrade without Connection: Upgrade).
    const noConnection = await sendRaw(proxy.port, upgradeRequest({ omit: ['Connection'] }));
    assert.equal(noConnection.status, 400);
    noConnection.socket.destroy();
    await waitFor(() => (proxy.output().match(/session closed/g) ?? []).length >= 2, { what: 'two summary lines' });
    const { status, body } = await get(`http://${base}/metrics`);
    assert.equal(status, 200);
    assert.equal(requiredSeriesValue(body, 'websockify_sessions_total'), 3);
    assert.equal(requiredSeriesValue(body, 'websockify_sessions_open'), 1);
    assert.equal(requiredSeriesValue(body, 'websockify_bytes_from_client_total'), 650);
    assert.equal(requiredSeriesValue(body, 'websockify_bytes_to_client_total'), 650);
    assert.equal(requiredSeriesValue(body, 'websockify_close_codes_total{code="1000"}'), 2);
    assert.equal(requiredSeriesValue(body, 'websockify_handshake_duration_seconds_count'), 3);
    assert.equal(requiredSeriesValue(body, 'websockify_handshake_failures_total{reason="version"}'), 1);
    assert.equal(requiredSeriesValue(body, 'websockify_handshake_failures_total{reason="connection_header"}'), 1);
    assert.equal((await get(`http://${base}/readyz`)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${proxy.port}/lb-check`)).status, 200);
    open.close(1000);
    await closeEvent(open);
  } finally {
    await proxy.stop();
    await target.close();
  }
});
