import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * `--trust-proxy CIDR...`: the peers whose forwarding headers and PROXY protocol headers we
 * believe. Anyone else could write any address into X-Forwarded-For, so for them the TCP peer
 * address is the client address, whatever the headers say.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  private count = 0;
  /** `unix` in the list: trust peers on a --unix-listen socket (only local users can connect). */
  readonly trustUnix: boolean;

  constructor(specs: readonly string[]) {
    let unix = false;
    for (const raw of specs.flatMap((s) => s.split(','))) {
      const spec = raw.trim();
      if (spec === '') continue;
      if (spec === 'unix') {
        unix = true;
        continue;
      }
      this.add(spec);
    }
    this.trustUnix = unix;
  }

  get empty(): boolean {
    return this.count === 0 && !this.trustUnix;
  }

  private add(spec: string): void {
    const slash = spec.indexOf('/');
    const addr = (slash === -1 ? spec : spec.slice(0, slash)).replace(/^\[|\]$/g, '');
    const family = isIP(addr);
    if (family === 0) throw new UsageError(`--trust-proxy: not an IP address or CIDR: '${spec}'`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (slash === -1) {
      this.list.addAddress(addr, type);
    } else {
      const text = spec.slice(slash + 1);
      const prefix = Number(text);
      if (!/^\d{1,3}$/.test(text) || prefix > (family === 6 ? 128 : 32)) {
        throw new UsageError(`--trust-proxy: bad prefix length in '${spec}'`);
      }
      this.list.addSubnet(addr, prefix, type);
    }
    this.count++;
  }

  /** `address` as node:net reports it; IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is checked as IPv4 too. */
  isTrusted(address: string | undefined): boolean {
    if (address === undefined || address === '') return this.trustUnix;
    const family = isIP(address);
    if (family === 0) return false;
    if (family === 4) return this.list.check(address, 'ipv4');
    if (this.list.check(address, 'ipv6')) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    return mapped !== null && this.list.check(mapped[1]!, 'ipv4');
  }
}
