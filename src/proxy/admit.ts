import type { IncomingMessage } from 'node:http';
import type { Config, TargetSpec } from '../config/config.js';
import { HttpRejection, WebsockifyError } from '../errors.js';
import type { AuthPlugin } from '../plugins/auth/auth-plugin.js';
import type { TokenPlugin } from '../plugins/token/token-plugin.js';
import type { PeerCertificate } from 'node:tls';
import { validateHandshake, type ValidatedHandshake } from './handshake.js';

export interface Admission {
  handshake: ValidatedHandshake;
  target: TargetSpec;
}

export interface AdmitContext {
  config: Config;
  tokenPlugin: TokenPlugin | null;
  authPlugins: readonly AuthPlugin[];
  /** Where the fixed target is when it changes at run time (wrap mode); else config.target. */
  currentTarget: () => TargetSpec | null;
  /** Extracts the token from the request (query, Host, path, cookie); null when absent. */
  extractToken: (req: IncomingMessage) => string | null;
}

export interface ClientFacts {
  clientAddress: string;
  peerCertificate: PeerCertificate | null;
}

/**
 * Decides whether an upgrade may proceed and to where, before the 101. Order: handshake
 * validity (400/426), then authentication (401/403), then the token lookup. The reference looks
 * the token up first, which tells unauthenticated clients which tokens exist; we do not.
 */
export async function admit(req: IncomingMessage, facts: ClientFacts, ctx: AdmitContext): Promise<Admission> {
  const handshake = validateHandshake(req);
  const fixedTarget = ctx.currentTarget();
  for (const plugin of ctx.authPlugins) {
    await plugin.authenticate({
      headers: req.headers,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      clientAddress: facts.clientAddress,
      peerCertificate: facts.peerCertificate,
      target: fixedTarget,
    });
  }
  if (!ctx.tokenPlugin) {
    if (!fixedTarget) throw new HttpRejection('WSFY_ERR_CAPACITY', 503, 'Target not available yet');
    return { handshake, target: fixedTarget };
  }
  const token = ctx.extractToken(req);
  if (token === null) throw new HttpRejection('WSFY_ERR_TOKEN_MISSING', 400, 'Token not present');
  let target: TargetSpec | null;
  try {
    target = await ctx.tokenPlugin.lookup(token);
  } catch (err) {
    if (err instanceof WebsockifyError) throw err;
    throw new HttpRejection('WSFY_ERR_PLUGIN', 502, `Token lookup failed: ${(err as Error).message}`);
  }
  if (!target) throw new HttpRejection('WSFY_ERR_TOKEN_UNKNOWN', 404, 'Token not found');
  // A unix target from --unix-target wins over the plugin's answer, as in the reference.
  if (ctx.config.target?.kind === 'unix') target = ctx.config.target;
  return { handshake, target };
}
