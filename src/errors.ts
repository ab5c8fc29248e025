/**
 * Every error the proxy raises on purpose. Each carries a stable `code` users can match on
 * (listed in docs/errors.md) and, where it applies, the HTTP status it becomes before the
 * upgrade or the WebSocket close code it becomes after it.
 */
export type ErrorCode =
  | 'WSFY_ERR_USAGE'
  | 'WSFY_ERR_CONFIG'
  | 'WSFY_ERR_LISTEN'
  | 'WSFY_ERR_HANDSHAKE'
  | 'WSFY_ERR_METHOD'
  | 'WSFY_ERR_NOT_IMPLEMENTED'
  | 'WSFY_ERR_URI_TOO_LONG'
  | 'WSFY_ERR_HEADERS_TOO_LARGE'
  | 'WSFY_ERR_REQUEST_TIMEOUT'
  | 'WSFY_ERR_VERSION'
  | 'WSFY_ERR_PROTOCOL_SELECT'
  | 'WSFY_ERR_CAPACITY'
  | 'WSFY_ERR_TARGET_CONNECT'
  | 'WSFY_ERR_TOKEN_MISSING'
  | 'WSFY_ERR_TOKEN_UNKNOWN'
  | 'WSFY_ERR_AUTH'
  | 'WSFY_ERR_FORBIDDEN'
  | 'WSFY_ERR_PLUGIN'
  | 'WSFY_ERR_PLUGIN_TIMEOUT'
  | 'WSFY_ERR_SESSION_LIMIT'
  | 'WSFY_ERR_PROXY_PROTOCOL'
  | 'WSFY_ERR_WRAP'
  | 'WSFY_ERR_TLS_CONFIG'
  | 'WSFY_ERR_TLS_HANDSHAKE'
  | 'WSFY_ERR_INTERNAL'
  | 'WSFY_ERR_REVERSE_NOT_CONNECTED'
  | 'WSFY_ERR_REVERSE_BUSY';

interface WebsockifyErrorOptions {
  /** HTTP status to answer with when the error happens before the upgrade. */
  httpStatus?: number;
  /** WebSocket close code to send when the error happens after the upgrade. */
  closeCode?: number;
  /** Extra response headers (e.g. WWW-Authenticate, Sec-WebSocket-Version). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class WebsockifyError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number | undefined;
  readonly closeCode: number | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: WebsockifyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = options.httpStatus;
    this.closeCode = options.closeCode;
    this.headers = options.headers ?? {};
  }
}

/** A bad command line: usage is printed, then `<prog>: error: <message>`, exit status 2. */
export class UsageError extends WebsockifyError {
  constructor(message: string) {
    super('WSFY_ERR_USAGE', message);
  }
}

/** A configuration that parses but cannot run (missing file, bad combination). Exit status 1. */
export class ConfigError extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_CONFIG', message, { cause });
  }
}

/** The listener could not be opened. Exit status 1 (the reference exits 0 here; see docs/deviations.md). */
export class ListenError extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_LISTEN', message, { cause });
  }
}

/** A request refused before the upgrade; becomes an HTTP response with `httpStatus`. */
export class HttpRejection extends WebsockifyError {
  constructor(code: ErrorCode, httpStatus: number, message: string, headers?: Record<string, string>) {
    super(code, message, { httpStatus, headers: headers ?? {} });
  }
}

/** The target could not be reached; becomes close 1011 after the upgrade. */
export class TargetConnectError extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_TARGET_CONNECT', message, { closeCode: 1011, cause });
  }
}

/**
 * A token or auth plugin failed (Redis down, API answered 5xx or garbage, key file unreadable).
 * Becomes 502 before the upgrade; the reference closed the connection with no response and, for
 * some plugins, let the exception escape. The process keeps serving.
 */
export class PluginFailure extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_PLUGIN', message, { httpStatus: 502, cause });
  }
}

/** A plugin call did not finish within --plugin-timeout (an API or Redis hanging). Becomes 504. */
export class PluginTimeout extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_PLUGIN_TIMEOUT', message, { httpStatus: 504, cause });
  }
}

/**
 * The token was missing or unknown. 404 before the upgrade, with one log line that does not
 * contain the token. With --silent-token-failure (`silent`), the connection is closed with no
 * response, as the reference does.
 */
export class TokenRejection extends HttpRejection {
  constructor(
    code: 'WSFY_ERR_TOKEN_MISSING' | 'WSFY_ERR_TOKEN_UNKNOWN',
    message: string,
    readonly silent: boolean,
    /** Added to the log line only, never to the response (e.g. which option would read the cookie). */
    readonly logNote: string | null = null,
  ) {
    super(code, 404, message);
  }
}

/**
 * Wrap mode cannot run: the preload library is missing or unusable, or the wrapped program could
 * not be started. Exit status 1; the message names the fix.
 */
export class WrapError extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_WRAP', message, { cause });
  }
}

/**
 * The certificate, key, password or CA file cannot be used: missing, unreadable, no PEM in it,
 * wrong password, or a key that does not belong to the certificate. At startup this ends the
 * process with status 1; on reload it is logged and the previous certificate keeps serving.
 */
export class TlsConfigError extends WebsockifyError {
  constructor(message: string, cause?: unknown) {
    super('WSFY_ERR_TLS_CONFIG', message, { cause });
  }
}

/** A TLS client that did not finish its handshake in time or whose certificate was refused. */
export class TlsHandshakeError extends WebsockifyError {
  constructor(
    message: string,
    cause?: unknown,
    /** The client did not finish within the handshake timeout (a metrics reason of its own). */
    readonly timedOut = false,
  ) {
    super('WSFY_ERR_TLS_HANDSHAKE', message, { cause });
  }
}

/**
 * A token whose target is `reverse:<ID>` while no server with that ID is held (docs/reverse.md):
 * 503 before the upgrade, as for a target that is down for now.
 */
export class ReverseNotConnected extends HttpRejection {
  constructor() {
    super('WSFY_ERR_REVERSE_NOT_CONNECTED', 503, 'Reverse VNC server not connected');
  }
}

/** A token whose `reverse:<ID>` server is already bridged to another browser: 409. */
export class ReverseBusy extends HttpRejection {
  constructor() {
    super('WSFY_ERR_REVERSE_BUSY', 409, 'Reverse VNC server already in use');
  }
}
