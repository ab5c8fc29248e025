import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { AccessControl, accessOptionsFrom } from './access-control.js';
import { loadAuthPlugins, loadTokenPlugin } from '../plugins/load-plugins.js';

/**
 * Builds every plugin the Config names, once, at startup; throws a ConfigError with a clear
 * message when one cannot start (the CLI prints it and exits 1). `speaksForServer`: see
 * PluginContext (false in the --workers workers but the first).
 */
export async function loadAccessControl(config: Config, logger: Logger, speaksForServer = true): Promise<AccessControl> {
  const context = { logger, speaksForServer, timeoutMs: config.limits.pluginTimeoutMs };
  const tokenPlugin = config.tokenPlugin === null ? null : await loadTokenPlugin(config.tokenPlugin, context);
  try {
    const auth = await loadAuthPlugins(config.authPlugins, config.allowOrigins, context);
    return new AccessControl(accessOptionsFrom(config, tokenPlugin, auth));
  } catch (err) {
    await tokenPlugin?.close?.();
    throw err;
  }
}
