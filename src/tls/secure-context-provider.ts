import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import type { SslVersion, TlsConfig } from '../config/config.js';
import { TlsConfigError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** What one successful load produced; kept whole so a failed reload can keep serving it. */
interface TlsMaterial {
  context: tls.SecureContext;
  /** Subject CN of the server certificate (the first one in the file), for log lines. */
  subject: string;
  /** SHA-256 fingerprint of the server certificate, colon-separated hex. */
  fingerprint: string;
  validTo: Date;
  /** How many certificates the chain file holds (server first, then intermediates). */
  chainLength: number;
}

/** Anything that hands out the context to use for the next TLS handshake. */
export interface SecureContextSource {
  current(): tls.SecureContext;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/;

/**
 * --ssl-version is a minimum. The reference maps it to OpenSSL option bits that replace the
 * context defaults (clearing e.g. OP_NO_COMPRESSION); we set minVersion instead and keep the defaults.
 * 'default' means TLS 1.2, not whatever OpenSSL would still allow (deviation, docs/tls.md).
 */
export function minVersionFor(version: SslVersion): tls.SecureVersion {
  switch (version) {
    case 'tlsv1_1':
      return 'TLSv1.1';
    case 'tlsv1_3':
      return 'TLSv1.3';
    default:
      return 'TLSv1.2';
  }
}

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new TlsConfigError(`cannot read ${what} '${file}': ${reason}`, err);
  }
}

/**
 * Reads the certificate (chain), key and CA files named by the config and builds a secure
 * context, turning OpenSSL's terse errors into messages that name the file at fault.
 * Throws TlsConfigError; never prompts for a password (Node passes no tty callback).
 */
export function loadTlsMaterial(config: TlsConfig): TlsMaterial {
  const certText = readPem(config.cert, 'certificate file');
  const certs = certText.match(CERT_BLOCK) ?? [];
  if (certs.length === 0) {
    throw new TlsConfigError(`no certificate found in '${config.cert}' (expected a PEM '-----BEGIN CERTIFICATE-----' block)`);
  }
  const keyFile = config.key ?? config.cert;
  const keyText = config.key === null ? certText : readPem(keyFile, 'key file');
  const keyMatch = KEY_BLOCK.exec(keyText);
  if (!keyMatch) {
    throw new TlsConfigError(
      config.key === null
        ? `no private key found in '${config.cert}'; put the key in that file after the certificate or give --key FILE`
        : `no private key found in '${keyFile}'`,
    );
  }
  const encrypted = keyMatch[1] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(keyMatch[0]);
  if (encrypted && config.keyPassword === null) {
    throw new TlsConfigError(`the private key in '${keyFile}' is encrypted; give its password with --key-password-file FILE or WEBSOCKIFY_KEY_PASSWORD`);
  }

  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(certs[0]!);
  } catch (err) {
    throw new TlsConfigError(`the first certificate in '${config.cert}' cannot be parsed: ${(err as Error).message}`, err);
  }

  let ca: string | undefined;
  if (config.verifyClient && config.cafile !== null) {
    ca = readPem(config.cafile, 'CA file');
    if (ca.match(CERT_BLOCK) === null) throw new TlsConfigError(`no certificate found in CA file '${config.cafile}'`);
  }

  const minVersion = minVersionFor(config.sslVersion);
  let ciphers = config.sslCiphers ?? undefined;
  // OpenSSL 3 refuses TLS 1.0/1.1 at security level 1 and above, so asking for a TLS 1.1
  // minimum would silently still mean 1.2; lower the level only in that explicit case.
  if (minVersion === 'TLSv1.1' && ciphers === undefined) ciphers = `${tls.DEFAULT_CIPHERS}:@SECLEVEL=0`;

  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({
      cert: certs.join('\n'),
      key: keyMatch[0],
      passphrase: config.keyPassword ?? undefined,
      minVersion,
      ciphers,
      ca,
      // What tls.Server sets by default: the server's cipher preference wins over the client's.
      honorCipherOrder: true,
    });
  } catch (err) {
    throw explainOpenSslError(err, config, keyFile);
  }
  return {
    context,
    subject: subjectCommonName(leaf.subject),
    fingerprint: leaf.fingerprint256,
    validTo: new Date(leaf.validTo),
    chainLength: certs.length,
  };
}

function explainOpenSslError(err: unknown, config: TlsConfig, keyFile: string): TlsConfigError {
  const e = err as { code?: string; message?: string; reason?: string };
  const text = `${e.code ?? ''} ${e.reason ?? ''} ${e.message ?? ''}`.toLowerCase();
  if (text.includes('bad decrypt') || text.includes('bad_decrypt') || text.includes('bad password')) {
    return new TlsConfigError(`wrong password for the private key in '${keyFile}'`, err);
  }
  if (text.includes('key values mismatch') || text.includes('key_values_mismatch')) {
    return new TlsConfigError(`the private key in '${keyFile}' does not match the certificate in '${config.cert}'`, err);
  }
  if (text.includes('no cipher match') || text.includes('no_cipher_match')) {
    return new TlsConfigError(`--ssl-ciphers '${config.sslCiphers ?? ''}' matches no cipher`, err);
  }
  return new TlsConfigError(`cannot use certificate '${config.cert}' with key '${keyFile}': ${e.message ?? String(err)}`, err);
}

function subjectCommonName(subject: string): string {
  const cn = /^CN=(.*)$/m.exec(subject);
  return cn ? cn[1]! : subject.replace(/\n/g, ', ');
}

interface SecureContextProviderOptions {
  /** Poll interval for the cert, key and CA files; 0 turns watching off (SIGHUP still works). */
  watchIntervalMs?: number;
  /** Wait this long after the last change before reloading, so a cert and key written one after the other are read together. */
  settleMs?: number;
  /** Log loads and reloads at debug level: another worker of the same server logs them once. */
  quietLoads?: boolean;
}

/**
 * Holds the secure context for new TLS connections and replaces it on reload (SIGHUP or a file
 * change). The reference re-reads the files for every connection: rotation works but
 * a bad file only shows at the first wss client, and files must stay readable after a privilege
 * drop. Here the files are read once at start (failing fast) and again only on reload, and a
 * reload that fails keeps the previous certificate serving. Live connections keep the context
 * they were accepted with.
 */
export class SecureContextProvider implements SecureContextSource {
  private material: TlsMaterial;
  private readonly watched: string[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private reloads = 0;

  /** Loads the files now; throws TlsConfigError (naming the file) if they cannot be used. */
  constructor(
    private readonly config: TlsConfig,
    private readonly logger: Logger,
    private readonly options: SecureContextProviderOptions = {},
  ) {
    this.material = loadTlsMaterial(config);
    this.logLoaded('loaded');
  }

  current(): tls.SecureContext {
    return this.material.context;
  }

  info(): Readonly<TlsMaterial> {
    return this.material;
  }

  /** How many reloads succeeded since start. */
  get reloadCount(): number {
    return this.reloads;
  }

  /** Re-reads the files. On failure logs an error, keeps the old context and returns false. */
  reload(reason: string): boolean {
    try {
      this.reloadOrThrow(reason);
      return true;
    } catch (err) {
      this.logger.error(`tls: reload after ${reason} failed, still serving the previous certificate: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Re-reads the files; on failure throws TlsConfigError and keeps the old context (for the
   * SIGHUP reload hooks, which log failures themselves).
   */
  reloadOrThrow(reason: string): void {
    const next = loadTlsMaterial(this.config);
    this.material = next;
    this.reloads++;
    this.logLoaded(`reloaded after ${reason}`);
    for (const listener of this.listeners) listener(next);
  }

  onReload(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Polls the files with fs.watchFile: unlike fs.watch it survives the rename-into-place that
   * certbot and most deploy tools use, and works on network file systems.
   */
  watch(): void {
    const interval = this.options.watchIntervalMs ?? this.config.watchIntervalMs;
    if (interval <= 0 || this.watched.length > 0) return;
    const files = new Set([this.config.cert, this.config.key ?? this.config.cert]);
    if (this.config.verifyClient && this.config.cafile !== null) files.add(this.config.cafile);
    for (const file of files) {
      fs.watchFile(file, { interval, persistent: false }, this.onFileChange);
      this.watched.push(file);
    }
  }

  close(): void {
    for (const file of this.watched) fs.unwatchFile(file, this.onFileChange);
    this.watched.length = 0;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.listeners.clear();
  }

  private readonly onFileChange = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.reload('file change');
    }, this.options.settleMs ?? 300);
    this.settleTimer.unref();
  };

  private logLoaded(what: string): void {
    const m = this.material;
    const log = this.options.quietLoads === true ? this.logger.debug.bind(this.logger) : this.logger.info.bind(this.logger);
    log(
      `tls: ${what} certificate '${this.config.cert}' for ${m.subject} (chain of ${m.chainLength}, expires ${m.validTo.toISOString()}, sha256 ${m.fingerprint.slice(0, 23)}...)`,
    );
    if (m.validTo.getTime() < Date.now() && this.options.quietLoads !== true)
      this.logger.warn(`tls: certificate '${this.config.cert}' expired on ${m.validTo.toISOString()}`);
  }
}
