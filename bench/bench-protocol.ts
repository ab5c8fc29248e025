// The tiny wire protocol between the bench's load clients and its targets, and the IPC
// message shapes between the bench and its child processes. Shared so both sides agree.

/** Every connection to the targets starts with this header: one mode byte, then a uint64 BE count. */
export const MODE_HEADER_BYTES = 9;

export const MiB = 1024 * 1024;

/**
 * Modes a client selects with the first byte it sends:
 * - echo: every byte comes back (count ignored);
 * - sink: the target reads `count` bytes and answers one byte per MiB received (a tick), so the
 *   client can measure bytes that really reached the target, even when a time cap stops the run;
 * - source: the target writes `count` bytes as fast as the connection drains, then stays open.
 */
export const Mode = { echo: 0x45, sink: 0x55, source: 0x44 } as const;
export type ModeByte = (typeof Mode)[keyof typeof Mode];

export function modeHeader(mode: ModeByte, count: number): Buffer {
  const header = Buffer.alloc(MODE_HEADER_BYTES);
  header[0] = mode;
  header.writeBigUInt64BE(BigInt(count), 1);
  return header;
}

/** How a load client talks to a subject: WebSocket (a proxy) or plain TCP (the relay floor). */
export type Transport = 'ws' | 'tcp';

export interface Endpoint {
  transport: Transport;
  host: string;
  port: number;
}

/** Counters the targets process reports on request. */
export interface TargetStats {
  type: 'stats';
  open: number;
  accepted: number;
  sourceQueued: number;
  sinkReceived: number;
}

export type ClientJob =
  | { kind: 'up'; endpoint: Endpoint; bytes: number; messageBytes: number; capMs: number }
  | { kind: 'down'; endpoint: Endpoint; bytes: number; capMs: number }
  | { kind: 'latency'; endpoint: Endpoint; count: number; warmup: number; messageBytes: number; capMs: number }
  | { kind: 'small'; endpoint: Endpoint; messageBytes: number; durationMs: number; windowBytes: number; capMs: number }
  | { kind: 'hold'; endpoint: Endpoint; connections: number; concurrency: number; capMs: number }
  | { kind: 'stall'; endpoint: Endpoint; bytes: number; capMs: number }
  | { kind: 'stalls'; endpoint: Endpoint; connections: number; concurrency: number; bytesEach: number; capMs: number }
  | { kind: 'streams'; endpoint: Endpoint; streams: number; bytesEach: number; capMs: number }
  | { kind: 'release' };

/** What a load client reports back for one job. Fields not relevant to a job are absent. */
export interface ClientResult {
  type: 'result';
  kind: ClientJob['kind'];
  ok: boolean;
  error?: string;
  /** Payload bytes that reached their destination (sink ticks for up, received bytes for down). */
  bytes?: number;
  elapsedMs?: number;
  capped?: boolean;
  /** Latency samples summary in microseconds. */
  p50Us?: number;
  p99Us?: number;
  p999Us?: number;
  meanUs?: number;
  samples?: number;
  messages?: number;
  /** Connections open and echo-verified (hold), failures while opening, and how long opening took. */
  opened?: number;
  failed?: number;
  /** The load client's own CPU use during the job, as a share of one core (1.0 = one full core). */
  clientCpu?: number;
}

/** Sent by a load client once a long-lived job (hold, stall) has its connections in place. */
export interface ClientReady {
  type: 'ready';
  kind: 'hold' | 'stall' | 'stalls';
  opened: number;
  failed: number;
  elapsedMs: number;
  error?: string;
}
