import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBudget, pauseThreshold } from '../../../src/proxy/memory-budget.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Whether a session with `queued` bytes towards its reader and a `read` arriving pauses its source. */
function pauses(budget: MemoryBudget, queued: number, read = 16 * KiB): boolean {
  return queued + read >= budget.pauseAt;
}

describe('memory budget', () => {
  it('keeps --buffer-size as the threshold while less than half the budget is held', () => {
    const budget = new MemoryBudget(16 * MiB, 64 * KiB);
    budget.hold(8 * MiB);
    assert.equal(budget.pauseAt, 64 * KiB);
    assert.equal(pauses(budget, 32 * KiB), false);
  });

  it('as the budget fills, the sessions holding the most pause first and the others go on', () => {
    const budget = new MemoryBudget(16 * MiB, 64 * KiB);
    budget.hold(12 * MiB);
    assert.equal(budget.pauseAt, 32 * KiB);
    assert.equal(pauses(budget, 48 * KiB), true, 'a session holding 48 KiB pauses');
    assert.equal(pauses(budget, 8 * KiB), false, 'a session holding 8 KiB keeps reading');
    budget.hold(3 * MiB);
    assert.equal(budget.pauseAt, 8 * KiB);
    assert.equal(pauses(budget, 0, 4 * KiB), false, 'a session keeping up still reads');
  });

  it('past the budget every session moves one read at a time; giving back restores the threshold', () => {
    const budget = new MemoryBudget(16 * MiB, 64 * KiB);
    budget.hold(10 * MiB);
    budget.hold(7 * MiB);
    assert.equal(budget.pauseAt, 0);
    assert.equal(pauses(budget, 0, 1), true);
    budget.release(7 * MiB);
    assert.equal(budget.pauseAt, 48 * KiB);
    budget.release(10 * MiB);
    assert.equal(budget.held, 0);
    assert.equal(budget.pauseAt, 64 * KiB);
  });

  it('0 means no budget', () => {
    assert.equal(pauseThreshold(100 * MiB, 0, 64 * KiB), 64 * KiB);
  });
});
