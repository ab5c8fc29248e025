// Copies the browser pages' static files and the vendored terminal emulator into dist/web, next to
// the modules tsc compiled from web/ (tsconfig.web.json). Everything comes from web/ or from
// node_modules installed by npm: nothing is fetched from elsewhere at build or run time.
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
const STATIC = /\.(html|css|svg|png|ico)$/;

function copyStatic(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyStatic(path);
    else if (STATIC.test(name)) {
      const dest = join(out, relative(join(root, 'web'), path));
      mkdirSync(dirname(dest), { recursive: true });
      cpSync(path, dest);
    }
  }
}
// Only the pages this script builds: web/novnc is served from the source tree by --novnc.
for (const page of ['terminal']) copyStatic(join(root, 'web', page));

const vendor = [
  ['@xterm/xterm/lib/xterm.mjs', 'vendor/xterm/xterm.mjs'],
  ['@xterm/xterm/css/xterm.css', 'vendor/xterm/xterm.css'],
  ['@xterm/xterm/LICENSE', 'vendor/xterm/LICENSE'],
  ['@xterm/addon-fit/lib/addon-fit.mjs', 'vendor/addon-fit/addon-fit.mjs'],
  ['@xterm/addon-fit/LICENSE', 'vendor/addon-fit/LICENSE'],
];
for (const [from, to] of vendor) {
  const dest = join(out, to);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(join(root, 'node_modules', from), dest);
}
