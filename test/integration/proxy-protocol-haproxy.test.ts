import { test, before, after } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { acceptProxyProtocol, buildProxyV2Header, type ProxyHeader } from '../../src/server/proxy-protocol.js';
import { TrustedProxies } from '../../src/server/trusted-proxies.js';
import { waitFor } from '../support/wait.js';

/*
 * A real haproxy (Debian package haproxy) on ephemeral ports: it sends PROXY v1 and v2 headers
 * to our listener (`send-proxy`, `send-proxy-v2`), and parses the v2 header we build
 * (`accept-proxy`), reporting the source it read as X-Forwarded-For.
 */
let dir = '';
let haproxy: ChildProcess | null = null;
let ours: net.Server;
let untrustedOurs: net.Server;
let httpBackend: http.Server;
const ports: Record<string, number> = {};

async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Our side: parse the header, then echo back what we saw and the first bytes after it. */
function headerEcho(trusted: TrustedProxies): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined); // readiness probes reset their connections
    acceptProxyProtocol(socket, (a) => trusted.isTrusted(a), 2000).then(
      (header: ProxyHeader) => {
        socket.once('data', (rest) => socket.end(JSON.stringify({ header, rest: rest.toString() })));
        socket.resume();
      },
      (err: Error) => socket.end(JSON.stringify({ error: err.message })),
    );
  });
}

async function listen(server: net.Server | http.Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as net.AddressInfo).port;
}

before(async () => {
  ours = headerEcho(new TrustedProxies(['127.0.0.1', '::1']));
  untrustedOurs = headerEcho(new TrustedProxies(['10.0.0.0/8']));
  httpBackend = http.createServer((req, res) => res.end(String(req.headers['x-forwarded-for'])));
  ports.ours = await listen(ours, '127.0.0.1');
  ports.untrusted = await listen(untrustedOurs, '127.0.0.1');
  ports.http = await listen(httpBackend, '127.0.0.1');
  for (const name of ['v1', 'v2', 'v1six', 'refused', 'accept']) ports[name] = await freePort(name === 'v1six' ? '::1' : '127.0.0.1');
  dir = await mkdtemp(path.join(os.tmpdir(), 'wsfy-haproxy-'));
  const cfg = `
global
  maxconn 100
defaults
  mode tcp
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend v1
  bind 127.0.0.1:${ports.v1}
  default_backend ours_v1
backend ours_v1
  server s 127.0.0.1:${ports.ours} send-proxy
frontend v1six
  bind [::1]:${ports.v1six}
  default_backend ours_v1
frontend v2
  bind 127.0.0.1:${ports.v2}
  default_backend ours_v2
backend ours_v2
  server s 127.0.0.1:${ports.ours} send-proxy-v2
frontend refused
  bind 127.0.0.1:${ports.refused}
  default_backend untrusted
backend untrusted
  server s 127.0.0.1:${ports.untrusted} send-proxy-v2
frontend accept
  mode http
  bind 127.0.0.1:${ports.accept} accept-proxy
  option forwardfor
  default_backend web
backend web
  mode http
  server s 127.0.0.1:${ports.http}
`;
  await writeFile(path.join(dir, 'haproxy.cfg'), cfg);
  haproxy = spawn('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  haproxy.stderr!.on('data', (d) => (stderr += d.toString()));
  const spawned = new Promise<void>((resolve, reject) => {
    haproxy!.once('error', (err) => reject(new Error(`haproxy is needed (Debian package haproxy): ${err.message}`)));
    haproxy!.once('spawn', resolve);
  });
  await spawned;
  // Ready once every frontend accepts.
  const accepts = (port: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
  const proc = haproxy;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`haproxy exited (${proc.exitCode})`);
      for (const name of ['v1', 'v2', 'refused', 'accept']) if (!(await accepts(ports[name]!))) return false;
      return true;
    },
    { timeoutMs: 5000, intervalMs: 50, what: "haproxy's frontends" },
  ).catch((err: Error) => {
    throw new Error(`haproxy did not start (${err.message}): ${stderr}`);
  });
});

after(async () => {
  haproxy?.kill('SIGTERM');
  ours.close();
  untrustedOurs.close();
  httpBackend.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function exchange(port: number, host: string): Promise<{ local: net.AddressInfo; reply: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, host);
    let data = '';
    c.on('connect', () => c.write('hello after header'));
    c.on('data', (d) => (data += d.toString()));
    c.on('end', () => resolve({ local: { address: c.localAddress!, port: c.localPort!, family: '' }, reply: JSON.parse(data) as Record<string, unknown> }));
    c.on('error', reject);
  });
}

test('haproxy send-proxy (v1, TCP4) gives the real client address and port, and the stream after it intact', async () => {
  const { local, reply } = await exchange(ports.v1!, '127.0.0.1');
  assert.deepEqual(reply.header, {
    version: 1,
    source: { address: '127.0.0.1', port: local.port },
    destination: { address: '127.0.0.1', port: ports.v1 },
  });
  assert.equal(reply.rest, 'hello after header');
});

test('haproxy send-proxy (v1, TCP6) from an IPv6 client', async () => {
  const { local, reply } = await exchange(ports.v1six!, '::1');
  assert.deepEqual(reply.header, { version: 1, source: { address: '::1', port: local.port }, destination: { address: '::1', port: ports.v1six } });
});

test('haproxy send-proxy-v2 gives the real client address and port', async () => {
  const { local, reply } = await exchange(ports.v2!, '127.0.0.1');
  assert.deepEqual(reply.header, {
    version: 2,
    source: { address: '127.0.0.1', port: local.port },
    destination: { address: '127.0.0.1', port: ports.v2 },
  });
  assert.equal(reply.rest, 'hello after header');
});

test('a PROXY header from a peer outside --trust-proxy is refused', async () => {
  const { reply } = await exchange(ports.refused!, '127.0.0.1');
  assert.equal(reply.error, 'PROXY protocol refused from untrusted peer 127.0.0.1');
});

for (const source of ['198.51.100.7', '2001:db8::7']) {
  test(`haproxy accept-proxy reads our PROXY v2 header (source ${source})`, async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(ports.accept!, '127.0.0.1', () => {
        c.write(buildProxyV2Header({ address: source, port: 40000 }, { address: '127.0.0.1', port: ports.accept! }));
        c.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.equal(reply.split('\r\n\r\n')[1], source);
  });
}
