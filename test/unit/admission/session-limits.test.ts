import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRejection } from '../../../src/errors.js';
import { SessionLimits, type SessionCapKind, type SessionSlot, type SharedSessionGate } from '../../../src/admission/session-limits.js';

/** A server-wide count as another process would keep it, with what was asked. */
function sharedCounts(max: number): SharedSessionGate & { asked: string[]; held: Map<string, number> } {
  const held = new Map<string, number>();
  const asked: string[] = [];
  return {
    asked,
    held,
    take(kind: SessionCapKind, key: string): Promise<SessionSlot> {
      const id = `${kind} ${key}`;
      asked.push(id);
      const n = held.get(id) ?? 0;
      if (n >= max) return Promise.resolve(null);
      held.set(id, n + 1);
      let given = false;
      return Promise.resolve(() => {
        if (given) return;
        given = true;
        held.set(id, (held.get(id) ?? 1) - 1);
      });
    },
  };
}

describe('SessionLimits with counts shared with other processes', () => {
  it('needs a slot both here and server-wide, and gives both back once', async () => {
    const limits = new SessionLimits(0, 2);
    const shared = sharedCounts(2);
    limits.shared = shared;
    shared.held.set('ip 10.0.0.1', 1); // another process holds one
    const a = await limits.acquireIp('10.0.0.1');
    assert.ok(a);
    assert.equal(await limits.acquireIp('10.0.0.1'), null, 'the server is at the cap');
    assert.equal(limits.sessionsForIp('10.0.0.1'), 1, 'a refusal holds no local slot');
    a();
    a();
    assert.equal(shared.held.get('ip 10.0.0.1'), 1);
    assert.equal(limits.sessionsForIp('10.0.0.1'), 0);
  });

  it('refuses at the local cap without asking, and frees the local slot when the other process fails', async () => {
    const limits = new SessionLimits(1, 0);
    const shared = sharedCounts(5);
    limits.shared = shared;
    const a = await limits.acquireToken('t');
    assert.equal(await limits.acquireToken('t'), null);
    assert.equal(shared.asked.length, 1, 'the second try never left this process');
    a!();
    limits.shared = { take: () => Promise.reject(new HttpRejection('WSFY_ERR_CAPACITY', 503, 'no answer')) };
    await assert.rejects(Promise.resolve(limits.acquireToken('t')), /no answer/);
    assert.equal(limits.sessionsForToken('t'), 0);
  });

  it('answers at once when there is no cap, shared or not', () => {
    const limits = new SessionLimits(0, 0);
    limits.shared = sharedCounts(0);
    assert.equal(typeof limits.acquireIp('10.0.0.1'), 'function');
  });
});
