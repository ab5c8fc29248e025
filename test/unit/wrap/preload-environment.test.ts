import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { preloadEnvironment } from '../../../src/wrap/preload-environment.js';

const LIB = '/opt/wsfy/native/build/websockify-preload.so';

it("puts our library first in LD_PRELOAD and keeps the caller's other entries", () => {
  const env = preloadEnvironment({ LD_PRELOAD: '/usr/lib/libfoo.so', PATH: '/bin' }, LIB, { kind: 'unsock', dir: '/tmp/d', port: 6080 }, '/tmp/d/report.1', 42);
  assert.equal(env.LD_PRELOAD, `${LIB}:/usr/lib/libfoo.so`);
  assert.equal(env.PATH, '/bin');
});

it('sets unsock variables for the private directory and blocks IPv6 so the program falls back to IPv4', () => {
  const env = preloadEnvironment({}, LIB, { kind: 'unsock', dir: '/tmp/d', port: 6080 }, '/tmp/d/report.1', 42);
  assert.deepEqual(
    {
      dir: env.UNSOCK_DIR,
      port: env.UNSOCK_PORT,
      addr: env.UNSOCK_ADDR,
      mode: env.UNSOCK_MODE,
      v6: env.UNSOCK_BLOCK_INET6,
      rep: env.WSFY_PRELOAD_REPORT,
      parent: env.WSFY_PRELOAD_PARENT,
    },
    { dir: '/tmp/d', port: '6080', addr: '127.0.0.1/0', mode: '600', v6: '1', rep: '/tmp/d/report.1', parent: '42' },
  );
  assert.equal(env.REBIND_OLD_PORT, undefined);
});

it('covers every port when there is no listen port (--unix-listen, --inetd)', () => {
  const env = preloadEnvironment({}, LIB, { kind: 'unsock', dir: '/tmp/d', port: null }, '/tmp/d/r', 1);
  assert.equal(env.UNSOCK_PORT, undefined);
});

it('sets the rebind names the library reads, with NEW=0 (kernel-chosen, reported)', () => {
  const env = preloadEnvironment({}, LIB, { kind: 'rebind', port: 5901 }, '/tmp/d/r', 1);
  assert.equal(env.REBIND_OLD_PORT, '5901');
  assert.equal(env.REBIND_NEW_PORT, '0');
  assert.equal(env.UNSOCK_DIR, undefined);
});

it("drops library variables from the caller's environment so modes never mix", () => {
  const env = preloadEnvironment(
    { UNSOCK_DIR: '/elsewhere', UNSOCK_PORT: '1', REBIND_NEW_PORT: '9', WSFY_PRELOAD_PARENT: '7' },
    LIB,
    { kind: 'rebind', port: 5901 },
    '/r',
    3,
  );
  assert.equal(env.UNSOCK_DIR, undefined);
  assert.equal(env.UNSOCK_PORT, undefined);
  assert.equal(env.REBIND_NEW_PORT, '0');
  assert.equal(env.WSFY_PRELOAD_PARENT, '3');
});
