import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { RespawnLimiter } from '../../../src/wrap/respawn-limiter.js';

it('allows the first start and two immediate respawns, then waits until mean(last 3) + 10 s', () => {
  const l = new RespawnLimiter();
  assert.equal(l.delayMs(1_000), 0);
  l.started(1_000);
  assert.equal(l.delayMs(1_100), 0);
  l.started(1_100);
  assert.equal(l.delayMs(1_200), 0);
  l.started(1_200);
  // mean(1000, 1100, 1200) = 1100; allowed from 11 100.
  assert.equal(l.delayMs(1_300), 9_800);
  assert.equal(l.delayMs(11_100), 0);
});

it('keeps at most three starts in any 10 s window under a program that always crashes', () => {
  const l = new RespawnLimiter();
  const starts: number[] = [];
  let now = 0;
  while (now < 60_000) {
    now += l.delayMs(now);
    l.started(now);
    starts.push(now);
    now += 50; // the program dies 50 ms after each start
  }
  for (let i = 3; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 3]! >= 10_000 - 1, `starts ${starts.slice(i - 3, i + 1).join(',')}`);
  assert.ok(starts.length >= 15 && starts.length <= 21, `${starts.length} starts in a minute`);
});
