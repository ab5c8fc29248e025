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
