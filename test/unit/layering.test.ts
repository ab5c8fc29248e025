import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
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
