import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { OPTIONS } from '../../../src/cli/option-table.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_OPS,
  DEFAULT_PROCESS,
  DEFAULT_REVERSE,
  DEFAULT_TLS,
  DEFAULT_UNIX_LISTEN_MODE,
  DEFAULT_WRAP_MODE,
  defaultConfig,
  defaultReverseConfig,
} from '../../../src/config/defaults.js';
import { minVersionFor } from '../../../src/tls/secure-context-provider.js';

/** A default as --help and docs/cli.md write it: a number (seconds, bytes, a count), a word, or off. */
type Shown = number | string | boolean | null;

const base = defaultConfig({ kind: 'tcp', host: '', port: 6080, preferIpv6: false }, null);

/**
 * The default of every option whose help names one, in the option's own terms (seconds, bytes,
 * the mode's octal digits), taken from src/config/defaults.ts. An option whose help starts to
 * name a default without an entry here fails the test, so every one stays checked.
 */
const EXPECTED: Record<string, Shown> = {
  cert: DEFAULT_TLS.cert,
  'unix-listen-mode': Number(DEFAULT_UNIX_LISTEN_MODE.toString(8)),
  // No chgrp: the socket keeps the group the process runs as (gid null).
  'unix-listen-group': null,
  'ssl-version': minVersionFor(DEFAULT_TLS.sslVersion).replace('TLSv', 'TLS '),
  'tls-watch-interval': DEFAULT_TLS.watchIntervalMs / 1000,
  'wrap-mode': DEFAULT_WRAP_MODE,
  'heartbeat-timeout': DEFAULT_PROCESS.heartbeatTimeoutSec,
  'max-message-size': DEFAULT_LIMITS.maxMessageBytes,
  'handshake-timeout': DEFAULT_LIMITS.handshakeTimeoutMs / 1000,
  'keepalive-timeout': DEFAULT_LIMITS.keepAliveTimeoutMs / 1000,
  'max-header-size': DEFAULT_LIMITS.maxHeaderBytes,
  'max-headers': DEFAULT_LIMITS.maxHeaderCount,
  'connect-timeout': DEFAULT_LIMITS.connectTimeoutMs / 1000,
  'max-connections': DEFAULT_LIMITS.maxConnections,
  'max-connections-per-ip': DEFAULT_LIMITS.maxConnectionsPerIp,
  'message-timeout': DEFAULT_LIMITS.messageTimeoutMs / 1000,
  'memory-budget': DEFAULT_LIMITS.memoryBudgetBytes,
  'buffer-size': DEFAULT_LIMITS.bufferHighWaterBytes,
  'initial-buffer-size': DEFAULT_LIMITS.bufferStartBytes,
  workers: DEFAULT_PROCESS.workers,
  'max-record-size': DEFAULT_OPS.recordMaxBytes,
  'record-max-age': DEFAULT_OPS.recordMaxAgeMs / 1000,
  'record-max-total': DEFAULT_OPS.recordMaxTotalBytes,
  'metrics-path': base.ops.metricsPath,
  'health-path': base.ops.healthPath,
  'drain-timeout': DEFAULT_OPS.drainTimeoutMs / 1000,
  'shutdown-timeout': DEFAULT_LIMITS.shutdownTimeoutMs / 1000,
  'max-sessions-per-token': DEFAULT_LIMITS.maxSessionsPerToken,
  'max-sessions-per-ip': DEFAULT_LIMITS.maxSessionsPerIp,
  'plugin-timeout': DEFAULT_LIMITS.pluginTimeoutMs / 1000,
  // "HTTP 404": the token failure is answered, i.e. --silent-token-failure is off.
  'silent-token-failure': base.silentTokenFailure,
  // "such servers are closed at once": --reverse-allow-any-id is off.
  'reverse-allow-any-id': defaultReverseConfig([]).allowAnyId,
  'reverse-id-timeout': DEFAULT_REVERSE.idTimeoutMs / 1000,
  'reverse-idle-timeout': DEFAULT_REVERSE.idleTimeoutMs / 1000,
  'reverse-max-held': DEFAULT_REVERSE.maxHeld,
  'reverse-max-held-per-ip': DEFAULT_REVERSE.maxHeldPerIp,
};

/** The defaults said in words, and the value each word stands for. */
const WORDS: Record<string, Shown> = {
  never: 0,
  'no cap': 0,
  off: null,
  'the group websockify runs as': null,
  'HTTP 404': false,
  'such servers are closed at once': false,
};

const SIZE: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** The default a help text names (`(default 16M)`, `(default: never, ...)`, `; default: ...)`), or undefined. */
function shownDefault(help: string): string | undefined {
  return /\bdefault:? ([^,;)=]+?)\s*(?=[,;)=]|$)/.exec(help)?.[1];
}

/** `16M` -> 16777216, `10` -> 10, `0600` -> 600, `never` -> 0, `off` -> null; other words as they are. */
function read(shown: string): Shown {
  if (shown in WORDS) return WORDS[shown]!;
  const size = /^([0-9]+)([KMG])$/.exec(shown);
  if (size) return Number(size[1]) * SIZE[size[2]!]!;
  if (/^[0-9]+(\.[0-9]+)?$/.test(shown)) return Number(shown);
  return shown;
}

/** docs/cli.md's option rows (the "## Options" section): the option and its meaning cell. */
function docRows(): Array<{ option: string; meaning: string }> {
  const page = readFileSync(new URL('../../../../docs/cli.md', import.meta.url), 'utf8');
  const section = page.split(/^## /m).find((s) => s.startsWith('Options'));
  assert.ok(section, 'docs/cli.md has no "## Options" section');
  const rows: Array<{ option: string; meaning: string }> = [];
  for (const line of section.split('\n')) {
    // A `\|` inside a cell (choices) is not a cell border.
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const option = /`--([a-z0-9-]+)/.exec(cells[1] ?? '')?.[1];
    if (option) rows.push({ option, meaning: (cells[2] ?? '').replace(/\\\|/g, '|') });
  }
  return rows;
}

function mismatches(rows: Array<{ option: string; text: string }>, where: string): string[] {
  const wrong: string[] = [];
  for (const { option, text } of rows) {
    const shown = shownDefault(text);
    if (shown === undefined) continue;
    if (!(option in EXPECTED)) {
      wrong.push(`--${option}: ${where} names a default (${shown}) this test does not know; add it to EXPECTED`);
      continue;
    }
    const written = read(shown);
    if (written !== EXPECTED[option]) {
      wrong.push(`--${option}: ${where} says ${JSON.stringify(written)} ("${shown}"), defaults.ts has ${JSON.stringify(EXPECTED[option])}`);
    }
  }
  return wrong;
}

describe('the defaults --help and docs/cli.md state', () => {
  it('are the values of src/config/defaults.ts, in --help', () => {
    assert.deepEqual(
      mismatches(
        OPTIONS.map((o) => ({ option: o.long, text: o.help })),
        '--help',
      ),
      [],
    );
  });

  it('are the values of src/config/defaults.ts, in docs/cli.md (regenerate with node scripts/gen-cli-doc.mjs)', () => {
    const rows = docRows();
    assert.ok(rows.length >= OPTIONS.length, `only ${rows.length} option rows in docs/cli.md`);
    assert.deepEqual(
      mismatches(
        rows.map((r) => ({ option: r.option, text: r.meaning })),
        'docs/cli.md',
      ),
      [],
    );
  });

  it('name a default for every option this test expects one for, in both places', () => {
    const inHelp = OPTIONS.filter((o) => shownDefault(o.help) !== undefined).map((o) => o.long);
    const inDoc = docRows()
      .filter((r) => shownDefault(r.meaning) !== undefined)
      .map((r) => r.option);
    assert.deepEqual([...inHelp].sort(), Object.keys(EXPECTED).sort());
    assert.deepEqual([...inDoc].sort(), Object.keys(EXPECTED).sort());
  });

  it('reads the ways defaults are written (so the checks above can fail)', () => {
    assert.equal(shownDefault('beyond it 431 (default 16K)'), '16K');
    assert.equal(shownDefault('no cap (default 0 = no cap)'), '0');
    assert.equal(shownDefault('0 = keep (default: 2592000, 30 days)'), '2592000');
    assert.equal(shownDefault('(default 1; --run-once and wrapped programs use 1)'), '1');
    assert.equal(shownDefault('trusted networks only; default: such servers are closed at once)'), 'such servers are closed at once');
    assert.equal(shownDefault('a help text naming none'), undefined);
    assert.equal(read('16M'), 16 * 1024 * 1024);
    assert.equal(read('64K'), 64 * 1024);
    assert.equal(read('0600'), 600);
    assert.equal(read('never'), 0);
    assert.equal(read('TLS 1.2'), 'TLS 1.2');
    assert.deepEqual(mismatches([{ option: 'handshake-timeout', text: 'time allowed (default 7)' }], 'x'), [
      '--handshake-timeout: x says 7 ("7"), defaults.ts has 10',
    ]);
  });
});
