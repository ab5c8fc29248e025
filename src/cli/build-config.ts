import os from 'node:os';
import * as path from 'node:path';
import { ConfigError, UsageError } from '../errors.js';
import type { ParsedArgv, OptionValue } from './argv-parser.js';
import type { Config, OpsConfig, ReverseConfig, ListenSpec, PluginSpec, SslVersion, TargetSpec, WrapMode } from '../config/config.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_LOG_FORMAT,
  DEFAULT_OPS,
  DEFAULT_PROCESS,
  DEFAULT_REVERSE,
  DEFAULT_TLS,
  DEFAULT_UNIX_LISTEN_MODE,
  DEFAULT_WRAP_MODE,
} from '../config/defaults.js';
import { parseHostPort } from '../config/host-port.js';
import { checkOptionRange } from '../config/option-ranges.js';
import { checkOptionPairs, validateConfig } from '../config/validate-config.js';
import { FILE_SOURCE_TOKEN_PLUGINS, builtinName, parseUserModuleSpec } from '../plugins/plugin-names.js';
import { TrustedProxies } from '../server/trusted-proxies.js';
import { isValidReverseId, parseReverseTarget, REVERSE_PREFIX } from '../config/reverse-id.js';

interface BuildContext {
  /** Directory relative paths are resolved against (the caller's working directory). */
  cwd: string;
  /**
   * The key password after cli/ has looked at --key-password, --key-password-file and
   * WEBSOCKIFY_KEY_PASSWORD (see cli/key-password.ts). Undefined: take --key-password as given.
   */
  keyPassword?: string | null;
  /** The socket systemd passed (LISTEN_FDS), checked by cli/; used with --systemd-socket. */
  systemdFd?: number;
  /** Looks a group name up (cli/ asks the system); null when there is no such group. */
  groupId?: (name: string) => number | null;
}

/**
 * Turns parsed argv into the frozen Config. Checks run in the reference's order so the first
 * complaint a user sees is the one Python websockify would print; each is a UsageError (exit 2).
 * An option not given takes its value from config/defaults.ts; the Config is then checked by
 * config/validate-config.ts like any other. A number is checked against its range here too, as
 * typed (the message shows it so, and it is refused even where its part of the Config is off).
 * Paths are made absolute here, once, so nothing breaks after -D changes directory (the
 * reference forgets --token-source and --unix-target; see docs/deviations.md).
 */
export function buildConfig(argv: ParsedArgv, ctx: BuildContext): Config {
  const opt = argv.options;
  const str = (name: string): string | null => (opt.has(name) ? String(opt.get(name)) : null);
  /** The number given for an option, checked against its range as typed. */
  const given = (name: string): number => {
    const value = Number(opt.get(name));
    checkOptionRange(name, value);
    return value;
  };
  const num = (name: string, fallback: number): number => (opt.has(name) ? given(name) : fallback);
  /** A duration option in seconds, as the milliseconds the Config keeps. */
  const ms = (name: string, fallbackMs: number): number => (opt.has(name) ? Math.round(given(name) * 1000) : fallbackMs);
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
  const positionals = [...argv.positionals];
  const unixListen = str('unix-listen');
  const inetd = flag('inetd');
  const unixListenGroup = str('unix-listen-group');
  const systemdSocket = flag('systemd-socket');
  // Before the positionals, as the reference (validateConfig checks them again on the Config).
  checkOptionPairs({
    tokenPlugin: tokenPluginName !== null,
    tokenSource: tokenSource !== null,
    hostToken: flag('host-token'),
    tokenCookie: flag('token-cookie'),
    authPlugin: opt.has('auth-plugin'),
    authSource: opt.has('auth-source'),
    webAuth: flag('web-auth'),
    web: opt.has('web'),
    novnc: flag('novnc'),
    legacySyslog: flag('legacy-syslog'),
    syslog: opt.has('syslog'),
    fileOnly: flag('file-only'),
    webDotfiles: flag('web-dotfiles'),
    sslTarget: flag('ssl-target'),
    sslTargetCa: opt.has('ssl-target-ca'),
    sslTargetInsecure: flag('ssl-target-insecure'),
    unixListen: unixListen !== null,
    unixListenGroup: unixListenGroup !== null,
    inetd,
    systemdSocket,
    daemon: flag('daemon'),
  });

  let listen: ListenSpec;
  if (systemdSocket) {
    // sd_listen_fds(3): the first passed socket is fd 3; cli/ checked LISTEN_PID/LISTEN_FDS.
    listen = { kind: 'fd', fd: ctx.systemdFd ?? 3, label: 'systemd socket' };
  } else if (inetd) {
    listen = { kind: 'fd', fd: 0, label: 'inetd' };
  } else if (unixListen !== null) {
    listen = { kind: 'unix', path: abs(unixListen)!, mode: parseMode(str('unix-listen-mode')), gid: groupId(unixListenGroup, ctx) };
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
    if (text.startsWith(REVERSE_PREFIX)) {
      // `6080 reverse:ID`: every browser goes to the server that connected in as ID.
      const id = parseReverseTarget(text);
      if (id === null) throw new UsageError('Error parsing target: reverse:ID takes 1-64 letters, digits, ".", "_" or "-"');
      target = { kind: 'reverse', id };
    } else {
      const { host, port } = parseHostPort(text, 'target');
      target = { kind: 'tcp', host, port };
    }
  }
  if (positionals.length > 0) throw new UsageError('Too many arguments');

  const tokenPlugin =
    tokenPluginName === null ? null : { name: absPluginName(tokenPluginName, ctx.cwd), source: absTokenSource(tokenPluginName, tokenSource, ctx.cwd) };
  const authPlugins = pairAuthPlugins(list('auth-plugin'), list('auth-source'), ctx.cwd);
  // Numbers are read in this order so that of several bad ones, the first refused stays the same.
  const maxSessionsPerToken = num('max-sessions-per-token', DEFAULT_LIMITS.maxSessionsPerToken);
  const maxSessionsPerIp = num('max-sessions-per-ip', DEFAULT_LIMITS.maxSessionsPerIp);
  const handshakeTimeoutMs = ms('handshake-timeout', DEFAULT_LIMITS.handshakeTimeoutMs);
  const connectTimeoutMs = ms('connect-timeout', DEFAULT_LIMITS.connectTimeoutMs);
  const maxMessageBytes = num('max-message-size', DEFAULT_LIMITS.maxMessageBytes);
  const maxHeaderBytes = num('max-header-size', DEFAULT_LIMITS.maxHeaderBytes);
  const maxHeaderCount = num('max-headers', DEFAULT_LIMITS.maxHeaderCount);
  const bufferHighWaterBytes = num('buffer-size', DEFAULT_LIMITS.bufferHighWaterBytes);
  // At most --buffer-size: a larger start is lowered to it, not refused.
  const bufferStartBytes = Math.min(num('initial-buffer-size', DEFAULT_LIMITS.bufferStartBytes), bufferHighWaterBytes);
  const memoryBudgetBytes = num('memory-budget', DEFAULT_LIMITS.memoryBudgetBytes);
  const messageTimeoutMs = ms('message-timeout', DEFAULT_LIMITS.messageTimeoutMs);
  const maxConnections = num('max-connections', DEFAULT_LIMITS.maxConnections);
  const heartbeatSec = num('heartbeat', DEFAULT_PROCESS.heartbeatSec);
  const heartbeatTimeoutSec = num('heartbeat-timeout', DEFAULT_PROCESS.heartbeatTimeoutSec);
  const timeoutSec = num('timeout', DEFAULT_PROCESS.timeoutSec);
  const idleTimeoutSec = num('idle-timeout', DEFAULT_PROCESS.idleTimeoutSec);

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
    wrap: wrapCommand === null ? null : { command: wrapCommand, mode: (str('wrap-mode') ?? DEFAULT_WRAP_MODE) as WrapMode, loopback: flag('wrap-loopback') },
    web: opt.has('web') ? { root: abs(str('web'))!, fileOnly: flag('file-only'), dotfiles: flag('web-dotfiles') } : null,
    novnc: flag('novnc'),
    webAuth: flag('web-auth'),
    tls: {
      required: opt.has('cert') || opt.has('key') || flag('ssl-only') || flag('verify-client'),
      cert: abs(str('cert') ?? DEFAULT_TLS.cert)!,
      key: abs(str('key')),
      keyPassword: ctx.keyPassword !== undefined ? ctx.keyPassword : str('key-password'),
      // A client certificate is checked only inside TLS: with --verify-client a plain ws://
      // client would be admitted with none, so plain connections are refused (docs/deviations.md).
      sslOnly: flag('ssl-only') || flag('verify-client'),
      sslVersion: (str('ssl-version') ?? DEFAULT_TLS.sslVersion) as SslVersion,
      sslCiphers: str('ssl-ciphers'),
      verifyClient: flag('verify-client'),
      cafile: abs(str('cafile')),
      watchIntervalMs: ms('tls-watch-interval', DEFAULT_TLS.watchIntervalMs),
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
      format: (str('log-format') ?? DEFAULT_LOG_FORMAT) as Config['log']['format'],
    },
    ops: buildOpsConfig(opt, str, num, ms, flag),
    reverse: buildReverseConfig(list('reverse-listen'), num, ms, flag),
    limits: {
      maxMessageBytes,
      handshakeTimeoutMs,
      maxHeaderBytes,
      maxHeaderCount,
      // The request line is part of the headers: a smaller --max-header-size lowers the URI cap too.
      maxUriBytes: Math.min(DEFAULT_LIMITS.maxUriBytes, Math.floor(maxHeaderBytes / 2)),
      connectTimeoutMs,
      maxConnections,
      maxConnectionsPerIp: num('max-connections-per-ip', DEFAULT_LIMITS.maxConnectionsPerIp),
      keepAliveTimeoutMs: ms('keepalive-timeout', DEFAULT_LIMITS.keepAliveTimeoutMs),
      bufferHighWaterBytes,
      bufferStartBytes,
      memoryBudgetBytes,
      messageTimeoutMs,
      shutdownTimeoutMs: ms('shutdown-timeout', DEFAULT_LIMITS.shutdownTimeoutMs),
      maxSessionsPerToken,
      maxSessionsPerIp,
      pluginTimeoutMs: ms('plugin-timeout', DEFAULT_LIMITS.pluginTimeoutMs),
    },
    workers,
  };
  return deepFreeze(validateConfig(config));
}

/**
 * --workers N | auto. --run-once (one session, then exit) and a wrapped program (one program,
 * started once) only make sense in one process, so they force 1 (docs/workers.md).
 */
function parseWorkers(text: string | null, singleProcess: boolean): number {
  if (text === null) return DEFAULT_PROCESS.workers;
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
  ms: (name: string, fallbackMs: number) => number,
  flag: (name: string) => boolean,
): OpsConfig {
  const trustProxy = ((opt.get('trust-proxy') as string[] | undefined) ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  // Validates every entry now (UsageError naming the bad one), not at the first connection.
  new TrustedProxies(trustProxy);
  const recordMaxBytes = num('max-record-size', DEFAULT_OPS.recordMaxBytes);
  // Their defaults are not 0, so only the command line knows whether they were asked for.
  for (const name of ['record-max-age', 'record-max-total']) {
    if (opt.has(name) && !opt.has('record')) throw new UsageError(`You must use --record to use --${name}`);
  }
  const metrics = str('metrics');
  let metricsListen: OpsConfig['metricsListen'] = null;
  if (metrics !== null) {
    if (!metrics.includes(':')) throw new UsageError('--metrics takes HOST:PORT (e.g. 127.0.0.1:9090)');
    metricsListen = parseHostPort(metrics, 'listen');
  }
  return {
    recordMaxBytes,
    recordBufferBytes: DEFAULT_OPS.recordBufferBytes,
    // Not rounded to whole milliseconds: retention only compares file times with it.
    recordMaxAgeMs: num('record-max-age', DEFAULT_OPS.recordMaxAgeMs / 1000) * 1000,
    recordMaxTotalBytes: num('record-max-total', DEFAULT_OPS.recordMaxTotalBytes),
    trustProxy,
    proxyProtocol: flag('proxy-protocol'),
    sendProxyV2: flag('send-proxy-v2'),
    metricsListen,
    metricsPath: str('metrics-path'),
    healthPath: str('health-path'),
    drainTimeoutMs: ms('drain-timeout', DEFAULT_OPS.drainTimeoutMs),
  };
}

/**
 * --reverse-listen and its limits (docs/reverse.md). Each listen is `[ADDR:]PORT[=ID]`. The
 * reverse options need --reverse-listen; the rules between it and the target are validateConfig's.
 */
function buildReverseConfig(
  listens: string[],
  num: (name: string, fallback: number) => number,
  ms: (name: string, fallbackMs: number) => number,
  flag: (name: string) => boolean,
): ReverseConfig | null {
  // Read (and range-checked) even without --reverse-listen, as they always were.
  const idTimeoutMs = ms('reverse-id-timeout', DEFAULT_REVERSE.idTimeoutMs);
  const idleTimeoutMs = ms('reverse-idle-timeout', DEFAULT_REVERSE.idleTimeoutMs);
  const maxHeld = num('reverse-max-held', DEFAULT_REVERSE.maxHeld);
  const maxHeldPerIp = num('reverse-max-held-per-ip', DEFAULT_REVERSE.maxHeldPerIp);
  if (listens.length === 0) {
    if (flag('reverse-allow-any-id') || flag('reverse-tls'))
      throw new UsageError('You must use --reverse-listen to use --reverse-allow-any-id or --reverse-tls');
    return null;
  }
  const listen = listens.map((text) => {
    const eq = text.indexOf('=');
    const address = eq === -1 ? text : text.slice(0, eq);
    const fixedId = eq === -1 ? null : text.slice(eq + 1);
    if (fixedId !== null && !isValidReverseId(fixedId))
      throw new UsageError(`--reverse-listen ${address}=ID: the ID takes 1-64 letters, digits, ".", "_" or "-"`);
    const { host, port } = parseHostPort(address, 'listen');
    return { host, port, fixedId };
  });
  return {
    listen,
    allowAnyId: flag('reverse-allow-any-id'),
    idTimeoutMs,
    idleTimeoutMs,
    maxHeld,
    maxHeldPerIp,
    tls: flag('reverse-tls'),
  };
}

/**
 * Permission bits only (0-777, octal, an optional leading 0): the reference takes any octal
 * number, so setuid, setgid and sticky bits could be asked for on a socket.
 */
function parseMode(text: string | null): number {
  if (text === null) return DEFAULT_UNIX_LISTEN_MODE;
  if (!/^0?[0-7]{1,3}$/.test(text.trim())) throw new UsageError('Error parsing listen unix socket mode');
  return parseInt(text.trim(), 8);
}

/**
 * --unix-listen-group: a numeric gid is taken as is (as chgrp does, it need not be named in the
 * group database); a name must exist, or the start stops here, before anything is bound.
 */
function groupId(text: string | null, ctx: BuildContext): number | null {
  if (text === null) return null;
  const name = text.trim();
  if (/^\d+$/.test(name)) {
    const gid = Number(name);
    // (gid_t)-1 means "leave the group unchanged" to chown(2): not a group.
    if (gid >= 0xffffffff) throw new UsageError(`--unix-listen-group ${name}: not a group id`);
    return gid;
  }
  if (name === '') throw new UsageError('--unix-listen-group needs a group name or id');
  const gid = ctx.groupId?.(name) ?? null;
  if (gid === null) throw new ConfigError(`--unix-listen-group ${name}: no such group`);
  return gid;
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
