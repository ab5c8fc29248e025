import type { AuthPluginFactory } from './auth/auth-plugin.js';
import type { TokenPluginFactory } from './token/token-plugin.js';

/**
 * Plugins registered explicitly under their reference class names. A name containing `:` or
 * ending in .js/.mjs/.ts is a user module (`path/to/module.js:ExportName`), loaded by the
 * plugin loader. Filled in by the plugin families (see docs/plugins.md).
 */
export const TOKEN_PLUGINS = new Map<string, TokenPluginFactory>();
export const AUTH_PLUGINS = new Map<string, AuthPluginFactory>();
