import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseRedisSource, parseSourceArgs } from '../../../src/plugins/token/parse-redis-source.js';

// The reference's parse_source_args cases (tests/test_token_plugins.py), ported as a table.
const SPLIT: Array<[string, string[]]> = [
  ['', ['']],
  [':', ['', '']],
  ['::', ['', '', '']],
  ['"', ['"']],
  ['""', ['""']],
  ['"""', ['"""']],
  ['"localhost"', ['localhost']],
  ['"localhost":', ['localhost', '']],
  ['"localhost"::', ['localhost', '', '']],
  ['"local:host"', ['local:host']],
  ['"local:host:"pass"', ['"local', 'host', 'pass']],
  ['"local":"host"', ['local', 'host']],
  ['"local":host"', ['local', 'host"']],
  ['localhost:6379:1:pass"word:"my-app-namespace:dev"', ['localhost', '6379', '1', 'pass"word', 'my-app-namespace:dev']],
];

describe('parseSourceArgs (reference parse_source_args)', () => {
  for (const [input, expected] of SPLIT) {
    it(`splits ${JSON.stringify(input)} into ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parseSourceArgs(input), expected);
    });
  }
});

// The reference's TokenRedis source cases: host, port, db, password, namespace prefix.
const SOURCES: Array<[string, string, number, number, string | null, string]> = [
  ['127.0.0.1', '127.0.0.1', 6379, 0, null, ''],
  ['127.0.0.1:1234', '127.0.0.1', 1234, 0, null, ''],
  ['127.0.0.1:1234:2', '127.0.0.1', 1234, 2, null, ''],
  ['127.0.0.1:1234:2:verysecret', '127.0.0.1', 1234, 2, 'verysecret', ''],
  ['127.0.0.1:1234:2:verysecret:namespace', '127.0.0.1', 1234, 2, 'verysecret', 'namespace:'],
  ['127.0.0.1:::verysecret', '127.0.0.1', 6379, 0, 'verysecret', ''],
  ['127.0.0.1::::', '127.0.0.1', 6379, 0, null, ''],
  ['127.0.0.1:::', '127.0.0.1', 6379, 0, null, ''],
  ['127.0.0.1::', '127.0.0.1', 6379, 0, null, ''],
  ['127.0.0.1:', '127.0.0.1', 6379, 0, null, ''],
  ['127.0.0.1::::namespace', '127.0.0.1', 6379, 0, null, 'namespace:'],
  ['127.0.0.1::::"ns1:ns2"', '127.0.0.1', 6379, 0, null, 'ns1:ns2:'],
  ['127.0.0.1::2', '127.0.0.1', 6379, 2, null, ''],
  ['127.0.0.1:1234::verysecret', '127.0.0.1', 1234, 0, 'verysecret', ''],
  ['127.0.0.1::2:verysecret', '127.0.0.1', 6379, 2, 'verysecret', ''],
  ['127.0.0.1::2:', '127.0.0.1', 6379, 2, null, ''],
  ['"::1":6380', '::1', 6380, 0, null, ''],
];

describe('parseRedisSource', () => {
  for (const [source, host, port, db, password, namespace] of SOURCES) {
    it(`reads ${JSON.stringify(source)}`, () => {
      assert.deepEqual(parseRedisSource(source), { host, port, db, password, namespace });
    });
  }

  for (const bad of ['h:1:2:3:4:5', 'h:port', 'h:1:db', 'h:70000']) {
    it(`refuses ${JSON.stringify(bad)} with a message naming the format`, () => {
      assert.throws(() => parseRedisSource(bad), /<host>\[:<port>\[:<db>\[:<password>\[:<namespace>\]\]\]\]/);
    });
  }

  it('does not echo the password in its error message', () => {
    assert.throws(
      () => parseRedisSource('h:notaport:0:hunter2'),
      (err: Error) => !err.message.includes('hunter2'),
    );
  });
});
