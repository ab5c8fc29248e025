import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OPTIONS } from '../../src/cli/option-table.js';

const docsDir = new URL('../../../docs/', import.meta.url);

describe('the documentation', () => {
  it('lists every command-line option in docs/cli.md (regenerate with node scripts/gen-cli-doc.mjs)', () => {
    const cli = readFileSync(new URL('cli.md', docsDir), 'utf8');
    const missing = OPTIONS.filter((o) => !cli.includes(`\`--${o.long}`)).map((o) => `--${o.long}`);
    assert.deepEqual(missing, []);
  });

  it('lists every error code in docs/errors.md', () => {
    const source = readFileSync(new URL('../src/errors.ts', docsDir), 'utf8');
    const codes = [...new Set(source.match(/WSFY_ERR_[A-Z_]+/g) ?? [])];
    const errors = readFileSync(new URL('errors.md', docsDir), 'utf8');
    assert.ok(codes.length > 10);
    assert.deepEqual(codes.filter((c) => !errors.includes(c)), []);
  });
});
