import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { createPublicKey, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CompactEncrypt, SignJWT } from 'jose';
import { JWTTokenApi } from '../../../src/plugins/token/jwt-token-api.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

const CLAIMS = { host: 'remote_host', port: 5900 };
const TARGET = { kind: 'tcp', host: 'remote_host', port: 5900 };

function sign(claims: Record<string, unknown>, alg: string, key: KeyObject): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('JWTTokenApi with real signed and encrypted tokens', () => {
  let tmp: ReturnType<typeof tempDir>;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const files: Record<string, string> = {};
  // The reference's fixture semantics: the file holds the JWK `k` (base64url), not raw bytes.
  const hsText = 'secret_sauce';
  const hsKey = createSecretKey(Buffer.from(hsText, 'base64url'));
  const aesText = randomBytes(32).toString('base64url');
  const aesKey = createSecretKey(Buffer.from(aesText, 'base64url'));

  before(() => {
    tmp = tempDir();
    const put = (name: string, text: string) => {
      files[name] = path.join(tmp.dir, name);
      writeFileSync(files[name]!, text);
    };
    put('private.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    put('public.pem', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    put('ec-public.pem', ec.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    put('ec-private.pem', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    put('symmetric.key', hsText + '\n');
    put('aes.key', aesText);
    put('garbage.key', 'this is not a key!');
  });
  after(() => tmp.cleanup());

  const make = (file: string, now?: Date) =>
    JWTTokenApi.create(files[file]!, { logger: captureLogger().logger, timeoutMs: 1000 }, now ? { now: () => now } : {});

  it('accepts an RS256 token verified with public.pem', async () => {
    const plugin = await make('public.pem');
    assert.deepEqual(await plugin.lookup(await sign(CLAIMS, 'RS256', rsa.privateKey)), TARGET);
  });

  it('accepts an RS256 token verified with the private key file (its public half)', async () => {
    const plugin = await make('private.pem');
    assert.deepEqual(await plugin.lookup(await sign(CLAIMS, 'RS256', rsa.privateKey)), TARGET);
  });

  it('accepts an ES256 token verified with an EC public key', async () => {
    const plugin = await make('ec-public.pem');
    assert.deepEqual(await plugin.lookup(await sign({ host: '::1', port: '5901' }, 'ES256', ec.privateKey)), { kind: 'tcp', host: '::1', port: 5901 });
  });

  it('accepts an HS256 token whose key file holds the base64url k value', async () => {
    const plugin = await make('symmetric.key');
    assert.deepEqual(await plugin.lookup(await sign(CLAIMS, 'HS256', hsKey)), TARGET);
    const asciiKey = createSecretKey(Buffer.from(hsText));
    assert.equal(await plugin.lookup(await sign(CLAIMS, 'HS256', asciiKey)), null, 'the ASCII bytes are not the key');
  });

  it('rejects a token signed by another key', async () => {
    const plugin = await make('public.pem');
    assert.equal(await plugin.lookup(await sign(CLAIMS, 'RS256', other.privateKey)), null);
  });

  it('checks nbf and exp strictly against the clock (reference nbf=100, exp=200 cases)', async () => {
    const token = await sign({ ...CLAIMS, nbf: 100, exp: 200 }, 'RS256', rsa.privateKey);
    assert.deepEqual(await (await make('public.pem', new Date(150_000))).lookup(token), TARGET);
    assert.equal(await (await make('public.pem', new Date(50_000))).lookup(token), null);
    assert.equal(await (await make('public.pem', new Date(250_000))).lookup(token), null);
  });

  it('refuses alg none, even with valid-looking claims', async () => {
    const plugin = await make('symmetric.key');
    assert.equal(await plugin.lookup(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(CLAIMS)}.`), null);
  });

  it('refuses HS256 signed with the public key text as the secret (algorithm confusion)', async () => {
    const plugin = await make('public.pem');
    const pemAsSecret = createSecretKey(Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string));
    assert.equal(await plugin.lookup(await sign(CLAIMS, 'HS256', pemAsSecret)), null);
  });

  it('accepts an RSA-OAEP JWE whose payload is a signed JWT, with the private key', async () => {
    const inner = await sign(CLAIMS, 'RS256', rsa.privateKey);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
      .encrypt(createPublicKey(rsa.privateKey));
    assert.deepEqual(await (await make('private.pem')).lookup(jwe), TARGET);
    // A public key cannot decrypt: unknown token, no crash.
    assert.equal(await (await make('public.pem')).lookup(jwe), null);
  });

  it('accepts a symmetric dir/A256GCM JWE wrapping an HS256 JWT', async () => {
    const inner = await sign(CLAIMS, 'HS256', aesKey);
    const jwe = await new CompactEncrypt(new TextEncoder().encode(inner)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(aesKey);
    assert.deepEqual(await (await make('aes.key')).lookup(jwe), TARGET);
  });

  it('refuses a PBES2 JWE before any key derivation, even one that would decrypt and verify', async () => {
    const { logger, sink } = captureLogger();
    const plugin = await JWTTokenApi.create(files['aes.key']!, { logger, timeoutMs: 1000 });
    // A genuine token: PBES2 with the key file's bytes as the password, wrapping a valid JWT.
    const inner = await sign(CLAIMS, 'HS256', aesKey);
    const pbes2 = await new CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM' })
      .setKeyManagementParameters({ p2c: 10_000, p2s: randomBytes(16) })
      .encrypt(aesKey.export());
    assert.equal(await plugin.lookup(pbes2), null);
    // A forged one: garbage key and cipher text. Had the key been derived and unwrapped, the
    // reason would be a failed decryption; it is the algorithm, checked first.
    const forged = [
      b64url({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 10_000, p2s: randomBytes(16).toString('base64url') }),
      randomBytes(40).toString('base64url'),
      randomBytes(12).toString('base64url'),
      randomBytes(32).toString('base64url'),
      randomBytes(16).toString('base64url'),
    ].join('.');
    assert.equal(await plugin.lookup(forged), null);
    const reasons = sink.records.map((r) => r.fields?.['reason']);
    assert.deepEqual(reasons, ['ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JOSE_ALG_NOT_ALLOWED']);
  });

  it('accepts the key management each key type serves: A256KW with a secret, ECDH-ES with an EC private key', async () => {
    const inner = await sign(CLAIMS, 'HS256', aesKey);
    const kw = await new CompactEncrypt(new TextEncoder().encode(inner)).setProtectedHeader({ alg: 'A256KW', enc: 'A128CBC-HS256' }).encrypt(aesKey);
    assert.deepEqual(await (await make('aes.key')).lookup(kw), TARGET);
    const ecInner = await sign(CLAIMS, 'ES256', ec.privateKey);
    const ecdh = await new CompactEncrypt(new TextEncoder().encode(ecInner))
      .setProtectedHeader({ alg: 'ECDH-ES+A128KW', enc: 'A128GCM' })
      .encrypt(ec.publicKey);
    assert.deepEqual(await (await make('ec-private.pem')).lookup(ecdh), TARGET);
  });

  it('refuses, as not allowed and before any key handling, a JWE whose key management does not fit the key file', async () => {
    const inner = await sign(CLAIMS, 'HS256', aesKey);
    const encrypt = (alg: string, key: KeyObject) =>
      new CompactEncrypt(new TextEncoder().encode(inner)).setProtectedHeader({ alg, enc: 'A256GCM' }).encrypt(key);
    const cases: Array<[string, string]> = [
      ['private.pem', await encrypt('A256KW', aesKey)],
      ['private.pem', await encrypt('dir', aesKey)],
      ['ec-private.pem', await encrypt('RSA-OAEP-256', rsa.publicKey)],
      ['aes.key', await encrypt('RSA-OAEP-256', rsa.publicKey)],
      ['aes.key', await encrypt('ECDH-ES', ec.publicKey)],
    ];
    for (const [file, jwe] of cases) {
      const { logger, sink } = captureLogger();
      const plugin = await JWTTokenApi.create(files[file]!, { logger, timeoutMs: 1000 });
      assert.equal(await plugin.lookup(jwe), null, file);
      assert.deepEqual(
        sink.records.map((r) => r.fields?.['reason']),
        ['ERR_JOSE_ALG_NOT_ALLOWED'],
        `${file}: ${sink.text()}`,
      );
    }
  });

  it('refuses a JWE that carries plain JSON claims instead of a signed JWT (as the reference)', async () => {
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(CLAIMS)))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
      .encrypt(createPublicKey(rsa.privateKey));
    assert.equal(await (await make('private.pem')).lookup(jwe), null);
  });

  it('answers null for a token without host/port claims and for garbage', async () => {
    const plugin = await make('public.pem');
    assert.equal(await plugin.lookup(await sign({ sub: 'x' }, 'RS256', rsa.privateKey)), null);
    assert.equal(await plugin.lookup('not-a-jwt'), null);
    assert.equal(await plugin.lookup('a.b.c'), null);
  });

  it('logs why a token was rejected without logging the token', async () => {
    const { logger, sink } = captureLogger();
    const plugin = await JWTTokenApi.create(files['public.pem']!, { logger, timeoutMs: 1000 });
    const token = await sign(CLAIMS, 'RS256', other.privateKey);
    assert.equal(await plugin.lookup(token), null);
    assert.match(sink.text(), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    assert.ok(!sink.text().includes(token.split('.')[2]!));
  });

  it('refuses to start with a missing or unusable key file, naming it', async () => {
    const { logger } = captureLogger();
    await assert.rejects(JWTTokenApi.create(path.join(tmp.dir, 'absent.pem'), { logger, timeoutMs: 1000 }), /absent\.pem/);
    await assert.rejects(JWTTokenApi.create(files['garbage.key']!, { logger, timeoutMs: 1000 }), /not a PEM key/);
  });

  it('picks up a replaced key file on the next lookup', async () => {
    const file = path.join(tmp.dir, 'rotating.pem');
    writeFileSync(file, rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const plugin = await JWTTokenApi.create(file, { logger: captureLogger().logger, timeoutMs: 1000 });
    const byOther = await sign(CLAIMS, 'RS256', other.privateKey);
    assert.equal(await plugin.lookup(byOther), null);
    writeFileSync(file, other.publicKey.export({ type: 'spki', format: 'pem' }) as string);
    assert.deepEqual(await plugin.lookup(byOther), TARGET);
  });
});
