import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  TelnetNegotiator,
  IAC,
  DO,
  DONT,
  WILL,
  WONT,
  SB,
  SE,
  OPT_BINARY,
  OPT_ECHO,
  OPT_SGA,
  OPT_TTYPE,
  OPT_NAWS,
} from '../../../web/terminal/telnet-negotiator.js';

const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);
const arr = (x: Uint8Array): number[] => [...x];
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

test('plain data passes through and IAC IAC becomes one 0xFF byte', () => {
  const t = new TelnetNegotiator();
  const out = t.receive(u8(...ascii('ab'), IAC, IAC, ...ascii('c')));
  assert.deepEqual(arr(out.data), [...ascii('ab'), 0xff, ...ascii('c')]);
  assert.deepEqual(arr(out.reply), []);
});

test('DO TERMINAL-TYPE is accepted and SB SEND is answered with IS and the terminal name', () => {
  const t = new TelnetNegotiator({ terminalType: 'xterm-256color' });
  assert.deepEqual(arr(t.receive(u8(IAC, DO, OPT_TTYPE)).reply), [IAC, WILL, OPT_TTYPE]);
  const out = t.receive(u8(IAC, SB, OPT_TTYPE, 1, IAC, SE));
  assert.deepEqual(arr(out.reply), [IAC, SB, OPT_TTYPE, 0, ...ascii('xterm-256color'), IAC, SE]);
  assert.deepEqual(arr(out.data), []);
});

test('a TERMINAL-TYPE SEND before we agreed to the option is ignored', () => {
  const t = new TelnetNegotiator();
  assert.deepEqual(arr(t.receive(u8(IAC, SB, OPT_TTYPE, 1, IAC, SE)).reply), []);
});

test('DO NAWS is answered with WILL NAWS followed at once by the window size', () => {
  const t = new TelnetNegotiator({ cols: 132, rows: 43 });
  const out = t.receive(u8(IAC, DO, OPT_NAWS));
  assert.deepEqual(arr(out.reply), [IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 132, 0, 43, IAC, SE]);
  assert.equal(t.isLocalEnabled(OPT_NAWS), true);
});

test('resize sends NAWS only after the server asked for it, doubling a 255 size byte', () => {
  const t = new TelnetNegotiator();
  assert.deepEqual(arr(t.resize(100, 30)), [], 'NAWS not negotiated yet');
  t.receive(u8(IAC, DO, OPT_NAWS));
  assert.deepEqual(arr(t.resize(255, 511)), [IAC, SB, OPT_NAWS, 0, 255, 255, 1, 255, 255, IAC, SE]);
  t.receive(u8(IAC, DONT, OPT_NAWS));
  assert.deepEqual(arr(t.resize(80, 24)), [], 'NAWS switched off again');
});

test('WILL ECHO turns on remote echo, WONT ECHO turns it off, each acknowledged once', () => {
  const t = new TelnetNegotiator();
  assert.equal(t.remoteEcho, false);
  assert.deepEqual(arr(t.receive(u8(IAC, WILL, OPT_ECHO)).reply), [IAC, DO, OPT_ECHO]);
  assert.equal(t.remoteEcho, true);
  assert.deepEqual(arr(t.receive(u8(IAC, WILL, OPT_ECHO)).reply), [], 'no reply for a mode already in effect');
  assert.deepEqual(arr(t.receive(u8(IAC, WONT, OPT_ECHO)).reply), [IAC, DONT, OPT_ECHO]);
  assert.equal(t.remoteEcho, false);
  assert.deepEqual(arr(t.receive(u8(IAC, WONT, OPT_ECHO)).reply), []);
});

test('SUPPRESS-GO-AHEAD is accepted in both directions', () => {
  const t = new TelnetNegotiator();
  const out = t.receive(u8(IAC, WILL, OPT_SGA, IAC, DO, OPT_SGA));
  assert.deepEqual(arr(out.reply), [IAC, DO, OPT_SGA, IAC, WILL, OPT_SGA]);
  assert.equal(t.isRemoteEnabled(OPT_SGA), true);
  assert.equal(t.isLocalEnabled(OPT_SGA), true);
});

test('unknown options are refused: DO x -> WONT x, WILL x -> DONT x; DONT/WONT of an off option is silent', () => {
  const t = new TelnetNegotiator();
  const out = t.receive(u8(IAC, DO, 39, IAC, WILL, 5, IAC, DONT, 39, IAC, WONT, 5, IAC, DO, OPT_ECHO));
  assert.deepEqual(arr(out.reply), [IAC, WONT, 39, IAC, DONT, 5, IAC, WONT, OPT_ECHO]);
});

test('commands split across chunks at every byte boundary give the same result', () => {
  const stream = u8(
    ...ascii('hi'),
    IAC,
    DO,
    OPT_TTYPE,
    IAC,
    WILL,
    OPT_ECHO,
    IAC,
    SB,
    OPT_TTYPE,
    1,
    IAC,
    SE,
    IAC,
    241 /* NOP */,
    ...ascii('x'),
    IAC,
    IAC,
    IAC,
    DO,
    OPT_NAWS,
    ...ascii('!'),
  );
  const whole = new TelnetNegotiator({ cols: 90, rows: 33 }).receive(stream);
  for (let cut = 1; cut < stream.length; cut++) {
    const t = new TelnetNegotiator({ cols: 90, rows: 33 });
    const a = t.receive(stream.subarray(0, cut));
    const b = t.receive(stream.subarray(cut));
    assert.deepEqual([...a.data, ...b.data], arr(whole.data), `data differs when cut at ${cut}`);
    assert.deepEqual([...a.reply, ...b.reply], arr(whole.reply), `reply differs when cut at ${cut}`);
  }
  assert.deepEqual(arr(whole.data), [...ascii('hix'), 0xff, ...ascii('!')]);
});

test('an oversized subnegotiation is dropped and parsing resumes after IAC SE', () => {
  const t = new TelnetNegotiator();
  t.receive(u8(IAC, DO, OPT_TTYPE));
  const big = new Array<number>(2000).fill(65);
  const out = t.receive(u8(IAC, SB, OPT_TTYPE, 1, ...big, IAC, SE, ...ascii('ok')));
  assert.deepEqual(arr(out.reply), []);
  assert.deepEqual(arr(out.data), ascii('ok'));
});

test('input: 0xFF is doubled and a bare CR becomes CR NUL until BINARY is on', () => {
  const t = new TelnetNegotiator();
  assert.deepEqual(arr(t.encodeInput(u8(0x61, 13, 0xff, 13, 10))), [0x61, 13, 0, 0xff, 0xff, 13, 10]);
  t.receive(u8(IAC, DO, OPT_BINARY));
  assert.deepEqual(arr(t.encodeInput(u8(13, 0xff))), [13, 0xff, 0xff]);
});

test('CR NUL from the server is shown as a bare CR, also when split across chunks', () => {
  const t = new TelnetNegotiator();
  const a = t.receive(u8(...ascii('ab'), 13));
  const b = t.receive(u8(0, ...ascii('c'), 0, 13, 10));
  assert.deepEqual([...a.data, ...b.data], [...ascii('ab'), 13, ...ascii('c'), 0, 13, 10]);
});
