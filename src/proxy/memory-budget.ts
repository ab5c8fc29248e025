/**
 * One process-wide budget for the bytes sessions hold in user space while one side is slower
 * than the other (--memory-budget).
 *
 * A session pauses the side that feeds it once the queue towards the other side reaches the
 * pause threshold (--buffer-size), and holds at most that plus one read. The budget counts the
 * bytes of paused sessions, once per pause and once per resume (never per chunk): each session
 * reports what it held when it paused and gives it back when its queue was flushed. As the count
 * passes half the budget the threshold every session uses shrinks in proportion, down to zero at
 * the budget: the sessions holding the most cross the lower threshold and stop reading their
 * source first, sessions that keep up stay below it and go on; past the budget every session
 * moves one read at a time, paused until its reader has taken it. Nothing is dropped: a paused
 * session resumes as soon as its reader catches up.
 *
 * The per-chunk path reads one number (`pauseAt`); it changes only on a pause or a resume.
 */
export class MemoryBudget {
  /** Bytes held by paused sessions, as each reported when it paused. */
  held = 0;
  /** The queue length at which a session pauses its source now. */
  pauseAt: number;

  constructor(
    /** The budget in bytes; 0 = none (every session pauses at `highWater`). */
    readonly limit: number,
    /** --buffer-size: the threshold while the budget is less than half used. */
    readonly highWater: number,
    /** --initial-buffer-size: the threshold a session uses until its reader earns `highWater` (earned-threshold.ts). */
    readonly start = highWater,
  ) {
    this.pauseAt = highWater;
  }

  /** A session paused its source holding `bytes`. */
  hold(bytes: number): void {
    this.held += bytes;
    this.pauseAt = pauseThreshold(this.held, this.limit, this.highWater);
  }

  /** A paused session's queue was flushed: it gives back what it reported. */
  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    this.pauseAt = pauseThreshold(this.held, this.limit, this.highWater);
  }
}

/**
 * The pause threshold for a budget `limit` of which `held` bytes are in use: `highWater` up to
 * half the budget, then falling linearly to 0 at the budget, 0 beyond.
 */
export function pauseThreshold(held: number, limit: number, highWater: number): number {
  if (limit <= 0) return highWater;
  const half = limit / 2;
  if (held <= half) return highWater;
  if (held >= limit) return 0;
  return Math.floor((highWater * (limit - held)) / half);
}

let shared: MemoryBudget | null = null;

/** The budget of this process (each --workers process has its own), made on first use. */
export function processBudget(limit: number, highWater: number, start = highWater): MemoryBudget {
  if (shared === null || shared.limit !== limit || shared.highWater !== highWater || shared.start !== start) {
    shared = new MemoryBudget(limit, highWater, start);
  }
  return shared;
}
