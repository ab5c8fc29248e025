import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIndex, type RecordIndexEntry } from '../../src/record/record-index.js';
import { tokenHash } from '../../src/admission/session-identity.js';
import { startProxy } from '../support/proxy-process.js';
import { startTcpTarget } from '../support/targets.js';
import { closeEvent, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { WebSocket } from 'ws';

function open(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

test('a recorded session lands in the index with its facts: real client behind a trusted proxy, user, token hash, bytes, close code', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-recording-'));
  const target = await startTcpTarget((socket) => {
    socket.write('RFB 003.008\n');
    socket.pipe(socket);
  });
  const token = 'desk-token-8e1f0c';
  await writeFile(path.join(dir, 'tokens'), `${token}: 127.0.0.1:${target.port}\n`);
  const proxy = await startProxy(
    [
      '--record',
      'rec',
      '--trust-proxy',
      '127.0.0.1',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:pw',
      '--token-plugin',
      'TokenFile',
      '--token-source',
      path.join(dir, 'tokens'),
      '127.0.0.1:0',
    ],
    { cwd: dir },
  );
  try {
    const before = Date.now();
    const ws = await open(`ws://127.0.0.1:${proxy.port}/websockify?token=${token}`, {
      Authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`,
      'X-Forwarded-For': '198.51.100.7',
    });
    assert.equal((await receiveBytes(ws, 12)).toString(), 'RFB 003.008\n');
    ws.send(Buffer.from('hello'));
    assert.equal((await receiveBytes(ws, 5)).toString(), 'hello');
    ws.close(1000);
    await closeEvent(ws);
    const indexFile = path.join(dir, 'rec.index.jsonl');
    const [entry] = await waitFor<RecordIndexEntry[]>(
      async () => {
        const entries = await readIndex(indexFile);
        return entries.length > 0 ? entries : null;
      },
      { timeoutMs: 10_000, what: 'the index entry' },
    );
    assert.ok(entry);
    assert.equal(entry.file, 'rec.1');
    assert.equal(entry.record, 'complete');
    assert.equal(entry.kind, 'vnc');
    assert.equal(entry.session, 1);
    assert.equal(entry.client, '198.51.100.7');
    assert.equal(entry.target, `127.0.0.1:${target.port}`);
    assert.equal(entry.user, 'alice');
    assert.equal(entry.cert, null);
    assert.equal(entry.token_sha256, tokenHash(token));
    assert.equal(entry.bytes_in, 5);
    assert.equal(entry.bytes_out, 17);
    assert.equal(entry.close_code, 1000);
    assert.equal(entry.closed_by, 'client');
    const start = Date.parse(entry.start);
    const end = Date.parse(entry.end);
    assert.ok(start >= before - 1000 && start <= end && end <= Date.now(), `${entry.start} .. ${entry.end}`);
    assert.equal(end - start, entry.duration_ms);
    assert.ok((await readFile(path.join(dir, 'rec.1'), 'latin1')).endsWith("'EOF'];\n"));
    assert.equal((await stat(indexFile)).mode & 0o777, 0o600);
    // The summary line says the same, without the token or its hash.
    const line = await proxy.waitForOutput(/session closed/);
    assert.match(line, /peer=198\.51\.100\.7 /);
    assert.match(line, /user=alice/);
    assert.match(line, /bytes_in=5 bytes_out=17 close=1000/);
    assert.ok(!proxy.output().includes(token), 'token in the log');
    assert.ok(!proxy.output().includes(tokenHash(token)), 'token hash in the log');
  } finally {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('retention runs at start: --record-max-age removes old recordings, --record-max-total the oldest beyond it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-recording-'));
  const make = async (name: string, bytes: number, ageSec: number): Promise<void> => {
    await writeFile(path.join(dir, name), Buffer.alloc(bytes, 0x61));
    const when = Date.now() / 1000 - ageSec;
    await utimes(path.join(dir, name), when, when);
  };
  await make('rec.1', 10, 7200);
  await make('rec.2', 700_000, 300);
  await make('rec.3', 700_000, 200);
  await make('rec.index.jsonl', 10, 7200);
  const target = await startTcpTarget((socket) => socket.pipe(socket));
  const proxy = await startProxy(['--record', 'rec', '--record-max-age', '3600', '--record-max-total', '1M', '127.0.0.1:0', `127.0.0.1:${target.port}`], {
    cwd: dir,
  });
  try {
    const line = await proxy.waitForOutput(/record retention removed old recordings/);
    assert.match(line, /files=2 bytes=700010 kept_bytes=700000/);
    assert.deepEqual((await readdir(dir)).sort(), ['rec.3', 'rec.index.jsonl']);
  } finally {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
  }
});
