import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// One error vocabulary: the codes of src/errors.ts, the codes docs/errors.md documents and the
// codes the source raises are the same set. A code documented but never raised, or raised but not
// documented, fails here.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const errorsSource = readFileSync(path.join(root, 'src/errors.ts'), 'utf8');
const errorsDoc = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const declared = new Set([...(/export type ErrorCode =([^;]+);/.exec(errorsSource)?.[1] ?? '').matchAll(/'(WSFY_ERR_[A-Z_]+)'/g)].map((m) => m[1] as string));
const documented = new Set([...errorsDoc.matchAll(/^\| `(WSFY_ERR_[A-Z_]+)`/gm)].map((m) => m[1] as string));

/** Classes of src/errors.ts that fix their code in the constructor: `new X(` raises that code. */
const classCodes = new Map<string, string>();
for (const m of errorsSource.matchAll(/export class (\w+) extends \w+ \{(?:(?!export class)[\s\S])*?super\('(WSFY_ERR_[A-Z_]+)'/g)) {
  classCodes.set(m[1] as string, m[2] as string);
}

const raised = new Set<string>();
for (const file of sourceFiles(path.join(root, 'src'))) {
  if (file.endsWith(`${path.sep}errors.ts`)) continue;
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/'(WSFY_ERR_[A-Z_]+)'/g)) raised.add(m[1] as string);
  for (const [name, code] of classCodes) if (text.includes(`new ${name}(`)) raised.add(code);
}

test('src/errors.ts declares some codes (the parser below reads it)', () => {
  assert.ok(declared.size >= 10, `found ${declared.size}`);
  assert.ok(classCodes.size >= 5, `found ${classCodes.size} classes`);
});

test('every declared code is documented in docs/errors.md, and nothing else is', () => {
  assert.deepEqual([...declared].filter((code) => !documented.has(code)).sort(), [], 'declared but not documented');
  assert.deepEqual([...documented].filter((code) => !declared.has(code)).sort(), [], 'documented but not declared');
});

test('every declared code is raised somewhere in src/', () => {
  assert.deepEqual([...declared].filter((code) => !raised.has(code)).sort(), [], 'declared but never raised');
});

test('every code the source raises is declared', () => {
  assert.deepEqual([...raised].filter((code) => !declared.has(code)).sort(), []);
});
