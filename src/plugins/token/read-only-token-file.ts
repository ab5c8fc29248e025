import { ConfigError } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { TokenFileStore } from './token-file-store.js';

/**
 * `ReadOnlyTokenFile`: a token file (or directory of them) read once. The reference reads it
 * lazily on the first lookup; we read it at startup so a missing or unreadable file stops the
 * start with a clear message instead of failing every connection.
 */
export class ReadOnlyTokenFile implements TokenPlugin {
  protected constructor(protected readonly store: TokenFileStore) {}

  static async create(source: string | null, context: PluginContext): Promise<ReadOnlyTokenFile> {
    return new ReadOnlyTokenFile(await openStore('ReadOnlyTokenFile', source, context));
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    return this.store.get(token);
  }

  async hasReverseId(id: string): Promise<boolean> {
    return this.store.hasReverseId(id);
  }
}

export async function openStore(plugin: string, source: string | null, context: PluginContext): Promise<TokenFileStore> {
  if (source === null || source === '') throw new ConfigError(`${plugin} requires --token-source FILE or DIRECTORY`);
  const store = new TokenFileStore(source, context.logger, { quietSyntaxErrors: context.speaksForServer === false });
  try {
    await store.refresh();
  } catch (err) {
    throw new ConfigError(`${plugin}: cannot read token source ${source}: ${(err as Error).message}`, err);
  }
  return store;
}
