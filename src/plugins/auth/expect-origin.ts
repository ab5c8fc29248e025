import { ConfigError, HttpRejection } from '../../errors.js';
import type { PluginContext } from '../plugin-context.js';
import type { AuthPlugin, AuthRequest } from './auth-plugin.js';

/**
 * `ExpectOrigin`: the `Origin` header must be one of the listed origins (whitespace-separated
 * in --auth-source, or one per --allow-origin). Missing or other: 403 `Invalid Origin`, as the
 * reference. Comparison is exact, as the reference (browsers serialise origins in lower case).
 * This is the defence against cross-site WebSocket hijacking, which the reference leaves off.
 */
export class ExpectOrigin implements AuthPlugin {
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  static create(source: string | null, _context: PluginContext): ExpectOrigin {
    const origins = (source ?? '').split(/\s+/).filter((o) => o !== '');
    if (origins.length === 0) throw new ConfigError('ExpectOrigin requires --auth-source "ORIGIN [ORIGIN...]"');
    return new ExpectOrigin(origins);
  }

  async authenticate(request: AuthRequest): Promise<void> {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !this.origins.has(origin)) {
      throw new HttpRejection('WSFY_ERR_FORBIDDEN', 403, 'Invalid Origin');
    }
  }
}
