import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Tests run from dist/test/...; fixtures stay in the source tree under test/fixtures/. */
export function fixturePath(...parts: string[]): string {
  const here = path.dirname(fileURLToPath(import.meta.url)); // <repo>/dist/test/support
  return path.resolve(here, '..', '..', '..', 'test', 'fixtures', ...parts);
}

/** The repository root (for the built CLI and contrib files). */
export function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}
