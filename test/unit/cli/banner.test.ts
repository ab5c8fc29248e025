import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { bannerText } from '../../../src/cli/banner.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';

test('the banner names the systemd socket, not inetd, as the source under --systemd-socket', () => {
  const config = buildConfig(parseArgv(['--systemd-socket', '127.0.0.1:5900'], OPTIONS), { cwd: '/', systemdFd: 3 });
  const banner = bannerText(config, 'systemd socket', false);
  assert.match(banner, /^ {2}- proxying from systemd socket to 127\.0\.0\.1:5900$/m);
  assert.doesNotMatch(banner, /inetd/);
});

test('the banner still says inetd under --inetd', () => {
  const config = buildConfig(parseArgv(['--inetd', '127.0.0.1:5900'], OPTIONS), { cwd: '/' });
  assert.match(bannerText(config, 'inetd', false), /^ {2}- proxying from inetd to 127\.0\.0\.1:5900$/m);
});
