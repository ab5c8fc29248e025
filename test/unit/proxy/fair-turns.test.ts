import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { countTurnBytes, LIGHT_MEMORY_TURNS, lightSessionActive, TURN_BUDGET, type TurnAccount } from '../../../src/proxy/fair-turns.js';

/** A session that has not moved data yet (the Bridge starts its fields the same way). */
const newTurnAccount = (): TurnAccount => ({ turnSeen: -1, turnBytes: 0, heavyTurn: -1 });

/** The end of the current event-loop turn (fair-turns advances its turn in setImmediate). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a lone heavy session is never asked to yield', async () => {
  await nextTurn();
  await nextTurn();
  const download = newTurnAccount();
  for (let turn = 0; turn < 3; turn++) {
    assert.equal(countTurnBytes(download, TURN_BUDGET - 1), false, 'under the budget it is light');
    assert.equal(countTurnBytes(download, 1), true, 'at the budget it is heavy');
    assert.equal(lightSessionActive(), false, `turn ${turn}: nobody to yield to`);
    await nextTurn();
  }
});

test('several heavy sessions do not hold each other back', async () => {
  await nextTurn();
  await nextTurn();
  const a = newTurnAccount();
  const b = newTurnAccount();
  assert.equal(countTurnBytes(a, TURN_BUDGET), true);
  assert.equal(countTurnBytes(b, 2 * TURN_BUDGET), true);
  assert.equal(lightSessionActive(), false);
  await nextTurn();
  assert.equal(lightSessionActive(), false, 'the last turn had no light session either');
});

test('a heavy session yields while a light one moved data this turn or in the LIGHT_MEMORY_TURNS before, and not after', async () => {
  await nextTurn();
  await nextTurn();
  const download = newTurnAccount();
  const console = newTurnAccount();
  assert.equal(countTurnBytes(console, 32), false);
  assert.equal(countTurnBytes(download, TURN_BUDGET), true);
  assert.equal(lightSessionActive(), true, 'the console moved data this turn');
  for (let after = 1; after <= LIGHT_MEMORY_TURNS; after++) {
    await nextTurn();
    assert.equal(countTurnBytes(download, TURN_BUDGET), true);
    assert.equal(lightSessionActive(), true, `the console moved data ${after} turn(s) ago`);
  }
  await nextTurn();
  assert.equal(countTurnBytes(download, TURN_BUDGET), true);
  assert.equal(lightSessionActive(), false, `${LIGHT_MEMORY_TURNS + 1} turns without the console: the download runs freely`);
});

test("a heavy session's quiet turn does not make it a light session that others, or it, yield to", async () => {
  const download = newTurnAccount();
  for (let turn = 0; turn <= LIGHT_MEMORY_TURNS; turn++) {
    countTurnBytes(download, TURN_BUDGET);
    await nextTurn();
  }
  assert.equal(lightSessionActive(), false);
  // A short read: under the budget in this turn, but heavy a turn ago.
  assert.equal(countTurnBytes(download, 1000), false);
  assert.equal(lightSessionActive(), false, 'the download is still the heavy one');
  await nextTurn();
  assert.equal(countTurnBytes(download, TURN_BUDGET), true);
  assert.equal(lightSessionActive(), false, 'and in the turn after');
  // A session that was never heavy is light at its first bytes, and is remembered.
  const console = newTurnAccount();
  assert.equal(countTurnBytes(console, 32), false);
  assert.equal(lightSessionActive(), true);
});

test('bytes count per turn: a session is light again in the next turn', async () => {
  await nextTurn();
  const session = newTurnAccount();
  assert.equal(countTurnBytes(session, TURN_BUDGET), true);
  await nextTurn();
  assert.equal(countTurnBytes(session, 100), false);
  assert.equal(session.turnBytes, 100);
});
