import type net from 'node:net';
import { shortIdHash } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { ReverseMetrics } from '../metrics/reverse-metrics.js';

/** Bytes a held server may send before a browser comes (the RFB banner is 12). */
export const HELD_EARLY_BYTES_CAP = 64 * 1024;

type TakeResult = { ok: true; socket: net.Socket; early: Buffer } | { ok: false; reason: 'not_connected' | 'busy' };

interface Held {
  id: string;
  socket: net.Socket;
  early: Buffer[];
  earlyBytes: number;
  idleTimer: NodeJS.Timeout | null;
  /** Gives back the listener's per-address and total slot (once). */
  leave: () => void;
}

const kHeld = Symbol('wsfy.reverseHeld');
interface Carrier {
  [kHeld]?: { registry: ReverseRegistry; held: Held };
}
function heldOf(socket: unknown): { registry: ReverseRegistry; held: Held } | undefined {
  return (socket as Carrier)[kHeld];
}
function heldOnData(this: net.Socket, chunk: Buffer): void {
  const h = heldOf(this);
  h?.registry.onHeldData(h.held, chunk);
}
function heldOnGone(this: net.Socket): void {
  const h = heldOf(this);
  h?.registry.forget(h.held, 'server went away');
}
function heldOnError(this: net.Socket, err: Error): void {
  const h = heldOf(this);
  h?.registry.forget(h.held, `server error: ${err.message}`);
}
function ignoreError(): void {}
function heldIdle(registry: ReverseRegistry, held: Held): void {
  registry.onIdle(held);
}

/**
 * The VNC servers that connected in and named an ID, waiting for a browser (docs/reverse.md).
 * One held server per ID: a server that registers an ID already held replaces the old one
 * (closed), so a restarted server is reachable at once. A held server that closes, errs or
 * half-closes is forgotten at once. `take` hands the socket to a session; while that session
 * lasts the ID counts as busy, so a second browser is refused rather than given nothing.
 */
export class ReverseRegistry {
  private readonly held = new Map<string, Held>();
  /** Live sessions per ID (taken sockets not yet closed, or sessions elsewhere: see markPaired). */
  private readonly pairedCount = new Map<string, number>();

  constructor(private readonly options: { idleTimeoutMs: number; logger: Logger; metrics?: ReverseMetrics | null }) {}

  get heldCount(): number {
    return this.held.size;
  }

  /** A server named `id` (already checked against the token source) is held from now on. */
  register(id: string, socket: net.Socket, leftover: Buffer, log: Logger, leave: () => void = () => undefined): void {
    const old = this.held.get(id);
    if (old) {
      this.release(old);
      old.socket.destroy();
      log.info('reverse server replaced: an earlier connection with the same id was closed', { id: shortIdHash(id) });
    }
    const held: Held = { id, socket, early: [], earlyBytes: 0, idleTimer: null, leave };
    (socket as Carrier)[kHeld] = { registry: this, held };
    this.held.set(id, held);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', heldOnData);
    socket.on('end', heldOnGone);
    socket.on('close', heldOnGone);
    socket.on('error', heldOnError);
    if (this.options.idleTimeoutMs > 0) held.idleTimer = setTimeout(heldIdle, this.options.idleTimeoutMs, this, held);
    if (leftover.length > 0) this.onHeldData(held, leftover);
    this.options.metrics?.registered();
    this.options.metrics?.setHeld(this.held.size);
    log.info('reverse server registered', { id: shortIdHash(id) });
  }

  /**
   * The held server for `id`, out of the registry: its listeners removed, the socket paused and
   * the bytes it sent while held returned in `early` (they go to the browser first).
   */
  take(id: string): TakeResult {
    const held = this.held.get(id);
    if (!held) return { ok: false, reason: (this.pairedCount.get(id) ?? 0) > 0 ? 'busy' : 'not_connected' };
    this.release(held);
    const socket = held.socket;
    socket.pause();
    // Until the session's bridge listens for errors, one must not end the process.
    socket.on('error', ignoreError);
    // Whatever the stream read after the pause belongs in front of what comes next.
    const chunks = [...held.early];
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) chunks.push(chunk);
    return { ok: true, socket, early: Buffer.concat(chunks) };
  }

  /** A session now runs for `id` (until `unmarkPaired`): a second browser is then 'busy'. */
  markPaired(id: string): void {
    this.pairedCount.set(id, (this.pairedCount.get(id) ?? 0) + 1);
  }

  unmarkPaired(id: string): void {
    const n = (this.pairedCount.get(id) ?? 0) - 1;
    if (n > 0) this.pairedCount.set(id, n);
    else this.pairedCount.delete(id);
  }

  /** @internal */
  onHeldData(held: Held, chunk: Buffer): void {
    held.earlyBytes += chunk.length;
    if (held.earlyBytes > HELD_EARLY_BYTES_CAP) {
      this.options.metrics?.refused('held_overflow');
      this.forget(held, `server sent more than ${HELD_EARLY_BYTES_CAP} bytes while waiting for a browser`);
      return;
    }
    held.early.push(chunk);
  }

  /** @internal */
  onIdle(held: Held): void {
    held.idleTimer = null;
    this.options.metrics?.refused('idle_timeout');
    this.forget(held, `no browser within ${this.options.idleTimeoutMs / 1000}s`);
  }

  /** @internal The held server is gone (or is being closed): forget it and close it. */
  forget(held: Held, why: string): void {
    if (this.held.get(held.id) !== held) return;
    this.release(held);
    held.socket.destroy();
    this.options.logger.info(`reverse server dropped: ${why}`, { id: shortIdHash(held.id) });
  }

  /** Closes every held server (shutdown). */
  closeAll(): void {
    for (const held of [...this.held.values()]) {
      this.release(held);
      held.socket.destroy();
    }
  }

  private release(held: Held): void {
    if (this.held.get(held.id) === held) this.held.delete(held.id);
    if (held.idleTimer) clearTimeout(held.idleTimer);
    held.idleTimer = null;
    const socket = held.socket;
    socket.removeListener('data', heldOnData);
    socket.removeListener('end', heldOnGone);
    socket.removeListener('close', heldOnGone);
    socket.removeListener('error', heldOnError);
    delete (socket as Carrier)[kHeld];
    held.leave();
    this.options.metrics?.setHeld(this.held.size);
  }
}
