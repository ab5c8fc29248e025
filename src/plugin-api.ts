/**
 * What a user plugin may import: `import { HttpRejection } from 'websockify-ts/plugin'`
 * (package.json `exports`; docs/plugins.md, "User plugins"). The contracts a plugin implements and
 * the errors it throws to answer with a status; nothing else of the proxy is public.
 *
 * - a token plugin's `lookup(token)` resolves to a target or null (404); throwing
 *   `PluginFailure` answers 502, an `HttpRejection` with a 4xx status answers that status;
 * - an auth plugin's `authenticate(request)` resolves to allow; throwing an `HttpRejection`
 *   (401 with `WWW-Authenticate`, 403, ...) refuses with that status; anything else is 502.
 */
export type { TokenPlugin, TokenPluginFactory } from './plugins/token/token-plugin.js';
export type { AuthPlugin, AuthPluginFactory, AuthRequest } from './plugins/auth/auth-plugin.js';
export type { PluginContext } from './plugins/plugin-context.js';
export type { TargetSpec } from './config/config.js';
export type { ErrorCode } from './errors.js';
export { HttpRejection, PluginFailure, TokenRejection, WebsockifyError } from './errors.js';
