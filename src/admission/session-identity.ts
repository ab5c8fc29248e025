import { originChecked } from './access-control.js';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Config } from '../config/config.js';
import { extractToken } from './extract-token.js';

/** Who a session was, as far as the proxy checked it; every field null when unknown. */
export interface SessionIdentity {
  /** The Basic auth user name, only when an auth plugin checked the request. */
  user: string | null;
  /** The common name of the verified TLS client certificate. */
  certName: string | null;
  /**
   * The token, never as written: the first 16 hex digits of its SHA-256. A token is a secret
   * (whoever holds it reaches the target), and the index outlives the session; the hash still
   * lets an auditor who holds the token list tell which token a session used. Not logged.
   */
  tokenHash: string | null;
}

interface IdentityInput {
  url: string;
  headers: IncomingHttpHeaders;
  peerCertificate: PeerCertificate | null;
  /** An auth plugin ran and allowed the request (so an Authorization header was checked). */
  authChecked: boolean;
  /** A token plugin chose the target (so a token was given). */
  tokenPlugin: boolean;
  hostToken: boolean;
  /** The token cookie counts (the same rule as admission: accessOptionsFrom in admission/access-control.ts). */
  tokenCookie: boolean;
}

/** Short, stable and one-way: see SessionIdentity.tokenHash. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);
}

/** The user name of an `Authorization: Basic` header (RFC 7617: the text before the first `:`). */
function basicUser(header: string | undefined): string | null {
  if (header === undefined) return null;
  const space = header.indexOf(' ');
  if (space === -1 || header.slice(0, space).toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(header.slice(space + 1).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(0, colon) : null;
}

function commonName(cert: PeerCertificate | null): string | null {
  const cn: unknown = cert?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

/** Read after admission allowed the session: what it checked is what we report. */
export function sessionIdentity(input: IdentityInput): SessionIdentity {
  let hash: string | null = null;
  if (input.tokenPlugin) {
    const found = extractToken(input.url, input.headers, { hostToken: input.hostToken, cookie: input.tokenCookie });
    if (found !== null) hash = tokenHash(found.token);
  }
  return {
    user: input.authChecked ? basicUser(input.headers.authorization) : null,
    certName: commonName(input.peerCertificate),
    tokenHash: hash,
  };
}

/** Shared by every session with nothing to report (no auth, no token, no client certificate). */
export const NO_IDENTITY: SessionIdentity = Object.freeze({ user: null, certName: null, tokenHash: null });

function verifiedCertificate(socket: Duplex): PeerCertificate | null {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return null;
  const cert = tls.getPeerCertificate();
  return cert && Object.keys(cert).length > 0 ? cert : null;
}

/** The identity of an admitted upgrade (its request and socket), under this config. */
export function identityOf(config: Config, req: IncomingMessage, socket: Duplex): SessionIdentity {
  const peerCertificate = verifiedCertificate(socket);
  const authChecked = config.authPlugins.length > 0;
  const tokenPlugin = config.tokenPlugin !== null;
  if (!authChecked && !tokenPlugin && peerCertificate === null) return NO_IDENTITY;
  return sessionIdentity({
    url: req.url ?? '/',
    headers: req.headers,
    peerCertificate,
    authChecked,
    tokenPlugin,
    hostToken: config.hostToken,
    tokenCookie: config.tokenCookie || originChecked(config),
  });
}
