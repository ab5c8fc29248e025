import { primePacedCollection } from './gc-pacing.js';

/**
 * Keeps glibc's malloc from giving the read buffers' memory back to the kernel after every
 * collection, only to take it again (zeroed, one page fault per 4 KiB) for the next reads.
 *
 * A bulk transfer frees its 64 KiB read buffers in batches, one per minor collection
 * (gc-pacing.ts). When such a batch ends up at the top of malloc's heap, free() trims the heap
 * past M_TRIM_THRESHOLD (128 KiB by default) and the next reads fault every page back in.
 * Whether that happens depends on where other allocations land, so it came and went between
 * runs: a fresh proxy moving 256 MiB down took 55,000-60,000 page faults and 4.7-4.8 ms CPU/MiB
 * when it did, 2,000-2,500 and 1.5 ms/MiB with the threshold raised (docs/performance.md,
 * "Memory malloc keeps").
 *
 * glibc raises both thresholds by itself when a block it had mapped on its own (one over the
 * mmap threshold) is freed: the mmap threshold to that block's size, the trim threshold to twice
 * that (mallopt(3), "dynamic mmap threshold"). So one block of TRIM_RAISING_BYTES, allocated and
 * freed before the first client, sets the trim threshold to 8 MiB: the heap keeps up to that
 * much free memory at its top. An operator's own MALLOC_TRIM_THRESHOLD_ or MALLOC_MMAP_THRESHOLD_
 * turns glibc's adjustment off and wins; other allocators are not affected.
 */
export const TRIM_RAISING_BYTES = 4 * 1024 * 1024;

let raised = false;

/** Once per process, before it serves: allocates and frees one block of TRIM_RAISING_BYTES. */
export function raiseMallocTrimThreshold(): void {
  if (raised) return;
  raised = true;
  // Dropped at once and never written: mapped and unmapped without a page of it being touched.
  Buffer.allocUnsafeSlow(TRIM_RAISING_BYTES);
  // Its ArrayBuffer is young: a minor collection frees it now rather than some time later (the
  // paced collections' code path, run once here for V8's sake: gc-pacing.ts).
  primePacedCollection();
}
