import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebsockifyError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { redactPath } from '../log/redact.js';
import type { AccessControl } from '../admission/access-control.js';
import { sendHttpError } from './error-response.js';
import type { RequestHandler } from './static-handler.js';

/**
 * --web-auth: every page request passes the same auth checks as an upgrade (target null, as
 * the plugins are told for page requests) before the static handler sees it. A refusal is the
 * plugin's status (401 with `WWW-Authenticate`, 403) and one log line; a plugin failure 502/504.
 */
export function withWebAuth(handler: RequestHandler, access: AccessControl, loggerFor: (req: IncomingMessage) => Logger): RequestHandler {
  return function authenticatedWebRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    const peer = socket.encrypted && socket.authorized ? socket.getPeerCertificate() : null;
    access
      .authenticate(
        {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          clientAddress: socket.remoteAddress ?? '',
          peerCertificate: peer && Object.keys(peer).length > 0 ? peer : null,
        },
        null,
      )
      .then(
        () => handler(req, res),
        (err: unknown) => {
          const status = err instanceof WebsockifyError && err.httpStatus !== undefined ? err.httpStatus : 500;
          const message = err instanceof Error ? err.message : 'Forbidden';
          loggerFor(req).info(`web request refused: ${status} ${redactPath(req.url ?? '')}: ${message}`);
          sendHttpError(
            res,
            status,
            status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : message,
            err instanceof WebsockifyError ? { ...err.headers } : {},
          );
        },
      );
  };
}
