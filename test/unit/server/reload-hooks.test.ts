import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { Logger } from '../../../src/log/logger.js';
import { ReloadHooks } from '../../../src/server/reload-hooks.js';
import { MemorySink } from '../../support/memory-sink.js';

test('a failing reload hook is logged, keeps the old state, and the later hooks still run', async () => {
  const sink = new MemorySink();
  const ran: string[] = [];
  const hooks = new ReloadHooks();
  hooks.add('log files', () => void ran.push('logs'));
  hooks.add('certificates', () => {
    throw new Error('key does not match certificate');
  });
  hooks.add('token source', async () => void ran.push('tokens'));
  await hooks.run(new Logger([sink]));
  assert.deepEqual(ran, ['logs', 'tokens']);
  assert.deepEqual(sink.messages(), [
    'reloaded log files',
    'reload of certificates failed, keeping the previous one: key does not match certificate',
    'reloaded token source',
  ]);
});

test('a SIGHUP during a reload joins it instead of running the hooks twice at once', async () => {
  let calls = 0;
  let release!: () => void;
  const hooks = new ReloadHooks();
  hooks.add('slow', () => {
    calls++;
    return new Promise<void>((resolve) => (release = resolve));
  });
  const logger = new Logger([new MemorySink()]);
  const first = hooks.run(logger);
  const second = hooks.run(logger);
  release();
  await Promise.all([first, second]);
  assert.equal(calls, 1);
});

test('the log files reopen before the other reloads, even when registered after them, so their lines land in the new file', async () => {
  const sink = new MemorySink();
  const ran: string[] = [];
  const hooks = new ReloadHooks();
  hooks.add('TLS certificate', () => void ran.push('tls'));
  hooks.first('log files', () => void ran.push('logs'));
  hooks.add('token source', () => void ran.push('tokens'));
  await hooks.run(new Logger([sink]));
  assert.deepEqual(ran, ['logs', 'tls', 'tokens']);
  assert.deepEqual(hooks.names, ['log files', 'TLS certificate', 'token source']);
  assert.deepEqual(sink.messages(), ['reloaded log files', 'reloaded TLS certificate', 'reloaded token source']);
});
