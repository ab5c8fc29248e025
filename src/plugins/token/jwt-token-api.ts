import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { compactDecrypt, decodeProtectedHeader, jwtVerify } from 'jose';
import { ConfigError, PluginFailure } from '../../errors.js';
import type { TargetSpec } from '../../config/config.js';
import type { PluginContext } from '../plugin-context.js';
import type { TokenPlugin } from './token-plugin.js';
import { targetFromParts } from './parse-target.js';

interface LoadedKey {
  signature: string;
  /** Verifies JWS signatures (the public half of a private key, or the HMAC secret). */
  verify: KeyObject;
  /** Decrypts JWE (a private key or the secret); null for a public-only PEM. */
  decrypt: KeyObject | null;
  /** JWS `alg` values accepted: those of the key's type. */
  algorithms: string[];
  /** JWE `alg` (key management) values accepted: those of the key's type; never PBES2. */
  keyManagement: string[];
}

/**
 * JWE content encryption (`enc`) accepted: every one RFC 7518 §5.1 defines. The key length
 * decides which of them a given secret can actually open.
 */
const CONTENT_ENCRYPTION = ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512'];

/**
 * JWE key management for a shared secret: direct use and AES key wrap. PBES2 is left out on
 * purpose: its key derivation runs up to `p2c` PBKDF2 rounds chosen by the token's author
 * (about 4 ms of CPU per unauthenticated request at jose's cap of 10,000), and a random
 * base64url key is not a password anyway.
 */
const SECRET_KEY_MANAGEMENT = ['dir', 'A128KW', 'A192KW', 'A256KW', 'A128GCMKW', 'A192GCMKW', 'A256GCMKW'];

/** A refusal before any key is touched, with jose's code for a disallowed algorithm. */
function algorithmNotAllowed(): Error {
  return Object.assign(new Error('JWE algorithm not allowed'), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
}

interface JWTTokenApiOptions {
  /** The clock nbf/exp are checked against; tests pin it. */
  now?: () => Date;
}

/**
 * `JWTTokenApi`: the token is itself a JWT whose claims `host` and `port` name the target.
 * Key file semantics follow the reference (jwcrypto):
 * - a PEM private key verifies (through its public half) and decrypts; a PEM public key or
 *   certificate only verifies;
 * - any other file content is the JWK `k` value, i.e. the base64url text of the HMAC/AES key
 *   (the reference's fixture `secret_sauce` is a 9-byte key, not those ASCII bytes).
 * A token whose header has `enc` is a JWE; its plaintext must itself be a signed JWT, verified
 * with the same key (a JWE carrying plain claims is refused, as in the reference).
 * `nbf` and `exp` are checked strictly against the clock; `alg: none` is refused, and only the
 * algorithms that fit the key type are accepted (no HS256-with-a-public-key confusion), for JWS
 * and for JWE key management alike (never PBES2).
 * A token that fails any check is unknown (null); an unreadable key file is a plugin failure.
 * The key file is re-read when it changes (the reference re-reads it on every lookup).
 */
export class JWTTokenApi implements TokenPlugin {
  private key: LoadedKey | null = null;

  private constructor(
    private readonly keyFile: string,
    private readonly context: PluginContext,
    private readonly now: () => Date,
  ) {}

  static async create(source: string | null, context: PluginContext, options: JWTTokenApiOptions = {}): Promise<JWTTokenApi> {
    if (source === null || source === '') throw new ConfigError('JWTTokenApi requires --token-source KEYFILE');
    const plugin = new JWTTokenApi(source, context, options.now ?? (() => new Date()));
    try {
      await plugin.currentKey();
    } catch (err) {
      throw new ConfigError(`JWTTokenApi: cannot use key file ${source}: ${(err as Error).message}`, err);
    }
    return plugin;
  }

  async lookup(token: string): Promise<TargetSpec | null> {
    let key: LoadedKey;
    try {
      key = await this.currentKey();
    } catch (err) {
      throw new PluginFailure(`JWTTokenApi: cannot use key file ${this.keyFile}: ${(err as Error).message}`, err);
    }
    try {
      let jws = token;
      const header = decodeProtectedHeader(token);
      if (header.enc !== undefined) {
        if (key.decrypt === null) throw new Error('encrypted token but the key file holds no private or secret key');
        // Checked here, before jose derives or unwraps anything: an algorithm the key cannot
        // serve (PBES2 above all, whose cost the token's author sets) costs no CPU.
        if (typeof header.alg !== 'string' || !key.keyManagement.includes(header.alg)) throw algorithmNotAllowed();
        if (typeof header.enc !== 'string' || !CONTENT_ENCRYPTION.includes(header.enc)) throw algorithmNotAllowed();
        const { plaintext } = await compactDecrypt(token, key.decrypt, {
          keyManagementAlgorithms: key.keyManagement,
          contentEncryptionAlgorithms: CONTENT_ENCRYPTION,
        });
        jws = new TextDecoder().decode(plaintext);
      }
      const { payload } = await jwtVerify(jws, key.verify, { algorithms: key.algorithms, currentDate: this.now() });
      return targetFromParts(payload['host'], payload['port']);
    } catch (err) {
      // jose error codes (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ...) say why
      // without repeating the token.
      const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
      this.context.logger.info('JWT token rejected', { reason: code });
      return null;
    }
  }

  private async currentKey(): Promise<LoadedKey> {
    const st = await fsp.stat(this.keyFile);
    const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.key && this.key.signature === signature) return this.key;
    const data = await fsp.readFile(this.keyFile);
    this.key = { signature, ...importKey(data) };
    return this.key;
  }
}

function importKey(data: Buffer): Omit<LoadedKey, 'signature'> {
  const text = data.toString('utf8');
  if (text.includes('-----BEGIN')) {
    try {
      const priv = createPrivateKey(data);
      const pub = createPublicKey(priv);
      const keyManagement = keyManagementFor(priv);
      return { verify: pub, decrypt: keyManagement.length > 0 ? priv : null, algorithms: algorithmsFor(pub), keyManagement };
    } catch {
      // not a private key: a public key or a certificate
    }
    const pub = createPublicKey(data);
    return { verify: pub, decrypt: null, algorithms: algorithmsFor(pub), keyManagement: [] };
  }
  const k = text.trim();
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(k)) throw new Error('not a PEM key and not a base64url JWK "k" value');
  const secret = createSecretKey(Buffer.from(k, 'base64url'));
  return { verify: secret, decrypt: secret, algorithms: ['HS256', 'HS384', 'HS512'], keyManagement: SECRET_KEY_MANAGEMENT };
}

/**
 * JWE key management a private key can serve: RSA-OAEP for RSA (not RSA1_5, whose padding
 * oracle RFC 8725 §3.2 warns about), ECDH-ES for EC. Ed25519 signs only: no JWE.
 */
function keyManagementFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512'];
    case 'ec':
      return ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];
    default:
      return [];
  }
}

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    case 'ed25519':
    case 'ed448':
      return ['EdDSA', 'Ed25519'];
    default:
      throw new Error(`unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}
