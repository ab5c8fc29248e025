/**
 * The words of a failed target connect, as the reference logs them (Python's strerror and
 * gai_strerror: `Failed to connect to h:p: [Errno 111] Connection refused`), followed by Node's
 * code in parentheses so the line can still be matched on the code:
 * `Failed to connect to h:p: Connection refused (ECONNREFUSED)`. Codes without words here (TLS
 * verification failures) are shown as the code alone, as before. Pure words for log lines, so
 * it sits with the logger: the target dial (proxy/dial-target.ts) and the Redis token source's
 * connection line (plugins/token/token-redis.ts) both use it.
 */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ENOTFOUND: 'Name or service not known',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ECONNRESET: 'Connection reset by peer',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  ENOTSOCK: 'Socket operation on non-socket',
};

export function connectFailureReason(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return err.message;
  const words = ERRNO_WORDS[code];
  return words === undefined ? code : `${words} (${code})`;
}
