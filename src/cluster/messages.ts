import type { Worker } from 'node:cluster';
import type { WorkerMetricsJson } from '../metrics/cluster-metrics.js';
import type { MetricsSource } from '../metrics/ops-endpoints.js';
import type { SessionCapKind } from '../admission/session-limits.js';
import type { ReverseToPrimary } from '../reverse/reverse-cluster.js';
import type { StopSignal } from './process-signals.js';

/**
 * What the primary and its workers say to each other (docs/workers.md): the environment a
 * worker is forked with, then messages over the node:cluster IPC channel. Every message has a
 * `wsfy` field; a request carries a `seq` that its answer repeats (see ipc-request.ts).
 */

/** Environment the primary gives each worker. */
export const SLOT_ENV = 'WSFY_WORKER_SLOT';
export const GENERATION_ENV = 'WSFY_WORKER_GENERATION';
export const BANNER_ENV = 'WSFY_WORKER_BANNER';

export type RenderedMetrics = Awaited<ReturnType<MetricsSource['render']>>;

export type ToWorker =
  /** Drain as if the signal had come to the worker. */
  | { wsfy: 'shutdown'; signal: StopSignal }
  /** --timeout for the whole server. */
  | { wsfy: 'stop-accepting' }
  /** The answer to 'acquire': one connection lent from the pool, or none left. */
  | { wsfy: 'capacity'; seq: number; granted: boolean }
  /** The answer to 'take-session' (kind and key repeated, so a late grant can be given back). */
  | { wsfy: 'session-slot'; seq: number; kind: SessionCapKind; key: string; granted: boolean }
  /** --metrics: the primary asks for the worker's registry. */
  | { wsfy: 'metrics-request'; seq: number }
  /** The answer to 'scrape': the sum over workers, or null when it could not be made. */
  | { wsfy: 'scrape-result'; seq: number; result: RenderedMetrics | null };

export type ToPrimary =
  /** The worker got SIGTERM/SIGINT itself and drains: the primary need not ask it. */
  | { wsfy: 'signalled' }
  /**
   * The worker has closed its listening handle (after 'stop-accepting'). Sent on the same channel
   * as node:cluster's own messages, after the handle's, so when every worker has said it the
   * primary's listening socket is closed.
   */
  | { wsfy: 'stopped-accepting' }
  /** One connection from the pool (--max-connections beyond the worker's share). */
  | { wsfy: 'acquire'; seq: number }
  /** A borrowed connection closed. */
  | { wsfy: 'release' }
  /** One per-IP or per-token session slot; a token is sent as its SHA-256 hash. */
  | { wsfy: 'take-session'; seq: number; kind: SessionCapKind; key: string }
  | { wsfy: 'give-session'; kind: SessionCapKind; key: string }
  /** The answer to 'metrics-request' (null: the worker could not collect them). */
  | { wsfy: 'metrics'; seq: number; metrics: WorkerMetricsJson | null }
  /** A --metrics-path scrape on the main port: the worker asks for the sum over workers. */
  | { wsfy: 'scrape'; seq: number }
  /** --reverse-listen: a held server for a browser, and its end (src/reverse/reverse-cluster.ts). */
  | ReverseToPrimary;

/** What cli/daemonize.ts sends a daemon's parent (type 'ready' or 'failed'), passed on by the primary. */
export type DaemonReport = { type: 'ready' | 'failed'; [key: string]: unknown };

/** Sends to a worker while its channel is open; false once it is gone. */
export function sendToWorker(worker: Worker, message: ToWorker): boolean {
  if (!worker.isConnected()) return false;
  worker.send(message);
  return true;
}
