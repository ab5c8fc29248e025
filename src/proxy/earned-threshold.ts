import { readFileSync } from 'node:fs';

/** A pause this long means the reader stopped keeping up (a fast one flushes within the turn). */
export const SLOW_PAUSE_MS = 100;

/** When /proc cannot be read: more than the Linux defaults (4 MiB + 6 MiB) and most tunings. */
const FALLBACK_PROVEN_BYTES = 64 * 1024 * 1024;

let proven: number | null = null;

/**
 * What the kernel may hold of one direction before an application reads any of it: the send
 * buffer on our side and the receive buffer on the reader's, each at its autotuning maximum.
 */
export function provenBytes(): number {
  if (proven !== null) return proven;
  try {
    const max = (file: string): number => Number(readFileSync(file, 'latin1').trim().split(/\s+/)[2]);
    const sum = max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem');
    proven = Number.isFinite(sum) && sum > 0 ? sum : FALLBACK_PROVEN_BYTES;
  } catch {
    proven = FALLBACK_PROVEN_BYTES;
  }
  return proven;
}

/**
 * The pause threshold of one direction of one session: --initial-buffer-size until its reader has
 * shown that it really takes bytes, then --buffer-size.
 *
 * A small threshold bounds what a client that opens a download and never reads parks in the
 * proxy, but it costs a fast stream: with 64 KiB every read of the source crosses it, and each
 * crossing hands its read to the kernel on its own (bridge.ts, flushBatch) instead of in a batch
 * of up to --buffer-size: 1.05-1.16 ms CPU/MiB down against 0.69-0.80 with 1M (a warm 256 MiB
 * transfer, 4 runs each). So a direction starts small and earns --buffer-size once the
 * kernel has taken more of its bytes than the kernel's own socket buffers on both ends can hold
 * (`provenBytes()`: tcp_wmem max + tcp_rmem max): past that, the reader has read them. A
 * reader that never reads cannot get there (a stalled download is held back after ~4 MiB on
 * loopback; 36 MiB of proof here). Once a pause lasts longer than SLOW_PAUSE_MS the reader has
 * stopped keeping up: the threshold falls back to the start for the reads that follow and the
 * proof starts over. Bytes already queued are never dropped; --memory-budget caps what all
 * sessions hold together, earned thresholds first (bridge.ts takes the lower of the two).
 *
 * Evaluated only when a pause ends (a flush callback or 'drain') or a source's writes drain, never per chunk.
 */
export class EarnedThreshold {
  /** The pause threshold of this direction now (before the budget's cap). */
  limit: number;
  /** The direction's byte count when the proof started (the session's start, or its last slow pause). */
  private from = 0;
  /** performance.now() when the current pause began; -1 when not paused. */
  private pausedAt = -1;

  constructor(
    /** --initial-buffer-size: the threshold until the reader has proved itself. */
    private readonly start: number,
    /** --buffer-size: what a proven reader earns. */
    private readonly highWater: number,
    /** Bytes a reader must take without a slow pause to earn it. */
    private readonly proof: number,
    private readonly slowMs = SLOW_PAUSE_MS,
  ) {
    this.limit = Math.min(start, highWater);
  }

  /** The direction paused its source. */
  paused(now: number): void {
    if (this.pausedAt < 0) this.pausedAt = now;
  }

  /**
   * Every one of `moved` bytes was handed to the kernel without a pause (a 'drain' of a source
   * never paused): proof as good as a pause's end. Without it, a direction whose reader always
   * kept up never earned its threshold.
   */
  drained(moved: number): void {
    if (this.pausedAt < 0 && moved - this.from >= this.proof) this.limit = this.highWater;
  }

  /** The pause ended with every one of `moved` bytes (the direction's total so far) handed to the kernel. */
  resumed(moved: number, now: number): void {
    const slow = this.pausedAt >= 0 && now - this.pausedAt > this.slowMs;
    this.pausedAt = -1;
    if (slow) {
      this.limit = Math.min(this.start, this.highWater);
      this.from = moved;
    } else if (moved - this.from >= this.proof) {
      this.limit = this.highWater;
    }
  }
}
