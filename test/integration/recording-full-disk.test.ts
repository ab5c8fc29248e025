import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readIndex } from '../../src/record/record-index.js';
import { startProxy } from '../support/proxy-process.js';
import { startTcpTarget } from '../support/targets.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

/** A 64 KiB tmpfs: needs root (mount). Skipped, with the reason, elsewhere. */
function mountSmallTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${(err as Error).message}`;
  }
}

const PAYLOAD = randomBytes(512 * 1024);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('a full disk stops recording with one log line and the sessions go on intact', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-fulldisk-'));
  const skip = mountSmallTmpfs(dir);
  if (skip !== null) {
    await rm(dir, { recursive: true, force: true });
    t.skip(skip);
    return;
  }
  // The target sends 512 KiB of random bytes (8 times the file system) then echoes.
  const target = await startTcpTarget((socket) => {
    socket.write(PAYLOAD);
    socket.pipe(socket);
  });
  const proxy = await startProxy(['--record', path.join(dir, 'rec'), '127.0.0.1:0', `127.0.0.1:${target.port}`]);
  try {
    for (let round = 1; round <= 2; round++) {
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/`);
      assert.equal(sha(await receiveBytes(ws, PAYLOAD.length)), sha(PAYLOAD), `round ${round}: bytes from the target`);
      const echo = randomBytes(64 * 1024);
      ws.send(echo);
      assert.equal(sha(await receiveBytes(ws, echo.length)), sha(echo), `round ${round}: bytes from the client`);
      ws.close(1000);
      await closeEvent(ws);
      await waitFor(() => proxy.output().split('session closed').length > round, {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: `the summary line of session ${round}`,
      });
    }
    const errors = proxy
      .output()
      .split('\n')
      .filter((l) => /ENOSPC|failed/.test(l));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /writing record file failed, session no longer recorded: .*rec\.1: ENOSPC; new sessions are not recorded for 60s/);
    // The second session was not recorded at all; the first file is there (cut short), and the
    // index line, when the disk had room for it, says the recording failed.
    assert.deepEqual(
      (await readdir(dir)).filter((n) => /^rec\.\d/.test(n)),
      ['rec.1'],
    );
    const entries = await readIndex(path.join(dir, 'rec.index.jsonl'));
    assert.ok(entries.length <= 1);
    if (entries[0]) assert.equal(entries[0].record, 'failed');
  } finally {
    await proxy.stop();
    await target.close();
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
});
