import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Young-generation collections paced by the bytes the data path moves.
 *
 * Every socket read allocates a fresh 64 KiB buffer outside V8's heap. Its JS handle is garbage
 * as soon as the bytes are written on, but V8 frees the buffer only when a collection runs, and a
 * stream of large reads allocates too few JS objects to fill the young generation: the collection
 * comes from V8's external-memory limit, after ~64 MiB of dead buffers. So a process touches
 * ~64 MiB of fresh pages before it reuses any, and keeps cycling through that much memory, out of
 * the CPU's caches. Measured (a fresh proxy, 256 MiB down, `npm run bench:second`'s client, 5 runs
 * each, medians): 2.66 ms CPU/MiB with ~15,000 page faults per transfer by default; a minor
 * collection every ~2 MiB moved: 1.99 ms/MiB with ~2,200 faults, and the second transfer of the
 * same process 1.91 -> 1.56 ms/MiB. A minor collection of a proxy's young generation (a few
 * sessions' objects) takes tens of microseconds; interactive sessions move far less than the
 * pace, so they do not trigger it.
 *
 * The collection is asked for in the check phase of a turn (fair-turns.ts calls `paceCollection`
 * at the end of every turn in which data moved), after the turn's writes went out, so the buffers
 * it frees are the ones just written.
 */
export const PACE_BYTES = 2 * 1024 * 1024;

type MinorCollect = (options: { type: 'minor' }) => void;

let movedSinceCollection = 0;
let collector: MinorCollect | null | undefined;

/**
 * V8's collection function, without exposing `gc` to the process's own global: the flag is set
 * for the creation of one throw-away context and cleared again. null where it is not available.
 */
function loadCollector(): MinorCollect | null {
  const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  if (exposed) return (globalThis as unknown as { gc: MinorCollect }).gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const collect = vm.runInNewContext('gc') as unknown;
    return typeof collect === 'function' ? (collect as MinorCollect) : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/** Adds a turn's bytes; runs a minor collection once PACE_BYTES were moved since the last. */
export function paceCollection(bytesThisTurn: number): void {
  movedSinceCollection += bytesThisTurn;
  if (movedSinceCollection < PACE_BYTES) return;
  movedSinceCollection = 0;
  collectYoungGeneration();
}

/** One minor collection now, where V8's collection function is available. */
export function collectYoungGeneration(): void {
  if (collector === undefined) collector = loadCollector();
  collector?.({ type: 'minor' });
}

/** @internal For tests: how many bytes count towards the next collection. */
export function bytesTowardsCollection(): number {
  return movedSinceCollection;
}

let youngGenerationHeld = false;

/**
 * Keeps the young generation at the size the start-up left it (~1-2 MiB), once per process,
 * before it serves. V8 doubles the young generation after a scavenge in which much survived,
 * up to 16 MiB a semi-space, and never shrinks it while the process is busy: opening a few
 * thousand sessions (each a few long-lived objects) grew it to that, 20-30 MiB of RSS that held
 * sessions then paid for (`npm run bench` hold: 16.3 KiB per held session, 11.0 held here). An
 * echo or a console keeps little and never grows it.
 *
 * Set at run time because the same limit as a launcher flag (`--max-semi-space-size`, any value)
 * cost every start 25-30 ms of CPU (docs/performance.md, "A young generation that does not
 * grow"). The growth factor is read at each growth, so setting it to 1 stops the growth from
 * here on.
 */
export function holdYoungGeneration(): void {
  if (youngGenerationHeld) return;
  youngGenerationHeld = true;
  try {
    v8.setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // A Node without the flag: the young generation grows as V8 decides.
  }
}
