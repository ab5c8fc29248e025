import type { Config, Limits, ListenSpec, OpsConfig, ReverseConfig, SslVersion, TargetSpec, TlsConfig, WrapMode } from './config.js';

/**
 * Every default of Config, in one place. cli/ falls back to these for an option not given, the
 * --help text (and so docs/cli.md) prints them, and anything else that builds a Config starts
 * from defaultConfig(). A value here is the value users get: change it here, nowhere else.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 16 * MiB,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * KiB,
  maxHeaderCount: 100,
  // Never more than half of --max-header-size (cli/ lowers it with a smaller one).
  maxUriBytes: 8 * KiB,
  connectTimeoutMs: 10_000,
  maxConnections: 20_000,
  maxConnectionsPerIp: 256,
  keepAliveTimeoutMs: 5_000,
  // Earned per direction by a reader that proves it reads; every session starts at 64 KiB (earned-threshold.ts).
  bufferHighWaterBytes: 1 * MiB,
  // What a client that opens a download and never reads parks: this plus one read, ~128 KiB.
  bufferStartBytes: 64 * KiB,
  // 2,048 fully stalled sessions at 128 KiB; past half of it, sessions that hold the most pause first.
  memoryBudgetBytes: 256 * MiB,
  // A 16 MiB message (--max-message-size) needs ~0.5 MiB/s to arrive within it.
  messageTimeoutMs: 30_000,
  shutdownTimeoutMs: 5_000,
  maxSessionsPerToken: 0,
  maxSessionsPerIp: 0,
  pluginTimeoutMs: 5_000,
});

/** The TLS settings an option left out gets (the reference's self.pem in the working directory). */
export const DEFAULT_TLS: Readonly<Pick<TlsConfig, 'cert' | 'sslVersion' | 'watchIntervalMs'>> = Object.freeze({
  cert: 'self.pem',
  sslVersion: 'default' satisfies SslVersion,
  watchIntervalMs: 2_000,
});

/** --unix-listen-mode: owner only, as the reference. */
export const DEFAULT_UNIX_LISTEN_MODE = 0o600;

/** --wrap-mode, as the reference. */
export const DEFAULT_WRAP_MODE: WrapMode = 'exit';

/** --log-format: the reference's lines. */
export const DEFAULT_LOG_FORMAT: Config['log']['format'] = 'text';

/** The process settings: no --timeout, --idle-timeout or --heartbeat (all 0 = off), one process. */
export const DEFAULT_PROCESS: Readonly<Pick<Config, 'timeoutSec' | 'idleTimeoutSec' | 'heartbeatSec' | 'heartbeatTimeoutSec' | 'workers'>> = Object.freeze({
  timeoutSec: 0,
  idleTimeoutSec: 0,
  heartbeatSec: 0,
  // Never drop a peer that does not answer pings: the reference does not.
  heartbeatTimeoutSec: 0,
  workers: 1,
});

/** Operations (docs/operations.md, docs/recording.md). */
export const DEFAULT_OPS: Readonly<Pick<OpsConfig, 'recordMaxBytes' | 'recordBufferBytes' | 'recordMaxAgeMs' | 'recordMaxTotalBytes' | 'drainTimeoutMs'>> =
  Object.freeze({
    // No cap per file, as the reference.
    recordMaxBytes: 0,
    recordBufferBytes: 8 * MiB,
    // Retention that cannot fill a disk by surprise (docs/recording.md, "Retention").
    recordMaxAgeMs: 30 * 86_400 * 1000,
    recordMaxTotalBytes: 1 * GiB,
    drainTimeoutMs: 0,
  });

/** The limits of --reverse-listen (docs/reverse.md); they apply only when it is given. */
export const DEFAULT_REVERSE: Readonly<Pick<ReverseConfig, 'idTimeoutMs' | 'idleTimeoutMs' | 'maxHeld' | 'maxHeldPerIp'>> = Object.freeze({
  idTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
  maxHeld: 1_000,
  maxHeldPerIp: 16,
});

/**
 * The Config a command line of just `LISTEN TARGET` makes: every option at its default, every
 * feature off. A fresh, unfrozen value the caller may change before validateConfig().
 */
export function defaultConfig(listen: ListenSpec, target: TargetSpec | null): Config {
  return {
    listen,
    target,
    targetTls: false,
    targetTlsOptions: { caFile: null, insecure: false },
    tokenPlugin: null,
    hostToken: false,
    authPlugins: [],
    allowOrigins: [],
    silentTokenFailure: false,
    tokenCookie: false,
    wrap: null,
    web: null,
    novnc: false,
    webAuth: false,
    tls: {
      required: false,
      cert: DEFAULT_TLS.cert,
      key: null,
      keyPassword: null,
      sslOnly: false,
      sslVersion: DEFAULT_TLS.sslVersion,
      sslCiphers: null,
      verifyClient: false,
      cafile: null,
      watchIntervalMs: DEFAULT_TLS.watchIntervalMs,
    },
    record: null,
    traffic: false,
    verbose: false,
    daemon: false,
    runOnce: false,
    ...DEFAULT_PROCESS,
    log: { file: null, syslog: null, legacySyslog: false, format: DEFAULT_LOG_FORMAT },
    ops: {
      ...DEFAULT_OPS,
      trustProxy: [],
      proxyProtocol: false,
      sendProxyV2: false,
      metricsListen: null,
      metricsPath: null,
      healthPath: null,
    },
    limits: { ...DEFAULT_LIMITS },
    reverse: null,
  };
}

/** A ReverseConfig for `listen` with every reverse option (--reverse-id-timeout, ...) at its default. */
export function defaultReverseConfig(listen: ReverseConfig['listen']): ReverseConfig {
  return { listen, allowAnyId: false, ...DEFAULT_REVERSE, tls: false };
}
