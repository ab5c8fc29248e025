import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidReverseId, parseReverseTarget } from '../../../src/config/reverse-id.js';
import { parseIdBlock, REPEATER_ID_BLOCK_BYTES } from '../../../src/reverse/reverse-id.js';

function block(text: string | Buffer, size = REPEATER_ID_BLOCK_BYTES): Buffer {
  const out = Buffer.alloc(size);
  (typeof text === 'string' ? Buffer.from(text, 'latin1') : text).copy(out);
  return out;
}

describe('parseIdBlock', () => {
  it('reads the ID of a zero-padded ID: block', () => {
    assert.deepEqual(parseIdBlock(block('ID:1234')), { ok: true, id: '1234' });
    assert.deepEqual(parseIdBlock(block('ID:desk-7.a_b')), { ok: true, id: 'desk-7.a_b' });
  });

  it('drops whitespace some servers put before the padding', () => {
    assert.deepEqual(parseIdBlock(block('ID:1234\n')), { ok: true, id: '1234' });
    assert.deepEqual(parseIdBlock(block('ID:1234  ')), { ok: true, id: '1234' });
  });

  it('takes a block filled to the last byte without padding', () => {
    const id = 'x'.repeat(64);
    const full = Buffer.alloc(REPEATER_ID_BLOCK_BYTES, 0x20);
    Buffer.from(`ID:${id}`).copy(full);
    assert.deepEqual(parseIdBlock(full), { ok: true, id });
  });

  it('refuses a block of the wrong size', () => {
    assert.equal(parseIdBlock(block('ID:1234', 249)).ok, false);
    assert.equal(parseIdBlock(block('ID:1234', 251)).ok, false);
  });

  it('refuses a block without the ID: prefix', () => {
    assert.equal(parseIdBlock(block('id:1234')).ok, false);
    assert.equal(parseIdBlock(block('RFB 003.008\n')).ok, false);
    assert.equal(parseIdBlock(block('')).ok, false);
  });

  it('refuses bytes after the padding started', () => {
    const b = block('ID:1234');
    b[200] = 0x41;
    assert.equal(parseIdBlock(b).ok, false);
  });

  it('refuses an empty, too long or oddly spelt ID', () => {
    assert.equal(parseIdBlock(block('ID:')).ok, false);
    assert.equal(parseIdBlock(block(`ID:${'1'.repeat(65)}`)).ok, false);
    assert.equal(parseIdBlock(block('ID:12 34')).ok, false);
    assert.equal(parseIdBlock(block(Buffer.from([0x49, 0x44, 0x3a, 0x31, 0xe9]))).ok, false);
    assert.equal(parseIdBlock(block('ID:a/b')).ok, false);
  });
});

describe('parseReverseTarget and isValidReverseId', () => {
  it('reads reverse:<id> as a token source writes it', () => {
    assert.equal(parseReverseTarget('reverse:1234'), '1234');
    assert.equal(parseReverseTarget('  reverse:abc-1 '), 'abc-1');
  });

  it('gives null for anything else', () => {
    assert.equal(parseReverseTarget('localhost:5900'), null);
    assert.equal(parseReverseTarget('reverse:'), null);
    assert.equal(parseReverseTarget('reverse:a b'), null);
  });

  it('allows 1-64 letters, digits, dot, underscore and dash', () => {
    assert.ok(isValidReverseId('1'));
    assert.ok(isValidReverseId('A'.repeat(64)));
    assert.ok(!isValidReverseId(''));
    assert.ok(!isValidReverseId('A'.repeat(65)));
    assert.ok(!isValidReverseId('a:b'));
  });
});
