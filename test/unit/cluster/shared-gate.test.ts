import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpRejection } from '../../../src/errors.js';
import { capacityShare, SharedCapacity, SharedCaps, SharedSessions } from '../../../src/cluster/shared-gate.js';
import type { ToPrimary } from '../../../src/cluster/messages.js';

const LIMITS = { maxConnections: 8, maxSessionsPerIp: 2, maxSessionsPerToken: 0 };

describe("SharedCaps: the primary's count for the whole server", () => {
  it('caps sessions per key over all workers, and a worker that leaves frees only its own', () => {
    const caps = new SharedCaps<string>(LIMITS, 2);
    caps.join('w1');
    caps.join('w2');
    assert.ok(caps.take('w1', 'ip', '10.0.0.1'));
    assert.ok(caps.take('w2', 'ip', '10.0.0.1'));
    assert.equal(caps.take('w1', 'ip', '10.0.0.1'), false);
    assert.ok(caps.take('w1', 'ip', '10.0.0.2'), 'another address has its own count');
    assert.ok(caps.take('w1', 'token', 'h'), 'no token cap');
    caps.leave('w1');
    assert.equal(caps.sessionsFor('ip', '10.0.0.1'), 1);
    assert.equal(caps.sessionsFor('ip', '10.0.0.2'), 0);
    assert.equal(caps.take('w1', 'ip', '10.0.0.9'), false, 'a worker that left gets nothing');
    caps.give('w1', 'ip', '10.0.0.1');
    assert.equal(caps.sessionsFor('ip', '10.0.0.1'), 1, 'a late give from a dead worker changes nothing');
    caps.give('w2', 'ip', '10.0.0.1');
    caps.give('w2', 'ip', '10.0.0.1');
    assert.equal(caps.sessionsFor('ip', '10.0.0.1'), 0, 'given back once');
  });

  it("lends the pool (the cap less the workers' shares) and takes back what a dead worker borrowed", () => {
    const caps = new SharedCaps<string>(LIMITS, 2);
    caps.join('w1');
    caps.join('w2');
    const pool = LIMITS.maxConnections - 2 * capacityShare(LIMITS.maxConnections, 2);
    for (let i = 0; i < pool; i++) assert.ok(caps.lend(i % 2 ? 'w1' : 'w2'));
    assert.equal(caps.lend('w1'), false);
    caps.leave('w1');
    assert.ok(caps.lend('w2'));
    caps.giveBack('w2');
    assert.ok(caps.lend('w2'));
  });
});

describe("the worker's gates", () => {
  it('SharedSessions sends a token only hashed, and gives a slot back once', async () => {
    const sent: ToPrimary[] = [];
    const gate = new SharedSessions((m) => sent.push(m) > 0);
    const taken = gate.take('token', 'secret-token');
    const ask = sent[0] as Extract<ToPrimary, { wsfy: 'take-session' }>;
    assert.notEqual(ask.key, 'secret-token');
    assert.ok(!JSON.stringify(sent).includes('secret'));
    gate.answer(ask.seq, { kind: 'token', key: ask.key, granted: true });
    const release = await taken;
    release!();
    release!();
    assert.deepEqual(sent.slice(1), [{ wsfy: 'give-session', kind: 'token', key: ask.key }]);
  });

  it('SharedSessions refuses with 503 when the primary does not answer, and gives back a late grant', async () => {
    const sent: ToPrimary[] = [];
    const gate = new SharedSessions((m) => sent.push(m) > 0, 10);
    const err = await gate.take('ip', '10.0.0.1').catch((e: unknown) => e);
    assert.ok(err instanceof HttpRejection);
    assert.equal(err.httpStatus, 503);
    const ask = sent[0] as Extract<ToPrimary, { wsfy: 'take-session' }>;
    gate.answer(ask.seq, { kind: 'ip', key: '10.0.0.1', granted: true });
    assert.deepEqual(sent[1], { wsfy: 'give-session', kind: 'ip', key: '10.0.0.1' });
  });

  it('SharedCapacity asks only past its share, and returns a connection lent too late', async () => {
    const sent: ToPrimary[] = [];
    const gate = new SharedCapacity(1, (m) => sent.push(m) > 0, 10);
    assert.equal(gate.acquire(), true);
    assert.equal(sent.length, 0);
    assert.equal(await gate.acquire(), false, 'no answer in time');
    const ask = sent[0] as Extract<ToPrimary, { wsfy: 'acquire' }>;
    gate.answer(ask.seq, true);
    assert.deepEqual(sent[1], { wsfy: 'release' });
  });
});
