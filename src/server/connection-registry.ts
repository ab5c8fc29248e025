import { EventEmitter, once } from 'node:events';
import type net from 'node:net';
import type { LiveSession } from '../proxy/live-session.js';

/** Re-exported: the server imports the session's shape from here. */
export type { LiveSession };

/**
 * Decides whether one more connection fits under --max-connections when the count is shared
 * with other processes (--workers). Answers at once when it can, or with a promise when another
 * process must be asked. It keeps its own count: a grant can arrive in the same turn as the
 * next connection, before the granted one is tracked here.
 */
export interface CapacityGate {
  acquire(): boolean | Promise<boolean>;
  /** A connection admitted by `acquire` has closed. */
  release(): void;
}

const kRegistry = Symbol('wsfy.registry');
type TrackedSocket = net.Socket & { [kRegistry]?: ConnectionRegistry };

/** One shared listener instead of a closure and a once-wrapper per connection ('close' comes once). */
function trackedSocketOnClose(this: TrackedSocket): void {
  this[kRegistry]?.untrack(this);
}

interface ConnectionRegistryEvents {
  /** The last open connection has closed (--idle-timeout counts from here, --timeout exits). */
  empty: [];
  /** A connection opened while none was open. */
  occupied: [];
}

/**
 * Every open client connection (HTTP or WebSocket) and every live session. The id counter
 * increases for every accepted connection, as the reference's handler id does, so record files
 * and log prefixes keep their meaning. Emits 'empty' and 'occupied' only on those two edges,
 * never per connection.
 */
export class ConnectionRegistry extends EventEmitter<ConnectionRegistryEvents> {
  private nextId = 1;
  private idStep = 1;
  private readonly sockets = new Set<net.Socket>();
  readonly sessions = new Set<LiveSession>();
  /** Set by the workers module; null: the cap is this process's alone. */
  capacityGate: CapacityGate | null = null;

  allocateId(): number {
    const id = this.nextId;
    this.nextId += this.idStep;
    return id;
  }

  /**
   * With N workers, worker k numbers its connections first, first + N, ... so ids never
   * repeat across the server (record files and log lines stay unambiguous).
   */
  numberIds(first: number, step: number): void {
    this.nextId = first;
    this.idStep = step;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Whether one more connection fits under `cap` (0 = no cap). */
  admit(cap: number): boolean | Promise<boolean> {
    if (cap <= 0) return true;
    if (this.capacityGate) return this.capacityGate.acquire();
    return this.sockets.size < cap;
  }

  /** Resolves once no connection is open: at once if none is, else at the next 'empty'. */
  async whenEmpty(): Promise<void> {
    if (this.sockets.size > 0) await once(this, 'empty');
  }

  trackSocket(socket: net.Socket): void {
    if (socket.closed) {
      // Admitted after waiting for another process, but already gone: hand the slot back.
      this.capacityGate?.release();
      return;
    }
    this.sockets.add(socket);
    if (this.sockets.size === 1) this.emit('occupied');
    (socket as TrackedSocket)[kRegistry] = this;
    socket.on('close', trackedSocketOnClose);
  }

  /** @internal the tracked socket closed (see trackedSocketOnClose). */
  untrack(socket: net.Socket): void {
    const tracked = this.sockets.delete(socket);
    this.capacityGate?.release();
    if (tracked && this.sockets.size === 0) this.emit('empty');
  }

  /** A started session; the server removes it when it ends (no promise per session). */
  addSession(session: LiveSession): void {
    this.sessions.add(session);
  }

  removeSession(session: LiveSession): void {
    this.sessions.delete(session);
  }

  /** Sockets that never became sessions (idle keep-alive, half-sent requests). */
  destroyNonSessionSockets(isSession: (socket: net.Socket) => boolean): void {
    for (const socket of this.sockets) if (!isSession(socket)) socket.destroy();
  }
}
