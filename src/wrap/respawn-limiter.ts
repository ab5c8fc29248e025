/**
 * The reference's respawn rate limit (websockify `poll()`): it remembers the last three start
 * times, initially "long ago", and allows a start when now - mean(last three) >= 10 s. The first
 * two respawns are therefore immediate, and afterwards there are at most three starts in any
 * ~10 s window. We keep the rule; instead of re-checking once a second as the reference does,
 * we compute when the next start becomes allowed.
 */
export class RespawnLimiter {
  private readonly starts: number[];

  constructor(
    private readonly windowMs = 10_000,
    count = 3,
  ) {
    this.starts = new Array<number>(count).fill(Number.NEGATIVE_INFINITY);
  }

  /** Milliseconds to wait before the next start is allowed (0 = now). */
  delayMs(now: number): number {
    const mean = this.starts.reduce((a, b) => a + b, 0) / this.starts.length;
    return Math.max(0, Math.ceil(mean + this.windowMs - now));
  }

  /** Record a start at `now`. */
  started(now: number): void {
    this.starts.shift();
    this.starts.push(now);
  }
}
