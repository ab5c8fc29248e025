import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { servesConsolePage } from '../../../src/cli/novnc-command.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import type { Config } from '../../../src/config/config.js';
import { UsageError } from '../../../src/errors.js';

function config(...args: string[]): Config {
  return buildConfig(parseArgv(args, OPTIONS), { cwd: '/home/u' });
}

const AUTH = ['--auth-plugin', 'BasicHTTPAuth', '--auth-source', 'alice:pw'];

test('--web-auth protects the built-in console as it does a --web root', () => {
  assert.equal(config('--novnc', '--web-auth', ...AUTH, '6080', 'h:5900').webAuth, true);
  assert.equal(config('--web', 'www', '--web-auth', ...AUTH, '6080', 'h:5900').webAuth, true);
  assert.equal(config('--novnc', ...AUTH, '6080', 'h:5900').webAuth, false);
});

test('--web-auth without a web server to protect is refused, naming both ways to have one', () => {
  assert.throws(
    () => config('--web-auth', ...AUTH, '6080', 'h:5900'),
    (err: unknown) => err instanceof UsageError && /--web or --novnc/.test(err.message),
  );
  assert.throws(() => config('--novnc', '--web-auth', '6080', 'h:5900'), /You must use --auth-plugin to use --web-auth/);
});

test('the banner points at vnc.html for the console, and for a --web root only when it holds one', () => {
  assert.equal(servesConsolePage({ novnc: true, web: null }), true);
  assert.equal(servesConsolePage({ novnc: false, web: null }), false);
  assert.equal(servesConsolePage({ novnc: false, web: { root: '/nonexistent-web-root', fileOnly: false, dotfiles: false } }), false);
});
