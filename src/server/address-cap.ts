/**
 * --max-connections-per-ip: open connections per client address, counted from accept (before
 * TLS and HTTP), so one address cannot hold every --max-connections slot with connections that
 * never send a request. Session caps (--max-sessions-per-ip) only count upgraded sessions.
 *
 * With --workers N each worker holds at most ceil(cap / N) per address: node:cluster hands
 * connections to workers in turn, so one address's connections spread evenly and the total stays
 * at most the cap (rounded up to a multiple of N), without a round trip to the primary per accept.
 */
export class ConnectionsPerAddress {
  private readonly open = new Map<string, number>();
  /** Last refusal log per address, so a flood from one address writes one line a second. */
  private readonly lastLogged = new Map<string, number>();

  constructor(
    /** Connections one address may hold in this process; 0 = no cap. */
    readonly perProcessCap: number,
  ) {}

  static forProcess(cap: number, workers: number): ConnectionsPerAddress {
    return new ConnectionsPerAddress(cap <= 0 ? 0 : Math.ceil(cap / Math.max(1, workers)));
  }

  /** Counts one more connection from `address`; false (and nothing counted) past the cap. */
  tryAdd(address: string): boolean {
    if (this.perProcessCap <= 0) return true;
    const count = this.open.get(address) ?? 0;
    if (count >= this.perProcessCap) return false;
    this.open.set(address, count + 1);
    return true;
  }

  /** A connection counted by `tryAdd` closed. */
  release(address: string): void {
    const count = this.open.get(address);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(address);
    else this.open.set(address, count - 1);
  }

  /** Whether a refusal for `address` should be logged now (at most once a second per address). */
  shouldLog(address: string, now = Date.now()): boolean {
    const last = this.lastLogged.get(address);
    if (last !== undefined && now - last < 1000) return false;
    // Bounded: a flood from many addresses must not grow this map without limit.
    if (this.lastLogged.size >= 10_000) this.lastLogged.clear();
    this.lastLogged.set(address, now);
    return true;
  }

  /** Addresses with open connections (for tests and metrics). */
  get addresses(): number {
    return this.open.size;
  }
}
