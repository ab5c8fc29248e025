/**
 * What a live session tells the optional per-session features (--record, --traffic, metrics).
 * The session calls these only when at least one feature is enabled: with none, the session
 * holds no observer and the data path does no extra work per chunk.
 */
export interface SessionSummary {
  session: number;
  /** Direct peer address (the TCP peer, or the unix socket path). */
  peer: string;
  /** The real client address after --trust-proxy / PROXY protocol, when it differs from peer. */
  client?: string;
  /** Target as logged (`host:port` or unix path); undefined when no target was reached. */
  target?: string;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
  /** WebSocket close code sent or received; undefined when the socket just dropped. */
  closeCode?: number;
  closeReason?: string;
}

export interface SessionObserver {
  /** One complete WebSocket message received from the client (before it is written to the target). */
  onClientMessage?(data: Buffer): void;
  /** One chunk read from the target (before it is sent to the client). */
  onTargetData?(data: Buffer): void;
  /** The session is over; called exactly once. */
  onClose?(summary: SessionSummary): void;
}

/** Several observers as one; null when there are none, so callers can skip the hook entirely. */
export function combineObservers(observers: readonly (SessionObserver | null | undefined)[]): SessionObserver | null {
  const list = observers.filter((o): o is SessionObserver => o !== null && o !== undefined);
  if (list.length === 0) return null;
  if (list.length === 1) return list[0]!;
  const clients = list.filter((o) => o.onClientMessage);
  const targets = list.filter((o) => o.onTargetData);
  const closes = list.filter((o) => o.onClose);
  return {
    onClientMessage(data) {
      for (const o of clients) o.onClientMessage!(data);
    },
    onTargetData(data) {
      for (const o of targets) o.onTargetData!(data);
    },
    onClose(summary) {
      for (const o of closes) o.onClose!(summary);
    },
  };
}
