import net from 'node:net';
import tls from 'node:tls';
import { formatHost, shortIdHash, type ReverseConfig, type ReverseListen } from '../config/config.js';
import { ListenError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { openListener } from '../listen/listener.js';
import { parseIdBlock, REPEATER_ID_BLOCK_BYTES } from './reverse-id.js';
import type { ReverseMetrics, ReverseRefusal } from '../metrics/reverse-metrics.js';
import type { ReverseRegistry } from './reverse-registry.js';

interface ReverseListenerOptions {
  config: ReverseConfig;
  logger: Logger;
  registry: ReverseRegistry;
  metrics?: ReverseMetrics | null;
  /** Whether `id` appears as `reverse:<id>` in the token source (ignored with allowAnyId). */
  isKnownId: (id: string) => Promise<boolean>;
  /** --reverse-tls: the secure context of the main listener (its --cert/--key, reloaded with it). */
  secureContext?: () => tls.SecureContext;
}

/**
 * The --reverse-listen side (docs/reverse.md): accepts VNC servers, holds each to the limits
 * (total and per address, counted from accept until the server is taken by a session or gone),
 * reads its 250-byte `ID:` block within the deadline, checks the ID against the token source,
 * and registers it. A listener bound to one ID (`PORT=ID`) reads no block: every server there
 * is that ID, and its first bytes are already RFB.
 */
export class ReverseListeners {
  private readonly servers: net.Server[] = [];
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  /** Accepted, not yet registered (reading the ID block, or in the TLS handshake). */
  private readonly pending = new Set<net.Socket>();

  constructor(private readonly options: ReverseListenerOptions) {}

  /** Opens every --reverse-listen; resolves with where each really listens. */
  async listen(): Promise<string[]> {
    const descriptions: string[] = [];
    for (const spec of this.options.config.listen) {
      const opened = await openListener({ kind: 'tcp', host: spec.host, port: spec.port, preferIpv6: false }, (socket) =>
        this.onConnection(spec, socket),
      ).catch((err: unknown) => {
        throw new ListenError(`--reverse-listen ${spec.host === '' ? '' : `${formatHost(spec.host)}:`}${spec.port}: ${(err as Error).message}`, err);
      });
      opened.server.on('error', (err: Error) => this.options.logger.error(`reverse listener error: ${err.message}`));
      this.servers.push(opened.server);
      const where =
        opened.address.kind === 'tcp'
          ? `${formatHost(opened.address.host)}:${opened.address.port}`
          : opened.address.kind === 'unix'
            ? opened.address.path
            : opened.address.label;
      descriptions.push(`${where}${spec.fixedId === null ? '' : ` (fixed id #${shortIdHash(spec.fixedId)})`}`);
    }
    return descriptions;
  }

  /**
   * Stops accepting and closes servers still sending their ID. Held servers belong to the
   * registry (closeAll), taken ones to their sessions; neither is waited for here.
   */
  close(): void {
    for (const server of this.servers) server.close();
    for (const socket of this.pending) socket.destroy();
  }

  private refuse(log: Logger, socket: net.Socket, reason: ReverseRefusal, message: string): void {
    this.options.metrics?.refused(reason);
    log.info(`reverse connection refused: ${message}`);
    socket.destroy();
  }

  private onConnection(spec: ReverseListen, raw: net.Socket): void {
    const { config, logger } = this.options;
    const address = raw.remoteAddress ?? '';
    const log = logger.child({ client: address });
    raw.on('error', () => undefined);
    // As a dialled TCP target (dial-target.ts): RFB is many small messages, sent at once.
    raw.setNoDelay(true);
    if (this.total >= config.maxHeld) return this.refuse(log, raw, 'limit_total', `${config.maxHeld} reverse connections held already`);
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= config.maxHeldPerIp) return this.refuse(log, raw, 'limit_per_ip', `${config.maxHeldPerIp} reverse connections from this address already`);
    this.total++;
    this.perAddress.set(address, mine + 1);
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.total--;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
    };
    raw.once('close', leave);
    this.pending.add(raw);
    raw.once('close', () => this.pending.delete(raw));

    let socket: net.Socket = raw;
    const deadline = setTimeout(() => {
      this.refuse(log, socket, 'id_timeout', `no id within ${config.idTimeoutMs / 1000}s`);
      raw.destroy();
    }, config.idTimeoutMs);
    raw.once('close', () => clearTimeout(deadline));

    const proceed = (): void => {
      if (spec.fixedId !== null) {
        clearTimeout(deadline);
        this.pending.delete(raw);
        this.options.registry.register(spec.fixedId, socket, Buffer.alloc(0), log, leave);
        return;
      }
      this.readId(socket, raw, log, deadline, leave);
    };
    if (config.tls && this.options.secureContext) {
      const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.options.secureContext() });
      socket = secure;
      let secured = false;
      secure.on('error', (err: Error) => {
        if (!secured) this.refuse(log, raw, 'tls', `TLS handshake failed: ${err.message}`);
        raw.destroy();
      });
      secure.once('secure', () => (secured = true));
      secure.once('secure', proceed);
    } else {
      proceed();
    }
  }

  /** Collects exactly the 250-byte block; anything after it is RFB and is kept for the browser. */
  private readId(socket: net.Socket, raw: net.Socket, log: Logger, deadline: NodeJS.Timeout, leave: () => void): void {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got < REPEATER_ID_BLOCK_BYTES) return;
      socket.removeListener('data', onData);
      socket.pause();
      clearTimeout(deadline);
      const all = Buffer.concat(chunks);
      const parsed = parseIdBlock(all.subarray(0, REPEATER_ID_BLOCK_BYTES));
      const leftover = all.subarray(REPEATER_ID_BLOCK_BYTES);
      if (!parsed.ok) return this.refuse(log, socket, 'malformed_id', parsed.reason);
      void this.admitId(parsed.id, socket, raw, leftover, log, leave);
    };
    socket.on('data', onData);
  }

  private async admitId(id: string, socket: net.Socket, raw: net.Socket, leftover: Buffer, log: Logger, leave: () => void): Promise<void> {
    let known = this.options.config.allowAnyId;
    if (!known) {
      try {
        known = await this.options.isKnownId(id);
      } catch (err) {
        log.info(`reverse id check failed: ${(err as Error).message}`);
        known = false;
      }
    }
    if (socket.destroyed) return;
    if (!known) return this.refuse(log, socket, 'unknown_id', `id #${shortIdHash(id)} is not in the token source`);
    this.pending.delete(raw);
    socket.resume();
    this.options.registry.register(id, socket, leftover, log, leave);
  }
}
