// Makes the built CLI executable, drops compiled files whose source is gone (a renamed test would
// otherwise keep running from dist/ under its old name), and records when the build happened
// (./run compares sources to it).
import { chmodSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

function* compiled(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* compiled(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

for (const top of ['src', 'test', 'bench']) {
  if (!existsSync(join(dist, top))) continue;
  for (const js of compiled(join(dist, top))) {
    const source = join(root, relative(dist, js)).replace(/\.js$/, '.ts');
    if (!existsSync(source)) {
      rmSync(js);
      rmSync(`${js}.map`, { force: true });
    }
  }
}

chmodSync(join(dist, 'src/cli/main.js'), 0o755);
writeFileSync(join(dist, '.build-stamp'), new Date().toISOString() + '\n');
