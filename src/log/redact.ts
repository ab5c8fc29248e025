/**
 * Values that must never reach a log line. The reference logs `Path: '/?token=...'` and
 * `Token '<tok>' not found`, leaking the credential; we log the path with secrets masked.
 */
const SECRET_QUERY_KEYS = new Set(['token', 'password', 'passwd', 'pass', 'secret', 'key', 'auth', 'jwt', 'access_token']);

export function redactPath(path: string): string {
  const q = path.indexOf('?');
  if (q === -1) return path;
  const query = path
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = key;
      try {
        decoded = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        // keep the raw key
      }
      return eq !== -1 && SECRET_QUERY_KEYS.has(decoded.toLowerCase()) ? `${key}=[redacted]` : pair;
    })
    .join('&');
  return `${path.slice(0, q)}?${query}`;
}

/**
 * For upgrade requests routed by a token plugin: the token may also be the last path segment
 * (`/websockify/TOKEN`, see docs/plugins.md), so that segment is masked too, unless it is
 * empty or noVNC's default `websockify`.
 */
export function redactTokenPath(path: string): string {
  const redacted = redactPath(path);
  const q = redacted.indexOf('?');
  const pathPart = q === -1 ? redacted : redacted.slice(0, q);
  const slash = pathPart.lastIndexOf('/');
  const last = pathPart.slice(slash + 1);
  if (last === '' || last === 'websockify') return redacted;
  return `${pathPart.slice(0, slash + 1)}[redacted]${redacted.slice(pathPart.length)}`;
}
