import { AUTH_PLUGINS, TOKEN_PLUGINS } from './registry.js';

/**
 * Registers every reference plugin under its reference class name. Idempotent.
 * Each plugin module is imported only when that plugin is chosen, so a proxy without
 * TokenRedis never loads a Redis client (ioredis alone adds ~150 ms to startup) nor JOSE.
 */
export function registerBuiltinPlugins(): void {
  TOKEN_PLUGINS.set('ReadOnlyTokenFile', async (source, context) =>
    (await import('./token/read-only-token-file.js')).ReadOnlyTokenFile.create(source, context),
  );
  TOKEN_PLUGINS.set('TokenFile', async (source, context) => (await import('./token/token-file.js')).TokenFile.create(source, context));
  TOKEN_PLUGINS.set('TokenFileName', async (source, context) => (await import('./token/token-file-name.js')).TokenFileName.create(source, context));
  TOKEN_PLUGINS.set('BaseTokenAPI', async (source, context) => (await import('./token/base-token-api.js')).BaseTokenAPI.create(source, context));
  TOKEN_PLUGINS.set('JSONTokenApi', async (source, context) => (await import('./token/json-token-api.js')).JSONTokenApi.create(source, context));
  TOKEN_PLUGINS.set('JWTTokenApi', async (source, context) => (await import('./token/jwt-token-api.js')).JWTTokenApi.create(source, context));
  TOKEN_PLUGINS.set('TokenRedis', async (source, context) => (await import('./token/token-redis.js')).TokenRedis.create(source, context));
  TOKEN_PLUGINS.set('UnixDomainSocketDirectory', async (source, context) =>
    (await import('./token/unix-domain-socket-directory.js')).UnixDomainSocketDirectory.create(source, context),
  );
  AUTH_PLUGINS.set('BasicHTTPAuth', async (source, context) => (await import('./auth/basic-http-auth.js')).BasicHTTPAuth.create(source, context));
  AUTH_PLUGINS.set('ExpectOrigin', async (source, context) => (await import('./auth/expect-origin.js')).ExpectOrigin.create(source, context));
  AUTH_PLUGINS.set('ClientCertCNAuth', async (source, context) => (await import('./auth/client-cert-cn-auth.js')).ClientCertCNAuth.create(source, context));
}
