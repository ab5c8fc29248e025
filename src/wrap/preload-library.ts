import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WrapError } from '../errors.js';

/** File name of the library scripts/build-native.sh builds from native/websockify-preload.c. */
const PRELOAD_LIBRARY_NAME = 'websockify-preload.so';

/**
 * The package root, found from this module's own location (dist/src/wrap/ or src/wrap/), so the
 * library is found wherever the package is installed and whatever the working directory is.
 * The reference searched relative to argv[0], which broke under symlinks and `python -m`.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  // dist/src/wrap -> package root is three levels up; src/wrap -> two. Walk up to package.json's
  // directory that also holds native/.
  for (let i = 0; i < 5; i++) {
    try {
      accessSync(path.join(dir, 'native'), constants.F_OK);
      accessSync(path.join(dir, 'package.json'), constants.F_OK);
      return dir;
    } catch {
      dir = path.dirname(dir);
    }
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

function preloadLibraryPath(): string {
  return path.join(packageRoot(), 'native', 'build', PRELOAD_LIBRARY_NAME);
}

/**
 * The absolute path of the built preload library, or a WrapError naming the fix. The platform
 * check comes first: LD_PRELOAD interposition is a Linux (glibc/musl) mechanism here.
 */
export function findPreloadLibrary(platform: NodeJS.Platform = process.platform): string {
  if (platform !== 'linux') {
    throw new WrapError(`wrap mode needs Linux (LD_PRELOAD); this is ${platform}. Run the program yourself and point websockify at it instead`);
  }
  const file = preloadLibraryPath();
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new WrapError(missingLibraryMessage(file), err);
  }
  return file;
}

/**
 * The fix depends on how websockify-ts got here: a checkout (it has tsconfig.json) is rebuilt
 * with `npm run build`; an installed package ships only the C source, compiled by its
 * postinstall script, which `npm rebuild` runs again once a compiler is there.
 */
function missingLibraryMessage(file: string): string {
  let checkout = true;
  try {
    accessSync(path.join(packageRoot(), 'tsconfig.json'), constants.F_OK);
  } catch {
    checkout = false;
  }
  return checkout
    ? `wrap mode needs the preload library ${file}, which is missing: install a C compiler (e.g. apt-get install gcc libc6-dev) and run 'npm run build'`
    : `wrap mode needs the preload library ${file}, which was not built when websockify-ts was installed (that needs a C compiler): ` +
        `install one (e.g. apt-get install gcc libc6-dev) and run 'npm rebuild websockify-ts' (with -g for a global install)`;
}
