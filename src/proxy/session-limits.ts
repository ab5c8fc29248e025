/**
 * Concurrent-session caps per token and per client address (--max-sessions-per-token,
 * --max-sessions-per-ip; 0 = no cap). A slot is taken at admission and given back exactly once
 * when the session ends, so counts cannot drift. Counts live only in memory and are never
 * logged with the token.
 */
export class SessionLimits {
  private readonly perToken = new Map<string, number>();
  private readonly perIp = new Map<string, number>();

  constructor(
    readonly maxPerToken: number,
    readonly maxPerIp: number,
  ) {}

  /** A release function, or null when the address is at its cap. */
  acquireIp(address: string): (() => void) | null {
    return take(this.perIp, address, this.maxPerIp);
  }

  acquireToken(token: string): (() => void) | null {
    return take(this.perToken, token, this.maxPerToken);
  }

  sessionsForIp(address: string): number {
    return this.perIp.get(address) ?? 0;
  }

  sessionsForToken(token: string): number {
    return this.perToken.get(token) ?? 0;
  }
}

function take(counts: Map<string, number>, key: string, max: number): (() => void) | null {
  if (max <= 0) return noop;
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
