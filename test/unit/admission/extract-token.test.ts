import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { extractToken, hasTokenCookie, hostToken, percentDecode } from '../../../src/admission/extract-token.js';

const q = (url: string, cookie?: string) => extractToken(url, cookie === undefined ? {} : { cookie }, { hostToken: false, cookie: true });

describe('token from the query string (reference parse_qs rules)', () => {
  const CASES: Array<[string, string | null]> = [
    ['/?token=abc', 'abc'],
    ['/websockify?token=abc', 'abc'],
    ['/?token=first&token=second', 'first'],
    ['/?token=&token=second', 'second'],
    ['/?token=', null],
    ['/?token', null],
    ['/?a=1&token=x%2Fy%20z', 'x/y z'],
    ['/?token=a+b', 'a b'],
    ['/?token=a%2Bb', 'a+b'],
    ['/?token=abc%0A', 'abc'],
    ['/?token=abc%0A%0A', 'abc'],
    ['/?token=abc%0D', 'abc\r'],
    ['/?token=abc%20', 'abc '],
    ['/?token=%zz', '%zz'],
    ['/?token=%E2%82%AC', '€'],
    ['/?token=%FF', '\uFFFD'],
    ['/?to%6Ben=enc', 'enc'],
    ['/?token=abc#frag', 'abc'],
    ['/#x?token=abc', null],
    ['http://example.com/path?token=abs', 'abs'],
  ];
  for (const [url, expected] of CASES) {
    it(`takes ${JSON.stringify(expected)} from ${JSON.stringify(url)}`, () => {
      const found = q(url);
      if (expected === null) {
        assert.ok(found === null || found.from !== 'query');
      } else {
        assert.deepEqual(found, { token: expected, from: 'query' });
      }
    });
  }
});

describe('token from the path and the cookie', () => {
  it('takes the last path segment: /websockify/TOKEN', () => {
    assert.deepEqual(q('/websockify/abc'), { token: 'abc', from: 'path' });
  });
  it('takes /TOKEN and percent-decodes it', () => {
    assert.deepEqual(q('/a%20b'), { token: 'a b', from: 'path' });
  });
  it('never takes "websockify" or an empty segment as a token', () => {
    assert.equal(q('/websockify'), null);
    assert.equal(q('/'), null);
    assert.equal(q('/novnc/'), null);
    assert.equal(q('/novnc/websockify'), null);
  });
  it('prefers the query over the path', () => {
    assert.deepEqual(q('/websockify/pathtok?token=querytok'), { token: 'querytok', from: 'query' });
  });
  it('takes a token cookie when the query and path have none', () => {
    assert.deepEqual(q('/websockify', 'a=1; token=cook%21; token=second'), { token: 'cook!', from: 'cookie' });
    assert.deepEqual(q('/websockify', 'token="quoted"'), { token: 'quoted', from: 'cookie' });
    assert.equal(q('/websockify', 'xtoken=1; token='), null);
  });
  it('prefers the path over the cookie', () => {
    assert.deepEqual(q('/abc', 'token=c'), { token: 'abc', from: 'path' });
  });
  it('reads no cookie unless asked to, and tells whether one was there', () => {
    assert.equal(extractToken('/websockify', { cookie: 'token=c' }, { hostToken: false, cookie: false }), null);
    assert.deepEqual(extractToken('/websockify?token=q', { cookie: 'token=c' }, { hostToken: false, cookie: false }), { token: 'q', from: 'query' });
    assert.equal(hasTokenCookie({ cookie: 'a=1; token=c' }), true);
    assert.equal(hasTokenCookie({ cookie: 'a=1; token=' }), false);
    assert.equal(hasTokenCookie({}), false);
  });
});

describe('token from the Host header (--host-token)', () => {
  const CASES: Array<[string | undefined, string | null]> = [
    ['desk1.example.com:6080', 'desk1.example.com'],
    ['desk1.example.com', 'desk1.example.com'],
    ['Desk1.Example.com', 'Desk1.Example.com'],
    ['[::1]:6080', '::1'],
    ['[2001:db8::5]', '2001:db8::5'],
    [':6080', null],
    ['', null],
    [undefined, null],
  ];
  for (const [host, expected] of CASES) {
    it(`takes ${JSON.stringify(expected)} from Host ${JSON.stringify(host)}`, () => {
      assert.equal(hostToken(host), expected);
    });
  }
  it('ignores the query string when --host-token is given', () => {
    assert.deepEqual(extractToken('/?token=q', { host: 'h:1' }, { hostToken: true, cookie: true }), { token: 'h', from: 'host' });
    assert.equal(extractToken('/?token=q', {}, { hostToken: true, cookie: true }), null);
  });
});

describe('percentDecode', () => {
  it('keeps a lone percent sign', () => {
    assert.equal(percentDecode('100%'), '100%');
  });
});
