import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { bannerText } from '../../../src/cli/banner.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';

test('the banner names the systemd socket, not inetd, as the source under --systemd-socket', () => {
  const config = buildConfig(parseArgv(['--systemd-socket', '127.0.0.1:5900'], OPTIONS), { cwd: '/', systemdFd: 3 });
  const banner = bannerText(config, { kind: 'fd', fd: 3, label: 'systemd socket' }, false);
  assert.match(banner, /^ {2}- proxying from systemd socket to 127\.0\.0\.1:5900$/m);
  assert.doesNotMatch(banner, /inetd/);
});

test('the banner still says inetd under --inetd', () => {
  const config = buildConfig(parseArgv(['--inetd', '127.0.0.1:5900'], OPTIONS), { cwd: '/' });
  assert.match(bannerText(config, { kind: 'fd', fd: 0, label: 'inetd' }, false), /^ {2}- proxying from inetd to 127\.0\.0\.1:5900$/m);
});

test('the banner shows the port really bound, the unix socket path, and the TCP address as the source', () => {
  const tcp = buildConfig(parseArgv(['127.0.0.1:0', '127.0.0.1:5900'], OPTIONS), { cwd: '/' });
  const banner = bannerText(tcp, { kind: 'tcp', host: '::1', port: 40123 }, false);
  assert.match(banner, /^ {2}- Listen on \[::1\]:40123$/m);
  assert.match(banner, /^ {2}- proxying from \[::1\]:40123 to 127\.0\.0\.1:5900$/m);
  const unix = buildConfig(parseArgv(['--unix-listen', '/run/w.sock', '127.0.0.1:5900'], OPTIONS), { cwd: '/' });
  assert.match(bannerText(unix, { kind: 'unix', path: '/run/w.sock' }, false), /^ {2}- Listen on unix socket \/run\/w\.sock$/m);
});
