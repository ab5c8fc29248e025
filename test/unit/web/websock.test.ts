import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Websock } from '../../../web/websock/websock.js';
import { decodeBase64, encodeBase64, Base64Error } from '../../../web/websock/base64-codec.js';

function queueWith(...chunks: number[][]): Websock {
  const ws = new Websock({ initialReceiveQueue: 8 });
  for (const c of chunks) assert.equal(ws.appendReceived(Uint8Array.from(c)), true);
  return ws;
}

test('rQshift8/16/32 read big-endian values across appended chunks', () => {
  const ws = queueWith([0x01, 0x02], [0x03, 0xff, 0xfe, 0xfd], [0xfc, 0x7f]);
  assert.equal(ws.rQlen, 8);
  assert.equal(ws.rQshift8(), 0x01);
  assert.equal(ws.rQshift16(), 0x0203);
  assert.equal(ws.rQshift32(), 0xfffefdfc); // above 2^31 stays unsigned
  assert.equal(ws.rQlen, 1);
  assert.equal(ws.rQpeek8(), 0x7f);
  assert.equal(ws.rQshift8(), 0x7f);
  assert.equal(ws.rQlen, 0);
});

test('reading past the queued bytes throws instead of returning garbage', () => {
  const ws = queueWith([1, 2, 3]);
  assert.throws(() => ws.rQshift32(), /underflow: need 4, have 3/);
  assert.equal(ws.rQlen, 3, 'a failed read consumes nothing');
  assert.throws(() => ws.rQshiftBytes(-1), RangeError);
});

test('rQshiftStr maps one byte to one char and defaults to everything queued', () => {
  const ws = queueWith([0x52, 0x46, 0x42, 0x20, 0xe9], [0x41, 0x42]);
  assert.equal(ws.rQshiftStr(4), 'RFB ');
  assert.equal(ws.rQshiftStr(), '\u00e9AB');
  assert.equal(ws.rQlen, 0);
});

test('rQshiftBytes returns a copy that later appends do not overwrite', () => {
  const ws = queueWith([1, 2, 3, 4]);
  const got = ws.rQshiftBytes(4);
  ws.appendReceived(Uint8Array.from([9, 9, 9, 9]));
  assert.deepEqual([...got], [1, 2, 3, 4]);
});

test('rQpeekBytes does not consume; rQskipBytes and rQshiftTo do', () => {
  const ws = queueWith([10, 11, 12, 13, 14]);
  assert.deepEqual([...ws.rQpeekBytes(2)], [10, 11]);
  assert.equal(ws.rQlen, 5);
  ws.rQskipBytes(1);
  const target = new Uint8Array(4);
  ws.rQshiftTo(target, 3, 1);
  assert.deepEqual([...target], [0, 11, 12, 13]);
  assert.equal(ws.rQlen, 1);
});

test('rQwait reports missing bytes and rewinds by goback to the start of the structure', () => {
  const ws = queueWith([0x00, 0x05, 0xaa, 0xbb]);
  const len = ws.rQshift16();
  assert.equal(len, 5);
  assert.equal(ws.rQwait('body', len, 2), true, 'only 2 of 5 body bytes are here');
  assert.equal(ws.rQlen, 4, 'the length header is back on the queue');
  ws.appendReceived(Uint8Array.from([0xcc, 0xdd, 0xee]));
  assert.equal(ws.rQshift16(), 5);
  assert.equal(ws.rQwait('body', 5, 2), false);
  assert.deepEqual([...ws.rQshiftBytes(5)], [0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
  assert.throws(() => ws.rQwait('header', 1, 1), /cannot go back 1 bytes \(header\)/);
});

test('the receive queue compacts and grows without losing or reordering bytes', () => {
  const ws = new Websock({ initialReceiveQueue: 4, maxReceiveQueue: 1 << 20 });
  const sent = randomBytes(50_000);
  const got: number[] = [];
  let off = 0;
  let step = 1;
  // Mixed chunk sizes and partial reads exercise the compact path and the grow path.
  while (off < sent.length) {
    const n = Math.min(step, sent.length - off);
    ws.appendReceived(sent.subarray(off, off + n));
    off += n;
    const take = Math.floor(ws.rQlen / 2) + (step % 3);
    if (take <= ws.rQlen) got.push(...ws.rQshiftBytes(take));
    step = (step * 7 + 3) % 997;
  }
  got.push(...ws.rQshiftBytes());
  assert.equal(got.length, sent.length);
  assert.ok(Buffer.from(got).equals(sent));
});

test('appending beyond maxReceiveQueue is refused with an error event', () => {
  const ws = new Websock({ initialReceiveQueue: 4, maxReceiveQueue: 10 });
  const errors: string[] = [];
  ws.on('error', (e) => errors.push(e.message));
  assert.equal(ws.appendReceived(new Uint8Array(8)), true);
  assert.equal(ws.appendReceived(new Uint8Array(3)), false);
  assert.deepEqual(errors, ['receive queue over 10 bytes']);
  assert.equal(ws.rQlen, 8);
});

test('send queue pushes big-endian values, Latin-1 strings and bytes in order', () => {
  const ws = new Websock();
  ws.sQpush8(0x1ff); // masked to a byte
  ws.sQpush16(0xabcd);
  ws.sQpush32(0xdeadbeef);
  ws.sQpushString('Hi\u00ff');
  ws.sQpushBytes(new Uint8Array(20_000).fill(7)); // forces growth of the 16 KiB queue
  assert.equal(ws.sQlen, 1 + 2 + 4 + 3 + 20_000);
  assert.throws(() => ws.sQpushString('\u0100'), RangeError);
  assert.equal(ws.flush(), false, 'not connected: flush keeps the queue');
  assert.equal(ws.sQlen, 20_010);
});

test('open without any WebSocket implementation fails with a clear message', () => {
  const g = globalThis as { WebSocket?: unknown };
  if (g.WebSocket !== undefined) return; // Node 22+ has one; this case is for Node 20
  assert.throws(() => new Websock().open('ws://127.0.0.1:1/'), /pass options.WebSocket/);
});

test('base64 round-trips every length 0..300 and random data', () => {
  for (let n = 0; n <= 300; n++) {
    const data = randomBytes(n);
    const text = encodeBase64(data);
    assert.equal(text, data.toString('base64'));
    assert.ok(Buffer.from(decodeBase64(text)).equals(data));
  }
  const big = randomBytes(100_003);
  assert.equal(encodeBase64(big), big.toString('base64'));
  assert.ok(Buffer.from(decodeBase64(big.toString('base64'))).equals(big));
});

test('base64 decoding rejects bad length, stray characters and padding in the middle', () => {
  assert.throws(() => decodeBase64('abc'), Base64Error);
  assert.throws(() => decodeBase64('ab!d'), /invalid base64 character near offset 0/);
  assert.throws(() => decodeBase64('ab==abcd'), Base64Error);
  assert.throws(() => decodeBase64('a==='), Base64Error);
});
