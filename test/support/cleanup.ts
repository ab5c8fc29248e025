import type { TestContext } from 'node:test';

/**
 * Registers the test's teardown before anything starts, so a failure half-way through setup still
 * stops what did start (a leftover child process would keep the test runner alive).
 * Returns `defer(step)`; steps run in reverse order, each even if an earlier one threw.
 */
export function deferCleanup(t: TestContext): (step: () => Promise<unknown> | unknown) => void {
  const steps: Array<() => Promise<unknown> | unknown> = [];
  t.after(async () => {
    let first: unknown;
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  });
  return (step) => steps.push(step);
}
