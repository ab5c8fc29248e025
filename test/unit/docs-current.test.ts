import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OPTIONS } from '../../src/cli/option-table.js';

const root = new URL('../../../', import.meta.url);
const docsDir = new URL('docs/', root);

/** What a reader of the repository reads: code, tests, docs, scripts. Built and fetched output is left out. */
const SCANNED = ['src', 'test', 'web', 'bench', 'docs', 'native', 'scripts', 'contrib', 'bin', '.ci', 'README.md', 'run', 'run-tests'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'build', 'results', '.peers', 'test-artifacts']);
const TEXT = /\.(ts|js|mjs|md|c|h|html|css|sh|txt|json|service|socket)$|^(run|run-tests|rebind|Dockerfile)$/;

function scannedFiles(): string[] {
  const files: string[] = [];
  const walk = (rel: string): void => {
    const url = new URL(rel, root);
    if (statSync(url).isDirectory()) {
      for (const name of readdirSync(url).sort()) {
        if (!SKIPPED_DIRS.has(name)) walk(`${rel}/${name}`);
      }
    } else if (TEXT.test(rel.slice(rel.lastIndexOf('/') + 1))) {
      files.push(rel);
    }
  };
  for (const top of SCANNED) walk(top);
  return files;
}

/**
 * Phrases that point at notes outside the repository (planning notes, reviews, a private copy of
 * the reference's behaviour) or at option names that no longer exist. Each rule says what to
 * write instead. The section sign is allowed only as `RFC <number> <section sign><section>`; an
 * issue number only with its public project named first (`novnc/websockify issue 236`).
 * The patterns are spelled so that this file does not match them itself.
 */
const FORBIDDEN: Array<{ pattern: RegExp; instead: string }> = [
  { pattern: /\b[Ss]essions? [0-9]/, instead: 'say what changed or link docs/performance-history.md' },
  { pattern: /(?<![\w.-]+\/[\w.-]+ )\b[Ii]ssues? #?[0-9]/, instead: 'state the reason; name the project for a public upstream issue' },
  { pattern: /\b[Ff]indings? #?[0-9]|\b[Ff]laws? #?[0-9]|\b[Rr]ound [0-9]/, instead: 'state the reason itself' },
  { pattern: /(?<!RFC [0-9]{3,5} )\u00a7/, instead: 'RFC <number> \u00a7<section>, or state the reason' },
  { pattern: /\bthe seed[s]\b|\bseeds? [0-9]{3}\b|\bthe seed[']s\b/i, instead: 'describe the scenario' },
  {
    pattern: /\bshared[ /]reference\b|\/work\/shared\b|\bbehaviour do[c]\b|\bthe brie[f]\b|\bthe revie[w]\b/i,
    instead: 'say "the reference" (Python websockify, docs/deviations.md) or the reason',
  },
  { pattern: /until the core land(s|ed)\b/, instead: 'say what the code does today' },
  { pattern: /--token-failure-clos[e]\b|--record-max-siz[e]\b|--ssl-min-versio[n]\b/, instead: '--silent-token-failure, --max-record-size, --ssl-version' },
];

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
    assert.deepEqual(
      codes.filter((c) => !errors.includes(c)),
      [],
    );
  });

  it('indexes every file of docs/ in docs/README.md, and links only files that exist', () => {
    const index = readFileSync(new URL('README.md', docsDir), 'utf8');
    const files = readdirSync(docsDir).filter((f) => f.endsWith('.md') && f !== 'README.md');
    const linked = [...index.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1] ?? '');
    assert.ok(files.length > 10);
    assert.deepEqual(
      files.filter((f) => !linked.includes(f)),
      [],
      'files missing from docs/README.md',
    );
    assert.deepEqual(
      linked.filter((f) => !files.includes(f)),
      [],
      'docs/README.md links a file that does not exist',
    );
  });

  it('names only options that exist, in src/ and docs/ (a renamed option leaves no stale mention)', () => {
    const known = new Set(OPTIONS.map((o) => o.long));
    // Flags of other commands these files also show: the `novnc` subcommand, `npm run bench`,
    // npm, node (and V8 flags set at run time), docker, systemctl; `--opt` and `--heart` are syntax examples.
    const others = new Set([
      'listen',
      'vnc',
      'full',
      'quick',
      'runs',
      'ours-node-arg',
      'scenario',
      'only',
      'prof',
      'cpu-prof',
      'no-audit',
      'no-fund',
      'omit',
      'ignore-scripts',
      'no-package-lock',
      'single-threaded-gc',
      'min-semi-space-size',
      'max-semi-space-size',
      'semi-space-growth-factor',
      'always-sparkplug',
      'interrupt-budget',
      'ticks-before-optimization',
      'max-bytecode-size-for-early-opt',
      'trace-deopt',
      'no-lazy-feedback-allocation',
      'lazy-feedback-allocation',
      'no-cppheap-concurrent-marking',
      'trace-opt',
      'trace-deopt-verbose',
      'max-inlined-bytecode-size',
      'max-inlined-bytecode-size-cumulative',
      'no-turbo-inlining',
      'expose-gc',
      'no-expose-gc',
      'trace-gc-nvp',
      'no-parallel-scavenge',
      'no-concurrent-recompilation',
      'rm',
      'from',
      'stop-timeout',
      'interval',
      'now',
      'name',
      'opt',
      'heart',
      'read-only',
      'format',
      'sysctl',
    ]);
    const unknown: string[] = [];
    for (const file of scannedFiles().filter((f) => f.startsWith('src/') || f.startsWith('docs/'))) {
      readFileSync(new URL(file, root), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])/g)) {
            const name = m[1] ?? '';
            if (!known.has(name) && !others.has(name)) unknown.push(`${file}:${i + 1}: --${name}`);
          }
        });
    }
    assert.deepEqual(unknown, []);
  });

  it('speaks of the repository alone: no pointers to notes a reader cannot see, no renamed option names', () => {
    const files = scannedFiles();
    assert.ok(files.length > 200, `only ${files.length} files scanned`);
    const found: string[] = [];
    for (const file of files) {
      readFileSync(new URL(file, root), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const { pattern, instead } of FORBIDDEN) {
            const m = pattern.exec(line);
            if (m) found.push(`${file}:${i + 1}: "${m[0]}" (${instead})`);
          }
        });
    }
    assert.deepEqual(found, []);
  });

  it('finds the phrases it forbids (so the check above can fail)', () => {
    const caught = (text: string): boolean => FORBIDDEN.some(({ pattern }) => pattern.test(text));
    for (const text of [
      'as measured in session' + ' 4',
      'the issue' + ' 7 target',
      'a token-existence oracle, \u00a78 #5',
      'reference \u00a74.2',
      'flaw' + ' #15',
      'the old clients described in the ' + 'seeds',
      '(seed ' + '004)',
      'see the shared ' + 'reference',
      'until the core ' + 'lands',
      '--token-failure-' + 'close',
    ]) {
      assert.ok(caught(text), text);
    }
    for (const text of [
      'RFC 6455 \u00a75.5.1: after sending close',
      'novnc/websockify issue 236 (public)',
      '10,000 sessions held',
      'so a failing cut can be reproduced from the seed',
      'as the reference does',
    ]) {
      assert.ok(!caught(text), text);
    }
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
