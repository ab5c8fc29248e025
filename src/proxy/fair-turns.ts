import { paceCollection } from './gc-pacing.js';

/**
 * Fair turns between sessions that share one event loop.
 *
 * A busy socket can be read 32 x 64 KiB times in one turn of the event loop, so a light session
 * (a console, a terminal) sharing the process with a download waited ~2.5 ms per hop. A session
 * that has moved TURN_BUDGET bytes in a turn is heavy for that turn; while a light session moved
 * data this turn or in the LIGHT_MEMORY_TURNS before it, a heavy one is asked to yield until the
 * turn's check phase (the bridge pauses its target). A lone transfer, or several heavy ones, are
 * never held back.
 * Measured with `npm run bench` (docs/performance.md): echo p50 next to a download ~2,500 ->
 * ~400 us with the download's speed unchanged; a budget for every session cost a lone download
 * 20-25 % and 8 parallel downloads ~19 %.
 *
 * The counters are process-wide (each --workers process has its own); the per-session state is
 * three numbers kept on the bridge, so an idle session costs no extra object.
 */
export const TURN_BUDGET = 64 * 1024;
/**
 * How many turns after a light session moved data heavy ones still yield. A console's round trip
 * spans turns (the client's bytes in one, the target's answer a turn or two later), and in a turn
 * between, a download that did not yield moved up to its --buffer-size (1 MiB, ~1-2 ms) with the
 * answer waiting behind it. Measured next to a download (a fresh proxy, echo of 32 bytes, 2,000
 * round trips, 3 runs each; docs/performance.md, "Latency next to a bulk transfer"): echo p50
 * 1,069-1,219 us remembering one turn, 344-405 two, 304-320 five, 283-317 seventeen, the
 * download under it 1,080-1,194, 923-963, 711-827 and 689-695 MiB/s.
 */
export const LIGHT_MEMORY_TURNS = 5;

/** What a session keeps of its own turns (fields of the Bridge). */
export interface TurnAccount {
  /** The last turn this session moved data in. */
  turnSeen: number;
  /** Bytes it moved in that turn, both ways. */
  turnBytes: number;
  /** The last turn it was heavy in. */
  heavyTurn: number;
}

/** Advanced once per event-loop turn in which any session moved data. */
let turn = 0;
let turnEndScheduled = false;
/** Sessions light in this turn so far (moved data, not heavy in it or lately). */
let lightThisTurn = 0;
/** The last turn in which a light session moved data (far enough back to mean none at start). */
let lightTurn = -LIGHT_MEMORY_TURNS - 1;
/** Bytes every session moved this turn, for the collection pacing (gc-pacing.ts). */
let bytesThisTurn = 0;

function endOfTurn(): void {
  turnEndScheduled = false;
  if (lightThisTurn > 0) lightTurn = turn;
  turn++;
  lightThisTurn = 0;
  const moved = bytesThisTurn;
  bytesThisTurn = 0;
  paceCollection(moved);
}

/**
 * Heavy within the last LIGHT_MEMORY_TURNS turns: such a session is not light in a quiet turn.
 * Otherwise a download's short reads (a turn in which it moved less than the budget) made it a
 * light session of its own, and it yielded to itself for the turns after.
 */
function heavyLately(account: TurnAccount): boolean {
  return account.heavyTurn >= 0 && turn - account.heavyTurn <= LIGHT_MEMORY_TURNS;
}

/** Counts bytes a session moved in the current turn; true once it is heavy in this turn. */
export function countTurnBytes(account: TurnAccount, bytes: number): boolean {
  if (account.turnSeen !== turn) {
    account.turnSeen = turn;
    account.turnBytes = 0;
    if (!heavyLately(account)) lightThisTurn++;
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      setImmediate(endOfTurn);
    }
  }
  account.turnBytes += bytes;
  bytesThisTurn += bytes;
  if (account.heavyTurn === turn) return true;
  if (account.turnBytes < TURN_BUDGET) return false;
  // Counted light at its first bytes of this turn: no longer.
  if (!heavyLately(account)) lightThisTurn--;
  account.heavyTurn = turn;
  return true;
}

/** The number of the current turn (advances in the check phase of a turn in which data moved). */
export function currentTurn(): number {
  return turn;
}

/** True while a light session moved data this turn or in the LIGHT_MEMORY_TURNS before: heavy sessions should yield. */
export function lightSessionActive(): boolean {
  return lightThisTurn > 0 || turn - lightTurn <= LIGHT_MEMORY_TURNS;
}
