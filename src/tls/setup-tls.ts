import * as fs from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { SecureContextProvider } from './secure-context-provider.js';
import { wrapTlsSocket, type TlsUpgrader } from './wrap-tls-socket.js';

/**
 * Decides at start whether this server speaks TLS, and loads the files if so.
 * - TLS asked for (--cert, --key, --ssl-only, --verify-client): the files must load, else
 *   TlsConfigError (the caller exits 1). The reference only finds out at the first wss client.
 * - Nothing asked for: the default self.pem is used if it exists (and must then be valid);
 *   if it does not exist there is no TLS, as in the reference.
 * Returns null when TLS is off.
 */
export function setupTls(config: Config, logger: Logger, options: { quietLoads?: boolean } = {}): SecureContextProvider | null {
  if (!config.tls.required && !fs.existsSync(config.tls.cert)) return null;
  const provider = new SecureContextProvider(config.tls, logger, { quietLoads: options.quietLoads ?? false });
  provider.watch();
  return provider;
}

/** The front door's hook: wrap a socket whose first byte is a TLS ClientHello. */
export function createTlsUpgrader(provider: SecureContextProvider, config: Config): TlsUpgrader {
  return (socket, logger, onFailure) =>
    wrapTlsSocket(socket, provider, {
      handshakeTimeoutMs: config.limits.handshakeTimeoutMs,
      verifyClient: config.tls.verifyClient,
      logger,
      onFailure,
    });
}
