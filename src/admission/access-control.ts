import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import { describeTarget, type Config, type TargetSpec } from '../config/config.js';
import { HttpRejection, PluginFailure, PluginTimeout, TokenRejection, WebsockifyError } from '../errors.js';
import type { AuthPlugin, AuthRequest } from '../plugins/auth/auth-plugin.js';
import { builtinName } from '../plugins/plugin-names.js';
import { extractToken, hasTokenCookie } from './extract-token.js';
import { targetFromParts } from '../plugins/token/parse-target.js';
import type { TokenPlugin } from '../plugins/token/token-plugin.js';
import { SessionLimits } from './session-limits.js';

export interface AccessRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  clientAddress: string;
  /** The verified TLS client certificate, or null (plain ws://, or no/unverified cert). */
  peerCertificate: PeerCertificate | null;
}

export interface AccessOptions {
  tokenPlugin: TokenPlugin | null;
  auth: AuthPlugin | null;
  hostToken: boolean;
  /**
   * Read the `token` cookie: only when the Origin is checked (--allow-origin, ExpectOrigin) or
   * --token-cookie asks for it. A browser attaches the cookie to a WebSocket opened by any page,
   * so without an Origin check any site could open the victim's session (cross-site WebSocket
   * hijacking). The Origin check runs with the auth checks, before the token is read.
   */
  tokenCookie: boolean;
  /** --silent-token-failure: missing/unknown token closes with no response (the reference). */
  silentTokenFailure: boolean;
  maxSessionsPerToken: number;
  maxSessionsPerIp: number;
  /** Upper bound for one plugin call; beyond it 504. */
  pluginTimeoutMs: number;
}

interface Admission {
  /** The target the token chose, or null when there is no token plugin (the fixed target). */
  target: TargetSpec | null;
  /** Gives back the session slots; call once when the session ends (extra calls are harmless). */
  release(): void;
}

/**
 * Who may connect, and to where: the plugin half of admission, run before the upgrade.
 *
 * Order (docs/plugins.md, "Admission"):
 * 1. per-address session cap (429);
 * 2. authentication, every configured check (401/403). It runs before the token lookup, so a
 *    client that cannot authenticate learns nothing about which tokens exist (the reference
 *    looked the token up first: a token-existence oracle; docs/plugins.md). Auth plugins therefore see
 *    `target: null` on upgrades;
 * 3. the token: missing or unknown gives 404 (or a silent close with --silent-token-failure);
 * 4. per-token session cap (429).
 * A plugin that throws, or answers garbage, gives 502; one that takes longer than
 * --plugin-timeout gives 504. No refusal message contains the token.
 */
export class AccessControl {
  readonly limits: SessionLimits;

  constructor(private readonly options: AccessOptions) {
    this.limits = new SessionLimits(options.maxSessionsPerToken, options.maxSessionsPerIp);
  }

  /**
   * `fixedTarget` is what auth plugins are shown when there is no token plugin (the reference
   * passes the target to auth); with a token plugin they see null, since auth runs first.
   * Refusals are thrown, not logged: the caller writes the one log line and the response.
   */
  async admit(request: AccessRequest, fixedTarget: TargetSpec | null = null): Promise<Admission> {
    const releases: Array<() => void> = [];
    const release = (): void => {
      for (const r of releases.splice(0)) r();
    };
    try {
      const ipSlot = await this.limits.acquireIp(request.clientAddress);
      if (ipSlot === null) {
        throw new HttpRejection('WSFY_ERR_SESSION_LIMIT', 429, `too many sessions from this address (limit ${this.options.maxSessionsPerIp})`);
      }
      releases.push(ipSlot);

      await this.authenticate(request, this.options.tokenPlugin === null ? fixedTarget : null);

      let target: TargetSpec | null = null;
      const plugin = this.options.tokenPlugin;
      if (plugin !== null) {
        const found = extractToken(request.url, request.headers, { hostToken: this.options.hostToken, cookie: this.options.tokenCookie });
        if (found === null) {
          const ignoredCookie = !this.options.hostToken && !this.options.tokenCookie && hasTokenCookie(request.headers);
          throw new TokenRejection('WSFY_ERR_TOKEN_MISSING', 'Token not present', this.options.silentTokenFailure, ignoredCookie ? IGNORED_COOKIE_NOTE : null);
        }
        target = normalizeTarget(await this.guard('token', found.token, () => plugin.lookup(found.token)), found.token);
        if (target === null) {
          throw new TokenRejection('WSFY_ERR_TOKEN_UNKNOWN', `token not found (from ${found.from})`, this.options.silentTokenFailure);
        }
        const tokenSlot = await this.limits.acquireToken(found.token);
        if (tokenSlot === null) {
          throw new HttpRejection('WSFY_ERR_SESSION_LIMIT', 429, `too many sessions for this token (limit ${this.options.maxSessionsPerToken})`);
        }
        releases.push(tokenSlot);
      }
      return { target, release };
    } catch (err) {
      release();
      throw toRefusal(err);
    }
  }

  /** Runs every auth check; for --web-auth page requests too (target null). */
  async authenticate(request: AccessRequest, target: TargetSpec | null): Promise<void> {
    const auth = this.options.auth;
    if (auth === null) return;
    const authRequest: AuthRequest = {
      headers: request.headers,
      method: request.method,
      url: request.url,
      clientAddress: request.clientAddress,
      peerCertificate: request.peerCertificate,
      target,
    };
    await this.guard('auth', null, () => auth.authenticate(authRequest));
  }

  /** The token plugin, for the reverse listener's check that an ID is in the token source. */
  get tokenPlugin(): TokenPlugin | null {
    return this.options.tokenPlugin;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.options.tokenPlugin?.close?.(), this.options.auth?.close?.()]);
  }

  /** A plugin call bounded in time, its non-WebsockifyError failures turned into 502. */
  private async guard<T>(kind: 'token' | 'auth', token: string | null, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PluginTimeout(`${kind} plugin did not answer within ${this.options.pluginTimeoutMs} ms`)),
        this.options.pluginTimeoutMs,
      );
    });
    try {
      return await Promise.race([Promise.resolve().then(call), timeout]);
    } catch (err) {
      if (err instanceof WebsockifyError) throw err;
      // A user plugin may throw its own error with an HTTP status (its copy of HttpRejection,
      // or a plain object): honour 4xx refusals rather than turning them into 502s.
      const status = (err as { httpStatus?: unknown } | null)?.httpStatus;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        const headers = (err as { headers?: Record<string, string> }).headers ?? {};
        throw new HttpRejection(kind === 'auth' ? 'WSFY_ERR_AUTH' : 'WSFY_ERR_PLUGIN', status, (err as Error).message || 'Forbidden', { ...headers });
      }
      // A user plugin's message could quote the token: never let it reach the log.
      let message = err instanceof Error ? err.message : String(err);
      if (token !== null && token !== '') message = message.split(token).join('[token]');
      throw new PluginFailure(`${kind} plugin failed: ${message}`, err);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A lookup answer checked before it reaches the dialer: a user plugin might answer anything.
 * The reference's tuple shapes `[host, port]` and `['unix_socket', path]` are accepted too.
 * A target built from the token (a socket named after it, a host name containing it) would put
 * the token in the connect, failure and close log lines: its log label masks the token.
 */
export function normalizeTarget(answer: unknown, token: string): TargetSpec | null {
  if (answer === null || answer === undefined) return null;
  let target: TargetSpec | null = null;
  if (Array.isArray(answer) && answer.length === 2) {
    target = targetFromParts(answer[0], answer[1]);
  } else if (typeof answer === 'object') {
    const a = answer as { kind?: unknown; host?: unknown; port?: unknown; path?: unknown; label?: unknown };
    if (a.kind === 'unix' && typeof a.path === 'string' && a.path !== '') target = { kind: 'unix', path: a.path };
    else if (a.kind === 'tcp') target = targetFromParts(a.host, a.port);
    else if (a.kind === 'reverse') target = targetFromParts('reverse', (a as { id?: unknown }).id);
    if (target !== null && typeof a.label === 'string' && a.label !== '') target.label = a.label;
  }
  if (target === null) throw new PluginFailure('token plugin answered something that is not a target');
  const shown = describeTarget(target);
  if (token !== '' && shown.includes(token)) target.label = shown.split(token).join('[token]');
  return target;
}

/** The log's hint when a request's token cookie was not read (the value is never logged). */
const IGNORED_COOKIE_NOTE =
  'token cookie ignored: cookies are read only when the Origin is checked; add --allow-origin ORIGIN (or --token-cookie, unsafe without it)';

function toRefusal(err: unknown): WebsockifyError {
  if (err instanceof WebsockifyError && err.httpStatus !== undefined) return err;
  return new PluginFailure(`admission failed: ${err instanceof Error ? err.message : String(err)}`, err);
}

/** The AccessControl a Config asks for, with the plugins already built (see loadAccessControl). */
export function accessOptionsFrom(
  config: Pick<Config, 'hostToken' | 'silentTokenFailure' | 'limits' | 'tokenCookie' | 'allowOrigins' | 'authPlugins'>,
  tokenPlugin: TokenPlugin | null,
  auth: AuthPlugin | null,
): AccessOptions {
  return {
    tokenPlugin,
    auth,
    hostToken: config.hostToken,
    tokenCookie: config.tokenCookie || originChecked(config),
    silentTokenFailure: config.silentTokenFailure,
    maxSessionsPerToken: config.limits.maxSessionsPerToken,
    maxSessionsPerIp: config.limits.maxSessionsPerIp,
    pluginTimeoutMs: config.limits.pluginTimeoutMs,
  };
}

/** Every upgrade's Origin is checked against a list: --allow-origin, or the ExpectOrigin auth plugin. */
export function originChecked(config: Pick<Config, 'allowOrigins' | 'authPlugins'>): boolean {
  return config.allowOrigins.length > 0 || config.authPlugins.some((spec) => builtinName(spec.name) === 'ExpectOrigin');
}
