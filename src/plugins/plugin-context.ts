import type { Logger } from '../log/logger.js';

/**
 * What a plugin is given besides its source string, when it is built once at startup.
 * The reference passes only the source; the extra context is optional so a user plugin written
 * against the one-argument contract keeps working.
 */
export interface PluginContext {
  /** Server-wide logger; plugins never log a token, password or key. */
  logger: Logger;
  /** Upper bound for one outbound call (HTTP API, Redis command), in milliseconds. */
  timeoutMs: number;
}
