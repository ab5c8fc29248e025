import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseArgv } from '../../src/cli/argv-parser.js';
import { OPTIONS } from '../../src/cli/option-table.js';
import { buildConfig } from '../../src/cli/build-config.js';
import type { Config } from '../../src/config/config.js';
import { minVersionFor } from '../../src/tls/secure-context-provider.js';

const page = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');

/** A default as the page writes it: a number (seconds, bytes, a count), off, none, or words. */
type Shown = number | boolean | null | string;

/**
 * The default the code has for each option of the table, in the unit the page uses. A row added
 * to the page without an entry here fails the test, so every row stays checked.
 */
const DEFAULT_OF: Record<string, (c: Config) => Shown> = {
  'handshake-timeout': (c) => c.limits.handshakeTimeoutMs / 1000,
  'max-header-size': (c) => c.limits.maxHeaderBytes,
  'max-headers': (c) => c.limits.maxHeaderCount,
  'max-connections': (c) => c.limits.maxConnections,
  'max-connections-per-ip': (c) => c.limits.maxConnectionsPerIp,
  'keepalive-timeout': (c) => c.limits.keepAliveTimeoutMs / 1000,
  'max-message-size': (c) => c.limits.maxMessageBytes,
  'buffer-size': (c) => c.limits.bufferHighWaterBytes,
  'initial-buffer-size': (c) => c.limits.bufferStartBytes,
  'memory-budget': (c) => c.limits.memoryBudgetBytes,
  'message-timeout': (c) => c.limits.messageTimeoutMs / 1000,
  'connect-timeout': (c) => c.limits.connectTimeoutMs / 1000,
  'plugin-timeout': (c) => c.limits.pluginTimeoutMs / 1000,
  'max-sessions-per-ip': (c) => c.limits.maxSessionsPerIp,
  'max-sessions-per-token': (c) => c.limits.maxSessionsPerToken,
  'allow-origin': (c) => (c.allowOrigins.length === 0 ? null : c.allowOrigins.join(' ')),
  'token-cookie': (c) => c.tokenCookie,
  'web-auth': (c) => c.webAuth,
  'trust-proxy': (c) => (c.ops.trustProxy.length === 0 ? null : c.ops.trustProxy.join(' ')),
  'ssl-version': (c) => minVersionFor(c.tls.sslVersion).replace('TLSv', 'TLS '),
  'verify-client': (c) => c.tls.verifyClient,
  'max-record-size': (c) => c.ops.recordMaxBytes,
  'record-max-age': (c) => c.ops.recordMaxAgeMs / 1000,
  'record-max-total': (c) => c.ops.recordMaxTotalBytes,
};

const UNIT: Record<string, number> = { s: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** `10 s` -> 10, `16 KiB` -> 16384, `20,000` -> 20000, `0 (no cap)` -> 0, `off` -> false, `none` -> null. */
function parseShown(cell: string): Shown {
  const text = cell.replace(/`/g, '').trim();
  const number = /^([0-9][0-9,]*(?:\.[0-9]+)?)(?:\s*(s|KiB|MiB|GiB))?(?:\s|$)/.exec(text);
  if (number) return Number(number[1]!.replace(/,/g, '')) * (number[2] ? UNIT[number[2]]! : 1);
  if (text === 'off') return false;
  if (text === 'none') return null;
  return text;
}

/** The rows of the "Limits" table: option name and the default cell. */
function limitRows(): Array<{ option: string; shown: string }> {
  const section = page.split(/^## /m).find((s) => s.startsWith('Limits'));
  assert.ok(section, 'docs/security.md has no "## Limits" section');
  const rows: Array<{ option: string; shown: string }> = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const option = /^`--([a-z0-9-]+)`$/.exec(cells[1] ?? '')?.[1];
    if (option) rows.push({ option, shown: cells[2] ?? '' });
  }
  return rows;
}

describe('docs/security.md', () => {
  const defaults = buildConfig(parseArgv(['6080', 'localhost:5900'], OPTIONS), { cwd: '/srv' });

  it('has a table of limits', () => {
    assert.ok(limitRows().length >= 15, `only ${limitRows().length} rows`);
  });

  it('names only options that exist in the limits table', () => {
    const known = new Set(OPTIONS.map((o) => o.long));
    assert.deepEqual(
      limitRows()
        .map((r) => r.option)
        .filter((o) => !known.has(o)),
      [],
    );
  });

  it('states for every option of the table the default the code has', () => {
    const wrong: string[] = [];
    for (const { option, shown } of limitRows()) {
      const actual = DEFAULT_OF[option];
      if (actual === undefined) {
        wrong.push(`--${option}: no default known to this test; add it to DEFAULT_OF`);
        continue;
      }
      const expected = actual(defaults);
      const written = parseShown(shown);
      if (written !== expected) wrong.push(`--${option}: the page says ${JSON.stringify(written)} (${shown}), the code has ${JSON.stringify(expected)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('reads the ways the page writes defaults (so the check above can fail)', () => {
    assert.equal(parseShown('10 s'), 10);
    assert.equal(parseShown('16 KiB'), 16 * 1024);
    assert.equal(parseShown('16 MiB'), 16 * 1024 * 1024);
    assert.equal(parseShown('20,000'), 20_000);
    assert.equal(parseShown('0 (no cap)'), 0);
    assert.equal(parseShown('off'), false);
    assert.equal(parseShown('none'), null);
    assert.equal(parseShown('TLS 1.2'), 'TLS 1.2');
    assert.notEqual(parseShown('5 s'), defaults.limits.handshakeTimeoutMs / 1000);
  });
});
