import type { Logger } from '../log/logger.js';

/**
 * What a plugin is given besides its source string, when it is built once at startup.
 * The reference passes only the source; the extra context is optional so a user plugin written
 * against the one-argument contract keeps working.
 */
export interface PluginContext {
  /** Server-wide logger; plugins never log a token, password or key. */
  logger: Logger;
  /**
   * False in every --workers worker but the first: a line each worker would write alike (a token
   * file's syntax errors) is logged at debug level there, so the server says it once. Absent: true.
   */
  speaksForServer?: boolean;
  /** Upper bound for one outbound call (HTTP API, Redis command), in milliseconds. */
  timeoutMs: number;
}
