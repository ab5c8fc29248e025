import { DEFAULT_LIMITS, DEFAULT_OPS, DEFAULT_PROCESS, DEFAULT_REVERSE, DEFAULT_TLS, DEFAULT_UNIX_LISTEN_MODE, DEFAULT_WRAP_MODE } from '../config/defaults.js';
import { formatSize } from '../config/option-ranges.js';

/**
 * Every command-line option, with the reference's names, so existing command lines keep working.
 * Options added by websockify-ts are marked `ours`. An option whose feature is not built yet is
 * marked `planned`: it is recognised (so prefixes stay unambiguous and typos are caught) and
 * refused with "not yet supported", never silently ignored.
 */
type OptionKind = 'flag' | 'string' | 'int' | 'number' | 'bytes' | 'choice';

/** The sections of `--help` and docs/cli.md, in the order they are shown. */
export const OPTION_GROUPS = {
  listen: 'Listening and targets',
  tls: 'TLS',
  web: 'Web server',
  auth: 'Tokens and auth',
  limits: 'Limits',
  logging: 'Logging',
  operations: 'Operations',
  reverse: 'Reverse connections (VNC servers that connect in)',
  wrap: 'Wrap mode',
  process: 'Process',
} as const;

export type OptionGroup = keyof typeof OPTION_GROUPS;

export interface OptionSpec {
  /** Long name without the leading dashes; this is also the key in the parsed result. */
  long: string;
  short?: string;
  /** The section of `--help` it is listed under (an option without one goes under "Other"). */
  group?: OptionGroup;
  kind: OptionKind;
  choices?: readonly string[];
  metavar?: string;
  help: string;
  /** Added by websockify-ts; absent from the reference. */
  ours?: boolean;
  /** Recognised but refused with "not yet supported" until it is built. */
  planned?: boolean;
  /** May be given more than once; the parsed value is then a list. */
  repeatable?: boolean;
}

// A "(default X)" in a help text is printed from src/config/defaults.ts, never written by hand, so
// --help and docs/cli.md cannot drift from the values. Defaults said in words (never, off, no cap)
// are checked against it by test/unit/cli/help-defaults.test.ts.

/** Milliseconds as the seconds an option takes: 10000 -> 10. */
function seconds(ms: number): string {
  return String(ms / 1000);
}

/** A file mode as the option takes it: 0o600 -> 0600. */
function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** A cap where 0 means none: 0 -> "0 = no cap". */
function cap(count: number): string {
  return count === 0 ? '0 = no cap' : String(count);
}

export const OPTIONS: readonly OptionSpec[] = [
  { long: 'help', group: 'process', short: 'h', kind: 'flag', help: 'show this help message and exit' },
  { long: 'version', group: 'process', kind: 'flag', ours: true, help: 'print the version (websockify-ts X.Y.Z) and exit' },
  { long: 'verbose', group: 'logging', short: 'v', kind: 'flag', help: 'verbose messages' },
  { long: 'traffic', group: 'logging', kind: 'flag', help: 'per frame traffic' },
  { long: 'record', group: 'logging', kind: 'string', metavar: 'FILE', help: 'record sessions to FILE.[session_number]' },
  { long: 'daemon', group: 'process', short: 'D', kind: 'flag', help: 'become a daemon (background process)' },
  { long: 'run-once', group: 'process', kind: 'flag', help: 'handle a single WebSocket connection and exit' },
  {
    long: 'timeout',
    group: 'process',
    kind: 'int',
    metavar: 'SECONDS',
    help: 'stop accepting connections SECONDS after launch and exit when the last session ends',
  },
  { long: 'idle-timeout', group: 'process', kind: 'int', metavar: 'SECONDS', help: 'exit after SECONDS without any open connection' },
  { long: 'cert', group: 'tls', kind: 'string', metavar: 'FILE', help: `SSL certificate file (default ${DEFAULT_TLS.cert})` },
  { long: 'key', group: 'tls', kind: 'string', metavar: 'FILE', help: 'SSL key file (if separate from cert)' },
  { long: 'key-password', group: 'tls', kind: 'string', metavar: 'PASSWORD', help: 'SSL key password' },
  {
    long: 'key-password-file',
    group: 'tls',
    kind: 'string',
    metavar: 'FILE',
    ours: true,
    help: 'read the SSL key password from the first line of FILE (or set WEBSOCKIFY_KEY_PASSWORD), so it does not show in ps',
  },
  { long: 'ssl-only', group: 'tls', kind: 'flag', help: 'disallow non-encrypted client connections' },
  { long: 'ssl-target', group: 'tls', kind: 'flag', help: 'connect to SSL target as SSL client' },
  {
    long: 'ssl-target-ca',
    group: 'tls',
    kind: 'string',
    metavar: 'FILE',
    ours: true,
    help: 'with --ssl-target: also trust the CA certificates in FILE (PEM) for the target',
  },
  {
    long: 'ssl-target-insecure',
    group: 'tls',
    kind: 'flag',
    ours: true,
    help: 'with --ssl-target: do not verify the target certificate or name (unsafe; testing only)',
  },
  { long: 'verify-client', group: 'tls', kind: 'flag', help: 'require encrypted client to present a valid certificate' },
  { long: 'cafile', group: 'tls', kind: 'string', metavar: 'FILE', help: 'CA certificates to verify clients with (with --verify-client)' },
  { long: 'ssl-version', group: 'tls', kind: 'choice', choices: ['default', 'tlsv1_1', 'tlsv1_2', 'tlsv1_3'], help: 'minimum TLS version (default: TLS 1.2)' },
  { long: 'ssl-ciphers', group: 'tls', kind: 'string', metavar: 'CIPHERS', help: 'list of ciphers allowed for TLS 1.2 and below' },
  {
    long: 'tls-watch-interval',
    group: 'tls',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `check the cert, key and CA files this often and reload them on change (default ${seconds(DEFAULT_TLS.watchIntervalMs)}, 0 = only on SIGHUP)`,
  },
  { long: 'unix-listen', group: 'listen', kind: 'string', metavar: 'FILE', help: 'listen on a unix domain socket instead of a TCP port' },
  {
    long: 'unix-listen-mode',
    group: 'listen',
    kind: 'string',
    metavar: 'MODE',
    help: `file mode of the --unix-listen socket, octal (default ${octal(DEFAULT_UNIX_LISTEN_MODE)})`,
  },
  {
    long: 'unix-listen-group',
    group: 'listen',
    kind: 'string',
    metavar: 'GROUP',
    ours: true,
    help: "group of the --unix-listen socket, a name or gid, e.g. the web server's (default: the group websockify runs as)",
  },
  { long: 'unix-target', group: 'listen', kind: 'string', metavar: 'FILE', help: 'connect to a unix domain socket target' },
  { long: 'inetd', group: 'listen', kind: 'flag', help: 'use fd 0, an already listening socket (inetd wait mode, systemd StandardInput=socket)' },
  { long: 'web', group: 'web', kind: 'string', metavar: 'DIR', help: 'run a web server on the same port, serving files from DIR' },
  { long: 'web-auth', group: 'web', kind: 'flag', help: 'require authentication to access the web server (--web or --novnc) too' },
  { long: 'file-only', group: 'web', kind: 'flag', help: 'do not allow directory listings' },
  { long: 'web-dotfiles', group: 'web', kind: 'flag', ours: true, help: 'with --web: also serve files and directories whose name starts with a dot' },
  { long: 'novnc', group: 'web', kind: 'flag', ours: true, help: 'serve the built-in noVNC console (open http://HOST:PORT/vnc.html)' },
  {
    long: 'wrap-mode',
    group: 'wrap',
    kind: 'choice',
    choices: ['exit', 'ignore', 'respawn'],
    help: `action to take when the wrapped program exits (default ${DEFAULT_WRAP_MODE})`,
  },
  { long: 'prefer-ipv6', group: 'listen', short: '6', kind: 'flag', help: 'prefer IPv6 when resolving the listen address' },
  { long: 'libserver', group: 'process', kind: 'flag', help: 'ignored: the reference library server mode (one server here)' },
  { long: 'target-config', group: 'auth', kind: 'string', metavar: 'FILE', help: 'deprecated: same as --token-plugin TokenFile --token-source FILE' },
  {
    long: 'token-plugin',
    group: 'auth',
    kind: 'string',
    metavar: 'CLASS',
    help: 'token plugin that maps a token to a target: a built-in name or path/to/module.js:Export',
  },
  { long: 'token-source', group: 'auth', kind: 'string', metavar: 'ARG', help: 'argument passed to the token plugin' },
  { long: 'host-token', group: 'auth', kind: 'flag', help: 'take the token from the Host header instead of ?token=' },
  {
    long: 'auth-plugin',
    group: 'auth',
    kind: 'string',
    metavar: 'CLASS',
    help: 'authentication plugin; repeat it to require several checks (each --auth-source goes to the --auth-plugin in the same position)',
    repeatable: true,
  },
  {
    long: 'auth-source',
    group: 'auth',
    kind: 'string',
    metavar: 'ARG',
    help: 'argument passed to the authentication plugin (BasicHTTPAuth: user:password or @FILE)',
    repeatable: true,
  },
  { long: 'heartbeat', group: 'limits', kind: 'int', metavar: 'SECONDS', help: 'send a ping to the client every SECONDS' },
  { long: 'log-file', group: 'logging', kind: 'string', metavar: 'FILE', help: 'also write log lines to FILE' },
  { long: 'syslog', group: 'logging', kind: 'string', metavar: 'SERVER', help: 'log to syslog: host:port (UDP) or a unix socket path' },
  { long: 'legacy-syslog', group: 'logging', kind: 'flag', help: 'use the old BSD syslog header (with --syslog)' },

  // websockify-ts additions: limits and liveness. See docs/cli.md.
  {
    long: 'heartbeat-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: 'close a client that has not answered a heartbeat ping within SECONDS (default: never, as the reference)',
  },
  {
    long: 'max-message-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `largest WebSocket message accepted from a client; larger ones close with 1009 (default ${formatSize(DEFAULT_LIMITS.maxMessageBytes)})`,
  },
  {
    long: 'handshake-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `time allowed from accept to a complete request, and for each later request on a keep-alive connection from its first byte (default ${seconds(DEFAULT_LIMITS.handshakeTimeoutMs)})`,
  },
  {
    long: 'keepalive-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `close a keep-alive connection idle this long between requests (default ${seconds(DEFAULT_LIMITS.keepAliveTimeoutMs)})`,
  },
  {
    long: 'max-header-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `largest request line plus headers; beyond it 431 (default ${formatSize(DEFAULT_LIMITS.maxHeaderBytes)})`,
  },
  {
    long: 'max-headers',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most request headers; beyond it 431 (default ${DEFAULT_LIMITS.maxHeaderCount})`,
  },
  {
    long: 'connect-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `time allowed to connect to the target; then close 1011 (default ${seconds(DEFAULT_LIMITS.connectTimeoutMs)})`,
  },
  {
    long: 'max-connections',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most open client connections; beyond it 503 (default ${DEFAULT_LIMITS.maxConnections}, 0 = no cap)`,
  },
  {
    long: 'max-connections-per-ip',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most open connections from one client address, counted from accept; beyond it closed (default ${DEFAULT_LIMITS.maxConnectionsPerIp}, 0 = no cap; loopback and --trust-proxy peers exempt)`,
  },
  {
    long: 'message-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `a client message held whole (base64, --record, --traffic) must be complete within SECONDS, else close 1008; 0 = never (default ${seconds(DEFAULT_LIMITS.messageTimeoutMs)})`,
  },
  {
    long: 'memory-budget',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `bytes all sessions of a process may hold for slow readers; past half of it the sessions holding the most pause first, 0 = none (default ${formatSize(DEFAULT_LIMITS.memoryBudgetBytes)})`,
  },
  {
    long: 'buffer-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `bytes queued towards a slow side before the other side is paused, once that side has shown it reads (more bytes than the kernel buffers can hold); until then --initial-buffer-size (default ${formatSize(DEFAULT_LIMITS.bufferHighWaterBytes)})`,
  },
  {
    long: 'initial-buffer-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `the pause threshold every session starts with, up to --buffer-size; a client that never reads holds at most this plus one 64 KiB read (default ${formatSize(DEFAULT_LIMITS.bufferStartBytes)})`,
  },
  {
    long: 'wrap-loopback',
    group: 'wrap',
    kind: 'flag',
    ours: true,
    help: "wrap mode: move the program's port to a loopback TCP port (as the reference) instead of a private unix socket",
  },
  {
    long: 'workers',
    group: 'process',
    kind: 'string',
    metavar: 'N',
    ours: true,
    help: `serve from N processes sharing the listener, or "auto" for one per core (default ${DEFAULT_PROCESS.workers}; --run-once and wrapped programs use 1)`,
  },
  // websockify-ts additions: operations. See docs/operations.md.
  {
    long: 'log-format',
    group: 'logging',
    kind: 'choice',
    choices: ['text', 'json'],
    ours: true,
    help: "log line format: text (the reference's lines, with timestamps) or json (one object per line)",
  },
  {
    long: 'max-record-size',
    group: 'logging',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: 'stop recording a session once its --record file reaches BYTES; the file stays playable (default: no cap)',
  },
  {
    long: 'record-max-age',
    group: 'logging',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `remove --record files older than SECONDS, at start, after each recording and hourly; 0 = keep (default: ${seconds(DEFAULT_OPS.recordMaxAgeMs)}, ${DEFAULT_OPS.recordMaxAgeMs / 86_400_000} days)`,
  },
  {
    long: 'record-max-total',
    group: 'logging',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: `remove the oldest --record files while they take more than BYTES together; 0 = no limit (default: ${formatSize(DEFAULT_OPS.recordMaxTotalBytes)})`,
  },
  {
    long: 'trust-proxy',
    group: 'listen',
    kind: 'string',
    metavar: 'CIDR',
    repeatable: true,
    ours: true,
    help: 'believe X-Forwarded-For / X-Real-IP / Forwarded and PROXY headers only from these peers (repeatable, comma lists, "unix" for unix socket peers)',
  },
  {
    long: 'proxy-protocol',
    group: 'listen',
    kind: 'flag',
    ours: true,
    help: 'expect a PROXY protocol v1/v2 header on every connection (from --trust-proxy peers only)',
  },
  { long: 'send-proxy-v2', group: 'listen', kind: 'flag', ours: true, help: 'send a PROXY protocol v2 header with the real client address to the target' },
  {
    long: 'metrics',
    group: 'operations',
    kind: 'string',
    metavar: 'HOST:PORT',
    ours: true,
    help: 'serve /metrics (Prometheus), /healthz and /readyz on their own listener',
  },
  {
    long: 'metrics-path',
    group: 'operations',
    kind: 'string',
    metavar: 'PATH',
    ours: true,
    help: 'also serve Prometheus metrics at PATH on the main port (default: off)',
  },
  {
    long: 'health-path',
    group: 'operations',
    kind: 'string',
    metavar: 'PATH',
    ours: true,
    help: 'serve a readiness check at PATH on the main port: 200, or 503 while draining (default: off)',
  },
  {
    long: 'systemd-socket',
    group: 'listen',
    kind: 'flag',
    ours: true,
    help: 'listen on the socket systemd passes (LISTEN_FDS, fd 3) instead of a listen address',
  },
  {
    long: 'drain-timeout',
    group: 'operations',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `on SIGTERM, stop accepting and fail /readyz, then wait up to SECONDS for sessions to end before sending 1001 (default ${seconds(DEFAULT_OPS.drainTimeoutMs)})`,
  },
  {
    long: 'shutdown-timeout',
    group: 'operations',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `on SIGTERM/SIGINT, time to flush queued bytes after sending 1001 (default ${seconds(DEFAULT_LIMITS.shutdownTimeoutMs)})`,
  },

  // websockify-ts additions: admission (docs/plugins.md).
  {
    long: 'allow-origin',
    group: 'auth',
    kind: 'string',
    metavar: 'ORIGIN',
    ours: true,
    repeatable: true,
    help: 'accept WebSocket connections only from this Origin (repeatable); others get 403',
  },
  {
    long: 'max-sessions-per-token',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most concurrent sessions for one token; beyond it 429 (default ${cap(DEFAULT_LIMITS.maxSessionsPerToken)})`,
  },
  {
    long: 'max-sessions-per-ip',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most concurrent sessions from one client address; beyond it 429 (default ${cap(DEFAULT_LIMITS.maxSessionsPerIp)})`,
  },
  {
    long: 'plugin-timeout',
    group: 'auth',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `time allowed for one token or auth plugin call (API, Redis); beyond it 504 (default ${seconds(DEFAULT_LIMITS.pluginTimeoutMs)})`,
  },
  {
    long: 'silent-token-failure',
    group: 'auth',
    kind: 'flag',
    ours: true,
    help: 'close the connection without a response on a missing or unknown token, as the reference (default: HTTP 404)',
  },

  // websockify-ts additions: reverse connections (docs/reverse.md).
  {
    long: 'reverse-listen',
    group: 'reverse',
    kind: 'string',
    metavar: '[ADDR:]PORT[=ID]',
    ours: true,
    repeatable: true,
    help: 'accept VNC servers that connect in (UltraVNC repeater mode II: a 250-byte ID:<id> block first); =ID binds the port to one ID, for servers that send none (repeatable)',
  },
  {
    long: 'reverse-allow-any-id',
    group: 'reverse',
    kind: 'flag',
    ours: true,
    help: 'let servers register IDs that no token names (trusted networks only; default: such servers are closed at once)',
  },
  {
    long: 'reverse-id-timeout',
    group: 'reverse',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `time a reverse server has to send its ID block (TLS handshake included); then it is closed (default ${seconds(DEFAULT_REVERSE.idTimeoutMs)})`,
  },
  {
    long: 'reverse-idle-timeout',
    group: 'reverse',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: `close a held reverse server no browser asked for within SECONDS (default ${seconds(DEFAULT_REVERSE.idleTimeoutMs)}, 0 = never)`,
  },
  {
    long: 'reverse-max-held',
    group: 'reverse',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most reverse server connections held (and sending their ID) at once; beyond it they are closed (default ${DEFAULT_REVERSE.maxHeld})`,
  },
  {
    long: 'reverse-max-held-per-ip',
    group: 'reverse',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: `most reverse server connections held from one address (default ${DEFAULT_REVERSE.maxHeldPerIp})`,
  },
  {
    long: 'reverse-tls',
    group: 'reverse',
    kind: 'flag',
    ours: true,
    help: 'reverse servers connect with TLS, using the certificate of --cert/--key',
  },
  {
    long: 'token-cookie',
    group: 'auth',
    kind: 'flag',
    ours: true,
    help: 'read the token from a cookie named token even without --allow-origin (unsafe: any web page can then use the cookie); with --allow-origin the cookie is read anyway',
  },
];
