/**
 * Concurrent-session caps per token and per client address (--max-sessions-per-token,
 * --max-sessions-per-ip; 0 = no cap). A slot is taken at admission and given back exactly once
 * when the session ends, so counts cannot drift. Counts live only in memory and are never
 * logged with the token.
 */
export class SessionLimits {
  private readonly perToken = new Map<string, number>();
  private readonly perIp = new Map<string, number>();
  /**
   * Set under --workers (by the process that joins the others): the caps are the server's, so
   * a slot this process may take must also be free server-wide. Null: this process's counts
   * are the server's.
   */
  shared: SharedSessionGate | null = null;

  constructor(
    readonly maxPerToken: number,
    readonly maxPerIp: number,
  ) {}

  /** A release function, or null when the address is at its cap (a promise under --workers). */
  acquireIp(address: string): SessionSlot | Promise<SessionSlot> {
    return this.acquire(this.perIp, 'ip', address, this.maxPerIp);
  }

  acquireToken(token: string): SessionSlot | Promise<SessionSlot> {
    return this.acquire(this.perToken, 'token', token, this.maxPerToken);
  }

  /** Sessions this process holds for the address. */
  sessionsForIp(address: string): number {
    return this.perIp.get(address) ?? 0;
  }

  sessionsForToken(token: string): number {
    return this.perToken.get(token) ?? 0;
  }

  private acquire(counts: Map<string, number>, kind: SessionCapKind, key: string, max: number): SessionSlot | Promise<SessionSlot> {
    if (max <= 0) return noop;
    // This process's own count first: at the cap here, it is at the cap everywhere.
    const local = take(counts, key, max);
    const shared = this.shared;
    if (local === null || shared === null) return local;
    return shared.take(kind, key).then(
      (global) => {
        if (global === null) {
          local();
          return null;
        }
        return () => {
          local();
          global();
        };
      },
      (err: unknown) => {
        local();
        throw err;
      },
    );
  }
}

/** A release function (extra calls are harmless), or null: the cap is reached. */
export type SessionSlot = (() => void) | null;
export type SessionCapKind = 'ip' | 'token';

/**
 * Session counts kept with other processes (--workers). `take` answers with a release function
 * for one slot of `kind` for `key` (it gives the slot back once, however often it is called),
 * or null when the server already holds the cap's worth; it rejects with a refusal (an
 * HttpRejection) when it cannot find out.
 */
export interface SharedSessionGate {
  take(kind: SessionCapKind, key: string): Promise<SessionSlot>;
}

function take(counts: Map<string, number>, key: string, max: number): SessionSlot {
  const current = counts.get(key) ?? 0;
  if (current >= max) return null;
  counts.set(key, current + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(key) ?? 1) - 1;
    if (left <= 0) counts.delete(key);
    else counts.set(key, left);
  };
}

function noop(): void {}
