import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { HttpRejection } from '../../../src/errors.js';
import { ClientCertCNAuth } from '../../../src/plugins/auth/client-cert-cn-auth.js';
import { captureLogger } from '../../support/capture-logger.js';
import { tempDir } from '../../support/temp-dir.js';

function openssl(cwd: string, ...args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed (is the Debian package openssl installed?): ${(err as Error).message}`);
  }
}

/**
 * Real certificates and a real TLS handshake: the CN reaches ClientCertCNAuth only through the
 * verified peer certificate, the way the TLS layer hands it over (socket.authorized, then
 * getPeerCertificate()); a spoofed SSL_CLIENT_S_DN_CN header is sent along every time.
 */
describe('ClientCertCNAuth with real TLS client certificates', () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: tls.Server;
  let port: number;
  const decisions: Array<{ authorized: boolean; status: number | 'allowed' }> = [];
  const plugin = ClientCertCNAuth.create('alice bob', { logger: captureLogger().logger, timeoutMs: 1000 });

  before(async () => {
    tmp = tempDir();
    const d = tmp.dir;
    openssl(d, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test-ca');
    const leaf = (name: string, cn: string, signed: boolean) => {
      openssl(d, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      if (signed) openssl(d, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2');
      else openssl(d, 'x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}.key`, '-out', `${name}.pem`, '-days', '2');
    };
    leaf('server', 'localhost', true);
    leaf('alice', 'alice', true);
    leaf('mallory', 'mallory', true);
    leaf('forged-alice', 'alice', false);
    const file = (n: string) => readFileSync(path.join(d, n));
    server = tls.createServer(
      { key: file('server.key'), cert: file('server.pem'), ca: file('ca.pem'), requestCert: true, rejectUnauthorized: false },
      (socket) => {
        const peer = socket.authorized ? socket.getPeerCertificate() : null;
        void plugin
          .authenticate({
            headers: { ssl_client_s_dn_cn: 'alice', SSL_CLIENT_S_DN_CN: 'bob' } as never,
            method: 'GET',
            url: '/',
            clientAddress: '127.0.0.1',
            peerCertificate: peer,
            target: null,
          })
          .then(
            () => 'allowed' as const,
            (err: unknown) => (err instanceof HttpRejection ? err.httpStatus! : 500),
          )
          .then((status) => {
            decisions.push({ authorized: socket.authorized, status });
            socket.end(String(status));
          });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    tmp.cleanup();
  });

  function connectWith(name: string | null): Promise<string> {
    const file = (n: string) => readFileSync(path.join(tmp.dir, n));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        port,
        host: '127.0.0.1',
        ca: file('ca.pem'),
        servername: 'localhost',
        ...(name ? { key: file(`${name}.key`), cert: file(`${name}.pem`) } : {}),
      });
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      socket.once('end', () => resolve(answer));
      socket.once('error', reject);
    });
  }

  it('allows a verified certificate whose CN is listed', async () => {
    assert.equal(await connectWith('alice'), 'allowed');
  });

  it('refuses a verified certificate with another CN, despite spoofed headers naming alice and bob', async () => {
    assert.equal(await connectWith('mallory'), '403');
  });

  it('refuses a self-signed certificate claiming CN=alice (not verified), and no certificate at all', async () => {
    assert.equal(await connectWith('forged-alice'), '403');
    assert.equal(await connectWith(null), '403');
    assert.ok(decisions.some((d) => !d.authorized && d.status === 403));
  });
});
