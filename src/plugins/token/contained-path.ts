import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * Maps a token to a path directly inside `dir`, or null when the token could name anything
 * else. The token is refused outright if it is empty, `.`/`..`, absolute, or contains a path
 * separator or NUL; the candidate is then resolved through symlinks (realpath) and must still
 * sit directly inside the real directory (checked with path.relative, not a string prefix: the
 * reference's prefix check let `../x`, absolute paths and `/run/vnc2` for `/run/vnc` through).
 * Returns null when the file does not exist.
 */
export async function containedPath(realDir: string, token: string): Promise<string | null> {
  if (!isPlainName(token)) return null;
  const candidate = path.resolve(realDir, token);
  if (!isDirectChild(realDir, candidate)) return null;
  let real: string;
  try {
    real = await fsp.realpath(candidate);
  } catch {
    return null;
  }
  return isDirectChild(realDir, real) ? real : null;
}

function isPlainName(token: string): boolean {
  return token !== '' && token !== '.' && token !== '..' && !token.includes('/') && !token.includes('\\') && !token.includes('\0') && !path.isAbsolute(token);
}

function isDirectChild(dir: string, candidate: string): boolean {
  const rel = path.relative(dir, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.includes(path.sep);
}

/** Resolves the plugin's directory once at startup; throws a readable message when it is not one. */
export async function realDirectory(plugin: string, source: string | null): Promise<string> {
  if (source === null || source === '') throw new Error(`${plugin} requires --token-source DIRECTORY`);
  let real: string;
  try {
    real = await fsp.realpath(source);
  } catch (err) {
    throw new Error(`${plugin}: cannot open directory ${source}: ${(err as Error).message}`);
  }
  const st = await fsp.stat(real);
  if (!st.isDirectory()) throw new Error(`${plugin} plugin requires a directory, got ${source}`);
  return real;
}
