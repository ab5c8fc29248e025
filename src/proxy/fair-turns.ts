import { paceCollection } from './gc-pacing.js';

/**
 * Fair turns between sessions that share one event loop.
 *
 * A busy socket can be read 32 x 64 KiB times in one turn of the event loop, so a light session
 * (a console, a terminal) sharing the process with a download waited ~2.5 ms per hop. A session
 * that has moved TURN_BUDGET bytes in a turn is heavy for that turn; while a light session moved
 * data this turn or the last, a heavy one is asked to yield until the turn's check phase (the
 * bridge pauses its target). A lone transfer, or several heavy ones, are never held back.
 * Measured with `npm run bench` (docs/performance.md): echo p50 next to a download ~2,500 ->
 * ~400 us with the download's speed unchanged; a budget for every session cost a lone download
 * 20-25 % and 8 parallel downloads ~19 %.
 *
 * The counters are process-wide (each --workers process has its own); the per-session state is
 * three numbers kept on the bridge, so an idle session costs no extra object.
 */
export const TURN_BUDGET = 64 * 1024;

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
let activeThisTurn = 0;
let heavyThisTurn = 0;
let lightLastTurn = 0;
/** Bytes every session moved this turn, for the collection pacing (gc-pacing.ts). */
let bytesThisTurn = 0;

function endOfTurn(): void {
  turnEndScheduled = false;
  turn++;
  lightLastTurn = activeThisTurn - heavyThisTurn;
  activeThisTurn = 0;
  heavyThisTurn = 0;
  const moved = bytesThisTurn;
  bytesThisTurn = 0;
  paceCollection(moved);
}

/** Counts bytes a session moved in the current turn; true once it is heavy in this turn. */
export function countTurnBytes(account: TurnAccount, bytes: number): boolean {
  if (account.turnSeen !== turn) {
    account.turnSeen = turn;
    account.turnBytes = 0;
    activeThisTurn++;
    if (!turnEndScheduled) {
      turnEndScheduled = true;
      setImmediate(endOfTurn);
    }
  }
  account.turnBytes += bytes;
  bytesThisTurn += bytes;
  if (account.heavyTurn === turn) return true;
  if (account.turnBytes < TURN_BUDGET) return false;
  account.heavyTurn = turn;
  heavyThisTurn++;
  return true;
}

/** The number of the current turn (advances in the check phase of a turn in which data moved). */
export function currentTurn(): number {
  return turn;
}

/** True while a light session moved data this turn or the last: heavy sessions should yield. */
export function lightSessionActive(): boolean {
  return activeThisTurn > heavyThisTurn || lightLastTurn > 0;
}
