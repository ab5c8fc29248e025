import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import { MAX_TIMER_SECONDS, OPTION_RANGES } from '../../../src/config/option-ranges.js';
import { UsageError } from '../../../src/errors.js';

/** Options some others need before they are accepted at all. */
const COMPANIONS: Record<string, string[]> = {
  'heartbeat-timeout': ['--heartbeat', '5'],
  'max-record-size': ['--record', 'rec'],
  'record-max-age': ['--record', 'rec'],
  'record-max-total': ['--record', 'rec'],
};

function build(name: string, value: string): void {
  const args = [...(COMPANIONS[name] ?? []), `--${name}`, value, '6080', 'h:5900'];
  buildConfig(parseArgv(args, OPTIONS), { cwd: '/home/u' });
}

/** The option-parser spelling of a number of the option's unit (bytes take no fraction). */
function spell(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

describe('numeric option ranges', () => {
  it('gives every int, number and size option a range', () => {
    const numeric = OPTIONS.filter((o) => o.kind === 'int' || o.kind === 'number' || o.kind === 'bytes').map((o) => o.long);
    for (const name of numeric) assert.ok(OPTION_RANGES[name], `--${name} has no entry in OPTION_RANGES`);
    for (const name of Object.keys(OPTION_RANGES)) assert.ok(numeric.includes(name), `OPTION_RANGES names --${name}, which is no numeric option`);
  });

  for (const [name, range] of Object.entries(OPTION_RANGES)) {
    it(`--${name} takes ${range.min} to ${range.max} and refuses just outside`, () => {
      build(name, spell(range.min));
      build(name, spell(range.max));
      const above = range.unit === 'bytes' || range.unit === 'count' || Number.isInteger(range.max) ? range.max + 1 : range.max + 0.001;
      assert.throws(
        () => build(name, spell(above)),
        (err: unknown) => err instanceof UsageError && err.message.startsWith(`option --${name}: ${above} is out of range`),
      );
      // A negative count is an argv error for int options; for sizes and numbers there is no
      // negative spelling at all. The step below the minimum is the one to refuse.
      const below = range.min - (range.unit === 'seconds' && !Number.isInteger(range.min) ? 0.001 : 1);
      if (below >= 0 && below !== range.off) {
        assert.throws(
          () => build(name, spell(below)),
          (err: unknown) => err instanceof UsageError && err.message.includes(`--${name}`),
        );
      }
    });
  }

  it('stops every duration at the longest delay a Node timer keeps', () => {
    assert.equal(MAX_TIMER_SECONDS, 2_147_483);
    assert.throws(() => build('heartbeat', '3000000'), /option --heartbeat: 3000000 is out of range: use 0 to 2147483 seconds/);
    assert.throws(() => build('timeout', '2200000'), /option --timeout: 2200000 is out of range/);
  });

  it('refuses a --max-message-size of 2 GiB, which ws would take as no limit', () => {
    assert.throws(() => build('max-message-size', '2G'), /option --max-message-size: 2147483648 is out of range: use 1 to 1G bytes/);
    build('max-message-size', '1G');
  });

  it('takes --unix-listen-mode as permission bits only', () => {
    const mode = (text: string): number => {
      const c = buildConfig(parseArgv(['--unix-listen', 's', '--unix-listen-mode', text, 'h:1'], OPTIONS), { cwd: '/u' });
      return c.listen.kind === 'unix' ? c.listen.mode : -1;
    };
    assert.equal(mode('660'), 0o660);
    assert.equal(mode('0777'), 0o777);
    assert.equal(mode('0'), 0);
    for (const bad of ['4777', '1777', '07777', '778', 'rw']) {
      assert.throws(() => mode(bad), /Error parsing listen unix socket mode/, bad);
    }
  });

  it('refuses target port 0 and keeps listen port 0 (any free port)', () => {
    assert.throws(() => buildConfig(parseArgv(['6080', 'h:0'], OPTIONS), { cwd: '/u' }), /Error parsing target port: 0 is not in 1-65535/);
    const c = buildConfig(parseArgv(['0', 'h:1'], OPTIONS), { cwd: '/u' });
    assert.equal(c.listen.kind === 'tcp' && c.listen.port, 0);
  });

  it('--verify-client refuses plain connections, as --ssl-only does', () => {
    const c = buildConfig(parseArgv(['--cert', 'c.pem', '--verify-client', '--cafile', 'ca.pem', '6080', 'h:1'], OPTIONS), { cwd: '/u' });
    assert.equal(c.tls.sslOnly, true);
    const plain = buildConfig(parseArgv(['--cert', 'c.pem', '6080', 'h:1'], OPTIONS), { cwd: '/u' });
    assert.equal(plain.tls.sslOnly, false);
  });
});
