import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { normalizeTarget } from '../../../src/admission/access-control.js';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import { describeTarget, type Config } from '../../../src/config/config.js';
import { UsageError } from '../../../src/errors.js';
import { parseTarget, targetFromParts } from '../../../src/plugins/token/parse-target.js';
import { TokenFile } from '../../../src/plugins/token/token-file.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

function config(...args: string[]): Config {
  return buildConfig(parseArgv(args, OPTIONS), { cwd: '/srv' });
}

describe('--reverse-listen options (docs/reverse.md)', () => {
  it('has the documented defaults, and [ADDR:]PORT[=ID] listens', () => {
    const c = config('--token-plugin', 'TokenFile', '--token-source', '/t', '--reverse-listen', '5500', '--reverse-listen', '10.0.0.1:5501=1234', '6080');
    assert.deepEqual(c.reverse, {
      listen: [
        { host: '', port: 5500, fixedId: null },
        { host: '10.0.0.1', port: 5501, fixedId: '1234' },
      ],
      allowAnyId: false,
      idTimeoutMs: 10_000,
      idleTimeoutMs: 3_600_000,
      maxHeld: 1000,
      maxHeldPerIp: 16,
      tls: false,
    });
    assert.equal(config('6080', 'h:5900').reverse, null);
  });

  it('refuses what cannot work, with a usage error', () => {
    const refused: Array<[string[], RegExp]> = [
      // a reverse target or a reverse option without a reverse listener
      [['6080', 'reverse:1234'], /You must use --reverse-listen to use a reverse:ID target/],
      [['--reverse-allow-any-id', '--token-plugin', 'TokenFile', '--token-source', '/t', '6080'], /You must use --reverse-listen/],
      [['--reverse-tls', '--token-plugin', 'TokenFile', '--token-source', '/t', '6080'], /You must use --reverse-listen/],
      // a reverse listener nobody could reach: the one target is an ordinary one
      [['--reverse-listen', '5500', '6080', 'h:5900'], /--reverse-listen needs a token plugin or a reverse:ID target/],
      // an ID outside the syntax
      [['--reverse-listen', '5500=a b', '6080', 'reverse:1234'], /the ID takes 1-64 letters/],
      [['--reverse-listen', '5500', '6080', 'reverse:'], /reverse:ID takes 1-64 letters/],
      // TLS state cannot move to a worker with the socket
      [
        ['--workers', '2', '--reverse-listen', '5500', '--reverse-tls', '--cert', '/c.pem', '6080', 'reverse:1234'],
        /--reverse-tls cannot be used with --workers/,
      ],
    ];
    for (const [args, message] of refused) {
      assert.throws(
        () => config(...args),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
        args.join(' '),
      );
    }
  });
});

describe('reverse:<ID> targets', () => {
  it('are read from token files, JSON/JWT parts and plugin answers alike', () => {
    assert.deepEqual(parseTarget('reverse:1234'), { kind: 'reverse', id: '1234' });
    assert.deepEqual(parseTarget(' reverse:desk-7.a_b '), { kind: 'reverse', id: 'desk-7.a_b' });
    assert.equal(parseTarget('reverse:'), null);
    assert.equal(parseTarget('reverse:12 34'), null);
    assert.equal(parseTarget(`reverse:${'9'.repeat(65)}`), null);
    assert.deepEqual(targetFromParts('reverse', 1234), { kind: 'reverse', id: '1234' });
    assert.deepEqual(targetFromParts('reverse', '1234'), { kind: 'reverse', id: '1234' });
    assert.deepEqual(targetFromParts('reverse:1234', undefined), { kind: 'reverse', id: '1234' });
    assert.deepEqual(normalizeTarget({ kind: 'reverse', id: '1234' }, 'tok'), { kind: 'reverse', id: '1234' });
  });

  it('are described in logs by a short hash of the ID, never the ID', () => {
    const label = describeTarget({ kind: 'reverse', id: '73915024' });
    assert.match(label, /^reverse:#[0-9a-f]{8}$/);
    assert.ok(!label.includes('73915024'));
  });

  it('TokenFile says which IDs its lines name, edits included', async () => {
    const dir = tempDir('wsfy-reverse-ids-');
    try {
      const file = path.join(dir.dir, 'tokens.cfg');
      writeFileSync(file, 'a: reverse:1234\nb: host:5900\n');
      const plugin = await TokenFile.create(file, { logger: captureLogger().logger, timeoutMs: 1000 });
      assert.equal(await plugin.hasReverseId('1234'), true);
      assert.equal(await plugin.hasReverseId('5900'), false);
      assert.equal(await plugin.hasReverseId('host'), false);
      // A later edit counts at once; a bigger file so the size (a part of the change check) differs.
      writeFileSync(file, 'a: reverse:1234\nc: reverse:777777\n');
      assert.equal(await plugin.hasReverseId('777777'), true);
    } finally {
      dir.cleanup();
    }
  });
});
