import type { IncomingMessage } from 'node:http';
import { wsPackage } from '../ws-package.js';
import { HttpRejection } from '../errors.js';

/** The data encoding on the wire, chosen from Sec-WebSocket-Protocol. */
export type WireMode = 'binary' | 'base64';

export interface ValidatedHandshake {
  /** The subprotocol to answer with, or null when the client offered none. */
  protocol: 'binary' | 'base64' | null;
  mode: WireMode;
}

/** ws's own key check (websocket-server.js `keyRegex`), applied to the same untrimmed value. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/**
 * ws's Sec-WebSocket-Protocol parser (lib/subprotocol.js `parse`). The package's entry points
 * export it as `subprotocol` although its typings do not declare it. ws runs it again inside
 * handleUpgrade, after the session has started dialling the target, and answers 400 when it
 * throws; calling the very same function here means our check and ws's can never disagree,
 * whatever ws version is installed. Its rules: comma-separated RFC 7230 tokens, spaces or tabs
 * allowed only around a comma or at the end; an empty element (`binary,,`, `,binary`, an empty
 * header), a duplicate (`binary,binary`) or any other character throws.
 */
const parseSubprotocols = wsSubprotocolParser();

function wsSubprotocolParser(): (header: string) => Set<string> {
  const parse = (wsPackage as unknown as { subprotocol?: { parse?: unknown } }).subprotocol?.parse;
  if (typeof parse !== 'function') throw new Error('the installed ws package does not export subprotocol.parse');
  return parse as (header: string) => Set<string>;
}

/**
 * Checks an upgrade request against RFC 6455 §4.2.1 before anything else runs, so a malformed
 * handshake costs no token lookup and never dials the target. Every header ws checks again in
 * handleUpgrade is checked here at least as strictly (method, key, version, subprotocols; the
 * Upgrade header in http-front.ts; Sec-WebSocket-Extensions is not read because the server runs
 * ws with perMessageDeflate off), so ws never refuses a handshake we admitted.
 * Deliberate differences from the reference (docs/deviations.md): the key must be 16 bytes of
 * base64 and HTTP/1.1 is required (the RFC's MUSTs); an unsupported version gets 426 with the
 * versions we speak (RFC 6455 §4.4) instead of 400.
 */
export function validateHandshake(req: IncomingMessage): ValidatedHandshake {
  if (req.method !== 'GET') throw new HttpRejection('WSFY_ERR_METHOD', 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) {
    throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'WebSocket upgrade requires HTTP/1.1');
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined) throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Missing Sec-WebSocket-Key header');
  if (!KEY_PATTERN.test(key)) throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Invalid Sec-WebSocket-Key header');
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
 * selected". We accept spaces after commas (the reference does not, so `base64, binary` fails
 * there) and also accept `base64` alone: old Websock clients (before websockify 0.9.0) offer
 * only it and expect text frames carrying base64. A list ws cannot parse is 400 "Invalid
 * Sec-WebSocket-Protocol header", as ws answers it.
 */
export function selectSubprotocol(header: string | undefined): 'binary' | 'base64' | null {
  if (header === undefined) return null;
  let offered: Set<string>;
  try {
    offered = parseSubprotocols(header);
  } catch {
    throw new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Invalid Sec-WebSocket-Protocol header');
  }
  if (offered.has('binary')) return 'binary';
  if (offered.has('base64')) return 'base64';
  throw new HttpRejection('WSFY_ERR_PROTOCOL_SELECT', 400, 'Invalid protocol selected');
}
