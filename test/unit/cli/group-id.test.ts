import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { groupIdFrom, lookupGroupId } from '../../../src/cli/group-id.js';

describe('--unix-listen-group name lookup', () => {
  it('reads the gid of the named group from group(5) lines, and nothing from a prefix or a member list', () => {
    const text = 'root:x:0:\nwww-data:x:33:alice\nwww:x:80:\nstaff:x:50:www-data\n';
    assert.equal(groupIdFrom(text, 'www-data'), 33);
    assert.equal(groupIdFrom(text, 'root'), 0);
    assert.equal(groupIdFrom(text, 'ww'), null);
    assert.equal(groupIdFrom(text, 'alice'), null);
    assert.equal(groupIdFrom('', 'root'), null);
  });

  it('finds the groups the system knows (as getent does) and answers null for one it does not', () => {
    const root = spawnSync('getent', ['group', 'root'], { encoding: 'utf8' });
    if (root.status === 0) assert.equal(lookupGroupId('root'), Number(root.stdout.split(':')[2]));
    assert.equal(lookupGroupId('wsfy-no-such-group-8c1d'), null);
  });
});
