import type { TargetSpec } from '../../config/config.js';
import { parseReverseTarget, REVERSE_PREFIX } from '../../config/reverse-id.js';

/** The prefix the reference's lookups use for Unix-socket targets (`('unix_socket', path)`). */
const UNIX_SOCKET_PREFIX = 'unix_socket:';

/**
 * Turns a target as written in a token file, an API body or a Redis value into a TargetSpec.
 *
 * - `unix_socket:/path` is a Unix-socket target. The reference gets there by `rsplit(':', 1)`,
 *   which breaks on paths containing `:`; we take everything after the prefix.
 * - Otherwise the text splits at the **last** colon into host and port, as the reference's
 *   `rsplit(':', 1)`, so `::1:5900` is host `::1`. Brackets around the host are removed, so
 *   `[::1]:5900` works too (the reference keeps them and the connect fails).
 * - The port must be a decimal integer in 1..65535.
 * - `reverse:<ID>` is a VNC server that connected in with that ID (docs/reverse.md).
 *
 * Returns null for text that is not a target; callers decide whether that is a syntax error
 * (token files) or a plugin failure (APIs).
 */
export function parseTarget(text: string): TargetSpec | null {
  const value = text.trim();
  if (value.startsWith(UNIX_SOCKET_PREFIX)) {
    const socketPath = value.slice(UNIX_SOCKET_PREFIX.length).trim();
    return socketPath === '' || socketPath.includes('\0') ? null : { kind: 'unix', path: socketPath };
  }
  if (value.startsWith(REVERSE_PREFIX)) {
    const id = parseReverseTarget(value);
    return id === null ? null : { kind: 'reverse', id };
  }
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return null;
  return targetFromParts(value.slice(0, colon), value.slice(colon + 1));
}

/**
 * host and port given separately (JSON bodies, JWT claims). `host` `unix_socket` means port is a
 * path; `host` `reverse` means port is a reverse ID, and so does a `host` of `reverse:<ID>` alone.
 */
export function targetFromParts(hostValue: unknown, portValue: unknown): TargetSpec | null {
  if (typeof hostValue !== 'string') return null;
  if (hostValue === 'reverse') {
    const id = typeof portValue === 'string' || typeof portValue === 'number' ? parseReverseTarget(`${REVERSE_PREFIX}${portValue}`) : null;
    return id === null ? null : { kind: 'reverse', id };
  }
  if (hostValue.startsWith(REVERSE_PREFIX) && (portValue === undefined || portValue === null)) {
    const id = parseReverseTarget(hostValue);
    return id === null ? null : { kind: 'reverse', id };
  }
  if (hostValue === 'unix_socket') {
    return typeof portValue === 'string' && portValue !== '' && !portValue.includes('\0') ? { kind: 'unix', path: portValue } : null;
  }
  let host = hostValue.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /[\s\0/[\]]/.test(host)) return null;
  const port = parsePort(portValue);
  return port === null ? null : { kind: 'tcp', host, port };
}

function parsePort(value: unknown): number | null {
  let port: number;
  if (typeof value === 'number') port = value;
  else if (typeof value === 'string' && /^\s*\d{1,5}\s*$/.test(value)) port = Number(value);
  else return null;
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}
