import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import type { OptionValue } from './argv-parser.js';

/** The environment variable that may carry the key password, so it never shows in `ps`. */
export const KEY_PASSWORD_ENV = 'WEBSOCKIFY_KEY_PASSWORD';

/**
 * Where the TLS key password comes from, in this order: --key-password (the reference's flag,
 * visible in `ps`), --key-password-file FILE (first line; one trailing newline removed), then
 * $WEBSOCKIFY_KEY_PASSWORD. Giving both flags is a usage error rather than a silent choice.
 * Lives in cli/ because it reads the environment and a secret file; the result goes into
 * Config through BuildContext.keyPassword and is never logged. The variable is removed from
 * the environment whatever the source, so no child process ever inherits it.
 */
export function resolveKeyPassword(options: ReadonlyMap<string, OptionValue>, env: Record<string, string | undefined>, cwd: string): string | null {
  // Read once, then gone: a wrapped program (and all it starts) inherits our environment.
  const fromEnv = env[KEY_PASSWORD_ENV];
  delete env[KEY_PASSWORD_ENV];
  const inline = options.get('key-password');
  const file = options.get('key-password-file');
  if (inline !== undefined && file !== undefined) {
    throw new UsageError('--key-password and --key-password-file cannot be used together');
  }
  if (inline !== undefined) return String(inline);
  if (file !== undefined) {
    const full = path.resolve(cwd, String(file));
    let text: string;
    try {
      text = fs.readFileSync(full, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read key password file '${full}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
    }
    const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
    if (firstLine === '') throw new ConfigError(`key password file '${full}' is empty`);
    return firstLine;
  }
  return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
}
