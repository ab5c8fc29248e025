import { AUTH_PLUGINS, TOKEN_PLUGINS } from './registry.js';
import { BasicHTTPAuth } from './auth/basic-http-auth.js';
import { ClientCertCNAuth } from './auth/client-cert-cn-auth.js';
import { ExpectOrigin } from './auth/expect-origin.js';
import { BaseTokenAPI } from './token/base-token-api.js';
import { JSONTokenApi } from './token/json-token-api.js';
import { JWTTokenApi } from './token/jwt-token-api.js';
import { ReadOnlyTokenFile } from './token/read-only-token-file.js';
import { TokenFile } from './token/token-file.js';
import { TokenFileName } from './token/token-file-name.js';
import { TokenRedis } from './token/token-redis.js';
import { UnixDomainSocketDirectory } from './token/unix-domain-socket-directory.js';


/** Registers every reference plugin under its reference class name. Idempotent. */
export function registerBuiltinPlugins(): void {
  TOKEN_PLUGINS.set('ReadOnlyTokenFile', (source, context) => ReadOnlyTokenFile.create(source, context));
  TOKEN_PLUGINS.set('TokenFile', (source, context) => TokenFile.create(source, context));
  TOKEN_PLUGINS.set('TokenFileName', (source, context) => TokenFileName.create(source, context));
  TOKEN_PLUGINS.set('BaseTokenAPI', (source, context) => BaseTokenAPI.create(source, context));
  TOKEN_PLUGINS.set('JSONTokenApi', (source, context) => JSONTokenApi.create(source, context));
  TOKEN_PLUGINS.set('JWTTokenApi', (source, context) => JWTTokenApi.create(source, context));
  TOKEN_PLUGINS.set('TokenRedis', (source, context) => TokenRedis.create(source, context));
  TOKEN_PLUGINS.set('UnixDomainSocketDirectory', (source, context) => UnixDomainSocketDirectory.create(source, context));
  AUTH_PLUGINS.set('BasicHTTPAuth', (source, context) => BasicHTTPAuth.create(source, context));
  AUTH_PLUGINS.set('ExpectOrigin', (source, context) => ExpectOrigin.create(source, context));
  AUTH_PLUGINS.set('ClientCertCNAuth', (source, context) => ClientCertCNAuth.create(source, context));
}
