import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';

/**
 * The token plugin contract (reference: `lookup(token)` on a class built once with one source
 * argument). A lookup answers a target, or null when the token is unknown. It may throw a
 * WebsockifyError; any other exception is treated as a plugin failure (HTTP 502, logged) and
 * never takes the process down.
 */
export interface TokenPlugin {
  lookup(token: string): Promise<TargetSpec | null>;
  /**
   * Whether some token's target is `reverse:<id>` (docs/reverse.md): only such IDs may register
   * on --reverse-listen. A plugin that cannot list its targets leaves it out, and then
   * --reverse-listen needs --reverse-allow-any-id.
   */
  hasReverseId?(id: string): Promise<boolean>;
  /** Release connections, watchers, timers. */
  close?(): Promise<void>;
}

export type TokenPluginFactory = (source: string | null, context: PluginContext) => TokenPlugin | Promise<TokenPlugin>;
