import assert from 'node:assert/strict';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { test } from 'node:test';
import { PACE_BYTES, bytesTowardsCollection, paceCollection } from '../../../src/proxy/gc-pacing.js';

/** Minor (young-generation) collections that finish while `run` goes on. */
async function minorCollectionsDuring(run: () => void): Promise<number> {
  const entries: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  run();
  // gc entries are delivered asynchronously; a fixed time, as the count awaited may rightly be 0.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return entries.filter((entry) => (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length;
}

test('turns that move less than the pace only count their bytes', async () => {
  const before = bytesTowardsCollection();
  const collections = await minorCollectionsDuring(() => {
    for (let i = 0; i < 4; i++) paceCollection(1000);
  });
  assert.equal(bytesTowardsCollection(), before + 4000);
  assert.ok(collections < 4, `${collections} minor collections for 4 KB moved`);
});

test('every PACE_BYTES moved runs one minor collection, without exposing gc to the process', async () => {
  const collections = await minorCollectionsDuring(() => {
    for (let i = 0; i < 6; i++) paceCollection(PACE_BYTES);
  });
  assert.ok(collections >= 6, `${collections} minor collections for 6 paces`);
  assert.equal(bytesTowardsCollection(), 0);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});
