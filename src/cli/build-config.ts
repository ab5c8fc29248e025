import os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { ParsedArgv, OptionValue } from './argv-parser.js';
import {
  DEFAULT_LIMITS,
  type Config,
  type OpsConfig,
  type ListenSpec,
  type PluginSpec,
  type SslVersion,
  type TargetSpec,
  type WrapMode,
} from '../config/config.js';
import { parseHostPort } from '../config/host-port.js';
import { checkOptionRange } from '../config/option-ranges.js';
import { FILE_SOURCE_TOKEN_PLUGINS, builtinName, parseUserModuleSpec } from '../plugins/plugin-names.js';
import { TrustedProxies } from '../server/trusted-proxies.js';

export interface BuildContext {
  /** Directory relative paths are resolved against (the caller's working directory). */
  cwd: string;
  /**
   * The key password after cli/ has looked at --key-password, --key-password-file and
   * WEBSOCKIFY_KEY_PASSWORD (see cli/key-password.ts). Undefined: take --key-password as given.
   */
  keyPassword?: string | null;
  /** The socket systemd passed (LISTEN_FDS), checked by cli/; used with --systemd-socket. */
  systemdFd?: number;
}

/**
 * Turns parsed argv into the frozen Config. Checks run in the reference's order so the first
 * complaint a user sees is the one Python websockify would print; each is a UsageError (exit 2).
 * Paths are made absolute here, once, so nothing breaks after -D changes directory (the
 * reference forgets --token-source and --unix-target; see docs/deviations.md).
 */
export function buildConfig(argv: ParsedArgv, ctx: BuildContext): Config {
  const opt = argv.options;
  const str = (name: string): string | null => (opt.has(name) ? String(opt.get(name)) : null);
  const num = (name: string, fallback: number): number => {
    if (!opt.has(name)) return fallback;
    const value = Number(opt.get(name));
    checkOptionRange(name, value);
    return value;
  };
  const flag = (name: string): boolean => opt.get(name) === true;
  const list = (name: string): string[] => {
    const value = opt.get(name);
    return value === undefined ? [] : Array.isArray(value) ? value : [String(value)];
  };
  const abs = (p: string | null): string | null => (p === null ? null : path.resolve(ctx.cwd, p));

  let tokenPluginName = str('token-plugin');
  let tokenSource = str('token-source');
  const targetConfig = str('target-config');
  if (targetConfig !== null) {
    tokenPluginName = 'TokenFile';
    tokenSource = targetConfig;
  }
  if (tokenSource !== null && tokenPluginName === null) throw new UsageError('You must use --token-plugin to use --token-source');
  if (flag('host-token') && tokenPluginName === null) throw new UsageError('You must use --token-plugin to use --host-token');
  if (flag('token-cookie') && tokenPluginName === null) throw new UsageError('You must use --token-plugin to use --token-cookie');
  if (opt.has('auth-source') && !opt.has('auth-plugin')) throw new UsageError('You must use --auth-plugin to use --auth-source');
  if (flag('web-auth') && !opt.has('auth-plugin')) throw new UsageError('You must use --auth-plugin to use --web-auth');
  if (flag('web-auth') && !opt.has('web') && !flag('novnc')) throw new UsageError('You must use --web or --novnc to use --web-auth');
  if (flag('legacy-syslog') && !opt.has('syslog')) throw new UsageError('You must use --syslog to use --legacy-syslog');
  if (flag('file-only') && !opt.has('web')) throw new UsageError('You must use --web to use --file-only');
  if (flag('web-dotfiles') && !opt.has('web')) throw new UsageError('You must use --web to use --web-dotfiles');
  if (flag('novnc') && opt.has('web')) throw new UsageError('--novnc and --web cannot be used together');
  if ((opt.has('ssl-target-ca') || flag('ssl-target-insecure')) && !flag('ssl-target')) {
    throw new UsageError('You must use --ssl-target to use --ssl-target-ca or --ssl-target-insecure');
  }
  if (opt.has('ssl-target-ca') && flag('ssl-target-insecure')) {
    throw new UsageError('--ssl-target-ca and --ssl-target-insecure cannot be used together');
  }

  const positionals = [...argv.positionals];
  const unixListen = str('unix-listen');
  const inetd = flag('inetd');
  if (unixListen !== null && inetd) throw new UsageError('--unix-listen and --inetd cannot be used together');
  const systemdSocket = flag('systemd-socket');
  if (systemdSocket && (inetd || unixListen !== null)) throw new UsageError('--systemd-socket cannot be used with --inetd or --unix-listen');
  // Our -D is a re-spawned process (Node cannot fork); an inherited listening fd would not follow.
  if (flag('daemon') && (inetd || systemdSocket))
    throw new UsageError('-D cannot be used with --inetd or --systemd-socket (the service manager already runs us in the background)');

  let listen: ListenSpec;
  if (systemdSocket) {
    // sd_listen_fds(3): the first passed socket is fd 3; cli/ checked LISTEN_PID/LISTEN_FDS.
    listen = { kind: 'fd', fd: ctx.systemdFd ?? 3, label: 'systemd socket' };
  } else if (inetd) {
    listen = { kind: 'fd', fd: 0, label: 'inetd' };
  } else if (unixListen !== null) {
    listen = { kind: 'unix', path: abs(unixListen)!, mode: parseMode(str('unix-listen-mode')) };
  } else {
    const first = positionals.shift();
    if (first === undefined) throw new UsageError('Too few arguments');
    const { host, port } = parseHostPort(first, 'listen');
    listen = { kind: 'tcp', host, port, preferIpv6: flag('prefer-ipv6') };
  }

  const wrapCommand = argv.afterDoubleDash;
  const unixTarget = str('unix-target');
  let target: TargetSpec | null = null;
  if (wrapCommand !== null) {
    if (wrapCommand.length === 0) throw new UsageError('No command given after --');
    // The loopback move rebinds the program's copy of *our* listen port; there is none here.
    if (flag('wrap-loopback') && listen.kind !== 'tcp') throw new UsageError('--wrap-loopback needs a TCP listen port (not --unix-listen or --inetd)');
  } else if (flag('wrap-loopback')) {
    throw new UsageError('You must give a command after -- to use --wrap-loopback');
  } else if (unixTarget !== null) {
    target = { kind: 'unix', path: abs(unixTarget)! };
  } else if (tokenPluginName === null) {
    const text = positionals.shift();
    if (text === undefined) throw new UsageError('Too few arguments');
    const { host, port } = parseHostPort(text, 'target');
    target = { kind: 'tcp', host, port };
  }
  if (positionals.length > 0) throw new UsageError('Too many arguments');

  const tokenPlugin =
    tokenPluginName === null ? null : { name: absPluginName(tokenPluginName, ctx.cwd), source: absTokenSource(tokenPluginName, tokenSource, ctx.cwd) };
  const authPlugins = pairAuthPlugins(list('auth-plugin'), list('auth-source'), ctx.cwd);
  const maxSessionsPerToken = num('max-sessions-per-token', 0);
  const maxSessionsPerIp = num('max-sessions-per-ip', 0);
  if (maxSessionsPerToken < 0 || maxSessionsPerIp < 0) throw new UsageError('--max-sessions-per-token and --max-sessions-per-ip must not be negative');

  const handshakeTimeoutMs = seconds(num('handshake-timeout', DEFAULT_LIMITS.handshakeTimeoutMs / 1000), 'handshake-timeout');
  const connectTimeoutMs = seconds(num('connect-timeout', DEFAULT_LIMITS.connectTimeoutMs / 1000), 'connect-timeout');
  const maxMessageBytes = num('max-message-size', DEFAULT_LIMITS.maxMessageBytes);
  if (maxMessageBytes < 1) throw new UsageError('--max-message-size must be at least 1 byte');
  const maxHeaderBytes = num('max-header-size', DEFAULT_LIMITS.maxHeaderBytes);
  if (maxHeaderBytes < 1024) throw new UsageError('--max-header-size must be at least 1K');
  const maxHeaderCount = num('max-headers', DEFAULT_LIMITS.maxHeaderCount);
  if (maxHeaderCount < 8) throw new UsageError('--max-headers must be at least 8');
  const bufferHighWaterBytes = num('buffer-size', DEFAULT_LIMITS.bufferHighWaterBytes);
  if (bufferHighWaterBytes < 1024) throw new UsageError('--buffer-size must be at least 1K');
  const bufferStartBytes = Math.min(num('initial-buffer-size', DEFAULT_LIMITS.bufferStartBytes), bufferHighWaterBytes);
  const memoryBudgetBytes = num('memory-budget', DEFAULT_LIMITS.memoryBudgetBytes);
  const messageTimeoutMs = Math.round(num('message-timeout', DEFAULT_LIMITS.messageTimeoutMs / 1000) * 1000);
  const maxConnections = num('max-connections', DEFAULT_LIMITS.maxConnections);
  if (maxConnections < 0) throw new UsageError('--max-connections must not be negative');

  const heartbeatSec = num('heartbeat', 0);
  const heartbeatTimeoutSec = num('heartbeat-timeout', 0);
  if (heartbeatSec < 0) throw new UsageError('--heartbeat must not be negative');
  if (heartbeatTimeoutSec > 0 && heartbeatSec === 0) throw new UsageError('You must use --heartbeat to use --heartbeat-timeout');
  const timeoutSec = num('timeout', 0);
  const idleTimeoutSec = num('idle-timeout', 0);
  if (timeoutSec < 0 || idleTimeoutSec < 0) throw new UsageError('--timeout and --idle-timeout must not be negative');

  const workers = parseWorkers(str('workers'), flag('run-once') || wrapCommand !== null);
  const config: Config = {
    listen,
    target,
    targetTls: flag('ssl-target'),
    targetTlsOptions: { caFile: abs(str('ssl-target-ca')), insecure: flag('ssl-target-insecure') },
    tokenPlugin,
    hostToken: flag('host-token'),
    authPlugins,
    allowOrigins: list('allow-origin')
      .flatMap((o) => o.split(/\s+/))
      .filter((o) => o !== ''),
    silentTokenFailure: flag('silent-token-failure'),
    tokenCookie: flag('token-cookie'),
    wrap: wrapCommand === null ? null : { command: wrapCommand, mode: (str('wrap-mode') ?? 'exit') as WrapMode, loopback: flag('wrap-loopback') },
    web: opt.has('web') ? { root: abs(str('web'))!, fileOnly: flag('file-only'), dotfiles: flag('web-dotfiles') } : null,
    novnc: flag('novnc'),
    webAuth: flag('web-auth'),
    tls: {
      required: opt.has('cert') || opt.has('key') || flag('ssl-only') || flag('verify-client'),
      cert: abs(str('cert') ?? 'self.pem')!,
      key: abs(str('key')),
      keyPassword: ctx.keyPassword !== undefined ? ctx.keyPassword : str('key-password'),
      // A client certificate is checked only inside TLS: with --verify-client a plain ws://
      // client would be admitted with none, so plain connections are refused (docs/deviations.md).
      sslOnly: flag('ssl-only') || flag('verify-client'),
      sslVersion: (str('ssl-version') ?? 'default') as SslVersion,
      sslCiphers: str('ssl-ciphers'),
      verifyClient: flag('verify-client'),
      cafile: abs(str('cafile')),
      watchIntervalMs: Math.round(num('tls-watch-interval', 2) * 1000),
    },
    record: abs(str('record')),
    traffic: flag('traffic'),
    verbose: flag('verbose'),
    daemon: flag('daemon'),
    runOnce: flag('run-once'),
    timeoutSec,
    idleTimeoutSec,
    heartbeatSec,
    heartbeatTimeoutSec,
    log: {
      file: abs(str('log-file')),
      syslog: syslogTarget(str('syslog'), abs),
      legacySyslog: flag('legacy-syslog'),
      format: (str('log-format') ?? 'text') as 'text' | 'json',
    },
    ops: buildOpsConfig(opt, str, num, flag),
    limits: {
      maxMessageBytes,
      handshakeTimeoutMs,
      maxHeaderBytes,
      maxHeaderCount,
      maxUriBytes: Math.min(DEFAULT_LIMITS.maxUriBytes, Math.floor(maxHeaderBytes / 2)),
      connectTimeoutMs,
      maxConnections,
      maxConnectionsPerIp: num('max-connections-per-ip', DEFAULT_LIMITS.maxConnectionsPerIp),
      keepAliveTimeoutMs: seconds(num('keepalive-timeout', DEFAULT_LIMITS.keepAliveTimeoutMs / 1000), 'keepalive-timeout'),
      bufferHighWaterBytes,
      bufferStartBytes,
      memoryBudgetBytes,
      messageTimeoutMs,
      shutdownTimeoutMs: seconds(num('shutdown-timeout', DEFAULT_LIMITS.shutdownTimeoutMs / 1000), 'shutdown-timeout'),
      maxSessionsPerToken,
      maxSessionsPerIp,
      pluginTimeoutMs: seconds(num('plugin-timeout', DEFAULT_LIMITS.pluginTimeoutMs / 1000), 'plugin-timeout'),
    },
    workers,
  };
  return deepFreeze(config);
}

/**
 * --workers N | auto. --run-once (one session, then exit) and a wrapped program (one program,
 * started once) only make sense in one process, so they force 1 (docs/workers.md).
 */
function parseWorkers(text: string | null, singleProcess: boolean): number {
  if (text === null) return 1;
  const value = text.trim().toLowerCase();
  const count = value === 'auto' ? os.availableParallelism() : /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(count >= 1 && count <= 1024)) throw new UsageError(`option --workers: invalid value: '${text}' (a number from 1 to 1024, or auto)`);
  return singleProcess ? 1 : count;
}

/**
 * The i-th --auth-source goes to the i-th --auth-plugin (optparse keeps no order across
 * options, so position is the only pairing). With no --auth-source at all, every plugin gets
 * none (the reference passes None); otherwise the counts must match.
 */
function pairAuthPlugins(names: string[], sources: string[], cwd: string): PluginSpec[] {
  if (sources.length > 0 && sources.length !== names.length) {
    throw new UsageError(`${names.length} --auth-plugin but ${sources.length} --auth-source: give one --auth-source per --auth-plugin, in the same order`);
  }
  return names.map((name, i) => {
    let source = sources[i] ?? null;
    // BasicHTTPAuth's `@FILE` credentials file, made absolute like every other path.
    if (builtinName(name) === 'BasicHTTPAuth' && source !== null && source.startsWith('@')) source = `@${path.resolve(cwd, source.slice(1))}`;
    return { name: absPluginName(name, cwd), source };
  });
}

/** A user plugin module path is made absolute now, so it survives a later chdir (-D). */
function absPluginName(name: string, cwd: string): string {
  const user = parseUserModuleSpec(name);
  if (user === null) return name;
  const file = path.resolve(cwd, user.file);
  return user.exportName === 'default' && !name.endsWith(':default') ? file : `${file}:${user.exportName}`;
}

/**
 * File and directory sources of the built-in plugins are made absolute (the reference made
 * only --target-config absolute, so a relative --token-source broke under -D, which changes to `/`).
 */
function absTokenSource(name: string, source: string | null, cwd: string): string | null {
  if (source === null || source === '' || !FILE_SOURCE_TOKEN_PLUGINS.has(builtinName(name))) return source;
  return path.resolve(cwd, source);
}

/** `host:port` is UDP (port checked as the reference); anything else a unix socket path, made absolute. */
function syslogTarget(value: string | null, abs: (p: string | null) => string | null): string | null {
  if (value === null) return null;
  if (value.includes(':')) {
    const port = value.slice(value.lastIndexOf(':') + 1);
    if (!/^\s*\d+\s*$/.test(port) || Number(port) > 65535) throw new UsageError('Error parsing syslog port');
    return value;
  }
  return abs(value);
}

function buildOpsConfig(
  opt: Map<string, OptionValue>,
  str: (name: string) => string | null,
  num: (name: string, fallback: number) => number,
  flag: (name: string) => boolean,
): OpsConfig {
  const trustProxy = ((opt.get('trust-proxy') as string[] | undefined) ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  // Validates every entry now (UsageError naming the bad one), not at the first connection.
  new TrustedProxies(trustProxy);
  const proxyProtocol = flag('proxy-protocol');
  if (proxyProtocol && trustProxy.length === 0) throw new UsageError('You must use --trust-proxy to use --proxy-protocol');
  const recordMaxBytes = num('max-record-size', 0);
  if (recordMaxBytes !== 0 && recordMaxBytes < 4096) throw new UsageError('--max-record-size must be at least 4K');
  if (recordMaxBytes !== 0 && !opt.has('record')) throw new UsageError('You must use --record to use --max-record-size');
  for (const name of ['record-max-age', 'record-max-total']) {
    if (opt.has(name) && !opt.has('record')) throw new UsageError(`You must use --record to use --${name}`);
  }
  const metrics = str('metrics');
  let metricsListen: OpsConfig['metricsListen'] = null;
  if (metrics !== null) {
    if (!metrics.includes(':')) throw new UsageError('--metrics takes HOST:PORT (e.g. 127.0.0.1:9090)');
    metricsListen = parseHostPort(metrics, 'listen');
  }
  const pathOption = (name: string): string | null => {
    const value = str(name);
    if (value !== null && !value.startsWith('/')) throw new UsageError(`--${name} must start with /`);
    return value;
  };
  const metricsPath = pathOption('metrics-path');
  const healthPath = pathOption('health-path');
  if (metricsPath !== null && metricsPath === healthPath) throw new UsageError('--metrics-path and --health-path must differ');
  return {
    recordMaxBytes,
    recordBufferBytes: 8 * 1024 * 1024,
    // Defaults that cannot fill a disk by surprise (docs/recording.md, "Retention").
    recordMaxAgeMs: num('record-max-age', 30 * 86_400) * 1000,
    recordMaxTotalBytes: num('record-max-total', 1024 ** 3),
    trustProxy,
    proxyProtocol,
    sendProxyV2: flag('send-proxy-v2'),
    metricsListen,
    metricsPath,
    healthPath,
    drainTimeoutMs: Math.round(num('drain-timeout', 0) * 1000),
  };
}

/**
 * Permission bits only (0-777, octal, an optional leading 0): the reference takes any octal
 * number, so setuid, setgid and sticky bits could be asked for on a socket.
 */
function parseMode(text: string | null): number {
  if (text === null) return 0o600;
  if (!/^0?[0-7]{1,3}$/.test(text.trim())) throw new UsageError('Error parsing listen unix socket mode');
  return parseInt(text.trim(), 8);
}

function seconds(value: number, name: string): number {
  if (!(value > 0)) throw new UsageError(`--${name} must be greater than 0`);
  return Math.round(value * 1000);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value as Record<string, unknown>)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Options recognised but not built yet; see OptionSpec.planned. */
export function refusePlanned(options: Map<string, OptionValue>, planned: ReadonlySet<string>): void {
  for (const name of options.keys()) {
    if (planned.has(name)) throw new UsageError(`--${name} is not yet supported by this version of websockify-ts`);
  }
}
