import type { IncomingMessage } from 'node:http';
import { HttpRejection } from '../errors.js';

/** The data encoding on the wire, chosen from Sec-WebSocket-Protocol. */
export type WireMode = 'binary' | 'base64';

export interface ValidatedHandshake {
  /** The subprotocol to answer with, or null when the client offered none. */
  protocol: 'binary' | 'base64' | null;
  mode: WireMode;
}

const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Checks an upgrade request against RFC 6455 §4.2.1 before anything else runs, so a malformed
 * handshake costs no token lookup. Deliberate differences from the reference (docs/deviations.md):
 * the key must be 16 bytes of base64 and HTTP/1.1 is required (the RFC's MUSTs); an unsupported
 * version gets 426 with the versions we speak (RFC 6455 §4.4) instead of 400.
 */
export function validateHandshake(req: IncomingMessage): ValidatedHandshake {
  if (req.method !== 'GET') throw new HttpRejection('WSFY_ERR_METHOD', 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'WebSocket upgrade requires HTTP/1.1');
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined) throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Missing Sec-WebSocket-Key header');
  if (!KEY_PATTERN.test(key.trim())) throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Invalid Sec-WebSocket-Key header');
  const version = req.headers['sec-websocket-version'];
  if (version === undefined) throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Missing Sec-WebSocket-Version header');
  if (version.trim() !== '13' && version.trim() !== '8') {
    throw new HttpRejection('WSFY_ERR_VERSION', 426, `Unsupported protocol version ${version.trim()}`, { 'Sec-WebSocket-Version': '13' });
  }
  const protocol = selectSubprotocol(req.headers['sec-websocket-protocol']);
  return { protocol, mode: protocol === 'base64' ? 'base64' : 'binary' };
}

/**
 * The reference picks `binary` when offered and otherwise fails with 400 "Invalid protocol
 * selected". We trim spaces around list elements (the reference does not, so `base64, binary`
 * fails there) and also accept `base64` alone: old Websock clients (before
 * websockify 0.9.0) offer only it and expect text frames carrying base64.
 */
export function selectSubprotocol(header: string | undefined): 'binary' | 'base64' | null {
  if (header === undefined) return null;
  const offered = header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (offered.length === 0) return null;
  if (offered.includes('binary')) return 'binary';
  if (offered.includes('base64')) return 'base64';
  throw new HttpRejection('WSFY_ERR_PROTOCOL_SELECT', 400, 'Invalid protocol selected');
}
