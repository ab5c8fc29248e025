// Bundles the built CLI (dist/src/cli/main.js, as tsc wrote it) into a few files in the same
// place: main.js and the chunks it imports, with every module an option loads on demand still in
// a chunk of its own that only that option imports. Node's ES module loader costs ~0.5 ms of CPU
// per module; a plain start loaded ~105 of ours and took 240 ms of CPU, bundled it takes ~180
// (docs/performance.md, "Starting up"), which --inetd and --run-once pay per connection.
//
// The chunks sit beside main.js (dist/src/cli/), at the depth of every other module of dist/src,
// so what a module finds relative to its own file (web/, native/, package.json) it finds from a
// chunk too. dist/src/errors.js stays a module of its own: plugins import the error classes
// through websockify-ts/plugin, and the core tells them apart with instanceof, so both must get
// the same classes. main.bundle-meta.json records which modules went into which file
// (test/integration/start-imports.test.ts reads it).
import { chmodSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cliDir = join(root, 'dist/src/cli');
const errorsModule = join(root, 'dist/src/errors.js');
const BUNDLED = /\.bundle\.js$/;

// Already bundled (this script ran since tsc last wrote main.js): nothing to do.
if (readFileSync(join(cliDir, 'main.js'), 'utf8').includes('.bundle.js"')) process.exit(0);

// What an earlier bundling left (the build's own clean-up keeps chunks, having no source).
for (const name of readdirSync(cliDir)) if (BUNDLED.test(name) || name === 'main.bundle-meta.json') rmSync(join(cliDir, name));

// The bundle only makes the start cheaper: without esbuild (an install that left out optional
// packages, where its binary comes from) the CLI runs as tsc wrote it, and says why.
let build;
try {
  ({ build } = await import('esbuild'));
} catch (err) {
  process.stderr.write(`bundle-cli: the CLI is left unbundled (starts take ~50 ms more CPU): ${err.message.split('\n')[0]}\n`);
  process.exit(0);
}

/** Imports of dist/src/errors.js stay imports of that file. */
const sharedErrors = {
  name: 'shared-errors',
  setup(builder) {
    builder.onResolve({ filter: /errors\.js$/ }, (args) => {
      const resolved = join(args.resolveDir, args.path);
      return resolved === errorsModule ? { path: '../errors.js', external: true } : undefined;
    });
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/src/cli/main.js' },
  outdir: 'dist/src/cli',
  entryNames: '[name].bundle',
  chunkNames: 'chunk-[hash].bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // npm packages stay where npm put them (ws and the native add-ons are loaded with require).
  packages: 'external',
  plugins: [sharedErrors],
  metafile: true,
  logLevel: 'warning',
});

renameSync(join(cliDir, 'main.bundle.js'), join(cliDir, 'main.js'));
chmodSync(join(cliDir, 'main.js'), 0o755);
const outputs = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  const name = file.replace(/^dist\/src\/cli\//, '').replace(/^main\.bundle\.js$/, 'main.js');
  outputs[name] = Object.keys(output.inputs);
}
writeFileSync(join(cliDir, 'main.bundle-meta.json'), `${JSON.stringify({ outputs }, null, 1)}\n`);
