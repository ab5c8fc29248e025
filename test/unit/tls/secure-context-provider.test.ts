import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TlsConfig } from '../../../src/config/config.js';
import { TlsConfigError } from '../../../src/errors.js';
import { loadTlsMaterial, minVersionFor, SecureContextProvider } from '../../../src/tls/secure-context-provider.js';
import { captureLogger } from '../../support/capture-logger.js';
import { CertFactory, type Pair } from '../../support/openssl-certs.js';

function tlsConfig(over: Partial<TlsConfig>): TlsConfig {
  return {
    required: true,
    cert: '/nonexistent/self.pem',
    key: null,
    keyPassword: null,
    sslOnly: false,
    sslVersion: 'default',
    sslCiphers: null,
    verifyClient: false,
    cafile: null,
    watchIntervalMs: 0,
    ...over,
  };
}

describe('loading the certificate and key', () => {
  let certs: CertFactory;
  let selfPem: string;
  let server: Pair;
  let other: Pair;
  let encryptedKey: string;

  before(() => {
    certs = new CertFactory();
    selfPem = certs.selfPem('self');
    const ca = certs.ca('unit-ca');
    server = certs.signed('server', ca, 'server', 'localhost');
    other = certs.signed('other', ca, 'server', 'other');
    encryptedKey = certs.encryptKey(server.key, 's3cret pass', 'server-enc');
  });
  after(() => certs.cleanup());

  it('loads a self.pem holding both certificate and key', () => {
    const m = loadTlsMaterial(tlsConfig({ cert: selfPem }));
    assert.equal(m.subject, 'localhost');
    assert.equal(m.chainLength, 1);
    assert.match(m.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('names the missing certificate file', () => {
    const missing = certs.file('nope.pem');
    assert.throws(
      () => loadTlsMaterial(tlsConfig({ cert: missing })),
      (err: unknown) =>
        err instanceof TlsConfigError && err.code === 'WSFY_ERR_TLS_CONFIG' && err.message === `cannot read certificate file '${missing}': not found`,
    );
  });

  it('names an unreadable certificate file', () => {
    const locked = certs.concat('locked.pem', selfPem);
    fs.chmodSync(locked, 0o000);
    if (process.getuid?.() !== 0) {
      assert.throws(() => loadTlsMaterial(tlsConfig({ cert: locked })), new RegExp(`cannot read certificate file '${locked}': permission denied`));
      return;
    }
    // Root reads every file: load it as the unprivileged user `nobody` instead, in a child.
    const moduleUrl = new URL('../../../src/tls/secure-context-provider.js', import.meta.url).href;
    const script = `import(${JSON.stringify(moduleUrl)}).then((m) => { try { m.loadTlsMaterial(${JSON.stringify(tlsConfig({ cert: locked }))}); console.log('loaded'); } catch (e) { console.log(e.message); } });`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(out.stdout.trim(), `cannot read certificate file '${locked}': permission denied`, out.stderr);
  });

  it('says so when the certificate file holds no certificate', () => {
    const junk = certs.file('junk.pem');
    fs.writeFileSync(junk, 'hello\n');
    assert.throws(() => loadTlsMaterial(tlsConfig({ cert: junk })), new RegExp(`no certificate found in '${junk}'`));
  });

  it('asks for --key when the certificate file has no key', () => {
    assert.throws(
      () => loadTlsMaterial(tlsConfig({ cert: server.cert })),
      new RegExp(`no private key found in '${server.cert}'; put the key in that file after the certificate or give --key FILE`),
    );
  });

  it('loads a separate --key file', () => {
    assert.equal(loadTlsMaterial(tlsConfig({ cert: server.cert, key: server.key })).subject, 'localhost');
  });

  it('refuses a key that does not belong to the certificate, naming both files', () => {
    assert.throws(
      () => loadTlsMaterial(tlsConfig({ cert: server.cert, key: other.key })),
      (err: unknown) => err instanceof TlsConfigError && err.message === `the private key in '${other.key}' does not match the certificate in '${server.cert}'`,
    );
  });

  it('asks for a password when the key is encrypted and none is given', () => {
    assert.throws(() => loadTlsMaterial(tlsConfig({ cert: server.cert, key: encryptedKey })), new RegExp(`the private key in '${encryptedKey}' is encrypted`));
  });

  it('reports a wrong password naming the key file', () => {
    assert.throws(
      () => loadTlsMaterial(tlsConfig({ cert: server.cert, key: encryptedKey, keyPassword: 'wrong' })),
      (err: unknown) => err instanceof TlsConfigError && err.message === `wrong password for the private key in '${encryptedKey}'`,
    );
  });

  it('loads an encrypted key with the right password', () => {
    assert.equal(loadTlsMaterial(tlsConfig({ cert: server.cert, key: encryptedKey, keyPassword: 's3cret pass' })).subject, 'localhost');
  });

  it('refuses a cipher string that matches nothing', () => {
    assert.throws(() => loadTlsMaterial(tlsConfig({ cert: selfPem, sslCiphers: 'NOT-A-CIPHER' })), /--ssl-ciphers 'NOT-A-CIPHER' matches no cipher/);
  });

  it('names a missing --cafile', () => {
    const missing = certs.file('missing-ca.crt');
    assert.throws(
      () => loadTlsMaterial(tlsConfig({ cert: selfPem, verifyClient: true, cafile: missing })),
      new RegExp(`cannot read CA file '${missing}': not found`),
    );
  });

  it('maps --ssl-version to a minimum, TLS 1.2 by default', () => {
    assert.equal(minVersionFor('default'), 'TLSv1.2');
    assert.equal(minVersionFor('tlsv1_1'), 'TLSv1.1');
    assert.equal(minVersionFor('tlsv1_2'), 'TLSv1.2');
    assert.equal(minVersionFor('tlsv1_3'), 'TLSv1.3');
  });

  it('keeps the previous certificate when a reload finds a broken file, and logs why', () => {
    const file = certs.concat('rotating.pem', selfPem);
    const { logger, sink } = captureLogger();
    const lines = (): string[] => sink.records.map((r) => `${r.level} ${r.message}`);
    const provider = new SecureContextProvider(tlsConfig({ cert: file }), logger);
    const first = provider.current();
    fs.writeFileSync(file, 'garbage');
    assert.equal(provider.reload('SIGHUP'), false);
    assert.equal(provider.current(), first);
    assert.ok(
      lines().some((l) => l.startsWith('error tls: reload after SIGHUP failed, still serving the previous certificate: no certificate found')),
      lines().join('\n'),
    );
    fs.writeFileSync(file, fs.readFileSync(server.cert, 'utf8') + fs.readFileSync(server.key, 'utf8'));
    assert.equal(provider.reload('SIGHUP'), true);
    assert.notEqual(provider.current(), first);
    assert.equal(provider.reloadCount, 1);
    provider.close();
  });

  it('reloads by itself when the watched file changes', async () => {
    const file = certs.concat('watched.pem', selfPem);
    const { logger } = captureLogger();
    const provider = new SecureContextProvider(tlsConfig({ cert: file, watchIntervalMs: 50 }), logger, { settleMs: 20 });
    provider.watch();
    const reloaded = new Promise<string>((resolve) => provider.onReload((m) => resolve(m.subject)));
    // fs.watchFile takes its first stat asynchronously; a change before that would become the
    // baseline. Real rotations come long after start; here, wait a few poll intervals.
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Replace the file by rename, as certbot and deploy tools do.
    const tmp = certs.file('watched.tmp');
    fs.writeFileSync(tmp, fs.readFileSync(other.cert, 'utf8') + fs.readFileSync(other.key, 'utf8'));
    fs.renameSync(tmp, file);
    const subject = await Promise.race([reloaded, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no reload within 3 s')), 3000))]);
    assert.equal(subject, 'other');
    provider.close();
  });
});
