import { UsageError } from '../errors.js';

interface HostPort {
  host: string;
  port: number;
}

/**
 * Splits `[host:]port` the way the reference does: at the last colon, with `[` and `]`
 * stripped from the host, so `[::]:6080`, `::1:6080` and `localhost:6080` all work.
 * `requireHost` is for targets, which must contain a colon.
 */
export function parseHostPort(text: string, what: 'listen' | 'target'): HostPort {
  const colon = text.lastIndexOf(':');
  if (colon === -1) {
    if (what === 'target') throw new UsageError('Error parsing target');
    return { host: '', port: parsePort(text, 'Error parsing listen port') };
  }
  const host = text.slice(0, colon).replace(/^\[/, '').replace(/\]$/, '');
  const port = parsePort(text.slice(colon + 1), what === 'listen' ? 'Error parsing listen port' : 'Error parsing target port');
  // Port 0 means "any free port" when listening; as a target it can never be connected to.
  if (what === 'target' && port === 0) throw new UsageError('Error parsing target port: 0 is not in 1-65535');
  return { host, port };
}

function parsePort(text: string, message: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(text)) throw new UsageError(message);
  const port = Number(text.trim());
  if (port < 0 || port > 65535) throw new UsageError(`${message}: ${port} is not in 0-65535`);
  return port;
}
