import type net from 'node:net';

/** A live WebSocket session as the server sees it, so shutdown can drain it. */
export interface LiveSession {
  readonly id: number;
  /** Close with `code` (1001 on shutdown), flushing queued bytes for at most `flushMs`. */
  close(code: number, reason: string, flushMs: number): void;
  /** Resolves once both sides are closed. */
  readonly done: Promise<void>;
  /** Payload bytes so far each way (metrics read it at scrape time). */
  bytes?(): { fromClient: number; fromTarget: number };
}

/**
 * Every open client connection (HTTP or WebSocket) and every live session. The id counter
 * increases for every accepted connection, as the reference's handler id does, so record files
 * and log prefixes keep their meaning.
 */
export class ConnectionRegistry {
  private nextId = 1;
  private readonly sockets = new Set<net.Socket>();
  readonly sessions = new Set<LiveSession>();
  private lastActivity = Date.now();

  allocateId(): number {
    return this.nextId++;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Milliseconds since the last connection closed, or 0 while any is open. */
  idleForMs(now = Date.now()): number {
    return this.sockets.size > 0 ? 0 : now - this.lastActivity;
  }

  trackSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.lastActivity = Date.now();
    });
  }

  addSession(session: LiveSession): void {
    this.sessions.add(session);
    void session.done.then(() => this.sessions.delete(session));
  }

  /** Sockets that never became sessions (idle keep-alive, half-sent requests). */
  destroyNonSessionSockets(isSession: (socket: net.Socket) => boolean): void {
    for (const socket of this.sockets) if (!isSession(socket)) socket.destroy();
  }
}
