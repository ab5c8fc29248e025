import * as fs from 'node:fs';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import type { TargetTlsConfig } from '../config/config.js';
import { TlsConfigError } from '../errors.js';

/** --ssl-target settings, with the CA file read once at start. */
interface TargetTls {
  ca: string | null;
  insecure: boolean;
}

/**
 * Reads --ssl-target-ca at start so a missing or empty file fails the launch, not the first
 * session. The reference has no way to trust a private CA except SSL_CERT_FILE (docs/tls.md).
 */
export function loadTargetTls(config: TargetTlsConfig): TargetTls {
  if (config.caFile === null) return { ca: null, insecure: config.insecure };
  let text: string;
  try {
    text = fs.readFileSync(config.caFile, 'utf8');
  } catch (err) {
    throw new TlsConfigError(`cannot read --ssl-target-ca file '${config.caFile}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new TlsConfigError(`no certificate found in --ssl-target-ca file '${config.caFile}'`);
  }
  return { ca: text, insecure: config.insecure };
}

/**
 * Options for tls.connect to a target. As the reference: certificate and name checked, SNI set
 * to the host name (never to an IP literal, RFC 6066 §3). With --ssl-target-ca only that CA
 * bundle is trusted; with --ssl-target-insecure nothing is checked.
 */
export function targetTlsConnectOptions(settings: TargetTls, host: string): tls.ConnectionOptions {
  const options = targetTlsBaseOptions(settings);
  if (net.isIP(host) === 0) options.servername = host;
  return options;
}

/** The host-independent part (the dialer adds host, port and SNI). */
export function targetTlsBaseOptions(settings: TargetTls): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = { minVersion: 'TLSv1.2' };
  if (settings.insecure) {
    options.rejectUnauthorized = false;
    options.checkServerIdentity = () => undefined;
  } else {
    options.rejectUnauthorized = true;
    if (settings.ca !== null) options.ca = settings.ca;
  }
  return options;
}
