/**
 * Every command-line option, with the reference's names, so existing command lines keep working.
 * Options added by websockify-ts are marked `ours`. An option whose feature is not built yet is
 * marked `planned`: it is recognised (so prefixes stay unambiguous and typos are caught) and
 * refused with "not yet supported", never silently ignored.
 */
export type OptionKind = 'flag' | 'string' | 'int' | 'number' | 'bytes' | 'choice';

/** The sections of `--help` and docs/cli.md, in the order they are shown. */
export const OPTION_GROUPS = {
  listen: 'Listening and targets',
  tls: 'TLS',
  web: 'Web server',
  auth: 'Tokens and auth',
  limits: 'Limits',
  logging: 'Logging',
  operations: 'Operations',
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
  { long: 'cert', group: 'tls', kind: 'string', metavar: 'FILE', help: 'SSL certificate file (default self.pem)' },
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
    help: 'check the cert, key and CA files this often and reload them on change (default 2, 0 = only on SIGHUP)',
  },
  { long: 'unix-listen', group: 'listen', kind: 'string', metavar: 'FILE', help: 'listen on a unix domain socket instead of a TCP port' },
  { long: 'unix-listen-mode', group: 'listen', kind: 'string', metavar: 'MODE', help: 'file mode of the --unix-listen socket, octal (default 0600)' },
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
    help: 'action to take when the wrapped program exits (default exit)',
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
    help: 'largest WebSocket message accepted from a client; larger ones close with 1009 (default 16M)',
  },
  {
    long: 'handshake-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: 'time allowed from accept to a complete request (default 10)',
  },
  {
    long: 'max-header-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: 'largest request line plus headers; beyond it 431 (default 16K)',
  },
  { long: 'max-headers', group: 'limits', kind: 'int', metavar: 'COUNT', ours: true, help: 'most request headers; beyond it 431 (default 100)' },
  {
    long: 'connect-timeout',
    group: 'limits',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: 'time allowed to connect to the target; then close 1011 (default 10)',
  },
  {
    long: 'max-connections',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: 'most open client connections; beyond it 503 (default 20000, 0 = no cap)',
  },
  {
    long: 'buffer-size',
    group: 'limits',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: 'bytes queued towards a slow side before the other side is paused (default 1M)',
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
    help: 'serve from N processes sharing the listener, or "auto" for one per core (default 1; --run-once and wrapped programs use 1)',
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
    help: 'remove --record files older than SECONDS, at start, after each recording and hourly; 0 = keep (default: 2592000, 30 days)',
  },
  {
    long: 'record-max-total',
    group: 'logging',
    kind: 'bytes',
    metavar: 'BYTES',
    ours: true,
    help: 'remove the oldest --record files while they take more than BYTES together; 0 = no limit (default: 1G)',
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
    help: 'on SIGTERM, stop accepting and fail /readyz, then wait up to SECONDS for sessions to end before sending 1001 (default 0)',
  },
  {
    long: 'shutdown-timeout',
    group: 'operations',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: 'on SIGTERM/SIGINT, time to flush queued bytes after sending 1001 (default 5)',
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
    help: 'most concurrent sessions for one token; beyond it 429 (default 0 = no cap)',
  },
  {
    long: 'max-sessions-per-ip',
    group: 'limits',
    kind: 'int',
    metavar: 'COUNT',
    ours: true,
    help: 'most concurrent sessions from one client address; beyond it 429 (default 0 = no cap)',
  },
  {
    long: 'plugin-timeout',
    group: 'auth',
    kind: 'number',
    metavar: 'SECONDS',
    ours: true,
    help: 'time allowed for one token or auth plugin call (API, Redis); beyond it 504 (default 5)',
  },
  {
    long: 'silent-token-failure',
    group: 'auth',
    kind: 'flag',
    ours: true,
    help: 'close the connection without a response on a missing or unknown token, as the reference (default: HTTP 404)',
  },
];
