import { UsageError } from '../errors.js';
import type { Config } from './config.js';
import { checkOptionRange, OPTION_RANGES } from './option-ranges.js';

/**
 * The checks on a Config's values: ranges and the rules between options. They hold for any
 * Config, whatever built it (the command line, a test, a future config file); each refusal is a
 * UsageError with the words the command line has always printed. What only the command line can
 * get wrong (a size that does not parse, an unknown choice, a missing positional) stays in cli/.
 */
export function validateConfig(config: Config): Config {
  checkOptionPairs(askedOf(config));
  checkRanges(config);
  checkCrossRules(config);
  return config;
}

/**
 * Which options a command line gave, as far as the rules between options need: cli/ fills it
 * from argv and runs checkOptionPairs before it reads the positionals, so the first complaint is
 * the one the reference prints; validateConfig fills it from a Config. Some of these (a
 * --token-source, an --auth-source, --file-only) leave no trace in a Config without the option
 * they need, so from a Config those rules always hold.
 */
interface AskedOptions {
  tokenPlugin: boolean;
  tokenSource: boolean;
  hostToken: boolean;
  tokenCookie: boolean;
  authPlugin: boolean;
  authSource: boolean;
  webAuth: boolean;
  web: boolean;
  novnc: boolean;
  legacySyslog: boolean;
  syslog: boolean;
  fileOnly: boolean;
  webDotfiles: boolean;
  sslTarget: boolean;
  sslTargetCa: boolean;
  sslTargetInsecure: boolean;
  unixListen: boolean;
  unixListenGroup: boolean;
  inetd: boolean;
  systemdSocket: boolean;
  daemon: boolean;
}

/** The rules "X needs Y" and "X excludes Y", in the reference's order (token, auth, web, syslog) and then ours. */
export function checkOptionPairs(asked: AskedOptions): void {
  if (asked.tokenSource && !asked.tokenPlugin) throw new UsageError('You must use --token-plugin to use --token-source');
  if (asked.hostToken && !asked.tokenPlugin) throw new UsageError('You must use --token-plugin to use --host-token');
  if (asked.tokenCookie && !asked.tokenPlugin) throw new UsageError('You must use --token-plugin to use --token-cookie');
  if (asked.authSource && !asked.authPlugin) throw new UsageError('You must use --auth-plugin to use --auth-source');
  if (asked.webAuth && !asked.authPlugin) throw new UsageError('You must use --auth-plugin to use --web-auth');
  if (asked.webAuth && !asked.web && !asked.novnc) throw new UsageError('You must use --web or --novnc to use --web-auth');
  if (asked.legacySyslog && !asked.syslog) throw new UsageError('You must use --syslog to use --legacy-syslog');
  if (asked.fileOnly && !asked.web) throw new UsageError('You must use --web to use --file-only');
  if (asked.webDotfiles && !asked.web) throw new UsageError('You must use --web to use --web-dotfiles');
  if (asked.novnc && asked.web) throw new UsageError('--novnc and --web cannot be used together');
  if ((asked.sslTargetCa || asked.sslTargetInsecure) && !asked.sslTarget) {
    throw new UsageError('You must use --ssl-target to use --ssl-target-ca or --ssl-target-insecure');
  }
  if (asked.sslTargetCa && asked.sslTargetInsecure) throw new UsageError('--ssl-target-ca and --ssl-target-insecure cannot be used together');
  if (asked.unixListen && asked.inetd) throw new UsageError('--unix-listen and --inetd cannot be used together');
  if (asked.unixListenGroup && !asked.unixListen) throw new UsageError('You must use --unix-listen to use --unix-listen-group');
  if (asked.systemdSocket && (asked.inetd || asked.unixListen)) throw new UsageError('--systemd-socket cannot be used with --inetd or --unix-listen');
  // Our -D is a re-spawned process (Node cannot fork); an inherited listening fd would not follow.
  if (asked.daemon && (asked.inetd || asked.systemdSocket)) {
    throw new UsageError('-D cannot be used with --inetd or --systemd-socket (the service manager already runs us in the background)');
  }
}

/** What a Config asks for, in the terms of checkOptionPairs. */
function askedOf(c: Config): AskedOptions {
  const fd = c.listen.kind === 'fd' ? c.listen.fd : null;
  return {
    tokenPlugin: c.tokenPlugin !== null,
    tokenSource: c.tokenPlugin !== null && c.tokenPlugin.source !== null,
    hostToken: c.hostToken,
    tokenCookie: c.tokenCookie,
    authPlugin: c.authPlugins.length > 0,
    authSource: c.authPlugins.some((p) => p.source !== null),
    webAuth: c.webAuth,
    web: c.web !== null,
    novnc: c.novnc,
    legacySyslog: c.log.legacySyslog,
    syslog: c.log.syslog !== null,
    fileOnly: c.web?.fileOnly ?? false,
    webDotfiles: c.web?.dotfiles ?? false,
    sslTarget: c.targetTls,
    sslTargetCa: c.targetTlsOptions.caFile !== null,
    sslTargetInsecure: c.targetTlsOptions.insecure,
    unixListen: c.listen.kind === 'unix',
    unixListenGroup: c.listen.kind === 'unix' && c.listen.gid !== null,
    // fd 0 is --inetd's; any other inherited fd came from systemd (sd_listen_fds(3) starts at 3).
    inetd: fd === 0,
    systemdSocket: fd !== null && fd !== 0,
    daemon: c.daemon,
  };
}

/**
 * Where each numeric option lands in a Config: the field, and how many of the field's units make
 * one of the option's (1000 for seconds kept as milliseconds). Absent (undefined) when the part
 * of the Config holding it is off (the reverse options without --reverse-listen).
 */
export const RANGED_FIELDS: Readonly<Record<string, { get: (c: Config) => number | undefined; perUnit: number }>> = {
  timeout: { get: (c) => c.timeoutSec, perUnit: 1 },
  'idle-timeout': { get: (c) => c.idleTimeoutSec, perUnit: 1 },
  'tls-watch-interval': { get: (c) => c.tls.watchIntervalMs, perUnit: 1000 },
  heartbeat: { get: (c) => c.heartbeatSec, perUnit: 1 },
  'heartbeat-timeout': { get: (c) => c.heartbeatTimeoutSec, perUnit: 1 },
  'message-timeout': { get: (c) => c.limits.messageTimeoutMs, perUnit: 1000 },
  'handshake-timeout': { get: (c) => c.limits.handshakeTimeoutMs, perUnit: 1000 },
  'keepalive-timeout': { get: (c) => c.limits.keepAliveTimeoutMs, perUnit: 1000 },
  'connect-timeout': { get: (c) => c.limits.connectTimeoutMs, perUnit: 1000 },
  'drain-timeout': { get: (c) => c.ops.drainTimeoutMs, perUnit: 1000 },
  'shutdown-timeout': { get: (c) => c.limits.shutdownTimeoutMs, perUnit: 1000 },
  'plugin-timeout': { get: (c) => c.limits.pluginTimeoutMs, perUnit: 1000 },
  'max-message-size': { get: (c) => c.limits.maxMessageBytes, perUnit: 1 },
  'max-header-size': { get: (c) => c.limits.maxHeaderBytes, perUnit: 1 },
  'max-headers': { get: (c) => c.limits.maxHeaderCount, perUnit: 1 },
  'max-connections': { get: (c) => c.limits.maxConnections, perUnit: 1 },
  'max-connections-per-ip': { get: (c) => c.limits.maxConnectionsPerIp, perUnit: 1 },
  'buffer-size': { get: (c) => c.limits.bufferHighWaterBytes, perUnit: 1 },
  'initial-buffer-size': { get: (c) => c.limits.bufferStartBytes, perUnit: 1 },
  'memory-budget': { get: (c) => c.limits.memoryBudgetBytes, perUnit: 1 },
  'max-record-size': { get: (c) => c.ops.recordMaxBytes, perUnit: 1 },
  'record-max-age': { get: (c) => c.ops.recordMaxAgeMs, perUnit: 1000 },
  'record-max-total': { get: (c) => c.ops.recordMaxTotalBytes, perUnit: 1 },
  'max-sessions-per-token': { get: (c) => c.limits.maxSessionsPerToken, perUnit: 1 },
  'max-sessions-per-ip': { get: (c) => c.limits.maxSessionsPerIp, perUnit: 1 },
  'reverse-id-timeout': { get: (c) => c.reverse?.idTimeoutMs, perUnit: 1000 },
  'reverse-idle-timeout': { get: (c) => c.reverse?.idleTimeoutMs, perUnit: 1000 },
  'reverse-max-held': { get: (c) => c.reverse?.maxHeld, perUnit: 1 },
  'reverse-max-held-per-ip': { get: (c) => c.reverse?.maxHeldPerIp, perUnit: 1 },
};

/** Every numeric value against OPTION_RANGES, shown in the option's unit (seconds, not ms). */
function checkRanges(c: Config): void {
  for (const name of Object.keys(OPTION_RANGES)) {
    const field = RANGED_FIELDS[name];
    // A range with no field would go unchecked: fail loudly rather than pass a Config unread.
    if (field === undefined) throw new Error(`validateConfig: no Config field for --${name}`);
    const value = field.get(c);
    if (value !== undefined) checkOptionRange(name, value / field.perUnit);
  }
  // --workers: a count of processes (cli/ also takes "auto", turned into a count before this).
  if (!(Number.isInteger(c.workers) && c.workers >= 1 && c.workers <= 1024)) {
    throw new UsageError(`option --workers: invalid value: '${c.workers}' (a number from 1 to 1024, or auto)`);
  }
}

/** The rules between values set by different options. */
function checkCrossRules(c: Config): void {
  if (c.heartbeatTimeoutSec > 0 && c.heartbeatSec === 0) throw new UsageError('You must use --heartbeat to use --heartbeat-timeout');
  // cli/ lowers --initial-buffer-size to --buffer-size; a session never starts above the threshold it may earn.
  if (c.limits.bufferStartBytes > c.limits.bufferHighWaterBytes) throw new UsageError('--initial-buffer-size must not be larger than --buffer-size');
  if (c.ops.recordMaxBytes !== 0 && c.record === null) throw new UsageError('You must use --record to use --max-record-size');
  if (c.ops.proxyProtocol && c.ops.trustProxy.length === 0) throw new UsageError('You must use --trust-proxy to use --proxy-protocol');
  for (const [name, value] of [
    ['metrics-path', c.ops.metricsPath],
    ['health-path', c.ops.healthPath],
  ] as const) {
    if (value !== null && !value.startsWith('/')) throw new UsageError(`--${name} must start with /`);
  }
  if (c.ops.metricsPath !== null && c.ops.metricsPath === c.ops.healthPath) throw new UsageError('--metrics-path and --health-path must differ');
  if (c.reverse === null) {
    if (c.target?.kind === 'reverse') throw new UsageError('You must use --reverse-listen to use a reverse:ID target');
  } else {
    // A held server is reached through a reverse:ID target or a token naming one (docs/reverse.md).
    if (c.target !== null ? c.target.kind !== 'reverse' : c.tokenPlugin === null) {
      throw new UsageError('--reverse-listen needs a token plugin or a reverse:ID target');
    }
    // TLS state cannot travel with a socket handed to a worker (the primary owns the listener).
    if (c.reverse.tls && c.workers > 1) {
      throw new UsageError('--reverse-tls cannot be used with --workers (yet): run the reverse listener behind a TLS terminator');
    }
  }
}
