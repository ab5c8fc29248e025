import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_OPS,
  DEFAULT_PROCESS,
  DEFAULT_REVERSE,
  DEFAULT_TLS,
  defaultConfig,
  defaultReverseConfig,
} from '../../../src/config/defaults.js';

function fromArgv(...args: string[]) {
  return buildConfig(parseArgv(args, OPTIONS), { cwd: '/srv' });
}

describe('config defaults', () => {
  it('are what a command line with no option gets (the paths made absolute)', () => {
    const expected = defaultConfig({ kind: 'tcp', host: '', port: 6080, preferIpv6: false }, { kind: 'tcp', host: 'h', port: 5900 });
    expected.tls.cert = `/srv/${DEFAULT_TLS.cert}`;
    assert.deepEqual(fromArgv('6080', 'h:5900'), expected);
  });

  it('are what --reverse-listen gets for every reverse option left out', () => {
    assert.deepEqual(fromArgv('--reverse-listen', '5500', '6080', 'reverse:desk-1').reverse, defaultReverseConfig([{ host: '', port: 5500, fixedId: null }]));
  });

  it('cannot be changed by a module that imports them', () => {
    for (const frozen of [DEFAULT_LIMITS, DEFAULT_TLS, DEFAULT_OPS, DEFAULT_PROCESS, DEFAULT_REVERSE]) assert.ok(Object.isFrozen(frozen));
    const c = defaultConfig({ kind: 'fd', fd: 0, label: 'inetd' }, null);
    c.limits.maxConnections = 1;
    c.tls.cert = '/elsewhere.pem';
    assert.equal(DEFAULT_LIMITS.maxConnections, 20_000);
    assert.equal(defaultConfig({ kind: 'fd', fd: 0, label: 'inetd' }, null).tls.cert, DEFAULT_TLS.cert);
  });
});
