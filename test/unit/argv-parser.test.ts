import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgv } from '../../src/cli/argv-parser.js';
import { OPTIONS } from '../../src/cli/option-table.js';
import { buildConfig } from '../../src/cli/build-config.js';
import { parseHostPort } from '../../src/config/host-port.js';
import { UsageError } from '../../src/errors.js';

const parse = (...argv: string[]) => parseArgv(argv, OPTIONS);
const config = (...argv: string[]) => buildConfig(parse(...argv), { cwd: '/work/dir' });

describe('the optparse-compatible argv parser', () => {
  it('accepts --opt value and --opt=value alike', () => {
    assert.equal(parse('--heartbeat', '5').options.get('heartbeat'), 5);
    assert.equal(parse('--heartbeat=7').options.get('heartbeat'), 7);
  });

  it('accepts a unique prefix of a long option', () => {
    assert.equal(parse('--heart', '5').options.get('heartbeat'), 5);
    assert.equal(parse('--verb').options.get('verbose'), true);
  });

  it('keeps a prefix that was unique in the reference pointing at the reference option', () => {
    assert.equal(parse('--heartbeat-t', '4').options.get('heartbeat-timeout'), 4);
    assert.throws(() => parse('--max', '1'), /ambiguous option: --max/);
  });

  it('refuses an ambiguous prefix naming the candidates, as optparse does', () => {
    assert.throws(
      () => parse('--tok', 'x'),
      (err: Error) => err instanceof UsageError && err.message === 'ambiguous option: --tok (--token-plugin, --token-source, --token-cookie?)',
    );
  });

  it('prefers an exact name over longer names sharing it as a prefix', () => {
    assert.equal(parse('--heartbeat', '3').options.has('heartbeat-timeout'), false);
    assert.equal(parse('--timeout', '3').options.get('timeout'), 3);
  });

  it('combines short flags and mixes options with positionals', () => {
    const parsed = parse('6080', '-v6', 'localhost:5900', '--run-once');
    assert.deepEqual(parsed.positionals, ['6080', 'localhost:5900']);
    assert.equal(parsed.options.get('verbose'), true);
    assert.equal(parsed.options.get('prefer-ipv6'), true);
    assert.equal(parsed.options.get('run-once'), true);
  });

  it('ends option parsing at -- and keeps the rest as the wrapped command', () => {
    const parsed = parse('5901', '--', 'vncserver', '-v', '--x');
    assert.deepEqual(parsed.positionals, ['5901']);
    assert.deepEqual(parsed.afterDoubleDash, ['vncserver', '-v', '--x']);
  });

  it('rejects a non-integer for an integer option with optparse wording', () => {
    assert.throws(() => parse('--heartbeat', '1.5'), { message: "option --heartbeat: invalid integer value: '1.5'" });
  });

  it('rejects unknown options, missing values and values given to flags', () => {
    assert.throws(() => parse('--nonsense'), { message: 'no such option: --nonsense' });
    assert.throws(() => parse('-q'), { message: 'no such option: -q' });
    assert.throws(() => parse('--cert'), { message: '--cert option requires 1 argument' });
    assert.throws(() => parse('--verbose=yes'), { message: '--verbose option does not take a value' });
  });

  it('checks choices and sizes', () => {
    assert.throws(() => parse('--ssl-version', 'sslv3'), /invalid choice: 'sslv3'/);
    assert.equal(parse('--max-message-size', '64K').options.get('max-message-size'), 65536);
    assert.equal(parse('--max-message-size=2m').options.get('max-message-size'), 2 * 1024 * 1024);
    assert.throws(() => parse('--max-message-size', 'lots'), /invalid size value/);
  });
});

describe('positional arguments', () => {
  it('splits host and port at the last colon and strips brackets', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:6080', 'listen'), { host: '127.0.0.1', port: 6080 });
    assert.deepEqual(parseHostPort('[::]:6080', 'listen'), { host: '::', port: 6080 });
    assert.deepEqual(parseHostPort('::1:6080', 'listen'), { host: '::1', port: 6080 });
    assert.deepEqual(parseHostPort('[::1]:5900', 'target'), { host: '::1', port: 5900 });
    assert.deepEqual(parseHostPort('6080', 'listen'), { host: '', port: 6080 });
  });

  it('reports the reference error texts', () => {
    assert.throws(() => parseHostPort('x6080', 'listen'), { message: 'Error parsing listen port' });
    assert.throws(() => parseHostPort('localhost', 'target'), { message: 'Error parsing target' });
    assert.throws(() => parseHostPort('localhost:vnc', 'target'), { message: 'Error parsing target port' });
    assert.throws(() => config(), { message: 'Too few arguments' });
    assert.throws(() => config('6080'), { message: 'Too few arguments' });
    assert.throws(() => config('6080', 'a:1', 'b:2'), { message: 'Too many arguments' });
  });

  it('binds a bare port on IPv4 only unless -6 is given', () => {
    const plain = config('6080', 'localhost:5900');
    assert.deepEqual(plain.listen, { kind: 'tcp', host: '', port: 6080, preferIpv6: false });
    assert.deepEqual(plain.target, { kind: 'tcp', host: 'localhost', port: 5900 });
    const six = config('-6', '6080', 'h:1').listen;
    assert.equal(six.kind === 'tcp' && six.preferIpv6, true);
  });

  it('takes no listen positional with --unix-listen or --inetd, and resolves paths against the caller directory', () => {
    const unix = config('--unix-listen', 'run/vnc.sock', '--unix-listen-mode', '660', 'h:1');
    assert.deepEqual(unix.listen, { kind: 'unix', path: '/work/dir/run/vnc.sock', mode: 0o660 });
    assert.deepEqual(config('--inetd', 'h:1').listen, { kind: 'fd', fd: 0, label: 'inetd' });
    assert.deepEqual(config('6080', '--unix-target', 'sock').target, { kind: 'unix', path: '/work/dir/sock' });
    assert.throws(() => config('--unix-listen', 'a', '--unix-listen-mode', '9x', 'h:1'), { message: 'Error parsing listen unix socket mode' });
  });

  it('checks option dependencies in the reference order', () => {
    assert.throws(() => config('--token-source', 'x', '6080'), { message: 'You must use --token-plugin to use --token-source' });
    assert.throws(() => config('--host-token', '6080'), { message: 'You must use --token-plugin to use --host-token' });
    assert.throws(() => config('--auth-source', 'x', '6080', 'h:1'), { message: 'You must use --auth-plugin to use --auth-source' });
    assert.throws(() => config('--legacy-syslog', '6080', 'h:1'), { message: 'You must use --syslog to use --legacy-syslog' });
    assert.throws(() => config('--heartbeat-timeout', '5', '6080', 'h:1'), { message: 'You must use --heartbeat to use --heartbeat-timeout' });
  });

  it('maps the deprecated --target-config onto TokenFile, with the path made absolute as the reference', () => {
    const c = config('--target-config', 'tokens.cfg', '6080');
    assert.deepEqual(c.tokenPlugin, { name: 'TokenFile', source: '/work/dir/tokens.cfg' });
    assert.equal(c.target, null);
  });

  it('freezes the config so nothing below the CLI can change it', () => {
    const c = config('6080', 'h:1');
    assert.throws(() => ((c as { runOnce: boolean }).runOnce = true), TypeError);
    assert.throws(() => ((c.limits as { maxConnections: number }).maxConnections = 1), TypeError);
  });
});
