import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { runCli, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { get } from '../support/raw-http.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { CertFactory, type Pair } from '../support/openssl-certs.js';

function peerCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.destroy();
    });
    s.once('error', reject);
  });
}

function openWs(url: string, ca?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], { ...(ca ? { ca } : {}), rejectUnauthorized: ca !== undefined });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.send(Buffer.from(text));
  });
}

describe('TLS and the web server through the built CLI', () => {
  let certs: CertFactory;
  let target: TcpTarget;
  let selfPem: string;
  let server: Pair;
  let other: Pair;
  let encrypted: string;
  const procs: ProxyProcess[] = [];

  async function proxy(args: string[], env?: NodeJS.ProcessEnv): Promise<ProxyProcess> {
    const p = await startProxy(args, env ? { env: { ...process.env, ...env } } : {});
    procs.push(p);
    return p;
  }

  before(async () => {
    certs = new CertFactory();
    target = await startEchoTarget();
    selfPem = certs.selfPem('self');
    const ca = certs.ca('cli-ca');
    server = certs.signed('server', ca, 'server', 'localhost');
    other = certs.signed('other', ca, 'server', 'other');
    encrypted = certs.encryptKey(server.key, 'hunter2', 'enc');
  });
  after(async () => {
    for (const p of procs) await p.stop();
    await target.close();
    certs.cleanup();
  });

  it('carries ws:// and wss:// on one port with the README self.pem, and says so in the banner', async () => {
    const p = await proxy(['--cert', selfPem, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    assert.match(p.output(), /- SSL\/TLS support/);
    const ca = fs.readFileSync(selfPem, 'utf8');
    for (const url of [`ws://127.0.0.1:${p.port}/`, `wss://127.0.0.1:${p.port}/`]) {
      const ws = await openWs(url, url.startsWith('wss') ? ca : undefined);
      assert.equal(await echo(ws, `via ${url}`), `via ${url}`);
      ws.close();
    }
  });

  it('treats a first byte of 0x80 (SSLv2-style hello) as TLS, never as HTTP', async () => {
    const p = await proxy(['--cert', selfPem, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const net = await import('node:net');
    const answer = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(p.port, '127.0.0.1', () => {
        socket.write(Buffer.concat([Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02]), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
      });
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    assert.equal(answer.toString('latin1').includes('HTTP/1.1'), false);
    await p.waitForOutput(/SSL\/TLS handshake failed/);
  });

  it('refuses plain clients with --ssl-only', async () => {
    const p = await proxy(['--cert', server.cert, '--key', server.key, '--ssl-only', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    await assert.rejects(openWs(`ws://127.0.0.1:${p.port}/`));
    await p.waitForOutput(/non-SSL connection received but disallowed/);
  });

  it('--verify-client through the real front door: a CA-signed client gets through, others never reach HTTP', async () => {
    const clientCa = certs.ca('client-ca');
    const alice = certs.signed('alice', clientCa, 'client', 'alice');
    const mallory = certs.signed('mallory', certs.ca('rogue-ca'), 'client', 'mallory');
    const p = await proxy([
      '--cert',
      selfPem,
      '--verify-client',
      '--cafile',
      clientCa.cert,
      '--ssl-version',
      'tlsv1_3',
      '127.0.0.1:0',
      `127.0.0.1:${target.port}`,
    ]);
    const open = (pair: Pair | null): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`wss://127.0.0.1:${p.port}/`, ['binary'], {
          rejectUnauthorized: false,
          ...(pair ? { cert: fs.readFileSync(pair.cert), key: fs.readFileSync(pair.key) } : {}),
        });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    const ws = await open(alice);
    assert.equal(await echo(ws, 'alice here'), 'alice here');
    ws.close();
    await assert.rejects(open(null));
    await assert.rejects(open(mallory));
    // Without --ssl-only too: a plain ws:// client, which cannot show a certificate, is refused.
    await assert.rejects(openWs(`ws://127.0.0.1:${p.port}/`));
    await p.waitForOutput(/non-SSL connection received but disallowed/);
    await p.waitForOutput(/SSL\/TLS handshake failed: client certificate refused/);
    // Refused clients never got as far as a WebSocket request: alice's is the only one logged,
    // and only her session dialled the target. A fixed time: it proves no further line comes.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(p.output().match(/WebSocket connection/g)?.length, 1, p.output());
    assert.equal(p.output().match(/connecting to:/g)?.length, 1, p.output());
    // The minimum version holds on the same port: a TLS 1.2 client is refused.
    const old = await new Promise<string>((resolve) => {
      const s = tls.connect(
        {
          host: '127.0.0.1',
          port: p.port,
          rejectUnauthorized: false,
          maxVersion: 'TLSv1.2',
          cert: fs.readFileSync(alice.cert),
          key: fs.readFileSync(alice.key),
        },
        () => resolve('connected'),
      );
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.notEqual(old, 'connected');
  });

  const startErrors: Array<[string, () => string[], RegExp]> = [
    ['a missing --cert file', () => ['--cert', certs.file('missing.pem')], /cannot read certificate file '.*missing\.pem': not found/],
    ['a certificate without its key', () => ['--cert', server.cert], /no private key found in '.*server\.crt'/],
    [
      'a key that does not match',
      () => ['--cert', server.cert, '--key', other.key],
      /the private key in '.*other\.key' does not match the certificate in '.*server\.crt'/,
    ],
    ['a wrong key password', () => ['--cert', server.cert, '--key', encrypted, '--key-password', 'nope'], /wrong password for the private key in '.*enc\.key'/],
    ['an encrypted key without a password', () => ['--cert', server.cert, '--key', encrypted], /is encrypted; give its password/],
    ['a missing --ssl-target-ca', () => ['--ssl-target', '--ssl-target-ca', certs.file('nothing.crt')], /cannot read --ssl-target-ca file/],
    ['a missing --web directory', () => ['--web', certs.file('no-such-dir')], /web root '.*no-such-dir' not found/],
  ];
  for (const [what, args, message] of startErrors) {
    it(`exits 1 at start, naming the file, for ${what}`, async () => {
      const result = await runCli([...args(), '127.0.0.1:0', `127.0.0.1:${target.port}`]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.ok(!result.stderr.includes('hunter2') && !result.stderr.includes('nope'), 'a password reached the log');
    });
  }

  it('takes the key password from --key-password-file or WEBSOCKIFY_KEY_PASSWORD, never printing it', async () => {
    const pwFile = certs.file('pw.txt');
    fs.writeFileSync(pwFile, 'hunter2\n');
    const a = await proxy(['--cert', server.cert, '--key', encrypted, '--key-password-file', pwFile, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    assert.equal(await peerCn(a.port), 'localhost');
    const b = await proxy(['--cert', server.cert, '--key', encrypted, '127.0.0.1:0', `127.0.0.1:${target.port}`], { WEBSOCKIFY_KEY_PASSWORD: 'hunter2' });
    assert.equal(await peerCn(b.port), 'localhost');
    assert.ok(!a.output().includes('hunter2') && !b.output().includes('hunter2'));
  });

  it('reloads the certificate on SIGHUP without dropping a live wss session; a bad file keeps the old one', async () => {
    const rotating = certs.concat('rotating.pem', server.cert, server.key);
    const p = await proxy(['--cert', rotating, '--tls-watch-interval', '0', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const ws = await openWs(`wss://127.0.0.1:${p.port}/`, fs.readFileSync(certs.file('cli-ca.crt'), 'utf8'));
    assert.equal(await echo(ws, 'one'), 'one');
    assert.equal(await peerCn(p.port), 'localhost');

    fs.writeFileSync(rotating, fs.readFileSync(other.cert, 'utf8') + fs.readFileSync(other.key, 'utf8'));
    p.proc.kill('SIGHUP');
    await p.waitForOutput(/tls: reloaded after SIGHUP certificate .* for other/);
    assert.equal(await peerCn(p.port), 'other');
    assert.equal(await echo(ws, 'two'), 'two');

    fs.writeFileSync(rotating, fs.readFileSync(server.cert, 'utf8') + fs.readFileSync(other.key, 'utf8'));
    p.proc.kill('SIGHUP');
    await p.waitForOutput(/reload of TLS certificate failed, keeping the previous one: the private key .* does not match/);
    assert.equal(await peerCn(p.port), 'other');
    assert.equal(await echo(ws, 'three'), 'three');
    ws.close();
  });

  it('reloads by itself when the certificate file changes', async () => {
    const rotating = certs.concat('watched.pem', server.cert, server.key);
    const p = await proxy(['--cert', rotating, '--tls-watch-interval', '0.1', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    fs.writeFileSync(rotating, fs.readFileSync(other.cert, 'utf8') + fs.readFileSync(other.key, 'utf8'));
    await p.waitForOutput(/tls: reloaded after file change certificate .* for other/);
    assert.equal(await peerCn(p.port), 'other');
  });

  it('serves --web files over https on the proxy port, and 405 without --web', async () => {
    const dir = certs.file('www');
    fs.mkdirSync(dir);
    fs.writeFileSync(`${dir}/hello.txt`, 'hi there');
    const p = await proxy(['--cert', selfPem, '--web', dir, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${p.port}/hello.txt`, { ca: fs.readFileSync(selfPem) }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        })
        .on('error', reject);
    });
    assert.equal(body, '200 hi there');
    assert.equal((await get(p.port, '/../../etc/passwd')).status, 400);
    const plain = await proxy(['127.0.0.1:0', `127.0.0.1:${target.port}`]);
    assert.equal((await get(plain.port, '/hello.txt')).status, 405);
  });

  it('--ssl-target reaches a TLS target signed by a private CA only when --ssl-target-ca names it', async () => {
    const ca = certs.ca('target-ca');
    const leaf = certs.signed('vnc-target', ca, 'server', 'localhost');
    const tlsTarget = tls.createServer({ cert: fs.readFileSync(leaf.cert), key: fs.readFileSync(leaf.key) }, (s) => s.pipe(s));
    await new Promise<void>((resolve) => tlsTarget.listen(0, '127.0.0.1', resolve));
    const targetPort = (tlsTarget.address() as import('node:net').AddressInfo).port;
    try {
      const trusted = await proxy(['--ssl-target', '--ssl-target-ca', ca.cert, '127.0.0.1:0', `localhost:${targetPort}`]);
      const ws = await openWs(`ws://127.0.0.1:${trusted.port}/`);
      assert.equal(await echo(ws, 'over tls to the target'), 'over tls to the target');
      ws.close();

      const untrusted = await proxy(['--ssl-target', '127.0.0.1:0', `localhost:${targetPort}`]);
      const refused = await openWs(`ws://127.0.0.1:${untrusted.port}/`);
      const code = await new Promise<number>((resolve) => refused.once('close', (c: number) => resolve(c)));
      assert.equal(code, 1011);
      await untrusted.waitForOutput(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
    } finally {
      await new Promise((resolve) => tlsTarget.close(resolve));
    }
  });

  it('--web-auth asks page requests for the same credentials as the proxy', async () => {
    const dir = certs.file('auth-www');
    fs.mkdirSync(dir);
    fs.writeFileSync(`${dir}/index.html`, '<p>private</p>');
    const p = await proxy([
      '--web',
      dir,
      '--web-auth',
      '--auth-plugin',
      'BasicHTTPAuth',
      '--auth-source',
      'alice:s3cret',
      '127.0.0.1:0',
      `127.0.0.1:${target.port}`,
    ]);
    const refused = await get(p.port, '/');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Basic realm="Websockify"');
    assert.ok(!refused.body.toString().includes('private'));
    const wrong = await get(p.port, '/', `Authorization: Basic ${Buffer.from('alice:nope').toString('base64')}\r\n`);
    assert.ok(wrong.status === 401 || wrong.status === 403, String(wrong.status));
    const ok = await get(p.port, '/', `Authorization: Basic ${Buffer.from('alice:s3cret').toString('base64')}\r\n`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), '<p>private</p>');
    assert.ok(!p.output().includes('s3cret'));
  });

  it('never logs the password of a console link, even with -v', async () => {
    const p = await proxy(['-v', '--novnc', '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const res = await get(p.port, '/vnc.html?autoconnect=1&password=hunter2-in-link');
    assert.equal(res.status, 200);
    await p.waitForOutput(/GET \/vnc\.html\?autoconnect=1&password=\[redacted\]/);
    assert.ok(!p.output().includes('hunter2-in-link'));
  });

  it('streams a large file with backpressure: a client that stops reading does not grow the proxy', async (t) => {
    const dir = certs.file('big-www');
    fs.mkdirSync(dir);
    const size = 512 * 1024 * 1024;
    fs.closeSync(fs.openSync(`${dir}/big.iso`, 'w'));
    fs.truncateSync(`${dir}/big.iso`, size); // sparse: costs no disk
    const p = await proxy(['--web', dir, '127.0.0.1:0', `127.0.0.1:${target.port}`]);
    const before = p.rssKiB();
    const socket = (await import('node:net')).connect(p.port, '127.0.0.1');
    let received = -1;
    const firstChunk = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        if (received === -1) {
          received = d.length - (d.indexOf('\r\n\r\n') + 4);
          socket.pause();
          resolve();
        } else received += d.length;
      });
    });
    socket.write('GET /big.iso HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await firstChunk;
    // A fixed time on purpose: the memory is measured after the download has been stalled a while.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stalled = p.rssKiB();
    t.diagnostic(`proxy RSS ${before} KiB before, ${stalled} KiB with a 512 MiB download stalled`);
    assert.ok(stalled - before < 64 * 1024, `proxy grew by ${stalled - before} KiB while the client was not reading`);
    socket.resume();
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`received ${received} of ${size} bytes`)), 60_000);
      socket.once('close', () => {
        clearTimeout(deadline);
        resolve();
      });
    });
    assert.equal(received, size);
  });

  it('serves the built-in console and the noVNC core with `novnc --listen --vnc`, printing the URL', async () => {
    const p = await proxy(['novnc', '--listen', '127.0.0.1:0', '--vnc', `127.0.0.1:${target.port}`]);
    const line = await p.waitForOutput(/noVNC console: open /);
    assert.match(line, new RegExp(`http://127\\.0\\.0\\.1:${p.port}/vnc\\.html`));
    const page = await get(p.port, '/vnc.html');
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /<script type="module" src="\.\/console\.js">/);
    const core = await get(p.port, '/novnc-lib/core/rfb.js');
    assert.equal(core.status, 200);
    assert.equal(core.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(page.headers['content-security-policy'] ?? '', /script-src 'self';/);
    assert.equal((await get(p.port, '/novnc-lib/package.json')).status, 200);
    assert.equal((await get(p.port, '/novnc-lib/../../package.json')).status, 400);
    assert.equal((await get(p.port, '/')).status, 200);
  });
});
