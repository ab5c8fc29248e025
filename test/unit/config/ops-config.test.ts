import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import type { Config } from '../../../src/config/config.js';

function config(...args: string[]): Config {
  return buildConfig(parseArgv(args, OPTIONS), { cwd: '/home/u' });
}

test('operations options are off by default', () => {
  const c = config('6080', 'h:5900');
  assert.deepEqual(c.ops, {
    recordMaxBytes: 0,
    recordBufferBytes: 8 * 1024 * 1024,
    recordMaxAgeMs: 30 * 86_400_000,
    recordMaxTotalBytes: 1024 ** 3,
    trustProxy: [],
    proxyProtocol: false,
    sendProxyV2: false,
    metricsListen: null,
    metricsPath: null,
    healthPath: null,
    drainTimeoutMs: 0,
  });
  assert.equal(c.log.format, 'text');
  assert.equal(c.record, null);
});

test('operations options map into Config, paths made absolute', () => {
  const c = config(
    '--record',
    'rec',
    '--max-record-size',
    '10M',
    '--trust-proxy',
    '10.0.0.0/8,::1',
    '--trust-proxy',
    'unix',
    '--proxy-protocol',
    '--send-proxy-v2',
    '--metrics',
    '[::1]:9640',
    '--metrics-path',
    '/m',
    '--health-path',
    '/h',
    '--drain-timeout',
    '2.5',
    '--log-format',
    'json',
    '--log-file',
    'ws.log',
    '--syslog',
    'log.sock',
    '6080',
    'h:5900',
  );
  assert.equal(c.record, '/home/u/rec');
  assert.equal(c.ops.recordMaxBytes, 10 * 1024 * 1024);
  assert.deepEqual(c.ops.trustProxy, ['10.0.0.0/8', '::1', 'unix']);
  assert.equal(c.ops.proxyProtocol, true);
  assert.equal(c.ops.sendProxyV2, true);
  assert.deepEqual(c.ops.metricsListen, { host: '::1', port: 9640 });
  assert.equal(c.ops.metricsPath, '/m');
  assert.equal(c.ops.healthPath, '/h');
  assert.equal(c.ops.drainTimeoutMs, 2500);
  assert.deepEqual(c.log, { file: '/home/u/ws.log', syslog: '/home/u/log.sock', legacySyslog: false, format: 'json' });
  assert.equal(config('--syslog', 'loghost:514', '6080', 'h:1').log.syslog, 'loghost:514');
});

test('bad operations options are usage errors naming the problem', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--trust-proxy', '10.0.0.0/40'], /--trust-proxy: bad prefix length in '10\.0\.0\.0\/40'/],
    [['--trust-proxy', 'proxy.lan'], /not an IP address or CIDR: 'proxy\.lan'/],
    [['--proxy-protocol'], /You must use --trust-proxy to use --proxy-protocol/],
    [['--max-record-size', '1M'], /You must use --record to use --max-record-size/],
    [['--record', 'r', '--max-record-size', '100'], /--max-record-size: 100 is out of range: use 4K to 1024G bytes \(or 0 for none\)/],
    [['--metrics', '9640'], /--metrics takes HOST:PORT/],
    [['--metrics-path', 'metrics'], /--metrics-path must start with \//],
    [['--syslog', 'host:abc'], /Error parsing syslog port/],
    [['--log-format', 'xml'], /invalid choice: 'xml'/],
    [['-D', '--inetd'], /-D cannot be used with --inetd or --systemd-socket/],
  ];
  for (const [args, message] of cases) {
    const full = args.includes('--inetd') ? [...args, 'h:1'] : [...args, '6080', 'h:1'];
    assert.throws(() => config(...full), message, args.join(' '));
  }
});

test('reference abbreviations keep their meaning next to our new options', () => {
  assert.equal(config('--rec', 'x', '6080', 'h:1').record, '/home/u/x');
  assert.equal(config('--log', 'f', '6080', 'h:1').log.file, '/home/u/f');
  assert.equal(config('--tr', '6080', 'h:1').traffic, true);
  assert.equal(config('--sys', 'loghost:514', '6080', 'h:1').log.syslog, 'loghost:514');
});

test('--record-max-age and --record-max-total map into Config and need --record', () => {
  const c = config('--record', 'rec', '--record-max-age', '3600', '--record-max-total', '20M', '6080', 'h:5900');
  assert.equal(c.ops.recordMaxAgeMs, 3_600_000);
  assert.equal(c.ops.recordMaxTotalBytes, 20 * 1024 * 1024);
  const off = config('--record', 'rec', '--record-max-age', '0', '--record-max-total', '0', '6080', 'h:5900');
  assert.equal(off.ops.recordMaxAgeMs, 0);
  assert.equal(off.ops.recordMaxTotalBytes, 0);
  assert.throws(() => config('--record-max-age', '3600', '6080', 'h:5900'), /You must use --record to use --record-max-age/);
  assert.throws(() => config('--record-max-total', '1G', '6080', 'h:5900'), /You must use --record to use --record-max-total/);
});
