import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Logger } from '../../../src/log/logger.js';
import { escapeRecordData, recordEntry } from '../../../src/record/record-escape.js';
import { MAX_NAME_TRIES, RecordWriter, recordFileName } from '../../../src/record/record-writer.js';
import { TRAFFIC_LEGEND, TrafficObserver } from '../../../src/record/traffic-observer.js';
import { fixturePath } from '../../support/fixture-path.js';
import { MemorySink } from '../../support/memory-sink.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'wsfy-record-'));
}

function clock(times: number[]): () => number {
  return () => {
    const t = times.shift();
    if (t === undefined) throw new Error('clock read more often than expected');
    return t;
  };
}

test('a recording matches the reference sample byte for byte', async () => {
  const dir = await tempDir();
  try {
    const sink = new MemorySink();
    const start = 1_700_000_000_000;
    const writer = new RecordWriter({
      basePath: path.join(dir, 'rec'),
      session: 7,
      startMs: start,
      maxFileBytes: 0,
      maxPendingBytes: 1 << 20,
      logger: new Logger([sink]),
      now: clock([start + 1, start + 3, start + 203, start + 203, start + 203]),
    });
    const sample = Buffer.from("hello 'world'\n\x00\x01\xff\\", 'latin1');
    writer.onClientMessage(sample);
    writer.onTargetData(sample);
    writer.onClientMessage(Buffer.from('a'));
    writer.onClientMessage(Buffer.from('b'));
    writer.onTargetData(Buffer.from('ab'));
    writer.onClose();
    await writer.whenFinished();
    assert.equal(writer.path, path.join(dir, 'rec.7'));
    const got = await readFile(path.join(dir, 'rec.7'));
    const want = await readFile(fixturePath('record', 'reference-sample.rec'));
    assert.equal(got.toString('latin1'), want.toString('latin1'));
    assert.deepEqual(got, want);
    assert.equal((await stat(path.join(dir, 'rec.7'))).mode & 0o777, 0o600);
    assert.deepEqual(sink.messages(), [`opening record file: ${path.join(dir, 'rec.7')}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('escaping of every byte value equals Python unicode_escape plus quote escaping', () => {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  let python = '';
  try {
    python = execFileSync(
      'python3',
      ['-c', "import sys; b=sys.stdin.buffer.read(); sys.stdout.write(b.decode('latin1').encode('unicode_escape').decode('ascii').replace(\"'\", \"\\\\'\"))"],
      { input: all },
    ).toString('latin1');
  } catch (err) {
    assert.fail(`python3 is needed as the escaping oracle (Debian package python3): ${String(err)}`);
  }
  assert.equal(escapeRecordData(all), python);
});

test('an entry is the direction, the milliseconds, the direction again and the data', () => {
  assert.equal(recordEntry('{', 42, Buffer.from([0x52, 0x46, 0x42, 0x0a])).toString('latin1'), "'{42{RFB\\n',\n");
  assert.equal(recordEntry('}', 0, Buffer.alloc(0)).toString('latin1'), "'}0}',\n");
});

test('the size cap stops recording and the file still ends with the EOF line', async () => {
  const dir = await tempDir();
  try {
    const sink = new MemorySink();
    const writer = new RecordWriter({
      basePath: path.join(dir, 'rec'),
      session: 1,
      startMs: 0,
      maxFileBytes: 200,
      maxPendingBytes: 1 << 20,
      logger: new Logger([sink]),
      now: () => 5,
    });
    for (let i = 0; i < 50; i++) writer.onTargetData(Buffer.from('0123456789'));
    writer.onClose();
    await writer.whenFinished();
    const text = await readFile(writer.path, 'latin1');
    assert.ok((await stat(writer.path)).size <= 200, `file is ${text.length} bytes`);
    assert.ok(text.startsWith('var VNC_frame_data = [\n'));
    assert.ok(text.endsWith("'EOF'];\n"));
    const entries = text.split('\n').filter((l) => l.startsWith("'{5{"));
    assert.ok(entries.length >= 1 && entries.length < 50);
    assert.equal(writer.status, 'capped');
    assert.equal(sink.records.filter((r) => r.message.startsWith('record file reached --max-record-size')).length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a disk slower than the session drops the recording with one log line instead of buffering', async () => {
  const dir = await tempDir();
  try {
    const sink = new MemorySink();
    const writer = new RecordWriter({
      basePath: path.join(dir, 'rec'),
      session: 2,
      startMs: 0,
      maxFileBytes: 0,
      maxPendingBytes: 64 * 1024,
      logger: new Logger([sink]),
      now: () => 1,
    });
    // All of this arrives in one tick, before the file is even open: the queue must stop at the cap.
    const chunk = Buffer.alloc(16 * 1024, 0x41);
    for (let i = 0; i < 100; i++) writer.onTargetData(chunk);
    assert.equal(writer.status, 'dropped');
    writer.onClose();
    await writer.whenFinished();
    const size = (await stat(writer.path)).size;
    assert.ok(size <= 64 * 1024 + 100, `file is ${size} bytes`);
    const text = await readFile(writer.path, 'latin1');
    assert.ok(text.endsWith("'EOF'];\n"));
    assert.equal(sink.records.filter((r) => r.level === 'warn').length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unwritable record path logs one error and never throws into the session', async () => {
  const sink = new MemorySink();
  const writer = new RecordWriter({
    basePath: '/nonexistent-dir-wsfy/rec',
    session: 3,
    startMs: 0,
    maxFileBytes: 0,
    maxPendingBytes: 1024,
    logger: new Logger([sink]),
  });
  writer.onClientMessage(Buffer.from('x'));
  writer.onClose();
  await writer.whenFinished();
  assert.equal(writer.status, 'failed');
  assert.match(sink.records.find((r) => r.level === 'error')!.message, /^opening record file failed: \/nonexistent-dir-wsfy\/rec\.3: ENOENT$/);
});

function recordOnce(basePath: string, session: number, sink: MemorySink): Promise<RecordWriter> {
  const writer = new RecordWriter({
    basePath,
    session,
    startMs: 0,
    maxFileBytes: 0,
    maxPendingBytes: 1 << 20,
    logger: new Logger([sink]),
    now: () => 1,
  });
  writer.onClientMessage(Buffer.from('secret-password'));
  writer.onClose();
  return writer.whenFinished().then(() => writer);
}

test('a symlink planted at the next record name is not followed and the recording goes to another name', async () => {
  const dir = await tempDir();
  try {
    const victim = path.join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    const base = path.join(dir, 'rec');
    await symlink(victim, `${base}.4`);
    const sink = new MemorySink();
    const writer = await recordOnce(base, 4, sink);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    assert.ok((await lstat(`${base}.4`)).isSymbolicLink());
    assert.equal(await readlink(`${base}.4`), victim);
    assert.equal(writer.status, 'recording');
    assert.equal(writer.path, `${base}.4.1`);
    assert.match(await readFile(writer.path, 'latin1'), /secret-password/);
    assert.equal((await stat(writer.path)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an existing file at the record name is neither truncated nor reused, and keeps its mode', async () => {
  const dir = await tempDir();
  try {
    const base = path.join(dir, 'rec');
    await writeFile(`${base}.5`, 'an older recording\n');
    await chmod(`${base}.5`, 0o644);
    const sink = new MemorySink();
    const writer = await recordOnce(base, 5, sink);
    assert.equal(await readFile(`${base}.5`, 'utf8'), 'an older recording\n');
    assert.notEqual(writer.path, `${base}.5`);
    assert.equal((await stat(writer.path)).mode & 0o777, 0o600);
    assert.match(await readFile(writer.path, 'latin1'), /^var VNC_frame_data = \[\n'\}1\}secret-password',\n'EOF'\];\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a new record file is created with mode 0600 whatever the umask', async () => {
  const dir = await tempDir();
  const old = process.umask(0);
  try {
    const writer = await recordOnce(path.join(dir, 'rec'), 6, new MemorySink());
    assert.equal(writer.path, path.join(dir, 'rec.6'));
    assert.equal((await stat(writer.path)).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
    await rm(dir, { recursive: true, force: true });
  }
});

test('when every record name is taken the session is not recorded, with one error line, and nothing is written', async () => {
  const dir = await tempDir();
  try {
    const base = path.join(dir, 'rec');
    const victim = path.join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    for (let i = 0; i < MAX_NAME_TRIES; i++) await symlink(victim, recordFileName(base, 8, i));
    const sink = new MemorySink();
    const writer = await recordOnce(base, 8, sink);
    assert.equal(writer.status, 'failed');
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    const errors = sink.records.filter((r) => r.level === 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /^opening record file failed, session not recorded: .*rec\.8: all 16 names taken$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--traffic prints the reference legend and one token pair per event', () => {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const traffic = new TrafficObserver(stream);
  traffic.start();
  traffic.onClientMessage();
  traffic.onTargetData();
  traffic.onClientMessage();
  assert.equal(
    out,
    '\nTraffic Legend:\n    }  - Client receive\n    }. - Client receive partial\n    {  - Target receive\n\n' +
      '    >  - Target send\n    >. - Target send partial\n    <  - Client send\n    <. - Client send partial\n\n}>{<}>',
  );
  assert.ok(TRAFFIC_LEGEND.includes('>. - Target send partial'));
});
