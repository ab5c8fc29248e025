import { promises as fsp } from 'node:fs';
import { ConfigError, PluginFailure } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { containedPath, realDirectory } from './contained-path.js';
import { parseTarget } from './parse-target.js';

/** Target files are one line; anything bigger is not a token file and is not read whole. */
const MAX_FILE_BYTES = 64 * 1024;

/**
 * `TokenFileName`: the source is a directory; the token names a file in it whose content is
 * the target (`host:port`, `[v6]:port`, `unix_socket:/path`). The reference reduces the token to
 * its basename (`../x` reads `x`); we refuse any token that is not a plain name, and resolve
 * symlinks before checking the file is inside the directory. The reference crashes on content
 * with more than one colon (IPv6); we parse it.
 */
export class TokenFileName implements TokenPlugin {
  private constructor(private readonly dir: string) {}

  static async create(source: string | null, _context: PluginContext): Promise<TokenFileName> {
    try {
      return new TokenFileName(await realDirectory('TokenFileName', source));
    } catch (err) {
      throw new ConfigError((err as Error).message, err);
    }
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    const file = await containedPath(this.dir, token);
    if (file === null) return null;
    let text: string;
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) return null;
      if (st.size > MAX_FILE_BYTES) throw new Error(`file is larger than ${MAX_FILE_BYTES} bytes`);
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      // The file's path is the token: name the directory only, and the errno code (an fs
      // error's message quotes the path).
      throw new PluginFailure(`TokenFileName: cannot read a token file in ${this.dir}: ${code ?? (err as Error).message}`);
    }
    const target = parseTarget(text);
    if (target === null) throw new PluginFailure(`TokenFileName: a token file in ${this.dir} does not hold host:port or unix_socket:/path`);
    return target;
  }
}
