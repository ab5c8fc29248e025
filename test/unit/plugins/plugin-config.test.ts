import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import { UsageError } from '../../../src/errors.js';

const config = (...argv: string[]) => buildConfig(parseArgv(argv, OPTIONS), { cwd: '/work/dir' });

describe('plugin and admission options in the Config', () => {
  it('makes file sources of built-in token plugins absolute, and leaves other sources alone', () => {
    assert.deepEqual(config('--token-plugin', 'TokenFileName', '--token-source', 'tokens', '6080').tokenPlugin, {
      name: 'TokenFileName',
      source: '/work/dir/tokens',
    });
    assert.deepEqual(config('--token-plugin', 'websockify.token_plugins.JWTTokenApi', '--token-source', 'k.pem', '6080').tokenPlugin, {
      name: 'websockify.token_plugins.JWTTokenApi',
      source: '/work/dir/k.pem',
    });
    assert.deepEqual(config('--token-plugin', 'TokenRedis', '--token-source', 'redis:6379', '6080').tokenPlugin, { name: 'TokenRedis', source: 'redis:6379' });
    assert.deepEqual(config('--token-plugin', 'BaseTokenAPI', '--token-source', 'http://a/%s', '6080').tokenPlugin, {
      name: 'BaseTokenAPI',
      source: 'http://a/%s',
    });
  });

  it('makes a user plugin module path absolute, keeping the export name', () => {
    assert.equal(config('--token-plugin', './my-plugin.js:MyPlugin', '6080').tokenPlugin?.name, '/work/dir/my-plugin.js:MyPlugin');
    assert.equal(config('--token-plugin', '/abs/p.mjs:lookupFactory', '6080').tokenPlugin?.name, '/abs/p.mjs:lookupFactory');
  });

  it('pairs repeated --auth-plugin and --auth-source by position', () => {
    const c = config('--auth-plugin', 'BasicHTTPAuth', '--auth-source', '@creds', '--auth-plugin', 'ExpectOrigin', '--auth-source', 'https://a', '6080', 'h:1');
    assert.deepEqual(c.authPlugins, [
      { name: 'BasicHTTPAuth', source: '@/work/dir/creds' },
      { name: 'ExpectOrigin', source: 'https://a' },
    ]);
    assert.deepEqual(config('--auth-plugin', 'BasicHTTPAuth', '--auth-source', 'u:p', '6080', 'h:1').authPlugins, [{ name: 'BasicHTTPAuth', source: 'u:p' }]);
    assert.deepEqual(config('--auth-plugin', './a.js:A', '6080', 'h:1').authPlugins, [{ name: '/work/dir/a.js:A', source: null }]);
    assert.throws(
      () => config('--auth-plugin', 'A', '--auth-plugin', 'B', '--auth-source', 'x', '6080', 'h:1'),
      (err: Error) => err instanceof UsageError && /one --auth-source per --auth-plugin/.test(err.message),
    );
  });

  it('reads --allow-origin (repeatable, space-separated lists too) and the admission limits', () => {
    const c = config(
      '--allow-origin',
      'https://a',
      '--allow-origin',
      'https://b https://c',
      '--max-sessions-per-token',
      '2',
      '--max-sessions-per-ip',
      '3',
      '--plugin-timeout',
      '1.5',
      '--silent-token-failure',
      '6080',
      'h:1',
    );
    assert.deepEqual(c.allowOrigins, ['https://a', 'https://b', 'https://c']);
    assert.equal(c.limits.maxSessionsPerToken, 2);
    assert.equal(c.limits.maxSessionsPerIp, 3);
    assert.equal(c.limits.pluginTimeoutMs, 1500);
    assert.equal(c.silentTokenFailure, true);
  });

  it('defaults to no session caps, a 5 s plugin timeout and HTTP 404 for token failures', () => {
    const c = config('6080', 'h:1');
    assert.equal(c.limits.maxSessionsPerToken, 0);
    assert.equal(c.limits.maxSessionsPerIp, 0);
    assert.equal(c.limits.pluginTimeoutMs, 5000);
    assert.equal(c.silentTokenFailure, false);
    assert.deepEqual(c.authPlugins, []);
    assert.deepEqual(c.allowOrigins, []);
  });
});
