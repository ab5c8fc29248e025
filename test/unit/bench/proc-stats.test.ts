import assert from 'node:assert/strict';
import { test } from 'node:test';
import { machineTicks, stealPercent } from '../../../bench/proc-stats.js';

test("the machine's ticks grow, and steal is a part of them", async () => {
  const first = machineTicks();
  // Busy for a moment, so the machine's clock ticks move on.
  const until = Date.now() + 60;
  while (Date.now() < until);
  const second = machineTicks();
  assert.ok(second.total > first.total, `${first.total} -> ${second.total} ticks`);
  assert.ok(second.steal >= first.steal && second.steal <= second.total);
});

test('steal is the share of the ticks between two readings, and 0 when none passed', () => {
  assert.equal(stealPercent({ total: 1000, steal: 10 }, { total: 1400, steal: 30 }), 5);
  assert.equal(stealPercent({ total: 1000, steal: 10 }, { total: 1000, steal: 10 }), 0);
});
