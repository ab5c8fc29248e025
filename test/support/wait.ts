/**
 * Waiting for a condition, not for a fixed time: the one polling helper of the test suite.
 * `probe` returns the awaited value, or null/false while it is not there yet.
 */
export async function waitFor<T>(
  probe: () => T | null | false | Promise<T | null | false>,
  options: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}
