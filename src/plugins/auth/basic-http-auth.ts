import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, HttpRejection } from '../../errors.js';
import type { PluginContext } from '../plugin-context.js';
import type { AuthPlugin, AuthRequest } from './auth-plugin.js';

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="Websockify"' };
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `BasicHTTPAuth` (RFC 7617). Source: `user:password` (the password may contain `:`), or
 * `@/path/to/file` holding one `user:password` per line (blank lines and `#` lines skipped),
 * which keeps the secret out of `ps` and the shell history. The file is read once at startup.
 *
 * Statuses, as the reference: no Authorization header, or wrong credentials: 401 with
 * `WWW-Authenticate: Basic realm="Websockify"`; another scheme, or decoded text without `:`:
 * 403. Fixed: malformed base64 is a 403 (the reference let the exception close the connection
 * with no response); the scheme name is matched case-insensitively (RFC 7235 §2.1; the reference gave 403
 * for `basic`); credentials are compared as UTF-8 bytes in constant time (SHA-256 digests of
 * equal length through timingSafeEqual, every configured credential checked).
 */
export class BasicHTTPAuth implements AuthPlugin {
  private readonly digests: Buffer[];

  private constructor(credentials: string[]) {
    this.digests = credentials.map(digest);
  }

  static create(source: string | null, _context: PluginContext): BasicHTTPAuth {
    return new BasicHTTPAuth(readCredentials(source));
  }

  async authenticate(request: AuthRequest): Promise<void> {
    const header = request.headers.authorization;
    if (header === undefined || header === '') throw new HttpRejection('WSFY_ERR_AUTH', 401, 'Unauthorized', CHALLENGE);
    const space = header.indexOf(' ');
    if (space === -1 || header.slice(0, space).toLowerCase() !== 'basic') {
      throw new HttpRejection('WSFY_ERR_AUTH', 403, 'Forbidden');
    }
    const encoded = header.slice(space + 1).trim();
    if (!BASE64.test(encoded) || encoded.length % 4 !== 0) throw new HttpRejection('WSFY_ERR_AUTH', 403, 'Forbidden');
    const decoded = Buffer.from(encoded, 'base64');
    if (!decoded.includes(0x3a)) throw new HttpRejection('WSFY_ERR_AUTH', 403, 'Forbidden');
    const presented = createHash('sha256').update(decoded).digest();
    let match = false;
    for (const expected of this.digests) match = timingSafeEqual(presented, expected) || match;
    if (!match) throw new HttpRejection('WSFY_ERR_AUTH', 401, 'Unauthorized', CHALLENGE);
  }
}

function digest(credential: string): Buffer {
  return createHash('sha256').update(credential, 'utf8').digest();
}

function readCredentials(source: string | null): string[] {
  if (source === null || source === '') throw new ConfigError('BasicHTTPAuth requires --auth-source user:password or @FILE');
  let lines: string[];
  let where = '--auth-source';
  if (source.startsWith('@')) {
    const file = source.slice(1);
    where = file;
    try {
      lines = readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.replace(/\r$/, ''))
        .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
    } catch (err) {
      throw new ConfigError(`BasicHTTPAuth: cannot read credentials file ${file}: ${(err as Error).message}`, err);
    }
  } else {
    lines = [source];
  }
  if (lines.length === 0) throw new ConfigError(`BasicHTTPAuth: no credentials in ${where}`);
  for (const line of lines) {
    if (!line.includes(':')) throw new ConfigError(`BasicHTTPAuth: credentials in ${where} must be user:password`);
  }
  return lines;
}
