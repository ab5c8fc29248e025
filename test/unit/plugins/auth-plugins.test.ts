import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { ConfigError, HttpRejection } from '../../../src/errors.js';
import type { AuthRequest } from '../../../src/plugins/auth/auth-plugin.js';
import { AuthChain } from '../../../src/plugins/auth/auth-chain.js';
import { BasicHTTPAuth } from '../../../src/plugins/auth/basic-http-auth.js';
import { ClientCertCNAuth } from '../../../src/plugins/auth/client-cert-cn-auth.js';
import { ExpectOrigin } from '../../../src/plugins/auth/expect-origin.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

const ctx = () => ({ logger: captureLogger().logger, timeoutMs: 1000 });

function request(headers: Record<string, string>, peerCertificate: PeerCertificate | null = null): AuthRequest {
  return { headers, method: 'GET', url: '/', clientAddress: '127.0.0.1', peerCertificate, target: null };
}

async function status(promise: Promise<void>): Promise<number | 'allowed'> {
  try {
    await promise;
    return 'allowed';
  } catch (err) {
    assert.ok(err instanceof HttpRejection, `expected an HttpRejection, got ${String(err)}`);
    return err.httpStatus!;
  }
}

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

describe('BasicHTTPAuth (reference tests/test_auth_plugins.py, plus fixes)', () => {
  const plugin = BasicHTTPAuth.create('Aladdin:open sesame', ctx());

  it('demands credentials with 401 and the Websockify realm when there is no header', async () => {
    await assert.rejects(plugin.authenticate(request({})), (err: unknown) => {
      assert.ok(err instanceof HttpRejection);
      assert.equal(err.httpStatus, 401);
      assert.deepEqual(err.headers, { 'WWW-Authenticate': 'Basic realm="Websockify"' });
      return true;
    });
  });

  it('allows the reference credentials QWxhZGRpbjpvcGVuIHNlc2FtZQ==', async () => {
    assert.equal(await status(plugin.authenticate(request({ authorization: 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==' }))), 'allowed');
  });

  const CASES: Array<[string, string, number]> = [
    ['a wrong password', basic('Aladdin:open sesamE'), 401],
    ['a wrong user', basic('aladdin:open sesame'), 401],
    ['a prefix of the password', basic('Aladdin:open'), 401],
    ['garbage base64 of 28 x (no colon once decoded)', `Basic ${'x'.repeat(28)}`, 403],
    ['bad base64 padding (the reference crashed)', 'Basic abc', 403],
    ['base64 with characters outside the alphabet', 'Basic QWxh*GRpbjpvcGVu', 403],
    ['another scheme', 'Bearer abc', 403],
    ['a bare scheme', 'Basic', 403],
    ['an empty credential', 'Basic ', 403],
  ];
  for (const [what, header, expected] of CASES) {
    it(`answers ${expected} for ${what}`, async () => {
      assert.equal(await status(plugin.authenticate(request({ authorization: header }))), expected);
    });
  }

  it('matches the scheme name case-insensitively (RFC 7235)', async () => {
    assert.equal(await status(plugin.authenticate(request({ authorization: 'basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==' }))), 'allowed');
  });

  it('accepts a password containing colons and UTF-8', async () => {
    const p = BasicHTTPAuth.create('ünï:pa:ss', ctx());
    assert.equal(await status(p.authenticate(request({ authorization: basic('ünï:pa:ss') }))), 'allowed');
  });

  describe('credentials from a file (@FILE)', () => {
    let tmp: ReturnType<typeof tempDir>;
    before(() => {
      tmp = tempDir();
      writeFileSync(path.join(tmp.dir, 'users'), '# who may connect\nalice:wonder land\r\n\nbob:b:o:b\n');
      writeFileSync(path.join(tmp.dir, 'empty'), '# nobody\n');
      writeFileSync(path.join(tmp.dir, 'nocolon'), 'alice\n');
    });
    after(() => tmp.cleanup());

    it('accepts every user:password line of the file', async () => {
      const p = BasicHTTPAuth.create(`@${tmp.dir}/users`, ctx());
      assert.equal(await status(p.authenticate(request({ authorization: basic('alice:wonder land') }))), 'allowed');
      assert.equal(await status(p.authenticate(request({ authorization: basic('bob:b:o:b') }))), 'allowed');
      assert.equal(await status(p.authenticate(request({ authorization: basic('alice:b:o:b') }))), 401);
    });

    it('refuses to start with a missing, empty or malformed file', () => {
      assert.throws(() => BasicHTTPAuth.create(`@${tmp.dir}/absent`, ctx()), /cannot read credentials file/);
      assert.throws(() => BasicHTTPAuth.create(`@${tmp.dir}/empty`, ctx()), /no credentials/);
      assert.throws(() => BasicHTTPAuth.create(`@${tmp.dir}/nocolon`, ctx()), /user:password/);
      assert.throws(() => BasicHTTPAuth.create(null, ctx()), ConfigError);
    });
  });
});

describe('ExpectOrigin', () => {
  const plugin = ExpectOrigin.create('https://a.example  https://b.example:8443', ctx());
  it('allows a listed origin', async () => {
    assert.equal(await status(plugin.authenticate(request({ origin: 'https://b.example:8443' }))), 'allowed');
  });
  for (const origin of [undefined, 'https://evil.example', 'https://a.example.evil', 'null', 'https://a.example/']) {
    it(`answers 403 Invalid Origin for ${JSON.stringify(origin)}`, async () => {
      await assert.rejects(plugin.authenticate(request(origin === undefined ? {} : { origin })), (err: unknown) => {
        assert.ok(err instanceof HttpRejection);
        assert.equal(err.httpStatus, 403);
        assert.equal(err.message, 'Invalid Origin');
        return true;
      });
    });
  }
  it('refuses to start with an empty list', () => {
    assert.throws(() => ExpectOrigin.create('  ', ctx()), ConfigError);
  });
});

describe('ClientCertCNAuth takes the CN from the verified certificate only', () => {
  const plugin = ClientCertCNAuth.create('alice bob', ctx());
  const cert = (CN: unknown) => ({ subject: { CN } }) as unknown as PeerCertificate;

  it('allows a listed CN from the peer certificate', async () => {
    assert.equal(await status(plugin.authenticate(request({}, cert('alice')))), 'allowed');
  });

  for (const name of ['SSL_CLIENT_S_DN_CN', 'ssl_client_s_dn_cn', 'Ssl_Client_S_Dn_Cn', 'sSL_cLIENT_s_dN_cN']) {
    it(`ignores a spoofed ${name} header without a certificate (the reference's auth bypass)`, async () => {
      assert.equal(await status(plugin.authenticate(request({ [name.toLowerCase()]: 'alice' }))), 403);
    });
  }

  it('ignores a spoofed header that names a listed CN when the certificate names another', async () => {
    assert.equal(await status(plugin.authenticate(request({ ssl_client_s_dn_cn: 'alice' }, cert('mallory')))), 403);
  });

  it('refuses a certificate with several CNs or none', async () => {
    assert.equal(await status(plugin.authenticate(request({}, cert(['alice', 'bob'])))), 403);
    assert.equal(await status(plugin.authenticate(request({}, cert(undefined)))), 403);
  });
});

describe('AuthChain', () => {
  it('requires every check to allow and answers the first refusal', async () => {
    const chain = new AuthChain([BasicHTTPAuth.create('u:p', ctx()), ExpectOrigin.create('https://ok.example', ctx())]);
    assert.equal(await status(chain.authenticate(request({ authorization: basic('u:p'), origin: 'https://ok.example' }))), 'allowed');
    assert.equal(await status(chain.authenticate(request({ origin: 'https://ok.example' }))), 401);
    assert.equal(await status(chain.authenticate(request({ authorization: basic('u:p'), origin: 'https://evil.example' }))), 403);
  });
});
