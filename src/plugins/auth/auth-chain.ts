import type { AuthPlugin, AuthRequest } from './auth-plugin.js';

/**
 * Several auth checks at once (repeated --auth-plugin, plus --allow-origin): every one must
 * allow, in the order given; the first refusal is the answer. The reference allows one plugin.
 */
export class AuthChain implements AuthPlugin {
  constructor(readonly plugins: readonly AuthPlugin[]) {}

  async authenticate(request: AuthRequest): Promise<void> {
    for (const plugin of this.plugins) await plugin.authenticate(request);
  }

  async close(): Promise<void> {
    await Promise.all(this.plugins.map((p) => p.close?.()));
  }
}
