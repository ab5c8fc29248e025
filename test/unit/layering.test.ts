import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../support/fixture-path.js';

/**
 * The layers of src/, from the entry point down. A module may import from its own layer and from
 * any layer listed after it, never from one listed before it: the flow goes one way, so the lower
 * layers load (and can be tested) without the upper ones. `import type` counts too: a type
 * import back up would mean a lower layer's contract is defined by an upper one. There are no
 * exceptions: a piece two layers share goes down to the lower one (or to a small module of its own
 * in a layer below both).
 */
const LAYERS: readonly { name: string; why: string }[] = [
  { name: 'cli', why: 'the entry point: argv -> Config, the process lifecycle; starts everything below' },
  { name: 'cluster', why: '--workers: the primary and its workers, each running a server' },
  { name: 'server', why: 'the front door, the upgrade path, the connection registry' },
  { name: 'reverse', why: 'reverse connections: a listener for held servers, paired at upgrade by the server' },
  { name: 'listen', why: 'opening a listening socket (tcp, unix, inherited fd), for both the server and the reverse listener' },
  { name: 'http', why: 'plain HTTP answers of the server (the web root, recordings, error pages)' },
  { name: 'record', why: 'session recordings and their index; observes proxy sessions' },
  { name: 'metrics', why: 'prom-client collectors and the ops endpoints; observes proxy sessions and the reverse side (reverse-metrics.ts)' },
  { name: 'proxy', why: 'one session: the WebSocket <-> TCP bridge, dialling the target' },
  { name: 'admission', why: 'who may connect and to which target: handshake, tokens, access control' },
  { name: 'plugin-api', why: 'the public surface third-party plugins import (src/plugin-api.ts)' },
  { name: 'plugins', why: 'the built-in token and auth plugins and their loader' },
  { name: 'tls', why: 'certificates, their reload, TLS towards the target' },
  { name: 'wrap', why: 'the wrapped program (WRAP_COMMAND_LINE) and its respawn' },
  {
    name: 'ws-package',
    why: 'the ws package, loaded once with require (src/ws-package.ts) for the upgrade path and the handshake check; imports nothing of ours',
  },
  { name: 'config', why: 'the Config shape and pure parsing helpers, no behaviour' },
  { name: 'log', why: 'the logger and its sinks, and the words of errors in log lines; anything may log' },
  { name: 'clock', why: 'the time and the timers (src/clock.ts) of deadlines and heartbeats, so tests advance them by hand; imports nothing of ours' },
  { name: 'errors', why: 'typed errors (src/errors.ts); imports nothing of ours' },
];

interface Edge {
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
}

const SRC = path.join(repoRoot(), 'src');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Static `import ... from`, `export ... from`, side-effect `import '...'` and dynamic `import('...')`. */
const IMPORT_RE = /\b(?:(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?|import\s*\(\s*)(['"])(\.[^'"]+)\3/g;

function relativeImports(file: string, text: string): Edge[] {
  const edges: Edge[] = [];
  for (const match of text.matchAll(IMPORT_RE)) {
    const target = path.resolve(path.dirname(file), match[4]!).replace(/\.js$/, '.ts');
    const line = text.slice(0, match.index).split('\n').length;
    edges.push({ from: file, to: target, line, typeOnly: match[2] !== undefined });
  }
  return edges;
}

/** The layer of a file: its first folder under src/, or its name for a top-level file. */
function layerOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? parts[0]! : parts[0]!.replace(/\.ts$/, '');
}

function rel(file: string): string {
  return path.relative(SRC, file).split(path.sep).join('/');
}

test('every folder of src/ is in the layer list', () => {
  const names = new Set(LAYERS.map((layer) => layer.name));
  const unknown = [...new Set(sourceFiles(SRC).map(layerOf))].filter((layer) => !names.has(layer));
  assert.deepEqual(unknown, [], 'add these to LAYERS in test/unit/layering.test.ts, with a reason');
});

test('no module imports from a layer above its own', () => {
  const rank = new Map(LAYERS.map((layer, index) => [layer.name, index]));
  const backEdges: string[] = [];
  for (const file of sourceFiles(SRC)) {
    for (const edge of relativeImports(file, readFileSync(file, 'utf8'))) {
      const from = rank.get(layerOf(edge.from));
      const to = rank.get(layerOf(edge.to));
      if (from === undefined || to === undefined || to >= from) continue;
      backEdges.push(`${rel(edge.from)}:${edge.line} imports ${edge.typeOnly ? 'type from ' : ''}${rel(edge.to)}`);
    }
  }
  assert.deepEqual(backEdges, [], 'move the shared piece down to the lowest layer that uses it (see LAYERS): there are no exceptions');
});

/**
 * The process itself is touched in two files of cli/, and the code below gets narrow views of it
 * (cluster/process-signals.ts, wrap/wrapped-program.ts's ProcessGroups): signal and exit handlers,
 * ending the process and signalling others in lifecycle.ts; the IPC channel to the parent (a
 * worker's primary, a -D daemon's parent) in parent-channel.ts, which also listens for its
 * messages.
 */
const PROCESS_OWNERS: readonly { files: readonly string[]; members: readonly string[] }[] = [
  { files: ['cli/parent-channel.ts'], members: ['send', 'disconnect', 'connected', 'channel'] },
  {
    files: ['cli/lifecycle.ts', 'cli/parent-channel.ts'],
    members: ['on', 'once', 'off', 'addListener', 'prependListener', 'prependOnceListener', 'removeListener', 'removeAllListeners'],
  },
  { files: ['cli/lifecycle.ts'], members: ['emit', 'exit', 'reallyExit', 'abort', 'kill'] },
];
const PROCESS_MEMBERS = new Map(PROCESS_OWNERS.flatMap(({ files, members }) => members.map((member) => [member, files] as const)));

/** `process.<member>` outside the files allowed to use it (code only: comments and strings do not count). */
function processUses(file: string, text: string): string[] {
  const found: string[] = [];
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'process') {
      const allowed = PROCESS_MEMBERS.get(node.name.text);
      if (allowed && !allowed.includes(rel(file))) {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        found.push(`${rel(file)}:${line} process.${node.name.text}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('only cli/lifecycle.ts and cli/parent-channel.ts handle signals, exit, or talk to the parent process', () => {
  const uses = sourceFiles(SRC).flatMap((file) => processUses(file, readFileSync(file, 'utf8')));
  assert.deepEqual(uses, [], 'take a narrow view instead (cluster/process-signals.ts: SupervisorProcess, WorkerProcess, ParentChannel)');
});

test('the process check sees calls and reads of process members, not comments or strings', () => {
  const text = [
    "process.on('message', () => undefined);",
    '// process.exit(1) in a comment',
    "const words = 'process.send(x)';",
    'if (process.connected) process.send?.(words);',
    'worker.process.kill();',
    'const cwd = process.cwd();',
  ].join('\n');
  assert.deepEqual(processUses(path.join(SRC, 'reverse', 'x.ts'), text), [
    'reverse/x.ts:1 process.on',
    'reverse/x.ts:4 process.connected',
    'reverse/x.ts:4 process.send',
  ]);
  assert.deepEqual(processUses(path.join(SRC, 'cli', 'parent-channel.ts'), text), []);
});

test('the import reader sees static, type-only, re-export and dynamic imports', () => {
  const file = path.join(SRC, 'log', 'x.ts');
  const text = [
    "import { a } from '../cli/main.js';",
    "import type { B } from '../server/listener.js';",
    "export { c } from '../proxy/bridge.js';",
    'import {',
    '  d,',
    "} from '../record/recorder.js';",
    "const m = await import('../metrics/metrics.js');",
    "import '../tls/setup-tls.js';",
    "import net from 'node:net';",
  ].join('\n');
  const seen = relativeImports(file, text).map((edge) => [rel(edge.to), edge.typeOnly, edge.line]);
  assert.deepEqual(seen, [
    ['cli/main.ts', false, 1],
    ['server/listener.ts', true, 2],
    ['proxy/bridge.ts', false, 3],
    ['record/recorder.ts', false, 4],
    ['metrics/metrics.ts', false, 7],
    ['tls/setup-tls.ts', false, 8],
  ]);
});
