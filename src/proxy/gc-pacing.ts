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
 * sessions' objects) takes tens of microseconds. Interactive sessions allocate enough for V8 to
 * collect on its own far more often than the pace (an echo of 64-byte messages: every ~950
 * round trips, against one paced collection per 16,384).
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

/**
 * One minor collection now, run through paceCollection's own code while V8 records what that
 * code meets. Called once per process before it serves (malloc-trim.ts).
 *
 * V8 records a function's type feedback only from about its 8th call on, and where code it
 * optimizes holds an operation that never ran with feedback, that code is thrown away the first
 * time the operation runs. paceCollection's collection first runs after 2 MiB moved: in an echo
 * of 64-byte messages, the 16,384th round trip, long after V8 had inlined the check phase into
 * Node's `processImmediate`. That code was then dropped, and it and four functions compiled
 * again (~15 ms of compiler time), which cost 5-8 round trips of 1-6 ms each, at the same place
 * in every run (docs/performance.md, "The first round trips of a process"). With feedback made
 * at once for this first call, the collection's call has its feedback when V8 optimizes.
 */
export function primePacedCollection(): void {
  const eager = eagerFeedbackAlready();
  try {
    if (!eager) v8.setFlagsFromString('--no-lazy-feedback-allocation');
    paceCollection(PACE_BYTES - movedSinceCollection);
  } finally {
    if (!eager) v8.setFlagsFromString('--lazy-feedback-allocation');
  }
}

/** The operator asked V8 for feedback at once for every function: it is left so. */
function eagerFeedbackAlready(): boolean {
  // V8 takes its flags with - or _ between words.
  const asked = [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].join(' ').replaceAll('_', '-');
  return asked.includes('--no-lazy-feedback-allocation');
}

/** One minor collection now, where V8's collection function is available. */
function collectYoungGeneration(): void {
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
