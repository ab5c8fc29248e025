import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import type { Config } from '../../../src/config/config.js';
import { defaultConfig, defaultReverseConfig } from '../../../src/config/defaults.js';
import { OPTION_RANGES } from '../../../src/config/option-ranges.js';
import { RANGED_FIELDS, validateConfig } from '../../../src/config/validate-config.js';
import { UsageError } from '../../../src/errors.js';

/**
 * Every Config here is built directly, never from argv: validateConfig must refuse a bad value
 * whatever made the Config (a test, the in-process harness, a config file), with the words the
 * command line prints.
 */

const MiB = 1024 * 1024;

/** `LISTEN TARGET` with every option at its default. */
function plain(): Config {
  return defaultConfig({ kind: 'tcp', host: '', port: 6080, preferIpv6: false }, { kind: 'tcp', host: 'h', port: 5900 });
}

/** A Config in which every numeric option has somewhere to land: --reverse-listen, --record, --heartbeat on. */
function everything(): Config {
  const c = plain();
  c.target = { kind: 'reverse', id: 'desk-1' };
  c.reverse = defaultReverseConfig([{ host: '', port: 5500, fixedId: null }]);
  c.record = '/var/rec/session';
  c.heartbeatSec = 5;
  return c;
}

function accepts(c: Config): void {
  assert.equal(validateConfig(c), c);
}

function refuses(c: Config, message: string | RegExp): void {
  assert.throws(
    () => validateConfig(c),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `not a UsageError: ${String(err)}`);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

/**
 * How a test sets each numeric option on a Config, in the option's unit (seconds, bytes, a
 * count), written out here rather than read from validate-config.ts, so a field mapped wrongly
 * there fails the "reads back" check below.
 */
const SET: Record<string, (c: Config, v: number) => void> = {
  timeout: (c, v) => void (c.timeoutSec = v),
  'idle-timeout': (c, v) => void (c.idleTimeoutSec = v),
  'tls-watch-interval': (c, v) => void (c.tls.watchIntervalMs = v * 1000),
  heartbeat: (c, v) => void (c.heartbeatSec = v),
  'heartbeat-timeout': (c, v) => void (c.heartbeatTimeoutSec = v),
  'message-timeout': (c, v) => void (c.limits.messageTimeoutMs = v * 1000),
  'handshake-timeout': (c, v) => void (c.limits.handshakeTimeoutMs = v * 1000),
  'keepalive-timeout': (c, v) => void (c.limits.keepAliveTimeoutMs = v * 1000),
  'connect-timeout': (c, v) => void (c.limits.connectTimeoutMs = v * 1000),
  'drain-timeout': (c, v) => void (c.ops.drainTimeoutMs = v * 1000),
  'shutdown-timeout': (c, v) => void (c.limits.shutdownTimeoutMs = v * 1000),
  'plugin-timeout': (c, v) => void (c.limits.pluginTimeoutMs = v * 1000),
  'max-message-size': (c, v) => void (c.limits.maxMessageBytes = v),
  'max-header-size': (c, v) => void (c.limits.maxHeaderBytes = v),
  'max-headers': (c, v) => void (c.limits.maxHeaderCount = v),
  'max-connections': (c, v) => void (c.limits.maxConnections = v),
  'max-connections-per-ip': (c, v) => void (c.limits.maxConnectionsPerIp = v),
  // The start threshold follows a smaller --buffer-size down, as cli/ lowers it.
  'buffer-size': (c, v) => {
    c.limits.bufferHighWaterBytes = v;
    c.limits.bufferStartBytes = Math.min(c.limits.bufferStartBytes, v);
  },
  // The threshold it may earn is raised with it, but never itself out of range.
  'initial-buffer-size': (c, v) => {
    c.limits.bufferStartBytes = v;
    c.limits.bufferHighWaterBytes = Math.max(c.limits.bufferHighWaterBytes, Math.min(v, 256 * MiB));
  },
  'memory-budget': (c, v) => void (c.limits.memoryBudgetBytes = v),
  'max-record-size': (c, v) => void (c.ops.recordMaxBytes = v),
  'record-max-age': (c, v) => void (c.ops.recordMaxAgeMs = v * 1000),
  'record-max-total': (c, v) => void (c.ops.recordMaxTotalBytes = v),
  'max-sessions-per-token': (c, v) => void (c.limits.maxSessionsPerToken = v),
  'max-sessions-per-ip': (c, v) => void (c.limits.maxSessionsPerIp = v),
  'reverse-id-timeout': (c, v) => void (c.reverse!.idTimeoutMs = v * 1000),
  'reverse-idle-timeout': (c, v) => void (c.reverse!.idleTimeoutMs = v * 1000),
  'reverse-max-held': (c, v) => void (c.reverse!.maxHeld = v),
  'reverse-max-held-per-ip': (c, v) => void (c.reverse!.maxHeldPerIp = v),
};

function withValue(name: string, value: number): Config {
  const c = everything();
  SET[name]!(c, value);
  return c;
}

describe('validateConfig', () => {
  it('accepts the Config every default makes, and returns it', () => {
    accepts(plain());
    accepts(everything());
  });

  describe('ranges', () => {
    it('checks every option that has a range, reading the field that option sets', () => {
      assert.deepEqual(Object.keys(RANGED_FIELDS).sort(), Object.keys(OPTION_RANGES).sort());
      assert.deepEqual(Object.keys(SET).sort(), Object.keys(OPTION_RANGES).sort());
      for (const [name, field] of Object.entries(RANGED_FIELDS)) {
        const c = withValue(name, 7);
        assert.equal(field.get(c)! / field.perUnit, 7, `--${name} reads another field than it sets`);
      }
    });

    for (const [name, range] of Object.entries(OPTION_RANGES)) {
      it(`--${name}: ${range.min} and ${range.max} pass, one step beyond either is refused naming it`, () => {
        accepts(withValue(name, range.min));
        accepts(withValue(name, range.max));
        if (range.off !== undefined) accepts(withValue(name, range.off));
        const step = range.unit === 'seconds' ? 0.001 : 1;
        const outOfRange = new RegExp(`^option --${name}: [0-9.]+ is out of range: use `);
        refuses(withValue(name, range.max + step), outOfRange);
        const below = range.min - step;
        if (below >= 0 && below !== range.off) refuses(withValue(name, below), outOfRange);
      });
    }

    it('words a refusal as the command line does, the value in the option unit', () => {
      refuses(withValue('handshake-timeout', 0), 'option --handshake-timeout: 0 is out of range: use 0.001 to 2147483 seconds');
      refuses(withValue('max-message-size', 2 * 1024 * MiB), 'option --max-message-size: 2147483648 is out of range: use 1 to 1G bytes');
      refuses(withValue('memory-budget', 1024), 'option --memory-budget: 1024 is out of range: use 1M to 1024G bytes (or 0 for none)');
      refuses(withValue('reverse-max-held', 0), 'option --reverse-max-held: 0 is out of range: use 1 to 1000000');
      refuses(withValue('heartbeat', -1), 'option --heartbeat: -1 is out of range: use 0 to 2147483 seconds');
    });

    it('leaves the reverse limits alone while --reverse-listen is off', () => {
      const c = plain();
      assert.equal(c.reverse, null);
      accepts(c);
    });

    it('takes 1 to 1024 workers', () => {
      for (const workers of [1, 1024]) accepts({ ...plain(), workers });
      for (const workers of [0, 1025, 1.5])
        refuses({ ...plain(), workers }, `option --workers: invalid value: '${workers}' (a number from 1 to 1024, or auto)`);
    });
  });

  describe('rules between options', () => {
    it('--heartbeat-timeout needs --heartbeat', () => {
      refuses({ ...plain(), heartbeatTimeoutSec: 5 }, 'You must use --heartbeat to use --heartbeat-timeout');
      accepts({ ...plain(), heartbeatTimeoutSec: 5, heartbeatSec: 1 });
    });

    it('--initial-buffer-size is at most --buffer-size', () => {
      const at = plain();
      at.limits.bufferStartBytes = at.limits.bufferHighWaterBytes;
      accepts(at);
      const past = plain();
      past.limits.bufferStartBytes = past.limits.bufferHighWaterBytes + 1;
      refuses(past, '--initial-buffer-size must not be larger than --buffer-size');
    });

    it('--max-record-size needs --record (0, no cap, does not)', () => {
      const c = plain();
      c.ops.recordMaxBytes = 4096;
      refuses(c, 'You must use --record to use --max-record-size');
      accepts({ ...c, record: '/var/rec/s' });
      c.ops.recordMaxBytes = 0;
      accepts(c);
    });

    it('--proxy-protocol needs --trust-proxy', () => {
      const c = plain();
      c.ops.proxyProtocol = true;
      refuses(c, 'You must use --trust-proxy to use --proxy-protocol');
      c.ops.trustProxy = ['10.0.0.0/8'];
      accepts(c);
    });

    it('--metrics-path and --health-path start with / and differ', () => {
      for (const [field, name] of [
        ['metricsPath', 'metrics-path'],
        ['healthPath', 'health-path'],
      ] as const) {
        const c = plain();
        c.ops[field] = 'metrics';
        refuses(c, `--${name} must start with /`);
        c.ops[field] = '/metrics';
        accepts(c);
      }
      const c = plain();
      c.ops.metricsPath = '/ops';
      c.ops.healthPath = '/ops';
      refuses(c, '--metrics-path and --health-path must differ');
      c.ops.healthPath = '/ops/ready';
      accepts(c);
    });

    it('a reverse:ID target needs --reverse-listen', () => {
      const c = plain();
      c.target = { kind: 'reverse', id: 'desk-1' };
      refuses(c, 'You must use --reverse-listen to use a reverse:ID target');
      c.reverse = defaultReverseConfig([{ host: '', port: 5500, fixedId: null }]);
      accepts(c);
    });

    it('--reverse-listen needs a token plugin or a reverse:ID target', () => {
      const c = plain();
      c.reverse = defaultReverseConfig([{ host: '', port: 5500, fixedId: null }]);
      refuses(c, '--reverse-listen needs a token plugin or a reverse:ID target');
      c.target = null;
      refuses(c, '--reverse-listen needs a token plugin or a reverse:ID target');
      c.tokenPlugin = { name: 'TokenFile', source: '/etc/tokens' };
      accepts(c);
    });

    it('--reverse-tls runs in one process only', () => {
      const c = everything();
      c.reverse!.tls = true;
      c.workers = 2;
      refuses(c, '--reverse-tls cannot be used with --workers (yet): run the reverse listener behind a TLS terminator');
      c.workers = 1;
      accepts(c);
      c.reverse!.tls = false;
      c.workers = 2;
      accepts(c);
    });

    it('the options that need another one need it in a Config too', () => {
      const cases: Array<[string, (c: Config) => void, (c: Config) => void]> = [
        [
          'You must use --token-plugin to use --host-token',
          (c) => void (c.hostToken = true),
          (c) => void (c.tokenPlugin = { name: 'TokenFile', source: '/t' }),
        ],
        [
          'You must use --token-plugin to use --token-cookie',
          (c) => void (c.tokenCookie = true),
          (c) => void (c.tokenPlugin = { name: 'TokenFile', source: '/t' }),
        ],
        [
          'You must use --auth-plugin to use --web-auth',
          (c) => {
            c.webAuth = true;
            c.novnc = true;
          },
          (c) => void (c.authPlugins = [{ name: 'BasicHTTPAuth', source: 'u:p' }]),
        ],
        [
          'You must use --web or --novnc to use --web-auth',
          (c) => {
            c.webAuth = true;
            c.authPlugins = [{ name: 'BasicHTTPAuth', source: 'u:p' }];
          },
          (c) => void (c.web = { root: '/srv/www', fileOnly: false, dotfiles: false }),
        ],
        ['You must use --syslog to use --legacy-syslog', (c) => void (c.log.legacySyslog = true), (c) => void (c.log.syslog = '/dev/log')],
        [
          '--novnc and --web cannot be used together',
          (c) => {
            c.novnc = true;
            c.web = { root: '/srv/www', fileOnly: false, dotfiles: false };
          },
          (c) => void (c.web = null),
        ],
        [
          'You must use --ssl-target to use --ssl-target-ca or --ssl-target-insecure',
          (c) => void (c.targetTlsOptions.insecure = true),
          (c) => void (c.targetTls = true),
        ],
        [
          'You must use --ssl-target to use --ssl-target-ca or --ssl-target-insecure',
          (c) => void (c.targetTlsOptions.caFile = '/etc/ca.pem'),
          (c) => void (c.targetTls = true),
        ],
        [
          '--ssl-target-ca and --ssl-target-insecure cannot be used together',
          (c) => {
            c.targetTls = true;
            c.targetTlsOptions = { caFile: '/etc/ca.pem', insecure: true };
          },
          (c) => void (c.targetTlsOptions.insecure = false),
        ],
        [
          '-D cannot be used with --inetd or --systemd-socket (the service manager already runs us in the background)',
          (c) => {
            c.daemon = true;
            c.listen = { kind: 'fd', fd: 0, label: 'inetd' };
          },
          (c) => void (c.daemon = false),
        ],
        [
          '-D cannot be used with --inetd or --systemd-socket (the service manager already runs us in the background)',
          (c) => {
            c.daemon = true;
            c.listen = { kind: 'fd', fd: 3, label: 'systemd socket' };
          },
          (c) => void (c.listen = { kind: 'unix', path: '/run/ws.sock', mode: 0o600, gid: null }),
        ],
      ];
      for (const [message, breakIt, fixIt] of cases) {
        const c = plain();
        breakIt(c);
        refuses(c, message);
        fixIt(c);
        accepts(c);
      }
    });
  });
});
