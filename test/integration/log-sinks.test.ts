import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { FileSink } from '../../src/log/file-sink.js';
import { formatJsonLine } from '../../src/log/json-format.js';
import { Logger } from '../../src/log/logger.js';
import { formatSyslogMessage, SyslogSink } from '../../src/log/syslog-sink.js';
import { waitFor } from '../support/wait.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'wsfy-log-'));
}

const RFC5424 = /^<14>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S+) websockify (\d+) - - (.*)$/s;

test('--log-file reopens after logrotate renames the file (SIGHUP path)', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'websockify.log');
    const sink = new FileSink(file);
    const logger = new Logger([sink]);
    logger.info('before rotation');
    await rename(file, `${file}.1`);
    logger.info('still to the renamed file');
    logger.reopen();
    logger.info('after reopen');
    await logger.close();
    const old = await readFile(`${file}.1`, 'utf8');
    const now = await readFile(file, 'utf8');
    assert.match(old, /\] before rotation\n.*\] still to the renamed file\n$/);
    assert.match(now, /^\[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] after reopen\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--log-file with --log-format json writes parseable lines', async () => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'ws.json.log');
    const logger = new Logger([new FileSink(file, formatJsonLine)]);
    logger.child({ session: 3, client: '::1' }).warn('target closed', { close_code: 1000 });
    await logger.close();
    const rec = JSON.parse((await readFile(file, 'utf8')).trim()) as Record<string, unknown>;
    assert.equal(rec.level, 'warn');
    assert.equal(rec.session, 3);
    assert.equal(rec.peer, '::1');
    assert.equal(rec.close_code, 1000);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('syslog over UDP: a real listener receives the RFC 5424 header, and the legacy header with --legacy-syslog', async () => {
  const server = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  server.on('message', (msg) => received.push(msg));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  const port = server.address().port;
  try {
    const sink = await SyslogSink.open({ target: { kind: 'udp', host: '127.0.0.1', port }, legacy: false, facility: 'user', hostname: 'box1' });
    const logger = new Logger([sink]);
    logger.info('hello\nworld');
    const legacySink = await SyslogSink.open({ target: { kind: 'udp', host: '127.0.0.1', port }, legacy: true, facility: 'daemon' });
    new Logger([legacySink]).warn('from a daemon');
    await waitFor(() => received.length >= 2, { timeoutMs: 3000 });
    const first = received.find((b) => b.toString().startsWith('<14>'))!.toString('latin1');
    const m = RFC5424.exec(first);
    assert.ok(m, first);
    assert.equal(m[2], 'box1');
    assert.equal(Number(m[3]), process.pid);
    assert.ok(Math.abs(Date.parse(m[1]!) - Date.now()) < 5000);
    assert.match(m[4]!, /^\[\d\d\/\w{3}\/\d{4} \d\d:\d\d:\d\d\] hello world$/);
    // daemon (3) * 8 + warning (4) = 28
    const second = received.find((b) => b.toString().startsWith('<28>'))!.toString('latin1');
    assert.match(second, new RegExp(`^<28>websockify\\[${process.pid}\\]: \\[.*\\] from a daemon$`));
    await sink.close();
    await legacySink.close();
  } finally {
    server.close();
  }
});

test('syslog to a real unix datagram socket (python3 listener) gets one datagram per line', async () => {
  const dir = await tempDir();
  const sockPath = path.join(dir, 'log.sock');
  const py = spawn('python3', [
    '-u',
    '-c',
    'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("ready",flush=True)\n' +
      'while True:\n  print(s.recv(65536).hex(),flush=True)\n',
    sockPath,
  ]);
  py.on('error', (err) => assert.fail(`python3 is needed for the unix datagram listener (Debian package python3): ${err.message}`));
  const lines = createInterface({ input: py.stdout });
  const got: string[] = [];
  const ready = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      if (line === 'ready') resolve();
      else got.push(Buffer.from(line, 'hex').toString('utf8'));
    });
  });
  try {
    await ready;
    // Node has no AF_UNIX datagram sockets; the optional unix-dgram package (built by node-gyp:
    // Debian make, g++, python3) provides them. Its absence must fail here, loudly.
    const sink = await SyslogSink.open({ target: { kind: 'unix', path: sockPath }, legacy: true, facility: 'user' });
    const logger = new Logger([sink]);
    logger.info('first line');
    logger.error('größe');
    await waitFor(() => got.length >= 2, { timeoutMs: 3000 });
    assert.match(got[0]!, new RegExp(`^<14>websockify\\[${process.pid}\\]: \\[.*\\] first line$`));
    // error (3) + user (8) = 11; non-ASCII goes as UTF-8 with a BOM, no trailing newline on datagrams.
    assert.match(got[1]!, new RegExp(`^<11>websockify\\[${process.pid}\\]: \uFEFF\\[.*\\] größe$`));
    await sink.close();
  } finally {
    py.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test('syslog to a unix stream socket falls back from datagram and ends each message with a newline', async () => {
  const dir = await tempDir();
  const sockPath = path.join(dir, 'stream.sock');
  let data = '';
  const server = net.createServer((c) => c.on('data', (d) => (data += d.toString())));
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  try {
    const sink = await SyslogSink.open({ target: { kind: 'unix', path: sockPath }, legacy: false, facility: 'user', hostname: 'h' });
    new Logger([sink]).info('over a stream');
    await waitFor(() => data.endsWith('\n'), { timeoutMs: 3000 });
    assert.match(data, /^<14>1 \S+Z h websockify \d+ - - \[.*\] over a stream\n$/);
    await sink.close();
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a syslog socket that does not exist fails at startup with its path', async () => {
  await assert.rejects(
    SyslogSink.open({ target: { kind: 'unix', path: '/nonexistent/wsfy.sock' }, legacy: false, facility: 'user' }),
    /cannot connect to syslog socket \/nonexistent\/wsfy\.sock: ENOENT/,
  );
});

test('syslog header bytes match the reference format exactly', () => {
  const buf = formatSyslogMessage('a\nb', {
    level: 'debug',
    facility: 'user',
    legacy: false,
    hostname: 'host',
    pid: 42,
    time: new Date(Date.UTC(2026, 10, 22, 6, 19, 46, 789)),
    stream: true,
  });
  assert.equal(buf.toString('latin1'), '<15>1 2026-11-22T06:19:46Z host websockify 42 - - a b\n');
});
