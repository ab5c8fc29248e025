import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { WrapError } from '../errors.js';

/**
 * Where the wrapped program's executable is, found as the shell would (a name with a slash as
 * given, else the first executable of that name on PATH). Checked before the port is taken, so
 * a typo in the command is one line at start rather than a listener whose program never ran.
 */
export function findWrappedProgram(name: string, searchPath: string | undefined): string {
  if (name.includes('/')) {
    const problem = executableProblem(name);
    if (problem !== null) throw new WrapError(`wrapped program '${name}' ${problem}`);
    return name;
  }
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (executableProblem(candidate) === null) return candidate;
  }
  throw new WrapError(`wrapped program '${name}' not found on PATH`);
}

/** Why `file` cannot be run, in words; null when it can. */
function executableProblem(file: string): string | null {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    return 'not found';
  }
  if (!isFile) return 'is not a file';
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return 'is not executable (permission denied)';
  }
  return null;
}
