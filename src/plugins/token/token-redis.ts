import { Redis } from 'ioredis';
import { ConfigError, PluginFailure, PluginTimeout } from '../../errors.js';
import { formatHost, type TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { parseTarget, targetFromParts } from './parse-target.js';
import { parseRedisSource, type RedisSource } from './parse-redis-source.js';
import { connectFailureReason } from '../../log/connect-failure-reason.js';

/** How often a lasting Redis outage is logged again (the client retries far more often). */
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * `TokenRedis`: the target is the value of the key `namespace:token` (or `token`) in Redis.
 * Values, after trimming: JSON `{"host": "H:P"}` (the reference's form), or plain `H:P`; we
 * also accept JSON `{"host": "H", "port": P}` (the reference fails on it) and IPv6 hosts (the
 * reference raises on more than one colon).
 *
 * One client is shared by all lookups, with reconnects and a per-command timeout; the reference
 * opened a client per lookup and let a Redis outage close the connection with no answer. Here
 * a lookup while Redis is down fails with a PluginFailure (502), one that hangs with a
 * PluginTimeout (504), and the process keeps serving.
 */
export class TokenRedis implements TokenPlugin {
  private lastErrorLog = 0;
  /** Why the client is not connected (its last connection error), for the 502 line; null once ready. */
  private connectError: Error | null = null;

  private constructor(
    private readonly source: RedisSource,
    private readonly client: Redis,
    private readonly context: PluginContext,
  ) {
    client.on('error', (err: Error) => this.onClientError(err));
    client.on('ready', () => (this.connectError = null));
  }

  static create(source: string | null, context: PluginContext): TokenRedis {
    if (source === null || source === '') throw new ConfigError('TokenRedis requires --token-source host[:port[:db[:password[:namespace]]]]');
    let parsed: RedisSource;
    try {
      parsed = parseRedisSource(source);
    } catch (err) {
      throw new ConfigError((err as Error).message, err);
    }
    const client = new Redis({
      host: parsed.host,
      port: parsed.port,
      db: parsed.db,
      ...(parsed.password === null ? {} : { password: parsed.password }),
      connectTimeout: context.timeoutMs,
      commandTimeout: context.timeoutMs,
      // Commands issued while reconnecting wait for one reconnect attempt, then fail: an outage
      // answers 502 quickly instead of queueing clients.
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
      lazyConnect: false,
    });
    const started = `TokenRedis backend initialized (${formatHost(parsed.host)}:${parsed.port})`;
    if (context.speaksForServer === false) context.logger.debug(started);
    else context.logger.info(started);
    return new TokenRedis(parsed, client, context);
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    let raw: string | null;
    try {
      raw = await this.client.get(this.source.namespace + token);
    } catch (err) {
      const message = (err as Error).message;
      // A key of another type (a list, a hash) holds no target. Answering it like a missing
      // key keeps the status from telling a client which keys exist under some other type.
      if (message.startsWith('WRONGTYPE')) {
        this.context.logger.warn('TokenRedis: the key for a token is not a string, token not found');
        return null;
      }
      if (/timed? ?out/i.test(message)) {
        throw new PluginTimeout(`TokenRedis: token source unavailable: Redis at ${this.where()} did not answer within ${this.context.timeoutMs} ms`, err);
      }
      throw new PluginFailure(`TokenRedis: token source unavailable: Redis at ${this.where()}: ${this.failureReason(err as Error)}`, err);
    }
    if (raw === null) return null;
    return this.parseValue(raw);
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  private parseValue(raw: string): TargetSpec | null {
    const value = raw.trim();
    if (value.startsWith('{')) {
      let data: { host?: unknown; port?: unknown };
      try {
        data = JSON.parse(value) as { host?: unknown; port?: unknown };
      } catch {
        this.context.logger.error('Unable to decode JSON token');
        return null;
      }
      const target = data.port === undefined ? (typeof data.host === 'string' ? parseTarget(data.host) : null) : targetFromParts(data.host, data.port);
      if (target === null) this.context.logger.error('Unable to decode JSON token');
      return target;
    }
    const target = parseTarget(value);
    if (target === null) this.context.logger.error('Unable to parse token');
    return target;
  }

  private where(): string {
    return `${formatHost(this.source.host)}:${this.source.port}`;
  }

  /**
   * Words an operator can act on. A command issued while the client is disconnected fails with
   * ioredis's own bookkeeping ("Reached the max retries per request limit ... maxRetriesPerRequest",
   * "Connection is closed"), which says nothing about Redis: the reason is the connection's last
   * error (`Connection refused (ECONNREFUSED)`). An error Redis itself answered is its own text.
   */
  private failureReason(err: Error): string {
    const cause = err.name === 'ReplyError' ? err : this.connectError;
    if (cause === null) return 'not connected';
    const auth = /^(WRONGPASS|NOAUTH)\b/.exec(cause.message);
    if (auth) return `authentication failed (${auth[1]})`;
    return cause.name === 'ReplyError' ? cause.message : connectFailureReason(cause);
  }

  private onClientError(err: Error): void {
    this.connectError = err;
    const now = Date.now();
    if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
    this.lastErrorLog = now;
    this.context.logger.error(`TokenRedis: token source unavailable: Redis at ${this.where()}: ${this.failureReason(err)}`);
  }
}
