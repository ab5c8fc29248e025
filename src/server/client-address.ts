import { isIP } from 'node:net';
import type { TrustedProxies } from './trusted-proxies.js';

type HeaderBag = Record<string, string | string[] | undefined>;

interface ClientAddress {
  /** The address we believe is the real client. */
  address: string;
  /** Where it came from. */
  via: 'peer' | 'x-forwarded-for' | 'x-real-ip' | 'forwarded';
}

function headerValues(headers: HeaderBag, name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`, `"[::1]:80"` -> the bare address, or null. */
export function bareAddress(text: string): string | null {
  let t = text.trim().replace(/^"|"$/g, '');
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end === -1) return null;
    t = t.slice(1, end);
  } else if (isIP(t) === 0) {
    const colon = t.lastIndexOf(':');
    if (colon !== -1 && t.indexOf(':') === colon) t = t.slice(0, colon); // IPv4 with a port
  }
  return isIP(t) === 0 ? null : t;
}

/**
 * Walks a proxy chain from the right (the hop nearest to us): trusted hops are skipped, the first
 * untrusted one is the client. A value that is not an address stops the walk: everything left of
 * it may be forged, so the last address we could vouch for is used.
 */
function rightmostUntrusted(hops: string[], trusted: TrustedProxies, fallback: string): string {
  let last = fallback;
  for (let i = hops.length - 1; i >= 0; i--) {
    const addr = bareAddress(hops[i]!);
    if (addr === null) return last;
    if (!trusted.isTrusted(addr)) return addr;
    last = addr;
  }
  return last;
}

/** `for=` values of RFC 7239 `Forwarded`, in order, across all elements and header lines. */
function forwardedFor(values: string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const element of value.split(',')) {
      for (const pair of element.split(';')) {
        const eq = pair.indexOf('=');
        if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') out.push(pair.slice(eq + 1).trim());
      }
    }
  }
  return out;
}

interface PeerFacts {
  /**
   * The connection came with a PROXY header naming no client (v1 `UNKNOWN`, v2 `LOCAL`): the
   * trusted peer is a layer-4 balancer, not a proxy speaking HTTP, so the request's headers are
   * the client's own and name nobody we can vouch for.
   */
  proxyHeaderWithoutSource?: boolean;
}

/**
 * The real client address of a request. Headers count only when the direct peer is a trusted
 * proxy speaking HTTP: X-Forwarded-For (rightmost untrusted hop), then X-Real-IP, then Forwarded
 * (RFC 7239). Node lower-cases header names and joins repeated X-Forwarded-For lines with ", ".
 * After a PROXY header without a source the peer (the balancer's connection) is the answer.
 */
export function resolveClientAddress(peer: string, headers: HeaderBag, trusted: TrustedProxies, facts: PeerFacts = {}): ClientAddress {
  if (facts.proxyHeaderWithoutSource === true) return { address: peer, via: 'peer' };
  if (trusted.empty || !trusted.isTrusted(peer)) return { address: peer, via: 'peer' };
  const xff = headerValues(headers, 'x-forwarded-for').flatMap((v) => v.split(','));
  if (xff.length > 0) return { address: rightmostUntrusted(xff, trusted, peer), via: 'x-forwarded-for' };
  const real = headerValues(headers, 'x-real-ip');
  if (real.length === 1) {
    const addr = bareAddress(real[0]!);
    if (addr !== null) return { address: addr, via: 'x-real-ip' };
  }
  const fwd = forwardedFor(headerValues(headers, 'forwarded'));
  if (fwd.length > 0) return { address: rightmostUntrusted(fwd, trusted, peer), via: 'forwarded' };
  return { address: peer, via: 'peer' };
}
