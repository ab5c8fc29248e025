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

  it('docs/plugins.md describes --web-auth as working and the per-address cap as counting the real client address', () => {
    const plugins = readFileSync(new URL('plugins.md', docsDir), 'utf8');
    const main = readFileSync(new URL('../src/cli/main.ts', docsDir), 'utf8');
    assert.match(main, /withWebAuth\(/, 'main.ts wires --web-auth');
    assert.doesNotMatch(plugins, /--web-auth[^.]*(recognised but|waits for|not (yet )?(built|implemented))/);
    assert.match(plugins, /per-address cap counts the real client address/);
    assert.doesNotMatch(plugins, /per-address cap counts the address websockify sees \(the socket peer\)/);
  });
});
