/** Reads the fenced blocks marked `<!-- tested: NAME -->` out of a docs/ page, so docs are tested. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function docBlock(doc: string, name: string): string {
  const text = readFileSync(new URL(`../../../docs/${doc}`, import.meta.url), 'utf8');
  const marker = `<!-- tested: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`docs/${doc} has no block marked ${marker}`);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (match === null) throw new Error(`docs/${doc}: no fenced block after ${marker}`);
  return match[1]!;
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
