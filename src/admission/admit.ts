import type { IncomingMessage } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import type { Config, TargetSpec } from '../config/config.js';
import { HttpRejection } from '../errors.js';
import type { AccessControl } from './access-control.js';
import { validateHandshake, type ValidatedHandshake } from './handshake.js';

export interface Admission {
  handshake: ValidatedHandshake;
  target: TargetSpec;
  /** Gives back the per-token/per-address session slots; call when the session ends. */
  release(): void;
}

interface AdmitContext {
  config: Config;
  /** Token plugin, auth checks, Origin allow-list and session caps (docs/plugins.md). */
  access: AccessControl;
  /** Where the fixed target is when it changes at run time (wrap mode); else config.target. */
  currentTarget: () => TargetSpec | null;
}

interface ClientFacts {
  clientAddress: string;
  peerCertificate: PeerCertificate | null;
}

/**
 * Decides whether an upgrade may proceed and to where, before the 101. Order: handshake
 * validity (400/426), then AccessControl: per-address cap (429), authentication (401/403), the
 * token lookup (404; 502/504 when the plugin fails), per-token cap (429). The reference looks
 * the token up first, which tells unauthenticated clients which tokens exist; we do not.
 */
export async function admit(req: IncomingMessage, facts: ClientFacts, ctx: AdmitContext): Promise<Admission> {
  const handshake = validateHandshake(req);
  const fixedTarget = ctx.currentTarget();
  const granted = await ctx.access.admit(
    {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      clientAddress: facts.clientAddress,
      peerCertificate: facts.peerCertificate,
    },
    fixedTarget,
  );
  let target = granted.target;
  if (target === null) {
    if (!fixedTarget) {
      granted.release();
      throw new HttpRejection('WSFY_ERR_CAPACITY', 503, 'Target not available yet');
    }
    target = fixedTarget;
  } else if (ctx.config.target?.kind === 'unix') {
    // A unix target from --unix-target wins over the plugin's answer, as in the reference.
    target = ctx.config.target;
  }
  return { handshake, target, release: granted.release };
}
