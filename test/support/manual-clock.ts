import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  at: number;
  every: number;
  run: () => void;
}

/**
 * A clock that moves only when the test says so: `advance(ms)` runs, in time order, every
 * timeout and interval that falls due. For the server's own deadlines and heartbeats
 * (src/clock.ts); sockets, node:http and ws keep real time.
 */
export class ManualClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(start = Date.now()) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout<A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): Timer {
    return this.add(ms, 0, () => callback(...args));
  }

  setInterval<A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): Timer {
    return this.add(ms, Math.max(1, ms), () => callback(...args));
  }

  clear(timer: Timer): void {
    this.pending.delete((timer as { id: number }).id);
  }

  /** Timers not yet run or cleared. */
  get timers(): number {
    return this.pending.size;
  }

  /** Moves the time on by `ms`, running what falls due on the way, each at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let nextId = -1;
      let next: Pending | undefined;
      for (const [id, p] of this.pending) {
        if (p.at <= end && (next === undefined || p.at < next.at)) {
          nextId = id;
          next = p;
        }
      }
      if (next === undefined) break;
      this.time = next.at;
      if (next.every > 0) next.at += next.every;
      else this.pending.delete(nextId);
      next.run();
    }
    this.time = end;
  }

  private add(ms: number, every: number, run: () => void): Timer {
    const id = this.nextId++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), every, run });
    return { id };
  }
}
