import { createHash } from 'node:crypto';
import type { Config } from '../config/config.js';
import { HttpRejection } from '../errors.js';
import type { SessionCapKind, SessionSlot, SharedSessionGate } from '../admission/session-limits.js';
import type { CapacityGate } from '../server/connection-registry.js';
import { IpcRequests } from './ipc-request.js';
import type { ToPrimary } from './messages.js';

/**
 * The caps that are the server's and not each worker's (docs/workers.md): --max-connections,
 * --max-sessions-per-ip and --max-sessions-per-token. The primary keeps the counts (SharedCaps);
 * each worker has a gate that asks it (SharedCapacity, SharedSessions), injected into the
 * registry and the session limits through the interfaces those define.
 */

/** How long a worker waits for the primary's answer before refusing the connection or session. */
const ANSWER_TIMEOUT_MS = 5_000;

/**
 * Each worker may hold `share` connections without asking; the rest of the cap is a pool in
 * the primary that a worker borrows from one connection at a time. A quarter-cap share each
 * (half the cap in all) keeps the default cap of 20,000 free of IPC until a worker holds 5,000.
 */
export function capacityShare(cap: number, workers: number): number {
  return Math.floor(cap / (2 * workers));
}

type Limits = Pick<Config['limits'], 'maxConnections' | 'maxSessionsPerIp' | 'maxSessionsPerToken'>;

/**
 * The primary's side: the connection pool and the per-IP and per-token session counts, with
 * what each worker holds, so a worker that exits gives all of it back at once. `W` is the
 * worker's identity (node:cluster's Worker); a worker that has left is refused everything, so
 * a message that arrives after its exit changes nothing.
 */
export class SharedCaps<W> {
  private pool: number;
  private readonly borrowed = new Map<W, number>();
  private readonly sessions = new Map<string, number>();
  private readonly held = new Map<W, Map<string, number>>();
  private readonly maxSessions: Readonly<Record<SessionCapKind, number>>;

  constructor(limits: Limits, workers: number) {
    const cap = limits.maxConnections;
    this.pool = cap - workers * capacityShare(cap, workers);
    this.maxSessions = { ip: limits.maxSessionsPerIp, token: limits.maxSessionsPerToken };
  }

  join(worker: W): void {
    this.borrowed.set(worker, 0);
    this.held.set(worker, new Map());
  }

  /** The worker exited: what it borrowed and the session slots it held are free again. */
  leave(worker: W): void {
    this.pool += this.borrowed.get(worker) ?? 0;
    this.borrowed.delete(worker);
    const mine = this.held.get(worker);
    this.held.delete(worker);
    for (const [id, n] of mine ?? []) this.drop(id, n);
  }

  /** Lends one connection from the pool; false when it is empty. */
  lend(worker: W): boolean {
    const borrowed = this.borrowed.get(worker);
    if (borrowed === undefined || this.pool <= 0) return false;
    this.pool -= 1;
    this.borrowed.set(worker, borrowed + 1);
    return true;
  }

  /** A borrowed connection closed. */
  giveBack(worker: W): void {
    const borrowed = this.borrowed.get(worker) ?? 0;
    if (borrowed <= 0) return;
    this.borrowed.set(worker, borrowed - 1);
    this.pool += 1;
  }

  /** One session slot of `kind` for `key`, unless the server holds the cap's worth. */
  take(worker: W, kind: SessionCapKind, key: string): boolean {
    const mine = this.held.get(worker);
    if (!mine) return false;
    const id = `${kind} ${key}`;
    const current = this.sessions.get(id) ?? 0;
    const max = this.maxSessions[kind];
    if (max > 0 && current >= max) return false;
    this.sessions.set(id, current + 1);
    mine.set(id, (mine.get(id) ?? 0) + 1);
    return true;
  }

  /** Gives back one slot the worker holds (one it does not hold changes nothing). */
  give(worker: W, kind: SessionCapKind, key: string): void {
    const mine = this.held.get(worker);
    const id = `${kind} ${key}`;
    const n = mine?.get(id) ?? 0;
    if (n <= 0) return;
    if (n === 1) mine!.delete(id);
    else mine!.set(id, n - 1);
    this.drop(id, 1);
  }

  /** Sessions of `kind` for `key` the server holds. */
  sessionsFor(kind: SessionCapKind, key: string): number {
    return this.sessions.get(`${kind} ${key}`) ?? 0;
  }

  private drop(id: string, n: number): void {
    const left = (this.sessions.get(id) ?? 0) - n;
    if (left > 0) this.sessions.set(id, left);
    else this.sessions.delete(id);
  }
}

/** A worker's side of --max-connections (see capacityShare). */
export class SharedCapacity implements CapacityGate {
  /** Connections admitted and not yet closed. */
  private held = 0;
  private borrowed = 0;
  private readonly requests: IpcRequests<boolean>;

  constructor(
    private readonly share: number,
    private readonly send: (message: ToPrimary) => boolean,
    timeoutMs = ANSWER_TIMEOUT_MS,
  ) {
    // Lent after we stopped waiting: nobody uses it, so it goes straight back.
    this.requests = new IpcRequests<boolean>(timeoutMs, (granted) => granted && this.send({ wsfy: 'release' }));
  }

  acquire(): boolean | Promise<boolean> {
    if (this.held < this.share + this.borrowed) {
      this.held += 1;
      return true;
    }
    return this.requests
      .request((seq) => this.send({ wsfy: 'acquire', seq }))
      .then((granted) => {
        if (granted !== true) return false;
        this.borrowed += 1;
        this.held += 1;
        return true;
      });
  }

  /** The primary's answer to an 'acquire'. */
  answer(seq: number, granted: boolean): void {
    this.requests.answer(seq, granted);
  }

  release(): void {
    this.held -= 1;
    if (this.borrowed > 0 && this.held < this.share + this.borrowed) {
      this.borrowed -= 1;
      this.send({ wsfy: 'release' });
    }
  }
}

interface SlotAnswer {
  kind: SessionCapKind;
  key: string;
  granted: boolean;
}

/** A worker's side of --max-sessions-per-ip and --max-sessions-per-token: each slot is the primary's. */
export class SharedSessions implements SharedSessionGate {
  private readonly requests: IpcRequests<SlotAnswer>;

  constructor(
    private readonly send: (message: ToPrimary) => boolean,
    timeoutMs = ANSWER_TIMEOUT_MS,
  ) {
    // Granted after we stopped waiting: nobody uses the slot, so give it back.
    this.requests = new IpcRequests<SlotAnswer>(timeoutMs, ({ kind, key, granted }) => granted && this.send({ wsfy: 'give-session', kind, key }));
  }

  async take(kind: SessionCapKind, key: string): Promise<SessionSlot> {
    // The primary never holds a token, only its hash.
    const wire = kind === 'token' ? createHash('sha256').update(key).digest('base64') : key;
    const answer = await this.requests.request((seq) => this.send({ wsfy: 'take-session', seq, kind, key: wire }));
    if (answer === null) {
      throw new HttpRejection('WSFY_ERR_CAPACITY', 503, 'session caps not available: the primary did not answer', { 'Retry-After': '1' });
    }
    if (!answer.granted) return null;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.send({ wsfy: 'give-session', kind, key: wire });
    };
  }

  /** The primary's answer to a 'take-session'. */
  answer(seq: number, answer: SlotAnswer): void {
    this.requests.answer(seq, answer);
  }
}
