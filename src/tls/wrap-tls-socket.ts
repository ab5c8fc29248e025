import type net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { TlsHandshakeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SecureContextSource } from './secure-context-provider.js';

interface WrapTlsOptions {
  /** A client that has not finished the TLS handshake by then is dropped (the reference has no limit, so a stalled handshake held it forever). */
  handshakeTimeoutMs: number;
  /** --verify-client: ask for a client certificate and drop the connection unless it verifies. */
  verifyClient: boolean;
  logger?: Logger;
  /** Called once the handshake is done and, under --verify-client, the client certificate verified. */
  onSecure?: (socket: tls.TLSSocket) => void;
  /**
   * Called once if the handshake fails, times out or the client certificate is refused; before
   * any listener added after this call hears of the error (node:http's 'clientError' among them).
   */
  onFailure?: (error: Error, socket: tls.TLSSocket) => void;
}

/** The bounded label set of `websockify_handshake_failures_total` for TLS (docs/operations.md). */
type TlsFailureReason = 'tls_timeout' | 'tls_version' | 'tls_client_cert' | 'tls_closed' | 'tls_bad_hello';

/**
 * Sorts a failed handshake into a few reasons an operator can act on: a client older than the
 * --ssl-version minimum (or sending records of another version), a refused client certificate,
 * a client that never finished, and everything else a malformed or unacceptable hello.
 */
export function tlsFailureReason(error: Error): TlsFailureReason {
  if (error instanceof TlsHandshakeError && error.timedOut) return 'tls_timeout';
  const cause = (error as { cause?: unknown }).cause;
  const code = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? '') : '';
  if (/UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW|TLSV1_ALERT_PROTOCOL_VERSION/.test(code)) return 'tls_version';
  if (/CERTIFICATE|CERT_/.test(code) || error.message.startsWith('client certificate refused')) return 'tls_client_cert';
  if (error.message === CLOSED_DURING_HANDSHAKE || code === 'ECONNRESET') return 'tls_closed';
  return 'tls_bad_hello';
}

const CLOSED_DURING_HANDSHAKE = 'connection closed during the tls handshake';

/**
 * The first byte of a TLS ClientHello: 0x16 is a TLS record of type handshake; 0x80 is the
 * SSLv2-compatible hello header some old clients still send (the reference sniffs both).
 */
export function looksLikeTls(firstByte: number): boolean {
  return firstByte === 0x16 || firstByte === 0x80;
}

/**
 * What the front door (server/front-door.ts) calls to turn a raw socket into TLS when its first
 * byte says so (0x16 handshake record, 0x80 SSLv2 hello), as the reference does on the same
 * port. Returns null to refuse the connection. `onFailure` is called once if the handshake
 * fails. Made by createTlsUpgrader (setup-tls.ts) when a certificate is configured.
 */
export type TlsUpgrader = (socket: net.Socket, logger: Logger, onFailure: (error: Error, secure: Duplex) => void) => Duplex | null;

/**
 * Starts a server-side TLS handshake on an accepted socket (bytes already read from it and
 * `unshift`ed back are fed to TLS first) with the provider's current context, so a reloaded
 * certificate applies to the next connection and never disturbs live ones.
 *
 * The returned socket can be handed on at once; consumers that must not see data before the
 * client certificate is checked should wait for `onSecure`.
 */
export function wrapTlsSocket(socket: Duplex, contexts: SecureContextSource, options: WrapTlsOptions): tls.TLSSocket {
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: contexts.current(),
    requestCert: options.verifyClient,
    // With both set Node asks OpenSSL to fail the handshake when no certificate is sent; a
    // certificate that does not verify still completes the handshake and is refused below.
    rejectUnauthorized: options.verifyClient,
    ALPNProtocols: ['http/1.1'],
  });

  let settled = false;
  const fail = (error: Error): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    options.logger?.debug(`tls: handshake failed: ${error.message}`);
    options.onFailure?.(error, secure);
    secure.destroy();
  };

  const timer = setTimeout(() => {
    fail(new TlsHandshakeError(`tls handshake not finished within ${options.handshakeTimeoutMs} ms`, undefined, true));
  }, options.handshakeTimeoutMs);
  timer.unref();

  secure.once('secure', () => {
    if (settled) return;
    if (options.verifyClient) {
      const refusal = clientCertificateRefusal(secure);
      if (refusal !== null) {
        secure.authorized = false;
        secure.authorizationError = new Error(refusal);
        fail(new TlsHandshakeError(`client certificate refused: ${refusal}`));
        return;
      }
      secure.authorized = true;
    }
    settled = true;
    clearTimeout(timer);
    options.onSecure?.(secure);
  });
  // Handshake errors (bad hello, no shared cipher, version below the minimum, missing client
  // certificate) arrive as 'error' before 'secure'; after it, errors belong to the consumer.
  secure.on('error', (err: Error) => {
    if (!settled) fail(new TlsHandshakeError(err.message, err));
  });
  secure.once('close', () => {
    if (!settled) fail(new TlsHandshakeError(CLOSED_DURING_HANDSHAKE));
  });
  return secure;
}

/**
 * Why the client certificate is not acceptable, or null. tls.Server does this same check in its
 * own 'secure' handler (lib/_tls_wrap.js onServerSocketSecure) by asking the native handle for
 * the verification result; a TLSSocket built by hand gets no such check, so we make it here and
 * fail closed if the handle ever stops offering it. test/integration/tls-front.test.ts pins this.
 */
function clientCertificateRefusal(socket: tls.TLSSocket): string | null {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (!handle || typeof handle.verifyError !== 'function') return 'cannot check the client certificate';
  const error = handle.verifyError();
  if (error) return error.code ?? error.message;
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return 'no client certificate';
  return null;
}

/** The verified client's identity, for auth plugins (ClientCertCNAuth) and log lines. */
export function clientCertificateIdentity(socket: tls.TLSSocket): { commonName: string; fingerprint: string } | null {
  if (!socket.authorized) return null;
  const peer = socket.getPeerCertificate();
  if (!peer || !peer.subject) return null;
  const cn = peer.subject.CN;
  return { commonName: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''), fingerprint: peer.fingerprint256 };
}
