import type net from 'node:net';

/** What this module touches of a socket's internal write state (node:internal/streams/writable). */
interface WriteStateCarrier {
  _writableState?: { writing?: boolean; writecb?: unknown; afterWriteTickInfo?: unknown };
}

/**
 * Gives a socket's write state, when a session starts, the shape it would otherwise take only
 * part-way into the session.
 *
 * Node 20 adds two properties to a stream's write state lazily: one when its first write
 * completes, one the first time a write with a callback completes at once (the bridge's writes
 * do, from a session's first reads on). Code V8 optimized during the first session of a process
 * had seen only the later shape, so the next session's sockets arrived in an earlier one and
 * threw that code away ("wrong map" deoptimizations of `cork`, `send`, `clearBuffer` and the
 * bridge's `onTargetData` at its start), and V8 compiled those functions again. Setting both
 * fields to what they hold between writes (null: no write, no callback pending), in the order
 * Node adds them to a socket that has written, gives every session's sockets one shape from
 * their first byte (docs/performance.md, "The shape of a session's streams").
 *
 * Only between writes, when no write's callback can be pending, and the after-write field only
 * when it reads null (no completed write waits for its tick): nothing pending is touched. On a
 * Node whose write state has these fields from construction, null goes over null.
 */
export function settleWriteStateShape(socket: net.Socket): void {
  const state = (socket as unknown as WriteStateCarrier)._writableState;
  if (state === undefined || state.writing !== false) return;
  // Node itself stores this null after every completed write.
  state.writecb = null;
  if (state.afterWriteTickInfo === null) state.afterWriteTickInfo = null;
}
