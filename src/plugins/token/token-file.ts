import { PluginFailure } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { openStore } from './read-only-token-file.js';
import type { TokenFileStore } from './token-file-store.js';

/**
 * `TokenFile` (and the deprecated `--target-config FILE`): like ReadOnlyTokenFile, but edits,
 * new files and removed files in the source are seen by the next lookup. The reference re-reads
 * everything per lookup; we stat and re-parse only what changed (see TokenFileStore).
 */
export class TokenFile implements TokenPlugin {
  private constructor(private readonly store: TokenFileStore) {}

  static async create(source: string | null, context: PluginContext): Promise<TokenFile> {
    return new TokenFile(await openStore('TokenFile', source, context));
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    try {
      await this.store.refresh();
    } catch (err) {
      // The source vanished or became unreadable: fail closed (no stale routes), visibly.
      throw new PluginFailure(`token source ${this.store.source} cannot be read: ${(err as Error).message}`, err);
    }
    return this.store.get(token);
  }

  /** Edits to the source count at once, as for lookups; an unreadable source allows nothing. */
  async hasReverseId(id: string): Promise<boolean> {
    try {
      await this.store.refresh();
    } catch {
      return false;
    }
    return this.store.hasReverseId(id);
  }
}
