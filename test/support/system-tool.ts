/**
 * Tests that drive real Debian programs (chromium, nginx, telnetd, redis-server, haproxy) find
 * them here. Outside CI a missing program skips the test with the package to install; in CI
 * (CI=true) it fails, because a skipped test there would hide a broken pipeline.
 */
import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';

export function findTool(ctx: TestContext, path: string, debPackage: string): string | null {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    const message = `${path} not found: install the Debian package ${debPackage} (see scripts/system-packages.txt)`;
    if (process.env['CI'] === 'true') throw new Error(message);
    ctx.skip(message);
    return null;
  }
}
