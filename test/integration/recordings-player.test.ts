import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { appendFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIndex } from '../../src/record/record-index.js';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { get } from '../support/raw-http.js';
import { startTcpTarget, type TcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

const AUTH = `Authorization: Basic ${Buffer.from('alice:pw').toString('base64')}\r\n`;

describe('the recordings player at /recordings/ (--record with --web-auth)', () => {
  let dir: string;
  let outside: string;
  let target: TcpTarget;
  let proxy: ProxyProcess;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-player-'));
    outside = await mkdtemp(path.join(os.tmpdir(), 'wsfy-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'OUTSIDE-SECRET\n');
    await writeFile(path.join(dir, 'notes.txt'), 'NOT-A-RECORDING\n');
    await symlink(path.join(outside, 'secret.txt'), path.join(dir, 'rec.77'));
    target = await startTcpTarget((socket) => {
      socket.write('login: ');
      socket.pipe(socket);
    });
    proxy = await startProxy(
      ['--novnc', '--web-auth', '--auth-plugin', 'BasicHTTPAuth', '--auth-source', 'alice:pw', '--record', 'rec', '127.0.0.1:0', `127.0.0.1:${target.port}`],
      { cwd: dir },
    );
  });
  after(async () => {
    await proxy.stop();
    await target.close();
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it('answers 401 without credentials, for the page, the list and the files', async () => {
    for (const url of ['/recordings/', '/recordings/api/index.json', '/recordings/files/rec.1', '/recordings/player.js']) {
      const res = await get(proxy.port, url);
      assert.equal(res.status, 401, url);
      assert.match(res.headers['www-authenticate'] ?? '', /Basic/);
    }
  });

  it('lists the recorded sessions and serves their files to an authenticated user', async () => {
    // A session with credentials (the WebSocket needs them too under --auth-plugin).
    const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`, ['binary'], { headers: { Authorization: AUTH.slice(15, -2) } });
    assert.equal((await receiveBytes(ws, 7)).toString(), 'login: ');
    ws.send(Buffer.from('alice\r\n'));
    await receiveBytes(ws, 7);
    ws.close(1000);
    await closeEvent(ws);
    type List = { entries: Array<{ file: string; user: string; available: boolean }>; orphans: unknown[] };
    const list = await waitFor(
      async () => {
        const res = await get(proxy.port, '/recordings/api/index.json', AUTH);
        assert.equal(res.status, 200);
        assert.match(res.headers['content-security-policy'] ?? '', /connect-src 'self'/);
        const answer = JSON.parse(res.body.toString()) as List;
        return answer.entries.length > 0 && answer;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'an entry in the recordings index' },
    );
    const entry = list.entries.find((e) => e.user === 'alice');
    assert.ok(entry, JSON.stringify(list));
    assert.equal(entry.available, true);
    const file = await get(proxy.port, `/recordings/files/${entry.file}`, AUTH);
    assert.equal(file.status, 200);
    assert.match(file.body.toString('latin1'), /^var VNC_frame_data = \[\n'\{\d+\{login: ',\n/);
    const page = await get(proxy.port, '/recordings/', AUTH);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /<title>Recordings/);
    for (const asset of ['/recordings/player.js', '/recordings/novnc-lib/core/rfb.js', '/recordings/vendor/xterm/xterm.mjs']) {
      assert.equal((await get(proxy.port, asset, AUTH)).status, 200, asset);
    }
  });

  it('serves no path outside the recording folder, and nothing in it but recordings', async () => {
    const refused = [
      '/recordings/files/../../../../etc/passwd',
      '/recordings/files/%2e%2e/%2e%2e/etc/passwd',
      '/recordings/files/..%2f..%2fetc%2fpasswd',
      '/recordings/files/rec.index.jsonl',
      '/recordings/files/notes.txt',
      '/recordings/files/rec.77',
      `/recordings/files/${encodeURIComponent(path.join(outside, 'secret.txt'))}`,
      '/recordings/files/',
      '/recordings/novnc-lib/../../../../etc/passwd',
    ];
    for (const url of refused) {
      const res = await get(proxy.port, url, AUTH);
      assert.ok(res.status === 404 || res.status === 400, `${url}: ${res.status}`);
      assert.ok(!res.raw.includes('OUTSIDE-SECRET') && !res.raw.includes('NOT-A-RECORDING') && !res.raw.includes('root:'), url);
    }
  });
});

describe('without --web-auth the player is not served', () => {
  it('answers 404 at /recordings/ with --record and --novnc alone', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-player-'));
    const p = await startProxy(['--novnc', '--record', 'rec', '127.0.0.1:0', '127.0.0.1:5900'], { cwd: dir });
    try {
      for (const url of ['/recordings/', '/recordings/api/index.json', '/recordings/files/rec.1']) {
        assert.equal((await get(p.port, url)).status, 404, url);
      }
    } finally {
      await p.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a proxy killed in the middle of a recording', () => {
  it('leaves the index readable and the cut-short file listed and served for playback', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-player-'));
    const target = await startTcpTarget((socket) => {
      socket.write('RFB 003.008\n');
      socket.pipe(socket);
    });
    const args = [
      '--novnc',
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:pw',
      '--record',
      'rec',
      '127.0.0.1:0',
      `127.0.0.1:${target.port}`,
    ];
    const headers = { Authorization: AUTH.slice(15, -2) };
    const session = async (port: number, close: boolean): Promise<void> => {
      const ws = await openClient(`ws://127.0.0.1:${port}/`, ['binary'], { headers });
      await receiveBytes(ws, 12);
      ws.send(Buffer.from('x'.repeat(100)));
      await receiveBytes(ws, 100);
      if (close) {
        ws.close(1000);
        await closeEvent(ws);
      } else ws.on('error', () => undefined);
    };
    let first = await startProxy(args, { cwd: dir });
    try {
      await session(first.port, true);
      await first.waitForOutput(/session closed/);
      const index = path.join(dir, 'rec.index.jsonl');
      await waitFor(async () => (await readFile(index, 'utf8').catch(() => '')) !== '', { timeoutMs: 10_000, intervalMs: 20, what: 'the first index line' });
      await session(first.port, false);
      const file = path.join(dir, 'rec.2');
      await waitFor(async () => (await readFile(file, 'latin1').catch(() => '')).includes('xxxx'), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: 'the second session in rec.2',
      });
      await first.stop('SIGKILL');
      // A torn index line, as a crash in the middle of an append leaves it.
      await appendFile(path.join(dir, 'rec.index.jsonl'), '{"v":1,"file":"rec.2","reco');
      first = await startProxy(args, { cwd: dir });
      const res = await get(first.port, '/recordings/api/index.json', AUTH);
      assert.equal(res.status, 200);
      const list = JSON.parse(res.body.toString()) as { entries: Array<{ file: string }>; orphans: Array<{ file: string }> };
      assert.deepEqual(
        list.entries.map((e) => e.file),
        ['rec.1'],
      );
      assert.deepEqual(
        list.orphans.map((o) => o.file),
        ['rec.2'],
      );
      const cut = await get(first.port, '/recordings/files/rec.2', AUTH);
      assert.equal(cut.status, 200);
      assert.match(cut.body.toString('latin1'), /^var VNC_frame_data = \[\n'\{\d+\{RFB 003\.008\\n',\n/);
      assert.ok(!cut.body.toString('latin1').includes("'EOF'];"));
      // The next session after the crash gets its own line, readable after the torn one.
      await session(first.port, true);
      await first.waitForOutput(/session closed/);
      const entries = await waitFor(
        async () => {
          const read = await readIndex(path.join(dir, 'rec.index.jsonl'));
          return read.length >= 2 && read;
        },
        { timeoutMs: 10_000, intervalMs: 20, what: 'two lines in the index' },
      );
      assert.equal(entries.length, 2);
    } finally {
      await first.stop();
      await target.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
