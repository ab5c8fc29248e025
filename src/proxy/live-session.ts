/** A live WebSocket session as the server sees it, so shutdown can drain it. */
export interface LiveSession {
  readonly id: number;
  /** Close with `code` (1001 on shutdown), flushing queued bytes for at most `flushMs`. */
  close(code: number, reason: string, flushMs: number): void;
  /** Resolves once both sides are closed. */
  readonly done: Promise<void>;
  /** Payload bytes so far each way, up (client -> target) and down (metrics read it at scrape time). */
  bytes?(): { upBytes: number; downBytes: number };
}
