import type { Worker } from 'node:cluster';
import net from 'node:net';
import type { Logger } from '../log/logger.js';
import type { BrokerAnswer, ReverseBroker } from './reverse-pairing.js';
import type { ReverseRegistry } from './reverse-registry.js';

/**
 * --reverse-listen under --workers (docs/reverse.md, "With --workers"). The primary alone owns
 * the reverse listener and the registry, so a server and a browser that reach different
 * processes still meet: the worker holding the browser asks the primary for the ID, and the
 * primary answers with the socket itself (a node:cluster message with a handle) and the bytes
 * it read while holding it. When that session ends the worker says so, and the ID stops being
 * busy; a worker that dies gives back every ID it held.
 */

export type ReverseToPrimary = { wsfy: 'reverse-take'; seq: number; id: string } | { wsfy: 'reverse-ended'; id: string };
/** The primary's answer; `id` comes back so that a late socket can still be given back. */
export type ReverseToWorker = { wsfy: 'reverse-taken'; seq: number; id: string; ok: boolean; reason?: 'not_connected' | 'busy'; early?: string };

/** How long a worker waits for the primary's answer before refusing the browser (503). */
const TAKE_TIMEOUT_MS = 5_000;

/**
 * What a worker's reverse side needs of its channel to the primary (cli/parent-channel.ts gives
 * it, as a cluster ParentChannel): send a request, and hear the answers with the socket they carry.
 */
export interface PrimaryChannel {
  /** False, with nothing sent, once the channel is gone. */
  send(message: ReverseToPrimary): boolean;
  onMessage(listener: (message: unknown, handle: unknown) => void): void;
}

/** The worker's broker: asks the primary. */
export class WorkerReverseBroker implements ReverseBroker {
  private seq = 0;
  private readonly waiting = new Map<number, (answer: BrokerAnswer) => void>();

  constructor(
    private readonly send: (message: ReverseToPrimary) => boolean,
    private readonly timeoutMs = TAKE_TIMEOUT_MS,
  ) {}

  take(id: string): Promise<BrokerAnswer> {
    return new Promise((resolve) => {
      const seq = ++this.seq;
      const timer = setTimeout(() => settle({ ok: false, reason: 'not_connected' }), this.timeoutMs);
      const settle = (answer: BrokerAnswer): void => {
        clearTimeout(timer);
        this.waiting.delete(seq);
        if (answer.ok) answer.socket.once('close', () => this.send({ wsfy: 'reverse-ended', id }));
        resolve(answer);
      };
      this.waiting.set(seq, settle);
      if (!this.send({ wsfy: 'reverse-take', seq, id })) settle({ ok: false, reason: 'not_connected' });
    });
  }

  /** The primary's answer, with the socket handle when `ok`. */
  answer(message: ReverseToWorker, handle: unknown, logger: Logger): void {
    const settle = this.waiting.get(message.seq);
    const socket = handle instanceof net.Socket ? handle : null;
    if (!settle) {
      // Came after we gave up: nobody will bridge it. The primary counts it as paired until
      // told otherwise, so say the session ended (else the ID would stay busy).
      socket?.destroy();
      if (message.ok) {
        this.send({ wsfy: 'reverse-ended', id: message.id });
        logger.info('reverse server arrived after the browser gave up: closed');
      }
      return;
    }
    if (!message.ok || socket === null) {
      socket?.destroy();
      // A handle that did not arrive: the primary still counts the ID as paired.
      if (message.ok) this.send({ wsfy: 'reverse-ended', id: message.id });
      settle({ ok: false, reason: message.reason ?? 'not_connected' });
      return;
    }
    if (message.early) socket.unshift(Buffer.from(message.early, 'base64'));
    settle({ ok: true, socket });
  }
}

/** The primary's side: one instance for all workers. */
export class PrimaryReverseService {
  /** IDs with a session in each worker, given back when the worker exits. */
  private readonly pairedBy = new Map<Worker, string[]>();

  constructor(
    private readonly registry: ReverseRegistry,
    private readonly logger: Logger,
  ) {}

  onMessage(worker: Worker, message: ReverseToPrimary): void {
    if (message.wsfy === 'reverse-ended') return this.ended(worker, message.id);
    const taken = this.registry.take(message.id);
    if (!worker.isConnected()) {
      if (taken.ok) taken.socket.destroy();
      return;
    }
    if (!taken.ok) {
      worker.send({ wsfy: 'reverse-taken', seq: message.seq, id: message.id, ok: false, reason: taken.reason } satisfies ReverseToWorker);
      return;
    }
    // Stop reading here before the handle leaves: once sent, Node drops whatever this process
    // still reads from it (the handle's onread becomes a no-op until the worker acknowledges).
    // What the kernel holds then reaches the worker, after `early`.
    stopReading(taken.socket);
    this.registry.markPaired(message.id);
    const ids = this.pairedBy.get(worker) ?? [];
    ids.push(message.id);
    this.pairedBy.set(worker, ids);
    const answer: ReverseToWorker = {
      wsfy: 'reverse-taken',
      seq: message.seq,
      id: message.id,
      ok: true,
      ...(taken.early.length > 0 ? { early: taken.early.toString('base64') } : {}),
    };
    // keepOpen false: once sent, the primary's copy is closed; the worker owns the connection.
    worker.send(answer, taken.socket, (err) => {
      if (err) {
        this.logger.info(`reverse server could not be handed to a worker: ${err.message}`);
        taken.socket.destroy();
        this.ended(worker, message.id);
      }
    });
  }

  /** The session of `worker` for `id` ended (or never started): the ID is no longer busy. */
  private ended(worker: Worker, id: string): void {
    const ids = this.pairedBy.get(worker) ?? [];
    const at = ids.indexOf(id);
    if (at === -1) return;
    ids.splice(at, 1);
    this.registry.unmarkPaired(id);
  }

  onWorkerExit(worker: Worker): void {
    for (const id of this.pairedBy.get(worker) ?? []) this.registry.unmarkPaired(id);
    this.pairedBy.delete(worker);
  }
}

/** Stops the socket's handle reading (libuv readStop); bytes stay in the kernel for whoever reads next. */
function stopReading(socket: net.Socket): void {
  const handle = (socket as unknown as { _handle?: { readStop?: () => number; reading?: boolean } | null })._handle;
  if (handle?.readStop) {
    handle.reading = false;
    handle.readStop();
  }
}
