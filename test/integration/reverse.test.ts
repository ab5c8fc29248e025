import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { WebSocket } from 'ws';
import { CertFactory } from '../support/openssl-certs.js';
import { reverseListenerPort, startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { sendRaw, upgradeRequest } from '../support/raw-ws.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor as waitUntil } from '../support/wait.js';
import { closeEvent, openClient } from '../support/ws-client.js';
import { seriesValue } from '../support/metrics-text.js';

/** IDs long and odd enough that finding one in the output means it was logged. */
const ID_A = '73915024';
const ID_B = '88260417';
const ID_C = '61538209';
const ID_FIXED = '40719936';
const ID_UNKNOWN = '55512349';
const ALL_IDS = [ID_A, ID_B, ID_C, ID_FIXED, ID_UNKNOWN];

function idBlock(id: string): Buffer {
  const block = Buffer.alloc(250);
  block.write(`ID:${id}`, 'latin1');
  return block;
}

function hashOf(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 8);
}

/** A TCP connection to the reverse port, from `localAddress` (any 127.x.y.z is this host). */
function connectTo(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects everything a raw socket receives, and waits for a given amount. */
class Collector {
  private chunks: Buffer[] = [];
  private got = 0;
  private waiters: Array<() => void> = [];
  closed: Promise<void>;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.got += chunk.length;
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  async bytes(total: number, timeoutMs = 30_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.got < total) {
      if (Date.now() > deadline) throw new Error(`received ${this.got} of ${total} bytes`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return Buffer.concat(this.chunks);
  }
}

/** A server that connected in, sent its ID (and maybe more) and is registered. */
async function registerServer(
  proxy: ProxyProcess,
  port: number,
  id: string,
  after = Buffer.alloc(0),
  localAddress = '127.0.0.1',
): Promise<{ socket: net.Socket; got: Collector }> {
  const before = count(proxy.output(), /reverse server registered/g);
  const socket = await connectTo(port, localAddress);
  const got = new Collector(socket);
  socket.write(Buffer.concat([idBlock(id), after]));
  await waitFor(() => count(proxy.output(), /reverse server registered/g) > before, 'registration');
  return { socket, got };
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<boolean> {
  return waitUntil(condition, { what, timeoutMs, intervalMs: 20 });
}

async function upgradeStatus(port: number, token: string): Promise<number> {
  const answer = await sendRaw(port, upgradeRequest({ path: `/?token=${token}`, headers: { 'Sec-WebSocket-Protocol': 'binary' } }));
  return answer.status;
}

/** Resolves when `socket` is closed by the other side (or rejects after timeoutMs). */
function closedWithin(socket: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error('still open')), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

/** GET /metrics on the main port (--metrics-path); under --workers it is the sum over the server. */
async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  return response.text();
}

/** A browser: a ws client that collects every byte from the start (openClient keeps what came with the 101). */
async function openBrowser(url: string): Promise<{ ws: WebSocket; got: () => number; bytes: (total: number, timeoutMs?: number) => Promise<Buffer> }> {
  const ws = await openClient(url, ['binary'], { maxPayload: 64 * 1024 * 1024 });
  const chunks: Buffer[] = [];
  let got = 0;
  ws.on('message', (data: Buffer) => {
    chunks.push(data);
    got += data.length;
  });
  const bytes = async (total: number, timeoutMs = 30_000): Promise<Buffer> => {
    await waitFor(() => got >= total, `${total} bytes (got ${got})`, timeoutMs);
    const all = Buffer.concat(chunks);
    chunks.length = 0;
    chunks.push(all.subarray(total));
    got -= total;
    return all.subarray(0, total);
  };
  return { ws, got: () => got, bytes };
}

export function reverseSuite(name: string, extraArgs: readonly string[]): void {
  describe(name, () => {
    let proxy: ProxyProcess;
    let reversePort: number;
    let fixedPort: number;
    const dir = tempDir('wsfy-reverse-');
    const url = (token: string): string => `ws://127.0.0.1:${proxy.port}/?token=${token}`;

    before(async () => {
      const tokens = path.join(dir.dir, 'tokens.cfg');
      writeFileSync(tokens, `tok-a: reverse:${ID_A}\ntok-b: reverse:${ID_B}\ntok-c: reverse:${ID_C}\ntok-fixed: reverse:${ID_FIXED}\n`);
      proxy = await startProxy([
        ...extraArgs,
        '--token-plugin',
        'TokenFile',
        '--token-source',
        tokens,
        '--reverse-listen',
        '127.0.0.1:0',
        '--reverse-listen',
        `127.0.0.1:0=${ID_FIXED}`,
        '--reverse-id-timeout',
        '1',
        '--metrics-path',
        '/metrics',
        '127.0.0.1:0',
      ]);
      reversePort = await reverseListenerPort(proxy);
      fixedPort = await reverseListenerPort(proxy, 'fixed');
    });

    after(async () => {
      await proxy.stop();
      dir.cleanup();
      // Never an ID in clear: only its short hash.
      const output = proxy.output();
      for (const id of ALL_IDS) assert.ok(!output.includes(id), `the output names id ${id}`);
      assert.ok(output.includes(hashOf(ID_A)), 'the output names the hash of a registered id');
    });

    it('bridges both ways byte-exact, the bytes sent right after the ID first', async () => {
      const banner = Buffer.from('RFB 003.008\n');
      const server = await registerServer(proxy, reversePort, ID_A, banner);
      const { ws, bytes } = await openBrowser(url('tok-a'));
      try {
        assert.deepEqual(await bytes(banner.length), banner);
        const later = randomBytes(1000);
        server.socket.write(later);
        assert.deepEqual(await bytes(later.length), later);
        const up = randomBytes(777);
        ws.send(up);
        const all = await server.got.bytes(up.length);
        assert.deepEqual(all, up);
      } finally {
        const closed = closeEvent(ws);
        server.socket.destroy();
        await closed;
      }
      assert.match(proxy.output(), new RegExp(`reverse server paired with browser.*${hashOf(ID_A)}`));
    });

    it('loses no byte a server sends without pause while the browser is paired to it', async () => {
      // A byte pattern anyone can check: a gap or a repeat shows as a wrong byte.
      const pattern = (from: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) % 251));
      const server = await registerServer(proxy, reversePort, ID_B);
      let sent = 0;
      let streaming = true;
      const pump = (): void => {
        if (!streaming || server.socket.destroyed) return;
        server.socket.write(pattern(sent, 64));
        sent += 64;
        setTimeout(pump, 1);
      };
      pump();
      const { ws, got, bytes } = await openBrowser(url('tok-b'));
      try {
        const target = sent + 16 * 1024;
        await waitFor(() => sent >= target, 'more bytes sent after the pairing');
        streaming = false;
        await waitFor(() => got() >= sent, `all ${sent} bytes (got ${got()})`);
        assert.ok((await bytes(sent)).equals(pattern(0, sent)), 'the bytes the browser got are not the bytes the server sent');
      } finally {
        streaming = false;
        const closed = closeEvent(ws);
        server.socket.destroy();
        await closed;
      }
    });

    it('carries a multi-MiB transfer each way', async () => {
      const server = await registerServer(proxy, reversePort, ID_B);
      const { ws, bytes } = await openBrowser(url('tok-b'));
      try {
        const down = randomBytes(8 * 1024 * 1024);
        server.socket.write(down);
        assert.ok((await bytes(down.length, 60_000)).equals(down), 'server -> browser bytes differ');
        const upBytes = randomBytes(4 * 1024 * 1024);
        for (let at = 0; at < upBytes.length; at += 64 * 1024) ws.send(upBytes.subarray(at, at + 64 * 1024));
        assert.ok((await server.got.bytes(upBytes.length, 60_000)).equals(upBytes), 'browser -> server bytes differ');
      } finally {
        const closed = closeEvent(ws);
        server.socket.destroy();
        await closed;
      }
    });

    it('answers 503 for a known token whose server is not connected, 404 for an unknown token as usual', async () => {
      assert.equal(await upgradeStatus(proxy.port, 'tok-c'), 503);
      assert.equal(await upgradeStatus(proxy.port, 'no-such-token'), 404);
    });

    it('answers 409 to a second browser for a paired server, and pairs again once the first left', async () => {
      const server = await registerServer(proxy, reversePort, ID_C);
      const ws = await openClient(url('tok-c'));
      assert.equal(await upgradeStatus(proxy.port, 'tok-c'), 409);
      const closed = closeEvent(ws);
      server.socket.destroy();
      await closed;
      // The server went with the session: not connected any more.
      assert.equal(await upgradeStatus(proxy.port, 'tok-c'), 503);
    });

    it('closes a server with an ID no token names at once', async () => {
      const socket = await connectTo(reversePort);
      socket.write(idBlock(ID_UNKNOWN));
      await closedWithin(socket, 2_000);
      assert.match(proxy.output(), new RegExp(`reverse connection refused: id #${hashOf(ID_UNKNOWN)} is not in the token source`));
    });

    it('cuts off a server that sends nothing, or garbage, within the ID deadline', async () => {
      const silent = await connectTo(reversePort);
      const garbage = await connectTo(reversePort);
      garbage.write(randomBytes(100));
      const started = Date.now();
      await Promise.all([closedWithin(silent, 3_000), closedWithin(garbage, 3_000)]);
      assert.ok(Date.now() - started >= 800, 'closed before the 1 s deadline');
      const bad = await connectTo(reversePort);
      bad.write(Buffer.concat([Buffer.from('XX:'), Buffer.alloc(247, 0x41)]));
      await closedWithin(bad, 2_000);
    });

    it('replaces a held server when one reconnects with the same ID (the old one is closed)', async () => {
      const old = await registerServer(proxy, reversePort, ID_A, Buffer.from('old'));
      const fresh = await registerServer(proxy, reversePort, ID_A, Buffer.from('new'));
      await closedWithin(old.socket, 2_000);
      const { ws, bytes } = await openBrowser(url('tok-a'));
      try {
        assert.deepEqual(await bytes(3), Buffer.from('new'));
      } finally {
        const closed = closeEvent(ws);
        fresh.socket.destroy();
        await closed;
      }
    });

    it('forgets a held server that disconnects', async () => {
      const server = await registerServer(proxy, reversePort, ID_B);
      server.socket.destroy();
      await waitFor(() => /reverse server dropped: server went away/.test(proxy.output()), 'the drop');
      assert.equal(await upgradeStatus(proxy.port, 'tok-b'), 503);
    });

    it('a listener bound to one ID takes plain reverse connections without an ID block', async () => {
      const before = count(proxy.output(), /reverse server registered/g);
      const socket = await connectTo(fixedPort);
      const got = new Collector(socket);
      socket.write('RFB 003.008\n');
      await waitFor(() => count(proxy.output(), /reverse server registered/g) > before, 'registration');
      const { ws, bytes } = await openBrowser(url('tok-fixed'));
      try {
        assert.deepEqual(await bytes(12), Buffer.from('RFB 003.008\n'));
        ws.send(Buffer.from('RFB 003.008\n'));
        assert.deepEqual(await got.bytes(12), Buffer.from('RFB 003.008\n'));
      } finally {
        const closed = closeEvent(ws);
        socket.destroy();
        await closed;
      }
    });

    it('counts held servers, registrations, pairings and refusals by reason in the metrics', async () => {
      const start = await scrape(proxy.port);
      const server = await registerServer(proxy, reversePort, ID_C);
      const held = await scrape(proxy.port);
      assert.equal(seriesValue(held, 'websockify_reverse_held'), 1, held);
      assert.equal(seriesValue(held, 'websockify_reverse_registrations_total') - seriesValue(start, 'websockify_reverse_registrations_total'), 1, held);
      const unknown = await connectTo(reversePort);
      unknown.write(idBlock(ID_UNKNOWN));
      await closedWithin(unknown, 2_000);
      const ws = await openClient(url('tok-c'));
      assert.equal(await upgradeStatus(proxy.port, 'tok-c'), 409);
      const closed = closeEvent(ws);
      server.socket.destroy();
      await closed;
      assert.equal(await upgradeStatus(proxy.port, 'tok-c'), 503);
      const end = await scrape(proxy.port);
      const delta = (series: string): number => seriesValue(end, series) - seriesValue(start, series);
      assert.equal(seriesValue(end, 'websockify_reverse_held'), 0, end);
      assert.equal(delta('websockify_reverse_pairings_total'), 1, end);
      assert.equal(delta('websockify_reverse_refusals_total{reason="unknown_id"}'), 1, end);
      assert.equal(delta('websockify_reverse_refusals_total{reason="busy"}'), 1, end);
      assert.equal(delta('websockify_reverse_refusals_total{reason="not_connected"}'), 1, end);
    });

    it('a browser that leaves closes its server', async () => {
      const server = await registerServer(proxy, reversePort, ID_C);
      const ws = await openClient(url('tok-c'));
      ws.close();
      await closedWithin(server.socket, 5_000);
    });
  });
}

/** The reverse listener's limits: held per address and in total, the idle limit, the early-bytes cap. */
function limitsSuite(name: string, extraArgs: readonly string[]): void {
  describe(name, () => {
    let proxy: ProxyProcess;
    let reversePort: number;
    const dir = tempDir('wsfy-reverse-limits-');
    const ids = ['10000001', '10000002', '10000003', '10000004', '10000005', '10000006'];

    before(async () => {
      const tokens = path.join(dir.dir, 'tokens.cfg');
      writeFileSync(tokens, ids.map((id, i) => `tok-${i}: reverse:${id}\n`).join(''));
      proxy = await startProxy([
        ...extraArgs,
        '--token-plugin',
        'TokenFile',
        '--token-source',
        tokens,
        '--reverse-listen',
        '127.0.0.1:0',
        '--reverse-max-held-per-ip',
        '2',
        '--reverse-max-held',
        '3',
        '--reverse-idle-timeout',
        '1',
        '--metrics-path',
        '/metrics',
        '127.0.0.1:0',
      ]);
      reversePort = await reverseListenerPort(proxy);
    });

    after(async () => {
      await proxy.stop();
      dir.cleanup();
      for (const id of ids) assert.ok(!proxy.output().includes(id), `the output names id ${id}`);
    });

    it('holds at most --reverse-max-held-per-ip from one address and --reverse-max-held in all; a pairing gives the slot back', async () => {
      const start = await scrape(proxy.port);
      // The idle limit (1 s) must not end these before the checks: each is paired or closed soon.
      const a = await registerServer(proxy, reversePort, ids[0]!, Buffer.alloc(0), '127.0.0.1');
      const b = await registerServer(proxy, reversePort, ids[1]!, Buffer.alloc(0), '127.0.0.1');
      const third = await connectTo(reversePort, '127.0.0.1');
      await closedWithin(third, 2_000);
      await proxy.waitForOutput(/reverse connection refused: 2 reverse connections from this address already/);
      // Another address still has room, up to the total of 3.
      const c = await registerServer(proxy, reversePort, ids[2]!, Buffer.alloc(0), '127.0.0.2');
      const fourth = await connectTo(reversePort, '127.0.0.3');
      await closedWithin(fourth, 2_000);
      await proxy.waitForOutput(/reverse connection refused: 3 reverse connections held already/);
      // A paired server is no longer held: its address may connect again.
      const ws = await openClient(`ws://127.0.0.1:${proxy.port}/?token=tok-0`);
      const d = await registerServer(proxy, reversePort, ids[3]!, Buffer.alloc(0), '127.0.0.1');
      const end = await scrape(proxy.port);
      assert.equal(
        seriesValue(end, 'websockify_reverse_refusals_total{reason="limit_per_ip"}') -
          seriesValue(start, 'websockify_reverse_refusals_total{reason="limit_per_ip"}'),
        1,
        end,
      );
      assert.equal(
        seriesValue(end, 'websockify_reverse_refusals_total{reason="limit_total"}') -
          seriesValue(start, 'websockify_reverse_refusals_total{reason="limit_total"}'),
        1,
        end,
      );
      const closed = closeEvent(ws);
      for (const server of [a, b, c, d]) server.socket.destroy();
      await closed;
    });

    it('closes a held server no browser asked for within --reverse-idle-timeout', async () => {
      const server = await registerServer(proxy, reversePort, ids[4]!);
      const started = Date.now();
      await closedWithin(server.socket, 5_000);
      assert.ok(Date.now() - started >= 800, 'closed before the 1 s idle limit');
      await proxy.waitForOutput(/reverse server dropped: no browser within 1s/);
      assert.equal(await upgradeStatus(proxy.port, 'tok-4'), 503);
    });

    it('closes a held server that sends more than 64 KiB before a browser comes', async () => {
      const server = await registerServer(proxy, reversePort, ids[5]!);
      server.socket.write(randomBytes(65 * 1024));
      await closedWithin(server.socket, 2_000);
      await proxy.waitForOutput(/reverse server dropped: server sent more than 65536 bytes while waiting/);
    });
  });
}

/** --reverse-tls: servers connect with TLS, the certificate of --cert. */
function tlsSuite(): void {
  describe('reverse connections over TLS (--reverse-tls)', () => {
    let proxy: ProxyProcess;
    let reversePort: number;
    let certs: CertFactory;
    const dir = tempDir('wsfy-reverse-tls-');

    before(async () => {
      certs = new CertFactory();
      const pem = certs.selfPem('reverse', '127.0.0.1');
      const tokens = path.join(dir.dir, 'tokens.cfg');
      writeFileSync(tokens, `tok-a: reverse:${ID_A}\n`);
      proxy = await startProxy([
        '--cert',
        pem,
        '--token-plugin',
        'TokenFile',
        '--token-source',
        tokens,
        '--reverse-listen',
        '127.0.0.1:0',
        '--reverse-tls',
        '127.0.0.1:0',
      ]);
      reversePort = await reverseListenerPort(proxy);
    });

    after(async () => {
      await proxy.stop();
      certs.cleanup();
      dir.cleanup();
      assert.ok(!proxy.output().includes(ID_A), 'the output names the id');
    });

    it('bridges a server that connects with TLS, the bytes after the ID first', async () => {
      const socket = tls.connect({ port: reversePort, host: '127.0.0.1', rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      const got: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => got.push(chunk));
      const before = count(proxy.output(), /reverse server registered/g);
      socket.write(Buffer.concat([idBlock(ID_A), Buffer.from('RFB 003.008\n')]));
      await waitFor(() => count(proxy.output(), /reverse server registered/g) > before, 'registration');
      const { ws, bytes } = await openBrowser(`ws://127.0.0.1:${proxy.port}/?token=tok-a`);
      try {
        assert.deepEqual(await bytes(12), Buffer.from('RFB 003.008\n'));
        ws.send(Buffer.from('RFB 003.008\n'));
        await waitFor(() => Buffer.concat(got).length >= 12, 'the browser bytes at the server');
        assert.deepEqual(Buffer.concat(got), Buffer.from('RFB 003.008\n'));
      } finally {
        const closed = closeEvent(ws);
        socket.destroy();
        await closed;
      }
    });

    it('closes a server that does not speak TLS', async () => {
      const socket = await connectTo(reversePort);
      socket.write(idBlock(ID_A));
      await closedWithin(socket, 2_000);
      await proxy.waitForOutput(/reverse connection refused: TLS handshake failed/);
    });
  });
}

reverseSuite('reverse connections (--reverse-listen)', []);
reverseSuite('reverse connections under --workers 2 (the primary holds the servers)', ['--workers', '2']);
limitsSuite('reverse listener limits (--reverse-max-held-per-ip, --reverse-max-held, --reverse-idle-timeout)', []);
limitsSuite('reverse listener limits under --workers 2', ['--workers', '2']);
tlsSuite();
