import { PluginFailure } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import { BaseTokenAPI } from './base-token-api.js';
import { targetFromParts } from './parse-target.js';

/**
 * `JSONTokenApi`: as BaseTokenAPI, but the body is JSON `{"host": ..., "port": ...}`
 * (`{"host": "unix_socket", "port": "/path"}` for a Unix socket, as the reference's tuple).
 * Invalid JSON or a missing field is a plugin failure (502); the reference closed the connection.
 */
export class JSONTokenApi extends BaseTokenAPI {
  private constructor(source: string | null, context: PluginContext) {
    super(source, context, 'JSONTokenApi');
  }

  static override create(source: string | null, context: PluginContext): JSONTokenApi {
    return new JSONTokenApi(source, context);
  }

  override async lookup(token: string): Promise<TargetSpec | null> {
    const body = await this.fetchBody(token);
    if (body === null) return null;
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      throw new PluginFailure('JSONTokenApi: API answer is not JSON');
    }
    const record = (data ?? {}) as { host?: unknown; port?: unknown };
    const target = typeof data === 'object' ? targetFromParts(record.host, record.port) : null;
    if (target === null) throw new PluginFailure('JSONTokenApi: API answer lacks a valid "host" and "port"');
    return target;
  }
}
