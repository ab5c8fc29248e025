import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { formatJsonLine, formatJsonRaw } from '../../../src/log/json-format.js';
import { Logger } from '../../../src/log/logger.js';
import { StreamSink } from '../../../src/log/stream-sink.js';

function collector(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => out };
}

test('json log lines parse and carry session, peer, real client, target, bytes, duration and close code', () => {
  const { stream, text } = collector();
  const logger = new Logger([new StreamSink(stream, formatJsonLine, formatJsonRaw)]);
  logger.raw('WebSocket server settings:\n  - Listen on 127.0.0.1:6080\n');
  const session = logger.child({ session: 12, client: '10.0.0.5' });
  session.info('connecting to: 127.0.0.1:5900');
  session.child({ realClient: '203.0.113.9' }).info('session closed', {
    peer: '10.0.0.5',
    target: '127.0.0.1:5900',
    bytes_from_client: 1200,
    bytes_to_client: 98000,
    duration_ms: 5321,
    close_code: 1000,
    msg: 'spoof attempt',
  });
  const lines = text().trimEnd().split('\n');
  assert.equal(lines.length, 4);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(parsed[0]!.msg, 'WebSocket server settings:');
  assert.equal(parsed[1]!.msg, '  - Listen on 127.0.0.1:6080');
  assert.equal(parsed[1]!.banner, true);
  assert.equal(parsed[2]!.msg, 'connecting to: 127.0.0.1:5900');
  assert.equal(parsed[2]!.session, 12);
  assert.equal(parsed[2]!.peer, '10.0.0.5');
  assert.equal(parsed[2]!.level, 'info');
  const close = parsed[3]!;
  assert.match(String(close.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(close.msg, 'session closed');
  assert.equal(close.client, '203.0.113.9');
  assert.equal(close.target, '127.0.0.1:5900');
  assert.equal(close.bytes_from_client, 1200);
  assert.equal(close.bytes_to_client, 98000);
  assert.equal(close.duration_ms, 5321);
  assert.equal(close.close_code, 1000);
  assert.equal(close.peer, '10.0.0.5');
  assert.equal(close.field_peer, undefined);
  // A field cannot overwrite the fixed keys.
  assert.equal(close.field_msg, 'spoof attempt');
});

test('a message with quotes, newlines and non-ASCII stays one valid JSON line', () => {
  const line = formatJsonLine({ time: new Date(0), level: 'warn', message: 'bad "x"\nnext ü' });
  assert.ok(!line.includes('\n'));
  assert.deepEqual(JSON.parse(line), { time: '1970-01-01T00:00:00.000Z', level: 'warn', msg: 'bad "x"\nnext ü' });
});
