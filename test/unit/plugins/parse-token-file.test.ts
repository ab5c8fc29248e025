import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import type { TargetSpec } from '../../../src/config/config.js';
import { parseTokenFile } from '../../../src/plugins/token/parse-token-file.js';
import { parseTarget } from '../../../src/plugins/token/parse-target.js';

const tcp = (host: string, port: number): TargetSpec => ({ kind: 'tcp', host, port });

// The reference's token-file cases, checked against Python websockify, with 0.13.0 semantics where
// master regressed, and our documented fixes ([::1] brackets removed).
const LINES: Array<{ line: string; token?: string; target?: TargetSpec; error?: true; skipped?: true }> = [
  { line: 't1: 127.0.0.1:5900', token: 't1', target: tcp('127.0.0.1', 5900) },
  { line: 't4:\t127.0.0.1:5900', token: 't4', target: tcp('127.0.0.1', 5900) },
  { line: 't3:127.0.0.1:5900', error: true },
  { line: 't8: host: 1', error: true },
  { line: 't6: ::1:5900', token: 't6', target: tcp('::1', 5900) },
  { line: 't5: [::1]:5900', token: 't5', target: tcp('::1', 5900) },
  { line: '  t2: 10.0.0.2:5902', token: 't2', target: tcp('10.0.0.2', 5902) },
  { line: 't7 : 10.0.0.7:5907', token: 't7 ', target: tcp('10.0.0.7', 5907) },
  { line: '', skipped: true },
  { line: '   ', skipped: true },
  { line: '# comment: x:1', skipped: true },
  { line: '  # indented: x:1', skipped: true },
  { line: 'testhost: remote_host:5900', token: 'testhost', target: tcp('remote_host', 5900) },
  { line: 'u1: unix_socket:/run/vnc/a.sock', token: 'u1', target: { kind: 'unix', path: '/run/vnc/a.sock' } },
  { line: 'u2: unix_socket:/odd:path/b.sock', token: 'u2', target: { kind: 'unix', path: '/odd:path/b.sock' } },
  { line: 'crlf: 127.0.0.1:5901\r', token: 'crlf', target: tcp('127.0.0.1', 5901) },
  { line: 'noport: 127.0.0.1', error: true },
  { line: 'badport: 127.0.0.1:vnc', error: true },
  { line: 'bigport: 127.0.0.1:70000', error: true },
  { line: 'justcolon:', error: true },
];

describe('token file grammar (0.13.0 semantics)', () => {
  for (const c of LINES) {
    it(`parses ${JSON.stringify(c.line)} as ${c.error ? 'a syntax error' : c.skipped ? 'nothing' : JSON.stringify(c.token)}`, () => {
      const parsed = parseTokenFile(c.line);
      if (c.error) {
        assert.equal(parsed.errors.length, 1);
        assert.equal(parsed.errors[0]!.line, 1);
        assert.equal(parsed.targets.size, 0);
      } else if (c.skipped) {
        assert.equal(parsed.errors.length, 0);
        assert.equal(parsed.targets.size, 0);
      } else {
        assert.deepEqual(parsed.errors, []);
        assert.deepEqual([...parsed.targets], [[c.token, c.target]]);
      }
    });
  }

  it('lets a later line for the same token override an earlier one and numbers errors per line', () => {
    const parsed = parseTokenFile('a: h1:1\n\nbad line\na: h2:2\n');
    assert.deepEqual(parsed.targets.get('a'), tcp('h2', 2));
    assert.deepEqual(
      parsed.errors.map((e) => e.line),
      [3],
    );
  });

  it('reads an empty file as no tokens', () => {
    const parsed = parseTokenFile('');
    assert.equal(parsed.targets.size, 0);
    assert.equal(parsed.errors.length, 0);
  });
});

describe('parseTarget', () => {
  const CASES: Array<[string, TargetSpec | null]> = [
    ['127.0.0.1:5900', tcp('127.0.0.1', 5900)],
    ['[2001:db8::1]:5900', tcp('2001:db8::1', 5900)],
    ['2001:db8::1:5900', tcp('2001:db8::1', 5900)],
    ['  host.example:1  ', tcp('host.example', 1)],
    ['unix_socket:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix_socket:', null],
    ['host:0', null],
    ['host:', null],
    [':5900', null],
    ['host', null],
    ['ho st:1', null],
    ['a/b:1', null],
  ];
  for (const [text, expected] of CASES) {
    it(`parses ${JSON.stringify(text)} as ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseTarget(text), expected);
    });
  }
});

describe('token file syntax errors say what is wrong, never the line', () => {
  for (const [line, message] of [
    ['secret-tok:127.0.0.1:5900', 'no ": " (a colon and a space) after the token; expected "token: host:port"'],
    ['secret-tok: host: 1', 'more than one ": " (a colon and a space); expected "token: host:port"'],
    [': host:1', 'nothing before ": "; expected "token: host:port"'],
    ['127.0.0.1:5900: secret-tok', 'the target is not host:port, [ipv6]:port or unix_socket:/path'],
  ] as const) {
    it(`${JSON.stringify(line)}: ${message}`, () => {
      const { errors } = parseTokenFile(`ok: h:1\n${line}\n`);
      assert.deepEqual(errors, [{ line: 2, message }]);
      assert.ok(!errors[0]!.message.includes('secret-tok'));
    });
  }
});
