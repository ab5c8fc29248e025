/** Reads the fenced blocks marked `<!-- tested: NAME -->` out of a docs/ page, so docs are tested. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function docBlock(doc: string, name: string): string {
  return markedBlock(`docs/${doc}`, name);
}

/** The same for README.md, whose install and container commands are run by the e2e tests. */
export function readmeBlock(name: string): string {
  return markedBlock('README.md', name);
}

function markedBlock(file: string, name: string): string {
  const text = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
  const marker = `<!-- tested: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${file} has no block marked ${marker}`);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (match === null) throw new Error(`${file}: no fenced block after ${marker}`);
  return match[1]!;
}

/** A shell block's commands, one per line (backslash-continued lines joined). */
export function shellLines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The one line of `lines` that matches `pattern` (a doc that drifted fails here, by name). */
export function lineMatching(lines: readonly string[], pattern: RegExp): string {
  const found = lines.filter((l) => pattern.test(l));
  if (found.length !== 1) throw new Error(`expected one line matching ${pattern} in:\n${lines.join('\n')}`);
  return found[0]!;
}

/** Replaces each `from` (which must occur) with `to`; a missing one means the doc drifted. */
export function substitute(block: string, pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = block;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`expected "${from}" in the documented block:\n${block}`);
    out = out.replaceAll(from, to);
  }
  return out;
}
