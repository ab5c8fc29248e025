import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TlsHandshakeError } from '../../../src/errors.js';
import { tlsFailureReason } from '../../../src/tls/wrap-tls-socket.js';

/** An OpenSSL error as Node reports it on a server TLSSocket, wrapped as wrapTlsSocket does. */
function openssl(code: string): TlsHandshakeError {
  const cause = Object.assign(new Error(code.toLowerCase()), { code });
  return new TlsHandshakeError(cause.message, cause);
}

describe('tlsFailureReason: a failed TLS handshake maps to a small, bounded label set', () => {
  it('names a client below the minimum version tls_version', () => {
    assert.equal(tlsFailureReason(openssl('ERR_SSL_UNSUPPORTED_PROTOCOL')), 'tls_version');
    assert.equal(tlsFailureReason(openssl('ERR_SSL_NO_PROTOCOLS_AVAILABLE')), 'tls_version');
  });

  it('names a missing or refused client certificate tls_client_cert', () => {
    assert.equal(tlsFailureReason(openssl('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')), 'tls_client_cert');
    assert.equal(tlsFailureReason(new TlsHandshakeError('client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE')), 'tls_client_cert');
  });

  it('names our own deadline tls_timeout and a client gone mid-handshake tls_closed', () => {
    assert.equal(tlsFailureReason(new TlsHandshakeError('tls handshake not finished within 5000 ms', undefined, true)), 'tls_timeout');
    assert.equal(tlsFailureReason(new TlsHandshakeError('connection closed during the tls handshake')), 'tls_closed');
    assert.equal(tlsFailureReason(openssl('ECONNRESET')), 'tls_closed');
  });

  it('names anything else (garbage after 0x16, no shared cipher) tls_bad_hello', () => {
    assert.equal(tlsFailureReason(openssl('ERR_SSL_WRONG_VERSION_NUMBER')), 'tls_bad_hello');
    assert.equal(tlsFailureReason(openssl('ERR_SSL_NO_SHARED_CIPHER')), 'tls_bad_hello');
    assert.equal(tlsFailureReason(new TlsHandshakeError('something new')), 'tls_bad_hello');
  });
});
