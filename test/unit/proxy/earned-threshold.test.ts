import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EarnedThreshold, provenBytes, SLOW_PAUSE_MS } from '../../../src/proxy/earned-threshold.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const PROOF = 36 * MiB;

/** A reader that takes `bytes` in pauses of `step` bytes, each flushed after `pauseMs`; returns the clock. */
function drain(threshold: EarnedThreshold, from: number, bytes: number, step: number, pauseMs: number, clock: number): number {
  for (let moved = from + step; moved <= from + bytes; moved += step) {
    threshold.paused(clock);
    clock += pauseMs;
    threshold.resumed(moved, clock);
  }
  return clock;
}

describe('earned pause threshold', () => {
  it('starts at --initial-buffer-size and earns --buffer-size only past the kernel buffers proof', () => {
    const threshold = new EarnedThreshold(64 * KiB, MiB, PROOF);
    assert.equal(threshold.limit, 64 * KiB);
    // What a client that never reads lets the kernel take (its receive buffer, our send buffer).
    let clock = drain(threshold, 0, PROOF - 64 * KiB, 64 * KiB, 0.1, 0);
    assert.equal(threshold.limit, 64 * KiB, 'a reader that has not proved itself stays at the start');
    clock = drain(threshold, PROOF - 64 * KiB, 64 * KiB, 64 * KiB, 0.1, clock);
    assert.equal(threshold.limit, MiB, 'a reader that took more than the kernel can hold earns --buffer-size');
    drain(threshold, PROOF, 64 * MiB, MiB, 0.5, clock);
    assert.equal(threshold.limit, MiB, 'and keeps it while it flushes quickly');
  });

  it('a reader that never made its source pause earns --buffer-size by its drains, and not while a pause is under way', () => {
    const threshold = new EarnedThreshold(64 * KiB, MiB, PROOF);
    threshold.drained(PROOF - 1);
    assert.equal(threshold.limit, 64 * KiB, 'short of the proof');
    threshold.paused(0);
    threshold.drained(PROOF);
    assert.equal(threshold.limit, 64 * KiB, 'a drain in a pause proves nothing: the pause has to end first');
    threshold.resumed(PROOF, SLOW_PAUSE_MS + 1);
    assert.equal(threshold.limit, 64 * KiB, 'that pause was slow: the proof starts over');
    threshold.drained(2 * PROOF);
    assert.equal(threshold.limit, MiB);
  });

  it('a slow pause drops back to the start and the proof starts over from there', () => {
    const threshold = new EarnedThreshold(64 * KiB, MiB, PROOF);
    let clock = drain(threshold, 0, PROOF, MiB, 1, 0);
    assert.equal(threshold.limit, MiB);
    threshold.paused(clock);
    // A second crossing in the same pause does not restart its clock.
    threshold.paused(clock + SLOW_PAUSE_MS);
    clock += SLOW_PAUSE_MS + 1;
    threshold.resumed(PROOF + MiB, clock);
    assert.equal(threshold.limit, 64 * KiB, 'the reader stopped keeping up: back to the start');
    clock = drain(threshold, PROOF + MiB, PROOF - 64 * KiB, 64 * KiB, 1, clock);
    assert.equal(threshold.limit, 64 * KiB, 'bytes moved before the slow pause do not count again');
    drain(threshold, 2 * PROOF + MiB - 64 * KiB, 64 * KiB, 64 * KiB, 1, clock);
    assert.equal(threshold.limit, MiB);
  });

  it('never starts above --buffer-size', () => {
    const threshold = new EarnedThreshold(MiB, 256 * KiB, PROOF);
    assert.equal(threshold.limit, 256 * KiB);
    threshold.paused(0);
    threshold.resumed(MiB, SLOW_PAUSE_MS * 2);
    assert.equal(threshold.limit, 256 * KiB);
  });

  it('the proof is the kernel buffers of both ends at their maximum, read from /proc', () => {
    const max = (file: string): number => Number(readFileSync(file, 'latin1').trim().split(/\s+/)[2]);
    assert.equal(provenBytes(), max('/proc/sys/net/ipv4/tcp_wmem') + max('/proc/sys/net/ipv4/tcp_rmem'));
  });
});
