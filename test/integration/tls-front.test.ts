import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { TlsConfig } from '../../src/config/config.js';
import { SecureContextProvider } from '../../src/tls/secure-context-provider.js';
import { loadTargetTls, targetTlsConnectOptions } from '../../src/tls/target-tls.js';
import { captureLogger } from '../support/capture-logger.js';
import { startMiniFront, type MiniFront } from '../support/mini-front.js';
import { CertFactory, type Pair } from '../support/openssl-certs.js';

function tlsConfig(over: Partial<TlsConfig>): TlsConfig {
  return {
    required: true,
    cert: '',
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

interface Answer {
  encrypted: boolean;
  protocol: string | null;
  client: string | null;
}

function getJson(url: string, options: https.RequestOptions = {}): Promise<Answer> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(JSON.parse(body) as Answer));
    });
    req.on('error', reject);
  });
}

/** Opens a TLS connection and resolves with the handshake outcome. */
function tryTls(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ ok: boolean; protocol: string | null; error: string | null; peerCn: string | null; chain: string[] }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    let done = false;
    const finish = (ok: boolean, error: string | null): void => {
      if (done) return;
      done = true;
      const chain: string[] = [];
      let peer: tls.DetailedPeerCertificate | undefined = ok ? socket.getPeerCertificate(true) : undefined;
      while (peer && peer.subject && chain.length < 5) {
        chain.push(String(peer.subject.CN));
        if (peer.issuerCertificate === peer) break;
        peer = peer.issuerCertificate;
      }
      resolve({ ok, protocol: ok ? socket.getProtocol() : null, error, peerCn: chain[0] ?? null, chain });
      socket.destroy();
    };
    socket.once('secureConnect', () => finish(true, null));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    socket.once('close', () => finish(false, 'closed'));
  });
}

describe('TLS and plain traffic on one port', () => {
  let certs: CertFactory;
  let rootCa: Pair;
  let clientCa: Pair;
  let alice: Pair;
  let mallory: Pair;
  let chainFile: string;
  let serverKey: string;
  let rootPem: string;
  const fronts: MiniFront[] = [];
  const providers: SecureContextProvider[] = [];

  async function front(config: Partial<TlsConfig>, options: { sslOnly?: boolean; verifyClient?: boolean; handshakeTimeoutMs?: number } = {}) {
    const provider = new SecureContextProvider(tlsConfig({ cert: chainFile, key: serverKey, ...config }), captureLogger().logger);
    providers.push(provider);
    const f = await startMiniFront(provider, options);
    fronts.push(f);
    return { front: f, provider };
  }

  before(() => {
    certs = new CertFactory();
    rootCa = certs.ca('root-ca');
    const intermediate = certs.signed('intermediate-ca', rootCa, 'ca');
    const server = certs.signed('server', intermediate, 'server', 'localhost');
    // Server certificate first, then the intermediate, as docs/tls.md tells users to build a chain.
    chainFile = certs.concat('chain.pem', server.cert, intermediate.cert);
    serverKey = server.key;
    rootPem = fs.readFileSync(rootCa.cert, 'utf8');
    clientCa = certs.ca('client-ca');
    alice = certs.signed('alice', clientCa, 'client', 'alice');
    const otherCa = certs.ca('other-ca');
    mallory = certs.signed('mallory', otherCa, 'client', 'mallory');
  });
  after(async () => {
    for (const f of fronts) await f.close();
    for (const p of providers) p.close();
    certs.cleanup();
  });

  it('answers http and https on the same port, telling them apart by the first byte', async () => {
    const { front: f } = await front({});
    assert.deepEqual(await getJson(`http://127.0.0.1:${f.port}/`), { encrypted: false, protocol: null, client: null });
    const secure = await getJson(`https://127.0.0.1:${f.port}/`, { ca: rootPem });
    assert.equal(secure.encrypted, true);
    assert.match(String(secure.protocol), /^TLSv1\.[23]$/);
  });

  it('carries ws:// and wss:// on the same port', async () => {
    const { front: f } = await front({});
    for (const url of [`ws://127.0.0.1:${f.port}/`, `wss://127.0.0.1:${f.port}/`]) {
      const ws = new WebSocket(url, { ca: rootPem });
      const echoed = await new Promise<Buffer>((resolve, reject) => {
        ws.once('open', () => ws.send(Buffer.from([1, 2, 3, 0xff])));
        ws.once('message', (data) => resolve(data as Buffer));
        ws.once('error', reject);
      });
      assert.deepEqual([...echoed], [1, 2, 3, 0xff], url);
      ws.close();
    }
  });

  it('sends the whole chain from one file, so a client trusting only the root verifies it', async () => {
    const { front: f } = await front({});
    const result = await tryTls(f.port, { ca: rootPem, rejectUnauthorized: true, servername: 'localhost' });
    assert.equal(result.ok, true, String(result.error));
    assert.deepEqual(result.chain.slice(0, 3), ['localhost', 'intermediate-ca', 'root-ca']);
  });

  it('refuses plain connections under --ssl-only without sending a byte, and still serves TLS', async () => {
    const { front: f } = await front({ sslOnly: true }, { sslOnly: true });
    const received = await new Promise<number>((resolve) => {
      const socket = net.connect(f.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let bytes = 0;
      socket.on('data', (d) => (bytes += d.length));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(bytes));
    });
    assert.equal(received, 0);
    assert.equal((await getJson(`https://127.0.0.1:${f.port}/`, { ca: rootPem })).encrypted, true);
  });

  describe('--verify-client', () => {
    it('admits a client whose certificate the --cafile CA signed, and knows its name', async () => {
      const { front: f } = await front({ verifyClient: true, cafile: clientCa.cert }, { verifyClient: true });
      const answer = await getJson(`https://127.0.0.1:${f.port}/`, { ca: rootPem, cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key) });
      assert.deepEqual(answer.client, 'alice');
    });

    it('refuses a client without a certificate at the handshake', async () => {
      const { front: f } = await front({ verifyClient: true, cafile: clientCa.cert }, { verifyClient: true });
      await assert.rejects(getJson(`https://127.0.0.1:${f.port}/`, { ca: rootPem }));
      assert.ok(f.failures.length >= 1);
    });

    it('refuses a client whose certificate another CA signed, before any request is answered', async () => {
      const { front: f } = await front({ verifyClient: true, cafile: clientCa.cert }, { verifyClient: true });
      await assert.rejects(getJson(`https://127.0.0.1:${f.port}/`, { ca: rootPem, cert: fs.readFileSync(mallory.cert), key: fs.readFileSync(mallory.key) }));
      assert.ok(
        f.failures.some((m) => m.startsWith('client certificate refused:')),
        f.failures.join('; '),
      );
    });
  });

  describe('minimum TLS version', () => {
    it('refuses a TLS 1.1 client by default (minimum TLS 1.2)', async () => {
      const { front: f } = await front({});
      const old = await tryTls(f.port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
      assert.equal(old.ok, false);
      const current = await tryTls(f.port, { maxVersion: 'TLSv1.2' });
      assert.equal(current.protocol, 'TLSv1.2');
    });

    it('refuses a TLS 1.2 client under --ssl-version tlsv1_3', async () => {
      const { front: f } = await front({ sslVersion: 'tlsv1_3' });
      const result = await tryTls(f.port, { maxVersion: 'TLSv1.2' });
      assert.equal(result.ok, false);
      assert.equal((await tryTls(f.port, {})).protocol, 'TLSv1.3');
    });

    it('really admits TLS 1.1 when --ssl-version tlsv1_1 asks for it', async () => {
      const { front: f } = await front({ sslVersion: 'tlsv1_1' });
      const result = await tryTls(f.port, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
      assert.equal(result.protocol, 'TLSv1.1', String(result.error));
    });
  });

  it('cuts off a TLS handshake that stalls', async () => {
    const { front: f } = await front({}, { handshakeTimeoutMs: 300 });
    const started = Date.now();
    await new Promise<void>((resolve) => {
      const socket = net.connect(f.port, '127.0.0.1', () => socket.write(Buffer.from([0x16, 0x03, 0x01])));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `closed after ${elapsed} ms`);
    assert.ok(
      f.failures.some((m) => m.includes('tls handshake not finished within 300 ms')),
      f.failures.join('; '),
    );
  });

  it('serves a new certificate after reload while a live wss session keeps working', async () => {
    const rotating = certs.concat('rotating.pem', chainFile, serverKey);
    const { front: f, provider } = await front({ cert: rotating, key: null });
    const ws = new WebSocket(`wss://127.0.0.1:${f.port}/`, { ca: rootPem });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const echo = (text: string): Promise<string> =>
      new Promise((resolve) => {
        ws.once('message', (d) => resolve(String(d)));
        ws.send(text);
      });
    assert.equal(await echo('before'), 'before');

    const fresh = certs.selfPem('fresh', 'fresh.example');
    fs.writeFileSync(rotating, fs.readFileSync(fresh));
    assert.equal(provider.reload('SIGHUP'), true);
    assert.equal((await tryTls(f.port, {})).peerCn, 'fresh.example');
    assert.equal(await echo('after reload'), 'after reload');

    fs.writeFileSync(rotating, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    assert.equal(provider.reload('SIGHUP'), false);
    assert.equal((await tryTls(f.port, {})).peerCn, 'fresh.example');
    assert.equal(await echo('after failed reload'), 'after failed reload');
    ws.close();
  });
});

describe('--ssl-target client options', () => {
  let certs: CertFactory;
  let server: tls.Server;
  let port: number;
  let caFile: string;

  before(async () => {
    certs = new CertFactory();
    const ca = certs.ca('target-ca');
    caFile = ca.cert;
    const leaf = certs.signed('target', ca, 'server', 'localhost');
    server = tls.createServer({ cert: fs.readFileSync(leaf.cert), key: fs.readFileSync(leaf.key) }, (s) => s.end('vnc'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    certs.cleanup();
  });

  function dial(host: string, options: tls.ConnectionOptions): Promise<string> {
    return new Promise((resolve) => {
      const s = tls.connect({ ...options, host: '127.0.0.1', port });
      s.once('secureConnect', () => resolve('ok'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.on('data', () => s.destroy());
      void host;
    });
  }

  it('fails against a private CA by default, as the reference', async () => {
    assert.equal(
      await dial('localhost', targetTlsConnectOptions(loadTargetTls({ caFile: null, insecure: false }), 'localhost')),
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    );
  });

  it('trusts the private CA given with --ssl-target-ca, checking the name', async () => {
    const settings = loadTargetTls({ caFile, insecure: false });
    assert.equal(await dial('localhost', targetTlsConnectOptions(settings, 'localhost')), 'ok');
    assert.equal(await dial('127.0.0.1', targetTlsConnectOptions(settings, '127.0.0.1')), 'ok');
    assert.equal(await dial('wrong', { ...targetTlsConnectOptions(settings, 'wrong.example'), servername: 'wrong.example' }), 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('skips every check only with --ssl-target-insecure', async () => {
    assert.equal(await dial('wrong', targetTlsConnectOptions(loadTargetTls({ caFile: null, insecure: true }), 'wrong.example')), 'ok');
  });

  it('names a missing --ssl-target-ca file at start', () => {
    assert.throws(() => loadTargetTls({ caFile: certs.file('none.crt'), insecure: false }), /cannot read --ssl-target-ca file '.*none\.crt': ENOENT/);
  });
});
