import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { holdYoungGeneration } from '../../../src/proxy/gc-pacing.js';

// Its own file (its own process under node --test): the hold is process-wide and for good.

const youngGenerationMiB = (): number => (v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? NaN) / (1024 * 1024);

test('once held, the young generation does not grow while much survives its collections', () => {
  const before = youngGenerationMiB();
  holdYoungGeneration();
  // Sessions opening: many small objects that all stay alive (V8 doubles the young generation
  // after scavenges in which most survives, up to 32 MiB of new space).
  const kept: Array<{ id: number; parts: number[] }> = [];
  for (let i = 0; i < 400_000; i += 1) kept.push({ id: i, parts: [i] });
  const after = youngGenerationMiB();
  assert.equal(kept.length, 400_000);
  assert.ok(after <= Math.max(before, 4), `the young generation went from ${before} to ${after} MiB`);
});
