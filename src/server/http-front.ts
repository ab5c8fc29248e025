import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/config.js';
import { sendHttpError, writeRawHttpError } from '../http/error-response.js';
import type { Logger } from '../log/logger.js';
import { redactPath } from '../log/redact.js';
import { tlsHandshakeFailed } from '../tls/wrap-tls-socket.js';

/** Serves plain (non-upgrade) requests, e.g. the --web static server. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Methods the reference answers with 405 (master); any other method gets 501. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface HttpFrontOptions {
  config: Config;
  logger: Logger;
  /** Per-connection logger lookup (set by the front door on each socket). */
  loggerFor: (socket: Duplex) => Logger;
  onUpgrade: UpgradeHandler;
  /** Called when a complete plain request has arrived on a socket (ends the handshake deadline). */
  onRequestComplete?: (socket: Duplex) => void;
  /** The web server, when --web (or the built-in console) is on. */
  requestHandler?: RequestHandler;
  /** Counts a refused upgrade or broken request by reason (metrics); never on the data path. */
  onRejected?: (reason: string) => void;
  /** --metrics-path / --health-path on the main port; true when it answered. */
  opsHandler?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * The HTTP layer: node:http parses requests on sockets the front door hands it. Limits: header
 * bytes (431), header count (431), URI length (414), a request deadline (408). Plain requests go
 * to the web server or get 405/501; upgrades go to the proxy.
 */
export function createHttpFront(options: HttpFrontOptions): http.Server {
  const { config, loggerFor } = options;
  const limits = config.limits;
  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    requestTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.handshakeTimeoutMs,
    keepAliveTimeout: 5_000,
    connectionsCheckingInterval: 1_000,
    noDelay: true,
  });
  // node:http silently drops headers past maxHeadersCount (the ws CVE-2024-37890 shape), so
  // allow one more than the limit and refuse when that one is present.
  server.maxHeadersCount = limits.maxHeaderCount + 1;

  const rejectOversized = (req: IncomingMessage): [number, string] | null => {
    if ((req.url ?? '').length > limits.maxUriBytes) return [414, 'URI Too Long'];
    if (req.rawHeaders.length / 2 > limits.maxHeaderCount) return [431, 'Too many headers'];
    return null;
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refusedAtTls(req.socket)) return;
    options.onRequestComplete?.(req.socket);
    const log = loggerFor(req.socket);
    const oversized = rejectOversized(req);
    if (oversized) {
      log.info(`bad request: ${oversized[0]} ${oversized[1]}`);
      options.onRejected?.(oversized[0] === 414 ? 'uri_too_long' : 'too_many_headers');
      sendHttpError(res, oversized[0], oversized[1]);
      return;
    }
    // Page links carry secrets too (vnc.html?password=...): mask them as the upgrade path is.
    if (config.verbose) log.debug(`"${req.method} ${redactPath(req.url ?? '')} HTTP/${req.httpVersion}"`);
    const upgrade = req.headers.upgrade;
    if (upgrade !== undefined && upgrade.toLowerCase() === 'websocket') {
      // RFC 6455 §4.1: the upgrade needs `Connection: Upgrade`; the reference does not check.
      log.info('bad request: 400 WebSocket upgrade without Connection: Upgrade');
      options.onRejected?.('connection_header');
      sendHttpError(res, 400, 'Missing Connection: Upgrade header');
      return;
    }
    const method = req.method ?? '';
    if (!KNOWN_METHODS.has(method)) {
      log.info(`code 501, message Unsupported method ('${method}')`);
      sendHttpError(res, 501, `Unsupported method ('${method}')`);
      return;
    }
    if (options.opsHandler?.(req, res)) return;
    if (options.requestHandler && (method === 'GET' || method === 'HEAD')) {
      options.requestHandler(req, res);
      return;
    }
    log.info('code 405, message Method Not Allowed');
    sendHttpError(res, 405, 'Method Not Allowed', options.requestHandler ? { Allow: 'GET, HEAD' } : {});
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (refusedAtTls(socket)) return;
    const log = loggerFor(socket);
    const oversized = rejectOversized(req);
    if (oversized) {
      log.info(`bad request: ${oversized[0]} ${oversized[1]}`);
      options.onRejected?.(oversized[0] === 414 ? 'uri_too_long' : 'too_many_headers');
      writeRawHttpError(socket, oversized[0], oversized[1]);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      log.info('bad request: 400 unsupported Upgrade header');
      options.onRejected?.('upgrade_header');
      writeRawHttpError(socket, 400, 'Unsupported Upgrade header');
      return;
    }
    options.onUpgrade(req, socket, head);
  });

  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    loggerFor(socket).info("code 501, message Unsupported method ('CONNECT')");
    writeRawHttpError(socket, 501, "Unsupported method ('CONNECT')");
  });

  /**
   * A request that came in the same read as the end of a TLS handshake we refused (a client
   * certificate that did not verify is refused only once the handshake is done) reaches
   * node:http after the socket is destroyed. It is not served, logged or admitted: the
   * handshake failure was the one line for that client.
   */
  function refusedAtTls(socket: Duplex): boolean {
    if (!tlsHandshakeFailed(socket)) return false;
    socket.destroy();
    return true;
  }

  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // A failed TLS handshake (the TLS layer logged and counted it as tls_*) is no bad request.
    if (refusedAtTls(socket)) return;
    const first = err.rawPacket?.[0];
    if (first === 0x16 || first === 0x80) {
      // A TLS ClientHello on a listener without TLS: drop it, as the reference does.
      loggerFor(socket).info(`SSL connection but '${config.tls.cert}' not found`);
      socket.destroy();
      return;
    }
    const [status, message] = clientErrorStatus(err.code, err.rawPacket);
    loggerFor(socket).info(`bad request: ${status} ${message}`, { reason: err.code });
    options.onRejected?.(status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request');
    writeRawHttpError(socket, status, message);
  });

  return server;
}

/** A well-formed request line (`METHOD target HTTP/x.y`) with a method we do not know. */
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) \S+ HTTP\/\d\.\d\r?$/;

function clientErrorStatus(code: string | undefined, rawPacket: Buffer | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large'];
    case 'HPE_INVALID_METHOD': {
      const line = (rawPacket ?? Buffer.alloc(0)).subarray(0, 256).toString('latin1').split('\n')[0] ?? '';
      const method = REQUEST_LINE.exec(line)?.[1];
      // The reference answers 501 to an unknown method and 400 to a malformed request line.
      return method ? [501, `Unsupported method ('${method}')`] : [400, 'Bad Request'];
    }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout'];
    default:
      return [400, 'Bad Request'];
  }
}
