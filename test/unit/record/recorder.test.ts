import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Logger } from '../../../src/log/logger.js';
import { Recorder, type RecorderOptions } from '../../../src/record/recorder.js';
import { MemorySink } from '../../support/memory-sink.js';
import { waitFor } from '../../support/wait.js';

const DAY = 86_400_000;

async function file(dir: string, name: string, bytes: number, ageMs: number): Promise<void> {
  const at = path.join(dir, name);
  await writeFile(at, Buffer.alloc(bytes, 0x61));
  const when = (Date.now() - ageMs) / 1000;
  await utimes(at, when, when);
}

function recorder(dir: string, sink: MemorySink, over: Partial<RecorderOptions> = {}): Recorder {
  return new Recorder({
    basePath: path.join(dir, 'rec'),
    maxAgeMs: 30 * DAY,
    maxTotalBytes: 1 << 30,
    maxFileBytes: 0,
    maxPendingBytes: 1 << 20,
    backoffMs: 60_000,
    sweepIntervalMs: 0,
    logger: new Logger([sink]),
    ...over,
  });
}

test('retention by age removes only recordings older than the limit, never the index or other files', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-retention-'));
  try {
    await file(dir, 'rec.1', 100, 40 * DAY);
    await file(dir, 'rec.2.1', 100, 31 * DAY);
    await file(dir, 'rec.3', 100, 29 * DAY);
    await file(dir, 'rec.4', 100, 0);
    await file(dir, 'rec.index.jsonl', 100, 90 * DAY);
    await file(dir, 'rec.notes', 100, 90 * DAY);
    await file(dir, 'other.5', 100, 90 * DAY);
    await file(dir, 'outside', 100, 90 * DAY);
    await symlink(path.join(dir, 'outside'), path.join(dir, 'rec.9'));
    const sink = new MemorySink();
    const result = await recorder(dir, sink).sweep();
    assert.deepEqual(result.removed.map((f) => path.basename(f)).sort(), ['rec.1', 'rec.2.1']);
    assert.equal(result.freedBytes, 200);
    assert.deepEqual((await readdir(dir)).sort(), ['other.5', 'outside', 'rec.3', 'rec.4', 'rec.9', 'rec.index.jsonl', 'rec.notes']);
    assert.deepEqual(sink.messages(), ['record retention removed old recordings']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('retention by total size removes the oldest first until the rest fits', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-retention-'));
  try {
    await file(dir, 'rec.1', 400_000, 5000);
    await file(dir, 'rec.2', 400_000, 4000);
    await file(dir, 'rec.3', 400_000, 3000);
    await file(dir, 'rec.4', 400_000, 2000);
    const sink = new MemorySink();
    const result = await recorder(dir, sink, { maxTotalBytes: 1_000_000 }).sweep();
    assert.deepEqual(
      result.removed.map((f) => path.basename(f)),
      ['rec.1', 'rec.2'],
    );
    assert.equal(result.keptBytes, 800_000);
    assert.deepEqual((await readdir(dir)).sort(), ['rec.3', 'rec.4']);
    // Within both limits: nothing removed, nothing logged.
    const again = await recorder(dir, sink, { maxTotalBytes: 1_000_000 }).sweep();
    assert.deepEqual(again.removed, []);
    assert.equal(sink.messages().length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a recording still being written is never removed, and retention runs again when it ends', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-retention-'));
  try {
    const sink = new MemorySink();
    const r = recorder(dir, sink, { maxTotalBytes: 1_000 });
    const writer = r.writerFor(1, Date.now(), new Logger([sink]), null)!;
    writer.onTargetData(Buffer.alloc(5_000, 0x62));
    await waitFor(async () => (await readdir(dir)).includes('rec.1'), { intervalMs: 5, what: 'rec.1 to be created' });
    assert.deepEqual((await r.sweep()).removed, []);
    writer.onClose({
      id: 1,
      client: '127.0.0.1',
      target: null,
      startedAt: Date.now(),
      durationMs: 1,
      upBytes: 0,
      downBytes: 5000,
      closeCode: 1000,
      closedBy: 'client',
    });
    await waitFor(async () => !(await readdir(dir)).includes('rec.1'), { intervalMs: 5, what: 'rec.1 to be swept' });
    assert.deepEqual(await readdir(dir), ['rec.index.jsonl']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('after a write error new sessions are not recorded until the hold-off ends', () => {
  let now = 1_000_000;
  const sink = new MemorySink();
  const r = recorder('/nonexistent-wsfy-dir', sink, { now: () => now });
  assert.equal(r.recording, true);
  const hook = (r as unknown as { suspend(): string }).suspend.bind(r);
  assert.equal(hook(), '; new sessions are not recorded for 60s');
  assert.equal(hook(), '', 'a second error in the same hold-off adds nothing to its line');
  assert.equal(r.writerFor(2, now, new Logger([sink]), null), null);
  now += 60_001;
  assert.equal(r.recording, true);
});
