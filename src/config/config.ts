import { createHash } from 'node:crypto';

/**
 * The one configuration value. Every input (argv today; files and env later) is turned into a
 * `Config` once, validated once, frozen, and passed down. Nothing below cli/ reads argv or env.
 */

export type ListenSpec =
  /** TCP. `host` '' means "all addresses" (0.0.0.0, or :: with preferIpv6), as the reference. */
  | { kind: 'tcp'; host: string; port: number; preferIpv6: boolean }
  /**
   * --unix-listen PATH with --unix-listen-mode (an existing socket file is replaced) and
   * --unix-listen-group, resolved to a group id at start (null: the group we run as).
   */
  | { kind: 'unix'; path: string; mode: number; gid: number | null }
  /** An already-listening socket handed to us: fd 0 for --inetd, 3.. for systemd LISTEN_FDS. */
  | { kind: 'fd'; fd: number; label: string };

/**
 * `label`, when set, is what logs show instead of the address (one built from a token).
 * `reverse` is a VNC server that connected in to --reverse-listen and named itself `id`
 * (docs/reverse.md); it is never dialled.
 */
export type TargetSpec = ({ kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'reverse'; id: string }) & {
  label?: string;
};

export type WrapMode = 'exit' | 'ignore' | 'respawn';
export type SslVersion = 'default' | 'tlsv1_1' | 'tlsv1_2' | 'tlsv1_3';

export interface TlsConfig {
  /**
   * TLS was asked for (--cert, --key, --ssl-only or --verify-client given): the files must load
   * at start or the launch fails. Otherwise a missing default self.pem just means no TLS, as in
   * the reference.
   */
  required: boolean;
  cert: string;
  key: string | null;
  keyPassword: string | null;
  sslOnly: boolean;
  sslVersion: SslVersion;
  sslCiphers: string | null;
  verifyClient: boolean;
  cafile: string | null;
  /** Poll the cert, key and CA files this often and reload them on change. 0 = only on SIGHUP. */
  watchIntervalMs: number;
}

/** How the proxy talks TLS to its target under --ssl-target. */
export interface TargetTlsConfig {
  /** CA bundle (PEM) trusted for the target instead of the system store (a private CA). */
  caFile: string | null;
  /** --ssl-target-insecure: no certificate or name check at all. */
  insecure: boolean;
}

interface WebConfig {
  root: string;
  fileOnly: boolean;
  /** --web-dotfiles: serve names starting with '.' (refused by default; the reference serves them). */
  dotfiles: boolean;
}

export interface PluginSpec {
  /** Reference class name (`TokenFile`) or `path/to/module.js:ExportName` for a user plugin. */
  name: string;
  source: string | null;
}

export interface Limits {
  /** Largest WebSocket message accepted from a client, in bytes (close 1009 beyond). */
  maxMessageBytes: number;
  /**
   * Slowloris protection: from accept to a complete first request, and from the first byte of
   * every later request on a keep-alive connection to its end (headers and body).
   */
  handshakeTimeoutMs: number;
  /** Total size of the request line plus headers (431 beyond; 414 for the URI alone). */
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxUriBytes: number;
  connectTimeoutMs: number;
  /** Open client connections (HTTP and WebSocket together); 503 beyond. 0 = no cap. */
  maxConnections: number;
  /** Open connections from one client address, counted from accept; closed beyond. 0 = no cap. */
  maxConnectionsPerIp: number;
  /** An idle keep-alive connection (between a response and the next request) is closed after this. */
  keepAliveTimeoutMs: number;
  /** Bytes queued towards one side before the other side is paused, once that side's reader proved it reads. */
  bufferHighWaterBytes: number;
  /** The pause threshold each direction of a session starts with (at most bufferHighWaterBytes). */
  bufferStartBytes: number;
  /** Bytes all sessions of a process may hold while paused before every session's pause threshold shrinks. 0 = none. */
  memoryBudgetBytes: number;
  /** A client message assembled whole (base64, --record, --traffic) must be complete within this; 1008 beyond. 0 = no deadline. */
  messageTimeoutMs: number;
  /** How long SIGTERM/SIGINT waits for queued bytes after sending 1001. */
  shutdownTimeoutMs: number;
  /** Concurrent sessions for one token; 429 beyond. 0 = no cap. */
  maxSessionsPerToken: number;
  /** Concurrent sessions from one client address; 429 beyond. 0 = no cap. */
  maxSessionsPerIp: number;
  /** One token or auth plugin call (HTTP API, Redis); 504 beyond. */
  pluginTimeoutMs: number;
}

export interface Config {
  listen: ListenSpec;
  /** Fixed target, or null when a token plugin (or the wrapped program) decides. */
  target: TargetSpec | null;
  targetTls: boolean;
  targetTlsOptions: TargetTlsConfig;
  tokenPlugin: PluginSpec | null;
  hostToken: boolean;
  /** Every --auth-plugin, in order; all must allow (docs/plugins.md). */
  authPlugins: PluginSpec[];
  /** --allow-origin: the Origin allow-list, checked after the auth plugins. Empty = no check. */
  allowOrigins: string[];
  /** --silent-token-failure: missing/unknown token closes with no response, as the reference. */
  silentTokenFailure: boolean;
  /** --token-cookie: read the `token` cookie even when no Origin check is configured (docs/security.md). */
  tokenCookie: boolean;
  /**
   * `PORT -- PROGRAM ARGS`: run PROGRAM under the preload library. `loopback` keeps the
   * reference's move to a loopback TCP port; by default the port becomes a unix socket in a
   * private directory (docs/wrap.md).
   */
  wrap: { command: string[]; mode: WrapMode; loopback: boolean } | null;
  web: WebConfig | null;
  /** Serve the built-in noVNC console (web/novnc) at /vnc.html; exclusive with --web. */
  novnc: boolean;
  /** --web-auth: page requests (--web or --novnc) pass the auth plugins too, as upgrades do. */
  webAuth: boolean;
  tls: TlsConfig;
  record: string | null;
  traffic: boolean;
  verbose: boolean;
  daemon: boolean;
  runOnce: boolean;
  /** Stop accepting this many seconds after launch (reference --timeout). 0 = off. */
  timeoutSec: number;
  /** Exit after this many seconds without any open connection (reference --idle-timeout). 0 = off. */
  idleTimeoutSec: number;
  /** Ping every N seconds. 0 = off. */
  heartbeatSec: number;
  /** Drop a peer that has not answered a ping within N seconds. 0 = never (the reference). */
  heartbeatTimeoutSec: number;
  log: { file: string | null; syslog: string | null; legacySyslog: boolean; format: 'text' | 'json' };
  /** Operations features (docs/operations.md); all off by default. */
  ops: OpsConfig;
  limits: Limits;
  /** --reverse-listen: VNC servers that connect in (docs/reverse.md); null when off. */
  reverse: ReverseConfig | null;
  /**
   * Processes serving the listener (--workers; docs/workers.md). 1 = this process alone; more
   * makes this process a supervisor of that many node:cluster workers.
   */
  workers: number;
}

export interface ReverseListen {
  host: string;
  port: number;
  /** `PORT=ID`: every server connecting here is this ID and sends no ID string. */
  fixedId: string | null;
}

export interface ReverseConfig {
  listen: ReverseListen[];
  /** --reverse-allow-any-id: IDs absent from the token source may register too. */
  allowAnyId: boolean;
  /** Time a server has to send its 250-byte ID string. */
  idTimeoutMs: number;
  /** A held server no browser asked for is closed after this long. 0 = never. */
  idleTimeoutMs: number;
  /** Held servers in total, and from one address; beyond it the connection is closed. */
  maxHeld: number;
  maxHeldPerIp: number;
  /** --reverse-tls: the reverse listener speaks TLS with the --cert/--key of the main one. */
  tls: boolean;
}

export interface OpsConfig {
  /** --max-record-size: cap per --record file in bytes; 0 = none (the reference). */
  recordMaxBytes: number;
  /** Bytes a --record file may have queued for the disk before recording of that session stops. */
  recordBufferBytes: number;
  /** --record-max-age in ms: older recordings are removed; 0 = kept (docs/recording.md). */
  recordMaxAgeMs: number;
  /** --record-max-total: the oldest recordings are removed beyond this many bytes; 0 = no limit. */
  recordMaxTotalBytes: number;
  /** --trust-proxy entries (CIDRs, addresses, or `unix`), validated. */
  trustProxy: string[];
  /** --proxy-protocol: a PROXY v1/v2 header is required from trusted peers, refused from others. */
  proxyProtocol: boolean;
  /** --send-proxy-v2: prefix target connections with a PROXY v2 header. */
  sendProxyV2: boolean;
  /** --metrics HOST:PORT: own listener for /metrics, /healthz, /readyz. */
  metricsListen: { host: string; port: number } | null;
  metricsPath: string | null;
  healthPath: string | null;
  /** --drain-timeout: on SIGTERM, wait this long for sessions to end before sending 1001. */
  drainTimeoutMs: number;
}

/** Kept here for the modules that import it from config.ts; the values live in defaults.ts. */
export { DEFAULT_LIMITS } from './defaults.js';

export function describeTarget(target: TargetSpec): string {
  if (target.label !== undefined) return target.label;
  // A reverse ID is a credential: logs show a short hash of it, never the ID.
  if (target.kind === 'reverse') return `reverse:#${shortIdHash(target.id)}`;
  return target.kind === 'unix' ? target.path : `${formatHost(target.host)}:${target.port}`;
}

/** The first 8 hex digits of SHA-256(id): enough to tell IDs apart in logs, not to recover one. */
export function shortIdHash(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 8);
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
