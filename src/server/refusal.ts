import { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebsockifyError } from '../errors.js';
import { sendHttpError, writeRawHttpError } from '../http/error-response.js';
import type { LogFields, Logger } from '../log/logger.js';

/** Counts refusals by reason: `websockify_handshake_failures_total{reason}` (docs/operations.md). */
export type CountRefusal = (reason: string) => void;

interface RefusalNote {
  /**
   * The metric's reason label, or null for a refusal that is not counted. Default: the error's
   * code without `WSFY_ERR_`, in lower case (`WSFY_ERR_SESSION_LIMIT` -> `session_limit`).
   */
  reason?: string | null;
  /** The log line, in the reference's words where it has one; default: the error's message. */
  line?: string;
  level?: 'info' | 'warn' | 'error';
  /** Write no line for this one (a flood from one address is logged at most once a second). */
  quiet?: boolean;
  /** The response body, when it must differ from the message (a plugin's details are for the log only). */
  shown?: string;
  /** Close without an answer although the error has a status (--silent-token-failure, as the reference). */
  silent?: boolean;
  /** Fields logged before the code. */
  fields?: LogFields;
}

/**
 * The one place where a connection is refused before it becomes a session: every refusal of
 * the front door, the HTTP layer and admission comes here as a typed error (src/errors.ts)
 * and leaves as one log line (through the connection's logger, so it names the connection's id
 * and client, with the error's code), one count for the metrics, and the HTTP answer its status
 * asks for, or none: an error without a status (or a silent one) closes the connection.
 * The ws library's own answers (ws aborting a handshake it refuses) are the only others; the
 * handshake checks (admission/handshake.ts) make sure it never has one to give.
 */
export function refuse(to: Duplex | ServerResponse, logger: Logger, count: CountRefusal | undefined, error: WebsockifyError, note: RefusalNote = {}): void {
  if (note.quiet !== true) logger[note.level ?? 'info'](note.line ?? error.message, { ...note.fields, code: error.code });
  const reason = note.reason === undefined ? reasonOf(error) : note.reason;
  if (reason !== null) count?.(reason);
  const status = error.httpStatus;
  if (status === undefined || note.silent === true) {
    to.destroy();
    return;
  }
  const body = note.shown ?? error.message;
  if (to instanceof ServerResponse) sendHttpError(to, status, body, { ...error.headers });
  else writeRawHttpError(to, status, body, { ...error.headers });
}

/** The metric reason a code stands for, when the call site names none. */
function reasonOf(error: WebsockifyError): string {
  return error.code.replace(/^WSFY_ERR_/, '').toLowerCase();
}
