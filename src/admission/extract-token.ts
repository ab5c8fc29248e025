import type { IncomingHttpHeaders } from 'node:http';

type TokenOrigin = 'query' | 'path' | 'cookie' | 'host';

interface ExtractedToken {
  token: string;
  /** Where it was found; logged instead of the token itself. */
  from: TokenOrigin;
}

interface TokenSourceOptions {
  /** --host-token: the Host header is the only source, as in the reference. */
  hostToken: boolean;
  /**
   * Read the `token` cookie. A browser sends it with a WebSocket opened by any page, so it is
   * safe only where the Origin is checked first (AccessControl decides; docs/security.md).
   */
  cookie: boolean;
}

/** The path segment noVNC uses by default; never taken as a token. */
const DEFAULT_WEBSOCKET_PATH = 'websockify';

/**
 * Where the token comes from (docs/plugins.md, "Token sources"):
 *
 * With --host-token, only the Host header: the text before the first `:` (reference
 * `partition(':')`), except that an IPv6 literal `[::1]:6080` gives `::1` (the reference
 * gave `[`). Matching stays case-sensitive, as the reference.
 *
 * Otherwise, the first of:
 * 1. `?token=` with the reference's `parse_qs` rules: the first non-empty `token` wins, an empty
 *    value counts as absent, `+` is a space, `%XX` is decoded (invalid escapes are kept as
 *    written, invalid UTF-8 becomes U+FFFD), one trailing run of `\n` is stripped; the fragment
 *    is ignored and absolute-form request targets work.
 * 2. The last segment of the URL path, percent-decoded, e.g. `/websockify/TOKEN` or `/TOKEN`
 *    (what noVNC sends when its `path` setting carries the token). `websockify` itself and an
 *    empty last segment (`/`, `/novnc/`) are not tokens.
 * 3. A cookie named `token` (the first one), percent-decoded, surrounding quotes removed; only
 *    when `options.cookie` is set.
 * The reference reads only the query; the path and cookie sources only add ways to send a token.
 */
export function extractToken(url: string, headers: IncomingHttpHeaders, options: TokenSourceOptions): ExtractedToken | null {
  if (options.hostToken) {
    const token = hostToken(headers.host);
    return token === null ? null : { token, from: 'host' };
  }
  const { path, query } = splitTarget(url);
  const fromQuery = queryToken(query);
  if (fromQuery !== null) return { token: fromQuery, from: 'query' };
  const fromPath = pathToken(path);
  if (fromPath !== null) return { token: fromPath, from: 'path' };
  if (!options.cookie) return null;
  const fromCookie = cookieToken(headers.cookie);
  if (fromCookie !== null) return { token: fromCookie, from: 'cookie' };
  return null;
}

/** A non-empty `token` cookie is present (to say in the log that it was ignored; never its value). */
export function hasTokenCookie(headers: IncomingHttpHeaders): boolean {
  return cookieToken(headers.cookie) !== null;
}

export function hostToken(host: string | undefined): string | null {
  if (host === undefined || host === '') return null;
  let token: string;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    token = close === -1 ? host.slice(1) : host.slice(1, close);
  } else {
    const colon = host.indexOf(':');
    token = colon === -1 ? host : host.slice(0, colon);
  }
  return token === '' ? null : token;
}

/** Request target to path and query, the way Python's urlparse does it (fragment first). */
function splitTarget(url: string): { path: string; query: string } {
  let rest = url;
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  let path = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(path);
  if (scheme) path = path.slice(scheme[0].length) || '/';
  return { path, query };
}

function queryToken(query: string): string | null {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    // parse_qs without keep_blank_values drops pairs with no `=` and pairs with empty values.
    if (eq === -1) continue;
    const name = percentDecode(pair.slice(0, eq).replace(/\+/g, ' '));
    if (name !== 'token') continue;
    const value = percentDecode(pair.slice(eq + 1).replace(/\+/g, ' '));
    if (value === '') continue;
    const stripped = value.replace(/\n+$/, '');
    return stripped === '' ? null : stripped;
  }
  return null;
}

function pathToken(path: string): string | null {
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (last === '' || last === DEFAULT_WEBSOCKET_PATH) return null;
  const token = percentDecode(last);
  return token === '' ? null : token;
}

function cookieToken(cookie: string | undefined): string | null {
  if (cookie === undefined) return null;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== 'token') continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const token = percentDecode(value);
    if (token !== '') return token;
  }
  return null;
}

/**
 * Python's `unquote`: runs of valid `%XX` escapes become bytes decoded as UTF-8 (invalid
 * sequences become U+FFFD); an invalid escape such as `%zz` or a lone `%` stays as written.
 */
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  });
}
