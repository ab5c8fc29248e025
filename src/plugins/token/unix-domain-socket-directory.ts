import { promises as fsp } from 'node:fs';
import { ConfigError } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { containedPath, realDirectory } from './contained-path.js';

/**
 * `UnixDomainSocketDirectory`: the token names a Unix socket directly inside the source
 * directory. A token can never leave the directory: `..`, separators and absolute paths are
 * refused, and the resolved (symlink-free) path must be a direct child of the real directory
 * (the reference's string-prefix check could be escaped; on master it cannot connect at
 * all). The entry must be a socket. The socket's path names the token, so it never reaches a
 * log line: the target's label is `<dir>/[token]`.
 */
export class UnixDomainSocketDirectory implements TokenPlugin {
  private constructor(private readonly dir: string) {}

  static async create(source: string | null, _context: PluginContext): Promise<UnixDomainSocketDirectory> {
    try {
      return new UnixDomainSocketDirectory(await realDirectory('UnixDomainSocketDirectory', source));
    } catch (err) {
      throw new ConfigError((err as Error).message, err);
    }
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    const socketPath = await containedPath(this.dir, token);
    if (socketPath === null) return null;
    try {
      const st = await fsp.stat(socketPath);
      // The path is the token: logs show the directory and a mask instead (docs/plugins.md).
      return st.isSocket() ? { kind: 'unix', path: socketPath, label: `${this.dir}/[token]` } : null;
    } catch {
      return null;
    }
  }
}
