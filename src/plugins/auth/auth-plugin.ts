import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';

/** What an auth plugin may look at. Never includes headers a client could forge as TLS facts. */
export interface AuthRequest {
  headers: IncomingHttpHeaders;
  method: string;
  url: string;
  clientAddress: string;
  /** The verified TLS client certificate, when the client presented one and it verified. */
  peerCertificate: PeerCertificate | null;
  /** The target the token resolved to, if known (null for --web-auth page requests). */
  target: TargetSpec | null;
}

/**
 * The auth plugin contract (reference: `authenticate(headers, target_host, target_port)`).
 * Resolves to allow; rejects with an HttpRejection (401 + WWW-Authenticate, 403, ...) to refuse.
 */
export interface AuthPlugin {
  authenticate(request: AuthRequest): Promise<void>;
  close?(): Promise<void>;
}

export type AuthPluginFactory = (source: string | null, context: PluginContext) => AuthPlugin | Promise<AuthPlugin>;
