import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as wsModule from 'ws';
import { SMALL_FRAME_MAX_PAYLOAD, smallBinaryFrame } from '../../../src/proxy/small-frame.js';

/** The bytes ws's own Sender puts on the wire for one unmasked binary message. */
function wsFrame(payload: Buffer): Buffer {
  const list = ((wsModule as unknown as { Sender: unknown }).Sender as { frame(data: Buffer, options: object): Buffer[] }).frame(payload, {
    fin: true,
    mask: false,
    opcode: 2,
    readOnly: true,
    rsv1: false,
  });
  return Buffer.concat(list);
}

test('a small frame has the bytes ws sends for the same message, at every header size boundary', () => {
  for (const length of [0, 1, 64, 125, 126, 127, 1000, 65535 & (SMALL_FRAME_MAX_PAYLOAD - 1), SMALL_FRAME_MAX_PAYLOAD]) {
    const payload = Buffer.alloc(length);
    for (let i = 0; i < length; i++) payload[i] = (i * 7 + 3) & 0xff;
    assert.deepEqual(smallBinaryFrame(payload), wsFrame(payload), `payload of ${length} bytes`);
  }
});

test('a payload past the limit is refused rather than framed wrongly', () => {
  assert.throws(() => smallBinaryFrame(Buffer.alloc(SMALL_FRAME_MAX_PAYLOAD + 1)), RangeError);
});
