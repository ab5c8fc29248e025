import type { TargetSpec } from '../config/config.js';

/**
 * What a finished session reports: the summary log line, recording and metrics read this.
 *
 * Byte counts are named by direction everywhere inside: `up` is browser -> target (what the
 * client sent, decoded payload, written to the target), `down` is target -> browser (what the
 * target sent, before any base64). What users see keeps its own names: `bytes_in`/`bytes_out`
 * on the `session closed` line and in the record index, and the metrics
 * `websockify_bytes_from_client_total`/`websockify_bytes_to_client_total`.
 */
export interface SessionSummary {
  id: number;
  client: string;
  target: TargetSpec | null;
  startedAt: number;
  durationMs: number;
  /** Up: bytes received from the client (decoded payload), written towards the target (`bytes_in`). */
  upBytes: number;
  /** Down: bytes received from the target, sent towards the client (`bytes_out`). */
  downBytes: number;
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

/** Several observers as one; null when there are none, so the session skips the hooks entirely. */
export function combineObservers(observers: readonly (SessionObserver | null | undefined)[]): SessionObserver | null {
  const list = observers.filter((o): o is SessionObserver => o !== null && o !== undefined);
  if (list.length <= 1) return list[0] ?? null;
  const clients = list.filter((o) => o.onClientMessage);
  const targets = list.filter((o) => o.onTargetData);
  const closes = list.filter((o) => o.onClose);
  return {
    ...(clients.length > 0 ? { onClientMessage: (data: Buffer) => clients.forEach((o) => o.onClientMessage!(data)) } : {}),
    ...(targets.length > 0 ? { onTargetData: (data: Buffer) => targets.forEach((o) => o.onTargetData!(data)) } : {}),
    onClose: (summary: SessionSummary) => closes.forEach((o) => o.onClose!(summary)),
  };
}
