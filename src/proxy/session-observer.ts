import type { TargetSpec } from '../config/config.js';

/** What a finished session reports: the summary log line, recording and metrics read this. */
export interface SessionSummary {
  id: number;
  client: string;
  target: TargetSpec | null;
  startedAt: number;
  durationMs: number;
  /** Bytes received from the client (decoded payload), i.e. written towards the target. */
  bytesFromClient: number;
  /** Bytes received from the target, i.e. sent towards the client. */
  bytesFromTarget: number;
  closeCode: number;
  /** Who ended it: 'client', 'target', 'server' (shutdown, heartbeat, limits) or 'connect' (dial failed). */
  closedBy: 'client' | 'target' | 'server' | 'connect';
}

/**
 * Optional per-session hooks for recording, --traffic and metrics. The bridge calls them only
 * when an observer is present, so a session without recording pays nothing per chunk.
 */
export interface SessionObserver {
  /** A complete message from the client, decoded, before it is written to the target. */
  onClientMessage?(data: Buffer): void;
  /** A chunk read from the target, before it is sent to the client. */
  onTargetData?(data: Buffer): void;
  onClose?(summary: SessionSummary): void;
}
