/** A pending timeout or interval; only the clock that made it can clear it. */
export type Timer = object;

/**
 * The time and the timers of one connection's way in and of its session: the handshake
 * deadline (server/front-door.ts), the heartbeat and its pong deadline (proxy/session.ts), and
 * --timeout / --idle-timeout (cli/lifecycle.ts). Below every layer that uses it, and it imports
 * nothing of ours. The server runs on systemClock; a test hands in one it advances by hand, so
 * a 30 s heartbeat timeout is checked in milliseconds (test/support/manual-clock.ts). Callbacks
 * take their arguments as setTimeout does, so callers pass module functions, not closures.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout<A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): Timer;
  setInterval<A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): Timer;
  /** Cancels a timeout or an interval this clock made. */
  clear(timer: Timer): void;
}

export const systemClock: Clock = {
  now: Date.now,
  setTimeout: (callback, ms, ...args) => setTimeout(callback, ms, ...args),
  setInterval: (callback, ms, ...args) => setInterval(callback, ms, ...args),
  clear: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
