import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../support/fixture-path.js';

/**
 * Every name a module of src/ exports is imported by some other file: another module, a test, the
 * bench or a build script. An export nobody imports widens a module's surface for nothing (and
 * often hides dead code): drop the `export`, or the code. The public entry points are the
 * exception: their exports are for users of the package (package.json "exports" and "bin").
 */

const ROOT = repoRoot();
/** Where importers live; src/ is also where the exports are checked. */
const SCANNED = ['src', 'test', 'bench', 'scripts'];
const EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];

/** The package's entry points in src/, from package.json (`./dist/src/x.js` is `src/x.ts`). */
function publicEntryPoints(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string>; exports?: Record<string, unknown> };
  const targets = [
    ...Object.values(pkg.bin ?? {}),
    ...Object.values(pkg.exports ?? {}).flatMap((entry) => (typeof entry === 'object' && entry ? Object.values(entry) : [entry])),
  ];
  return [...new Set(targets.filter((target): target is string => typeof target === 'string' && /(^|\/)dist\/src\/.*\.js$/.test(target)).map(fromDist))].sort();
}

/** `dist/src/a/b.js` (as built) is `src/a/b.ts`; other paths stay as they are. */
function fromDist(file: string): string {
  const relative = path.relative(ROOT, path.resolve(ROOT, file)).split(path.sep).join('/');
  return relative.replace(/^dist\//, '').replace(/\.js$/, '.ts');
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** A file as the repository names it: `src/cli/main.ts`. */
function rel(file: string): string {
  return path.relative(ROOT, file).split(path.sep).join('/');
}

/** The file a module specifier names, or null (a package, or a path computed at run time). */
function resolveSpecifier(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  return fromDist(rel(path.resolve(path.dirname(fromFile), specifier)));
}

/** The specifier of `import('x')` or `import(new URL('x', import.meta.url))`. */
function dynamicSpecifier(call: ts.CallExpression): string | null {
  const arg = call.arguments[0];
  if (arg && ts.isStringLiteralLike(arg)) return arg.text;
  if (arg && ts.isNewExpression(arg) && arg.arguments?.[0] && ts.isStringLiteralLike(arg.arguments[0])) return arg.arguments[0].text;
  return null;
}

function bindingNames(pattern: ts.BindingName): string[] | null {
  if (!ts.isObjectBindingPattern(pattern)) return null;
  return pattern.elements.map((element) => (element.propertyName ?? element.name).getText());
}

/** Skips `await` and parentheses upwards. */
function outerExpression(node: ts.Node): ts.Node {
  let current = node;
  while (ts.isAwaitExpression(current.parent) || ts.isParenthesizedExpression(current.parent)) current = current.parent;
  return current;
}

/**
 * The names a dynamic import takes: `const { A } = await import(x)`, `(await import(x)).A`,
 * `const [{ A }, { B }] = await Promise.all([import(x), import(y)])`; null when it cannot be told
 * (then every export of the module counts as used).
 */
function dynamicNames(call: ts.CallExpression): string[] | null {
  const outer = outerExpression(call);
  const parent = outer.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.expression === outer) return [parent.name.text];
  if (ts.isVariableDeclaration(parent) && parent.initializer === outer) return bindingNames(parent.name);
  if (ts.isArrayLiteralExpression(parent) && ts.isCallExpression(parent.parent) && parent.parent.expression.getText() === 'Promise.all') {
    const declaration = outerExpression(parent.parent).parent;
    if (ts.isVariableDeclaration(declaration) && ts.isArrayBindingPattern(declaration.name)) {
      const element = declaration.name.elements[parent.elements.indexOf(outer as ts.Expression)];
      return element && ts.isBindingElement(element) ? bindingNames(element.name) : null;
    }
  }
  return null;
}

interface Module {
  /** Exported names, with the line each is declared on. */
  exports: Map<string, number>;
  /** Names this file takes from others, by file; '*' for all of them. */
  uses: Map<string, Set<string>>;
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((modifier) => modifier.kind === kind);
}

function readModule(file: string, text: string): Module {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const exports = new Map<string, number>();
  const uses = new Map<string, Set<string>>();
  const lineOf = (node: ts.Node): number => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const use = (specifier: string, names: readonly string[] | null): void => {
    const target = resolveSpecifier(file, specifier);
    if (target === null) return;
    const set = uses.get(target) ?? new Set<string>();
    for (const name of names ?? ['*']) set.add(name);
    uses.set(target, set);
  };

  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const clause = statement.importClause;
      const names: string[] = [];
      if (clause?.name) names.push('default');
      if (clause?.namedBindings && ts.isNamespaceImport(clause.namedBindings)) names.push('*');
      if (clause?.namedBindings && ts.isNamedImports(clause.namedBindings)) {
        for (const element of clause.namedBindings.elements) names.push((element.propertyName ?? element.name).text);
      }
      use(statement.moduleSpecifier.text, names);
    } else if (ts.isExportDeclaration(statement)) {
      const from = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier) ? statement.moduleSpecifier.text : null;
      if (!statement.exportClause) {
        if (from !== null) use(from, ['*']); // export * from: everything there is used by whoever uses this
      } else if (ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) exports.set(element.name.text, lineOf(element));
        if (from !== null)
          use(
            from,
            statement.exportClause.elements.map((element) => (element.propertyName ?? element.name).text),
          );
      }
    } else if (ts.isExportAssignment(statement)) {
      exports.set('default', lineOf(statement));
    } else if (hasModifier(statement, ts.SyntaxKind.ExportKeyword)) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name)) exports.set(declaration.name.text, lineOf(declaration));
        }
      } else {
        const named = statement as ts.DeclarationStatement;
        const name = hasModifier(statement, ts.SyntaxKind.DefaultKeyword) ? 'default' : named.name && ts.isIdentifier(named.name) ? named.name.text : null;
        if (name !== null && !exports.has(name)) exports.set(name, lineOf(statement));
      }
    }
  }

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const specifier = dynamicSpecifier(node);
      if (specifier !== null) use(specifier, dynamicNames(node));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      use(node.argument.literal.text, node.qualifier ? [node.qualifier.getText().split('.')[0]!] : ['*']);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { exports, uses };
}

/** `src/x.ts:12 name` for every export of src/ that no other file takes. */
function unusedExports(files: ReadonlyMap<string, string>, publicFiles: readonly string[]): string[] {
  const modules = new Map([...files].map(([file, text]) => [rel(file), readModule(file, text)]));
  const used = new Map<string, Set<string>>();
  for (const [file, module] of modules) {
    for (const [target, names] of module.uses) {
      if (target === file) continue;
      const set = used.get(target) ?? new Set<string>();
      for (const name of names) set.add(name);
      used.set(target, set);
    }
  }
  const unused: string[] = [];
  for (const [file, module] of modules) {
    if (!file.startsWith('src/') || publicFiles.includes(file)) continue;
    const takenHere = used.get(file) ?? new Set<string>();
    if (takenHere.has('*')) continue;
    for (const [name, line] of module.exports) if (!takenHere.has(name)) unused.push(`${file}:${line} ${name}`);
  }
  return unused.sort();
}

function repositoryFiles(): Map<string, string> {
  return new Map(SCANNED.flatMap((dir) => listFiles(path.join(ROOT, dir))).map((file) => [file, readFileSync(file, 'utf8')] as const));
}

test('the public entry points are the plugin API and the command', () => {
  assert.deepEqual(publicEntryPoints(), ['src/cli/main.ts', 'src/plugin-api.ts']);
});

test('every export of src/ is imported by another file (src/, test/, bench/, scripts/) or is public', () => {
  const started = performance.now();
  const unused = unusedExports(repositoryFiles(), publicEntryPoints()).map((entry) => entry.replace(/:\d+ /, ' '));
  assert.deepEqual(unused, [], 'drop the `export` (or the code, if nothing uses it) of these names');
  assert.ok(performance.now() - started < 5_000, 'the scan takes under 5 s');
});

test('the export scan sees named, default, type, re-exported and dynamic imports, and no use from the file itself', () => {
  const at = (name: string): string => path.join(ROOT, name);
  const files = new Map([
    [
      at('src/a.ts'),
      [
        'export function usedByName(): void {}',
        'export const usedByType = 1, unusedConst = 2;',
        'export interface UnusedType {}',
        'export class UsedLate {}',
        'export type Renamed = number;',
        'export const selfOnly = 1;',
        'const x = selfOnly;',
        'export { x as alias };',
      ].join('\n'),
    ],
    [at('src/b.ts'), 'export const everything = 1;'],
    [at('src/c.ts'), "export { Renamed as R } from './a.js';\nexport default 1;"],
    [at('src/d.ts'), 'export const viaPromiseAll = 1;\nexport const viaProperty = 1;\nexport const viaUrl = 1;'],
    [at('src/e.ts'), "export * from './f.js';"],
    [at('src/f.ts'), 'export const reExported = 1;'],
    [
      at('test/t.ts'),
      [
        "import { usedByName } from '../src/a.js';",
        "import type { usedByType as T } from '../src/a.js';",
        "import def from '../src/c.js';",
        "const [{ viaPromiseAll }] = await Promise.all([import('../src/d.js')]);",
        "const v = (await import('../src/d.js')).viaProperty;",
        "const { UsedLate } = await import('../src/a.js');",
        "import * as everything from '../src/b.js';",
        "import { reExported } from '../src/e.js';",
      ].join('\n'),
    ],
    [at('scripts/s.mjs'), "const { viaUrl } = await import(new URL('../dist/src/d.js', import.meta.url));"],
  ]);
  assert.deepEqual(unusedExports(files, []), ['src/a.ts:2 unusedConst', 'src/a.ts:3 UnusedType', 'src/a.ts:6 selfOnly', 'src/a.ts:8 alias', 'src/c.ts:1 R']);
  assert.deepEqual(unusedExports(files, ['src/a.ts', 'src/c.ts']), []);
});
