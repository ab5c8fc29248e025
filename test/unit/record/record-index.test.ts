import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { appendFile, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Logger } from '../../../src/log/logger.js';
import type { SessionSummary } from '../../../src/proxy/session-observer.js';
import { appendIndexEntry, indexEntry, parseIndex, readIndex, recordIndexPath } from '../../../src/record/record-index.js';
import { RecordWriter } from '../../../src/record/record-writer.js';
import { sessionIdentity, tokenHash } from '../../../src/admission/session-identity.js';
import { MemorySink } from '../../support/memory-sink.js';
import { waitFor } from '../../support/wait.js';

const summary: SessionSummary = {
  id: 4,
  client: '203.0.113.9',
  target: { kind: 'tcp', host: '127.0.0.1', port: 5900 },
  startedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  durationMs: 1500,
  upBytes: 10,
  downBytes: 20,
  closeCode: 1000,
  closedBy: 'client',
};

test('an index line carries the session facts, the token only as a short SHA-256', () => {
  const identity = sessionIdentity({
    url: '/websockify?token=s3cret-token',
    headers: { authorization: `Basic ${Buffer.from('alice:pw:with:colons').toString('base64')}` },
    peerCertificate: { subject: { CN: 'desk-7' } } as never,
    authChecked: true,
    tokenPlugin: true,
    hostToken: false,
    tokenCookie: false,
  });
  assert.deepEqual(identity, { user: 'alice', certName: 'desk-7', tokenHash: tokenHash('s3cret-token') });
  assert.match(identity.tokenHash!, /^[0-9a-f]{16}$/);
  const entry = indexEntry(summary, identity, '/var/rec/rec.4', 'complete', 'vnc');
  assert.deepEqual(entry, {
    v: 1,
    file: 'rec.4',
    record: 'complete',
    kind: 'vnc',
    session: 4,
    start: '2026-01-02T03:04:05.000Z',
    end: '2026-01-02T03:04:06.500Z',
    duration_ms: 1500,
    client: '203.0.113.9',
    target: '127.0.0.1:5900',
    user: 'alice',
    cert: 'desk-7',
    token_sha256: tokenHash('s3cret-token'),
    bytes_in: 10,
    bytes_out: 20,
    close_code: 1000,
    closed_by: 'client',
  });
  assert.ok(!JSON.stringify(entry).includes('s3cret'));
});

test('an Authorization header that no auth plugin checked names no user', () => {
  const identity = sessionIdentity({
    url: '/',
    headers: { authorization: `Basic ${Buffer.from('mallory:x').toString('base64')}` },
    peerCertificate: null,
    authChecked: false,
    tokenPlugin: false,
    hostToken: false,
    tokenCookie: false,
  });
  assert.deepEqual(identity, { user: null, certName: null, tokenHash: null });
});

test('a torn last line (a crash in the middle of an append) is skipped, and so is a damaged line', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-index-'));
  try {
    const file = recordIndexPath(path.join(dir, 'rec'));
    const first = indexEntry(summary, null, path.join(dir, 'rec.4'), 'complete', 'stream');
    const second = { ...first, session: 5, file: 'rec.5' };
    await appendIndexEntry(file, first);
    await appendFile(file, 'not json at all\n');
    await appendIndexEntry(file, second);
    const whole = JSON.stringify({ ...first, session: 6 }) + '\n';
    await appendFile(file, whole.slice(0, whole.length - 10));
    assert.deepEqual(await readIndex(file), [first, second]);
    // The proxy restarted and appended again: that line is glued to the fragment, and kept.
    const third = { ...first, session: 7 };
    await appendIndexEntry(file, third);
    assert.deepEqual(await readIndex(file), [first, second, third]);
    assert.deepEqual(parseIndex(JSON.stringify(first)), []);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readIndex(path.join(dir, 'none.index.jsonl')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the index is never written through a symlink', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-index-'));
  try {
    const file = recordIndexPath(path.join(dir, 'rec'));
    await writeFile(path.join(dir, 'victim'), 'untouched\n');
    await symlink(path.join(dir, 'victim'), file);
    await assert.rejects(appendIndexEntry(file, indexEntry(summary, null, null, 'off', 'stream')), { code: 'ELOOP' });
    assert.equal(await readFile(path.join(dir, 'victim'), 'utf8'), 'untouched\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a RecordWriter appends its session to the index once the file is complete', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-index-'));
  try {
    const base = path.join(dir, 'rec');
    let finished = 0;
    const writer = new RecordWriter({
      basePath: base,
      session: 4,
      startMs: summary.startedAt,
      maxFileBytes: 0,
      maxPendingBytes: 1 << 20,
      logger: new Logger([new MemorySink()]),
      indexPath: recordIndexPath(base),
      identity: { user: 'bob', certName: null, tokenHash: null },
      onFinished: () => finished++,
    });
    writer.onTargetData(Buffer.from('RFB 003.008\n'));
    writer.onClientMessage(Buffer.from('RFB 003.008\n'));
    writer.onClose(summary);
    await writer.whenFinished();
    await waitFor(() => finished > 0, { timeoutMs: 5000, intervalMs: 5, what: 'onFinished' });
    assert.equal(finished, 1);
    const [entry, ...rest] = await readIndex(recordIndexPath(base));
    assert.equal(rest.length, 0);
    assert.equal(entry!.file, 'rec.4');
    assert.equal(entry!.kind, 'vnc');
    assert.equal(entry!.record, 'complete');
    assert.equal(entry!.user, 'bob');
    assert.ok((await readFile(`${base}.4`, 'latin1')).endsWith("'EOF'];\n"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('identityOf reads the verified client certificate from the TLS socket, and nothing from an unverified one', async () => {
  const { identityOf, NO_IDENTITY } = await import('../../../src/admission/session-identity.js');
  const { buildConfig } = await import('../../../src/cli/build-config.js');
  const { parseArgv } = await import('../../../src/cli/argv-parser.js');
  const { OPTIONS } = await import('../../../src/cli/option-table.js');
  const config = buildConfig(parseArgv(['6080', 'h:5900'], OPTIONS), { cwd: '/u' });
  const req = { url: '/', headers: {} } as never;
  const tls = (authorized: boolean): never => ({ authorized, getPeerCertificate: () => ({ subject: { CN: 'desk-7' } }) }) as never;
  assert.deepEqual(identityOf(config, req, tls(true)), { user: null, certName: 'desk-7', tokenHash: null });
  assert.equal(identityOf(config, req, tls(false)), NO_IDENTITY);
  assert.equal(identityOf(config, req, {} as never), NO_IDENTITY);
});
