import { ConfigError, HttpRejection } from '../../errors.js';
import type { PluginContext } from '../plugin-context.js';
import type { AuthPlugin, AuthRequest } from './auth-plugin.js';

/**
 * `ClientCertCNAuth`: the common name of the client's **verified** TLS certificate must be one
 * of the listed names (whitespace-separated). The CN is taken only from
 * `AuthRequest.peerCertificate`, which the TLS layer fills after verification; request headers
 * are never consulted. The reference read an `SSL_CLIENT_S_DN_CN` header that a client could
 * send itself in any letter case, even over plain ws:// (an auth bypass). No certificate, a certificate
 * with no CN or with several CNs, or a CN not listed: 403.
 */
export class ClientCertCNAuth implements AuthPlugin {
  private readonly names: ReadonlySet<string>;

  private constructor(names: readonly string[]) {
    this.names = new Set(names);
  }

  static create(source: string | null, _context: PluginContext): ClientCertCNAuth {
    const names = (source ?? '').split(/\s+/).filter((n) => n !== '');
    if (names.length === 0) throw new ConfigError('ClientCertCNAuth requires --auth-source "CN [CN...]"');
    return new ClientCertCNAuth(names);
  }

  async authenticate(request: AuthRequest): Promise<void> {
    const cn: unknown = request.peerCertificate?.subject?.CN;
    if (typeof cn !== 'string' || !this.names.has(cn)) throw new HttpRejection('WSFY_ERR_FORBIDDEN', 403, 'Forbidden');
  }
}
