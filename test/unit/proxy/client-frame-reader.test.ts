// The frame reader in front of ws's real Receiver: data frames go to the sink, byte-exact,
// however the stream is cut into reads; control frames and refused frames reach ws, which
// answers with its own events and close codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { attachClientFrameReader, type ClientFrameReader } from '../../../src/proxy/client-frame-reader.js';

/** ws's Receiver (exported by ws, not described by @types/ws). */
const Receiver = createRequire(import.meta.url)('ws').Receiver as new (options: { isServer: boolean; maxPayload?: number; binaryType?: string }) => Writable;

interface Frame {
  fin?: boolean;
  opcode: number;
  payload: Buffer;
  rsv?: number;
  masked?: boolean;
}

/** One client frame as a browser sends it: masked with a random key. */
function encode({ fin = true, opcode, payload, rsv = 0, masked = true }: Frame): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | rsv | opcode;
  header[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) header.writeUInt16BE(len, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(len), 2);
  const body = Buffer.from(payload);
  if (masked) {
    const key = randomBytes(4);
    key.copy(header, 2 + ext);
    for (let i = 0; i < body.length; i += 1) body[i] = (body[i] as number) ^ (key[i & 3] as number);
  }
  return Buffer.concat([header, body]);
}

/** A small deterministic generator, so a failing cut can be reproduced from the seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

interface Harness {
  reader: ClientFrameReader;
  receiver: Writable;
  /** What happened, in order: data bytes, and ws's events. */
  events: string[];
  data: Buffer[];
  errors: Array<Error & { code?: string }>;
  /** Writes the stream in pieces cut at `cuts`, then lets ws's deferred errors come out. */
  feed(stream: Buffer, cuts: number[]): Promise<void>;
}

function harness(maxPayload = 0): Harness {
  const receiver = new Receiver({ isServer: true, maxPayload, binaryType: 'nodebuffer' });
  const events: string[] = [];
  const data: Buffer[] = [];
  const errors: Array<Error & { code?: string }> = [];
  receiver.on('ping', (p: Buffer) => events.push(`ping:${p.toString()}`));
  receiver.on('pong', (p: Buffer) => events.push(`pong:${p.toString()}`));
  receiver.on('conclude', (code: number) => events.push(`close:${code}`));
  receiver.on('message', (m: Buffer, isBinary: boolean) => events.push(`message:${isBinary ? 'binary' : 'text'}:${m.length}`));
  receiver.on('error', (err: Error & { code?: string }) => {
    errors.push(err);
    events.push(`error:${err.code}`);
  });
  const sink = {
    onClientData(bytes: Buffer): void {
      data.push(Buffer.from(bytes));
      events.push(`data:${bytes.length}`);
    },
  };
  const reader = attachClientFrameReader({ _receiver: receiver } as unknown as WebSocket, sink);
  assert.ok(reader, 'the reader attaches to a fresh ws 8 receiver (its internals are as expected)');
  return {
    reader,
    receiver,
    events,
    data,
    errors,
    async feed(stream, cuts) {
      let at = 0;
      for (const cut of [...cuts, stream.length]) {
        if (cut <= at) continue;
        receiver.write(stream.subarray(at, cut));
        at = cut;
      }
      await nextTurn();
    },
  };
}

/** Random cut points: single bytes, header-sized pieces and large reads. */
function randomCuts(length: number, next: () => number): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (at < length) {
    const kind = next();
    at += kind < 0.3 ? 1 + Math.floor(next() * 16) : kind < 0.6 ? 1 + Math.floor(next() * 1500) : 1 + Math.floor(next() * 70_000);
    cuts.push(Math.min(at, length));
  }
  return cuts;
}

describe('client frame reader', async () => {
  it('delivers binary payloads byte-exact, fragmented or not, with pings in order, for any cut of the stream', async () => {
    for (let seed = 1; seed <= 40; seed += 1) {
      const next = prng(seed);
      const frames: Frame[] = [];
      const expected: Buffer[] = [];
      const pingsAfter: number[] = [];
      let total = 0;
      for (let f = 0; f < 30; f += 1) {
        const roll = next();
        if (roll < 0.15) {
          frames.push({ opcode: 0x9, payload: Buffer.from(`p${f}`) });
          pingsAfter.push(total);
          continue;
        }
        const size = roll < 0.5 ? Math.floor(next() * 130) : roll < 0.85 ? Math.floor(next() * 70_000) : Math.floor(next() * 200_000);
        const payload = randomBytes(size);
        expected.push(payload);
        total += size;
        if (next() < 0.3 && size > 2) {
          // The same bytes as a fragmented message, with a pong between two fragments.
          const cut = 1 + Math.floor(next() * (size - 1));
          frames.push({ fin: false, opcode: 0x2, payload: payload.subarray(0, cut) });
          frames.push({ opcode: 0xa, payload: Buffer.from('mid') });
          frames.push({ opcode: 0x0, payload: payload.subarray(cut) });
        } else {
          frames.push({ opcode: 0x2, payload });
        }
      }
      const stream = Buffer.concat(frames.map(encode));
      const h = harness();
      await h.feed(stream, randomCuts(stream.length, next));
      assert.deepEqual(h.errors, [], `seed ${seed}`);
      assert.ok(Buffer.concat(h.data).equals(Buffer.concat(expected)), `seed ${seed}: payload bytes differ`);
      // Every ping arrives after exactly the data bytes sent before it.
      let seen = 0;
      const pingAt: number[] = [];
      for (const e of h.events) {
        if (e.startsWith('data:')) seen += Number(e.slice(5));
        if (e.startsWith('ping:')) pingAt.push(seen);
      }
      assert.deepEqual(pingAt, pingsAfter, `seed ${seed}: pings out of order`);
      assert.equal(h.events.filter((e) => e.startsWith('message:')).length, 0, 'no binary message went through ws');
    }
  });

  it('joins the small messages of one read into one piece for the target', async () => {
    const h = harness();
    const payloads = Array.from({ length: 100 }, (_, i) => Buffer.alloc(64, i));
    await h.feed(Buffer.concat(payloads.map((payload) => encode({ opcode: 0x2, payload }))), []);
    assert.deepEqual(h.events, ['data:6400']);
    assert.ok(Buffer.concat(h.data).equals(Buffer.concat(payloads)));
  });

  it('hands a close frame to ws and nothing after it to the target', async () => {
    const h = harness();
    const close = Buffer.alloc(2);
    close.writeUInt16BE(1000);
    await h.feed(
      Buffer.concat([
        encode({ opcode: 0x2, payload: Buffer.from('before') }),
        encode({ opcode: 0x8, payload: close }),
        encode({ opcode: 0x2, payload: Buffer.from('after') }),
      ]),
      [9],
    );
    assert.deepEqual(h.events.slice(-1), ['close:1000']);
    assert.equal(Buffer.concat(h.data).toString(), 'before');
  });

  it('leaves a text frame to ws, which reports it as text (the bridge then closes 1003)', async () => {
    const h = harness();
    await h.feed(Buffer.concat([encode({ opcode: 0x2, payload: Buffer.from('ab') }), encode({ opcode: 0x1, payload: Buffer.from('hi') })]), []);
    assert.deepEqual(h.events, ['data:2', 'message:text:2']);
  });

  const refusals: Array<[string, Frame[], string, number]> = [
    [
      'a text frame inside a binary message',
      [
        { fin: false, opcode: 0x2, payload: Buffer.from('x') },
        { opcode: 0x1, payload: Buffer.from('y') },
      ],
      'WS_ERR_INVALID_OPCODE',
      1,
    ],
    ['a continuation with no message open', [{ opcode: 0x0, payload: Buffer.from('x') }], 'WS_ERR_INVALID_OPCODE', 0],
    ['a frame with RSV1 set', [{ opcode: 0x2, payload: Buffer.from('x'), rsv: 0x40 }], 'WS_ERR_UNEXPECTED_RSV_1', 0],
    ['an unmasked frame', [{ opcode: 0x2, payload: Buffer.from('x'), masked: false }], 'WS_ERR_EXPECTED_MASK', 0],
    ['an unknown opcode', [{ opcode: 0x3, payload: Buffer.from('x') }], 'WS_ERR_INVALID_OPCODE', 0],
    ['a ping longer than 125 bytes', [{ opcode: 0x9, payload: Buffer.alloc(126) }], 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 0],
    ['a fragmented ping', [{ fin: false, opcode: 0x9, payload: Buffer.alloc(1) }], 'WS_ERR_EXPECTED_FIN', 0],
  ];
  for (const [what, frames, code, delivered] of refusals) {
    it(`leaves ${what} to ws, which refuses it with ${code}`, async () => {
      const h = harness();
      await h.feed(Buffer.concat([...frames.map(encode), encode({ opcode: 0x2, payload: Buffer.from('late') })]), []);
      assert.deepEqual(
        h.errors.map((e) => e.code),
        [code],
      );
      assert.equal(Buffer.concat(h.data).length, delivered, 'nothing after the refused frame reaches the target');
    });
  }

  it('counts a message against maxPayload across its fragments, as ws does (1009)', async () => {
    const whole = harness(1000);
    await whole.feed(encode({ opcode: 0x2, payload: Buffer.alloc(1001) }), []);
    assert.deepEqual(
      whole.errors.map((e) => e.code),
      ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
    );
    assert.equal(whole.data.length, 0);

    const pieces = harness(1000);
    await pieces.feed(
      Buffer.concat([encode({ fin: false, opcode: 0x2, payload: Buffer.alloc(600) }), encode({ opcode: 0x0, payload: Buffer.alloc(600) })]),
      [300],
    );
    assert.deepEqual(
      pieces.errors.map((e) => e.code),
      ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
    );
    assert.equal(Buffer.concat(pieces.data).length, 600, 'the first fragment was within the limit');

    const exact = harness(1000);
    await exact.feed(Buffer.concat([encode({ opcode: 0x2, payload: Buffer.alloc(1000) }), encode({ opcode: 0x2, payload: Buffer.alloc(1000) })]), []);
    assert.deepEqual(exact.errors, []);
    assert.equal(Buffer.concat(exact.data).length, 2000, 'the limit is per message, not per stream');
  });

  it('stays out of a receiver that has already started a frame', async () => {
    const receiver = new Receiver({ isServer: true });
    receiver.write(Buffer.from([0x82]));
    assert.equal(attachClientFrameReader({ _receiver: receiver } as unknown as WebSocket, { onClientData() {} }), null);
  });
});
