import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

/**
 * V8's deoptimizations in a fresh process that moves 2.4 MiB through paceCollection in small
 * turns, after calling primePacedCollection first or not: the pace is crossed once, long after
 * V8 has optimized the loop with paceCollection inlined.
 */
function deoptimizationsOfAFirstPace(primed: boolean): string[] {
  const pacing = new URL('../../../src/proxy/gc-pacing.js', import.meta.url).href;
  const program = `
    const { paceCollection, primePacedCollection } = await import(${JSON.stringify(pacing)});
    if (${primed}) primePacedCollection();
    function turn(bytes) { paceCollection(bytes); }
    for (let i = 0; i < 300000; i++) turn(8);
  `;
  // Compiled on the main thread: V8 has optimized the loop by the time the pace is crossed,
  // however busy the machine is.
  const flags = ['--trace-deopt', '--no-concurrent-recompilation', '--no-concurrent-osr'];
  const run = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', program], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.split('\n').filter((line) => line.startsWith('[bailout') && line.includes('Insufficient type feedback'));
}

test('a primed process reaches its first paced collection without throwing optimized code away', () => {
  // Without the priming, V8 drops the optimized loop when the collection first runs: the check
  // that this measurement sees the effect at all in this Node.
  assert.ok(deoptimizationsOfAFirstPace(false).length > 0, 'an unprimed first pace deoptimizes');
  assert.deepEqual(deoptimizationsOfAFirstPace(true), []);
});
