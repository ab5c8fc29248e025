import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/config.js';
import { HttpRejection, WebsockifyError } from '../errors.js';
import type { LogFields, Logger } from '../log/logger.js';
import { redactPath } from '../log/redact.js';
import { clearDeadline, connectionOf } from './connection.js';
import { refuse, type CountRefusal } from './refusal.js';

/** Serves plain (non-upgrade) requests, e.g. the --web static server. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** How often node:http looks for requests past their deadline (so a deadline fires up to this late). */
const PER_REQUEST_CHECK_MS = 500;

/** Methods the reference answers with 405 (master); any other method gets 501. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

interface HttpFrontOptions {
  config: Config;
  /** For a socket the front door did not accept (none in practice); a connection logs with its own. */
  logger: Logger;
  onUpgrade: UpgradeHandler;
  /** The web server, when --web (or the built-in console) is on. */
  requestHandler?: RequestHandler;
  /** Counts a refused upgrade or broken request by reason (metrics); never on the data path. */
  onRejected?: CountRefusal;
  /** --metrics-path / --health-path on the main port; true when it answered. */
  opsHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * The HTTP layer: node:http parses requests on sockets the front door hands it. Limits: header
 * bytes (431), header count (431), URI length (414), a request deadline (408). Plain requests go
 * to the web server or get 405/501; upgrades go to the proxy.
 */
export function createHttpFront(options: HttpFrontOptions): http.Server {
  const { config } = options;
  const loggerFor = (socket: Duplex): Logger => connectionOf(socket)?.logger ?? options.logger;
  const limits = config.limits;
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.handshakeTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: PER_REQUEST_CHECK_MS,
    noDelay: true,
  });
  // The front door hands sockets to this server; it never listen()s. node:http starts the timer
  // that enforces headersTimeout and requestTimeout on 'listening', so without this a request
  // after the first on a keep-alive connection had no deadline: a byte every few seconds held
  // the connection (and a --max-connections slot) forever. With it, every request, first or
  // later, must be complete (headers and body) within --handshake-timeout of its first byte,
  // checked every PER_REQUEST_CHECK_MS, and ends with 408 (clientError ERR_HTTP_REQUEST_TIMEOUT).
  // The idle time between requests is keepAliveTimeout (--keepalive-timeout); the time before
  // the first byte is the front door's own deadline.
  server.emit('listening');
  // node:http silently drops headers past maxHeadersCount (the ws CVE-2024-37890 shape), so
  // allow one more than the limit and refuse when that one is present.
  server.maxHeadersCount = limits.maxHeaderCount + 1;

  const rejectOversized = (req: IncomingMessage): HttpRejection | null => {
    if ((req.url ?? '').length > limits.maxUriBytes) return new HttpRejection('WSFY_ERR_URI_TOO_LONG', 414, 'URI Too Long');
    if (req.rawHeaders.length / 2 > limits.maxHeaderCount) return new HttpRejection('WSFY_ERR_HEADERS_TOO_LARGE', 431, 'Too many headers');
    return null;
  };

  const count = options.onRejected;
  /** `bad request: STATUS MESSAGE`, the line of a request the HTTP layer cannot take. */
  const badRequest = (to: Duplex | ServerResponse, log: Logger, refusal: HttpRejection, reason: string, fields?: LogFields): void =>
    refuse(to, log, count, refusal, { reason, line: `bad request: ${refusal.httpStatus} ${refusal.message}`, ...(fields ? { fields } : {}) });
  const oversizedReason = (refusal: HttpRejection): string => (refusal.httpStatus === 414 ? 'uri_too_long' : 'headers_too_large');

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refusedAtTls(req.socket)) return;
    // A complete request: the handshake deadline is over (node:http's own deadlines go on).
    clearDeadline(connectionOf(req.socket));
    const log = loggerFor(req.socket);
    const oversized = rejectOversized(req);
    if (oversized) {
      badRequest(res, log, oversized, oversizedReason(oversized));
      return;
    }
    // Page links carry secrets too (vnc.html?password=...): mask them as the upgrade path is.
    if (config.verbose) log.debug(`"${req.method} ${redactPath(req.url ?? '')} HTTP/${req.httpVersion}"`);
    const upgrade = req.headers.upgrade;
    if (upgrade !== undefined && upgrade.toLowerCase() === 'websocket') {
      // RFC 6455 §4.1: the upgrade needs `Connection: Upgrade`; the reference does not check.
      refuse(res, log, count, new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Missing Connection: Upgrade header'), {
        reason: 'connection_header',
        line: 'bad request: 400 WebSocket upgrade without Connection: Upgrade',
      });
      return;
    }
    const method = req.method ?? '';
    if (!KNOWN_METHODS.has(method)) {
      notServed(res, log, unsupportedMethod(method));
      return;
    }
    if (options.opsHandler?.(req, res)) return;
    if (options.requestHandler && (method === 'GET' || method === 'HEAD')) {
      options.requestHandler(req, res);
      return;
    }
    notServed(res, log, new HttpRejection('WSFY_ERR_METHOD', 405, 'Method Not Allowed', options.requestHandler ? { Allow: 'GET, HEAD' } : {}));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refusedAtTls(socket)) return;
    const log = loggerFor(socket);
    const oversized = rejectOversized(req);
    if (oversized) {
      badRequest(socket, log, oversized, oversizedReason(oversized));
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      refuse(socket, log, count, new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Unsupported Upgrade header'), {
        reason: 'upgrade_header',
        line: 'bad request: 400 unsupported Upgrade header',
      });
      return;
    }
    options.onUpgrade(req, socket, head);
  });

  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    notServed(socket, loggerFor(socket), unsupportedMethod('CONNECT'));
  });

  /**
   * A request that came in the same read as the end of a TLS handshake we refused (a client
   * certificate that did not verify is refused only once the handshake is done) reaches
   * node:http after the socket is destroyed. It is not served, logged or admitted: the
   * handshake failure was the one line for that client.
   */
  function refusedAtTls(socket: Duplex): boolean {
    if (!connectionOf(socket)?.tlsFailure) return false;
    socket.destroy();
    return true;
  }

  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // A failed TLS handshake (the TLS layer logged and counted it as tls_*) is no bad request.
    if (refusedAtTls(socket)) return;
    const first = err.rawPacket?.[0];
    if (first === 0x16 || first === 0x80) {
      // A TLS ClientHello on a listener without TLS: drop it, as the reference does.
      const refusal = new WebsockifyError('WSFY_ERR_TLS_HANDSHAKE', `SSL connection but '${config.tls.cert}' not found`);
      refuse(socket, loggerFor(socket), count, refusal, { reason: null });
      return;
    }
    const refusal = clientErrorRefusal(err.code, err.rawPacket);
    const status = refusal.httpStatus;
    badRequest(socket, loggerFor(socket), refusal, status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request', {
      reason: err.code,
    });
  });

  return server;
}

/** The reference's `code N, message M` line for a method it does not serve (not counted as a failed handshake). */
function notServed(to: Duplex | ServerResponse, log: Logger, refusal: HttpRejection): void {
  refuse(to, log, undefined, refusal, { reason: null, line: `code ${refusal.httpStatus}, message ${refusal.message}` });
}

/** A well-formed request line (`METHOD target HTTP/x.y`) with a method we do not know. */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) \S+ HTTP\/\d\.\d\r?$/;

/** The reference's 501 for a method it does not serve. */
function unsupportedMethod(method: string): HttpRejection {
  return new HttpRejection('WSFY_ERR_NOT_IMPLEMENTED', 501, `Unsupported method ('${method}')`);
}

/** What node:http's parser error becomes: each refusal a typed error with its status. */
function clientErrorRefusal(code: string | undefined, rawPacket: Buffer | undefined): HttpRejection {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpRejection('WSFY_ERR_HEADERS_TOO_LARGE', 431, 'Request Header Fields Too Large');
    case 'HPE_INVALID_METHOD': {
      const line = (rawPacket ?? Buffer.alloc(0)).subarray(0, 256).toString('latin1').split('\n')[0] ?? '';
      const method = REQUEST_LINE.exec(line)?.[1];
      // The reference answers 501 to an unknown method and 400 to a malformed request line.
      return method ? unsupportedMethod(method) : new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Bad Request');
    }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpRejection('WSFY_ERR_REQUEST_TIMEOUT', 408, 'Request Timeout');
    default:
      return new HttpRejection('WSFY_ERR_HANDSHAKE', 400, 'Bad Request');
  }
}
