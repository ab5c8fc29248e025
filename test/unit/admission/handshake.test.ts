import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { HttpRejection } from '../../../src/errors.js';
import { selectSubprotocol, validateHandshake } from '../../../src/admission/handshake.js';
import { redactPath } from '../../../src/log/redact.js';
import { formatTextLine, httpLogDate } from '../../../src/log/text-format.js';

function request(headers: Record<string, string>, extra: Partial<IncomingMessage> = {}): IncomingMessage {
  return { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers, ...extra } as IncomingMessage;
}
const good = { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };

function rejectsWith(fn: () => unknown, status: number, message: string): void {
  assert.throws(fn, (err: unknown) => err instanceof HttpRejection && err.httpStatus === status && err.message === message);
}

describe('subprotocol selection', () => {
  it('chooses binary whenever it is offered, with spaces trimmed', () => {
    assert.equal(selectSubprotocol('binary'), 'binary');
    assert.equal(selectSubprotocol('binary, base64'), 'binary');
    assert.equal(selectSubprotocol('base64, binary'), 'binary');
    assert.equal(selectSubprotocol('base64 ,binary'), 'binary');
    assert.equal(selectSubprotocol('base64 ,\tbinary'), 'binary');
  });
  it('chooses base64 when it is the only known protocol offered', () => {
    assert.equal(selectSubprotocol('base64'), 'base64');
    assert.equal(selectSubprotocol('foo, base64'), 'base64');
  });
  it('answers without a protocol when none is offered, and refuses unknown ones', () => {
    assert.equal(selectSubprotocol(undefined), null);
    rejectsWith(() => selectSubprotocol('foo'), 400, 'Invalid protocol selected');
  });
  // Every list ws's handleUpgrade refuses must be refused here first: ws refuses it only after
  // the session started dialling the target.
  const wsRejects: Array<[string, string]> = [
    ['', 'an empty header'],
    ['binary,,', 'an empty element at the end'],
    ['binary,', 'a trailing comma'],
    [',binary', 'a leading comma'],
    ['binary,,base64', 'an empty element in the middle'],
    ['binary,binary', 'a duplicate'],
    ['base64, binary, base64', 'a duplicate after others'],
    ['bin ary', 'a space inside a token'],
    ['binary ', 'a trailing space'],
    [' binary', 'a leading space'],
    ['binary;q=1', 'a separator character'],
    ['"binary"', 'a quoted string'],
    ['binary/1', 'a slash'],
    ['bin\u00e4ry', 'a non-ASCII character'],
    ['binary,\u0000', 'a control character'],
  ];
  for (const [header, what] of wsRejects) {
    it(`refuses ${what} (${JSON.stringify(header)}) with 400 as ws does`, () => {
      rejectsWith(() => selectSubprotocol(header), 400, 'Invalid Sec-WebSocket-Protocol header');
    });
  }
});

describe('handshake validation', () => {
  it('accepts an RFC 6455 request', () => {
    assert.deepEqual(validateHandshake(request(good)), { protocol: null, mode: 'binary' });
  });
  it('refuses a missing or malformed key with 400', () => {
    rejectsWith(() => validateHandshake(request({ 'sec-websocket-version': '13' })), 400, 'Missing Sec-WebSocket-Key header');
    rejectsWith(() => validateHandshake(request({ ...good, 'sec-websocket-key': '!!!' })), 400, 'Invalid Sec-WebSocket-Key header');
    // ws tests the value as node:http hands it over, untrimmed; so do we.
    rejectsWith(() => validateHandshake(request({ ...good, 'sec-websocket-key': `${good['sec-websocket-key']} ` })), 400, 'Invalid Sec-WebSocket-Key header');
    rejectsWith(() => validateHandshake(request({ ...good, 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ=' })), 400, 'Invalid Sec-WebSocket-Key header');
  });
  it('refuses a missing version with 400 and an unsupported one with 426 naming 13', () => {
    rejectsWith(() => validateHandshake(request({ 'sec-websocket-key': good['sec-websocket-key'] })), 400, 'Missing Sec-WebSocket-Version header');
    assert.throws(
      () => validateHandshake(request({ ...good, 'sec-websocket-version': '12' })),
      (err: unknown) => err instanceof HttpRejection && err.httpStatus === 426 && err.headers['Sec-WebSocket-Version'] === '13',
    );
  });
  it('refuses other methods with 405 and HTTP/1.0 with 400', () => {
    rejectsWith(() => validateHandshake(request(good, { method: 'POST' })), 405, 'Method Not Allowed');
    rejectsWith(() => validateHandshake(request(good, { httpVersionMinor: 0 })), 400, 'WebSocket upgrade requires HTTP/1.1');
  });
});

describe('log lines', () => {
  it('mask secrets in logged paths and keep the rest', () => {
    assert.equal(redactPath('/websockify?token=abc&x=1'), '/websockify?token=[redacted]&x=1');
    assert.equal(redactPath('/?password=pw&Token=t'), '/?password=[redacted]&Token=[redacted]');
    assert.equal(redactPath('/plain'), '/plain');
  });
  it('use the http.server date shape and put fields at the end', () => {
    const time = new Date(2026, 10, 22, 7, 5, 9);
    assert.equal(httpLogDate(time), '22/Nov/2026 07:05:09');
    const line = formatTextLine({ time, level: 'info', message: 'session closed', client: '10.0.0.1', session: 3, fields: { close: 1000, target: 'a b' } });
    assert.equal(line, '10.0.0.1 - - [22/Nov/2026 07:05:09]   3: session closed close=1000 target="a b"');
  });
});
