import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { KEY_PASSWORD_ENV, resolveKeyPassword } from '../../../src/cli/key-password.js';
import { ConfigError, UsageError } from '../../../src/errors.js';

describe('where the key password comes from', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsfy-pw-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes --key-password as given', () => {
    assert.equal(resolveKeyPassword(new Map([['key-password', 'a b']]), {}, dir), 'a b');
  });

  it('reads the first line of --key-password-file, relative to the working directory', () => {
    fs.writeFileSync(path.join(dir, 'pw'), 'pass word\r\nignored\n');
    assert.equal(resolveKeyPassword(new Map([['key-password-file', 'pw']]), {}, dir), 'pass word');
  });

  it('falls back to WEBSOCKIFY_KEY_PASSWORD', () => {
    assert.equal(resolveKeyPassword(new Map(), { [KEY_PASSWORD_ENV]: 'from-env' }, dir), 'from-env');
    assert.equal(resolveKeyPassword(new Map(), {}, dir), null);
  });

  it('refuses both flags at once', () => {
    assert.throws(
      () =>
        resolveKeyPassword(
          new Map([
            ['key-password', 'x'],
            ['key-password-file', 'pw'],
          ]),
          {},
          dir,
        ),
      UsageError,
    );
  });

  it('names a missing password file', () => {
    assert.throws(
      () => resolveKeyPassword(new Map([['key-password-file', 'missing']]), {}, dir),
      (err: unknown) => err instanceof ConfigError && err.message.includes(path.join(dir, 'missing')) && err.message.includes('ENOENT'),
    );
  });
  it('removes WEBSOCKIFY_KEY_PASSWORD from the environment it read, whichever source won', () => {
    const env: Record<string, string | undefined> = { [KEY_PASSWORD_ENV]: 'secret', OTHER: 'kept' };
    assert.equal(resolveKeyPassword(new Map(), env, dir), 'secret');
    assert.deepEqual(env, { OTHER: 'kept' });
    const shadowed: Record<string, string | undefined> = { [KEY_PASSWORD_ENV]: 'secret' };
    assert.equal(resolveKeyPassword(new Map([['key-password', 'inline']]), shadowed, dir), 'inline');
    assert.equal(KEY_PASSWORD_ENV in shadowed, false);
  });
});
