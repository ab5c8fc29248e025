import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type ProxyProcess } from '../support/proxy-process.js';
import { connect, readHttpAnswer, upgradeRequest } from '../support/raw-ws.js';
import { startEchoTarget, type TcpTarget } from '../support/targets.js';
import { waitFor } from '../support/wait.js';

// --max-connections-per-ip: connections counted per client address from accept, before any
// request, so one address cannot take every --max-connections slot with idle connections.
// Loopback peers (here, the test itself) are exempt, so the client address comes from a PROXY
// header sent by a trusted balancer, which is how a real address reaches a proxy behind one.

const proxyLine = (address: string): string => `PROXY TCP4 ${address} 127.0.0.1 40000 80\r\n`;

/** A connection that sends only a PROXY header naming `address`, then nothing. */
async function idleFrom(port: number, address: string): Promise<net.Socket> {
  const socket = await connect(port);
  socket.write(proxyLine(address));
  socket.resume();
  return socket;
}

/** 'closed' if the proxy closed `socket` within `ms`, else 'open'. */
function fate(socket: net.Socket, ms = 800): Promise<'closed' | 'open'> {
  if (socket.destroyed) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('--max-connections-per-ip', () => {
  let echo: TcpTarget;
  let proxy: ProxyProcess;
  const sockets: net.Socket[] = [];
  const track = (s: net.Socket): net.Socket => (sockets.push(s), s);
  before(async () => {
    echo = await startEchoTarget();
    proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--proxy-protocol', '--trust-proxy', '127.0.0.1', '--max-connections-per-ip', '2']);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await proxy.stop();
    await echo.close();
  });

  it('closes the connection past the cap at once, keeps the others, and serves another address', async () => {
    const first = track(await idleFrom(proxy.port, '203.0.113.5'));
    const second = track(await idleFrom(proxy.port, '203.0.113.5'));
    const third = track(await idleFrom(proxy.port, '203.0.113.5'));
    const other = track(await idleFrom(proxy.port, '203.0.113.6'));
    assert.deepEqual(await Promise.all([fate(first), fate(second), fate(third), fate(other)]), ['open', 'open', 'closed', 'open']);

    first.destroy();
    // The freed slot is usable: a full WebSocket upgrade from the same address succeeds, once the
    // server has seen the socket close (a moment after the client destroyed it).
    await waitFor(
      async () => {
        const again = track(await connect(proxy.port));
        again.write(proxyLine('203.0.113.5') + upgradeRequest());
        const status = await readHttpAnswer(again).then(
          (answer) => answer.status,
          () => 0,
        );
        if (status !== 101) again.destroy();
        return status === 101;
      },
      { timeoutMs: 2_000, intervalMs: 20, what: 'the freed slot to admit an upgrade from 203.0.113.5' },
    );
  });

  it('logs one line for a burst of refusals from one address', async () => {
    const before = proxy
      .output()
      .split('\n')
      .filter((line) => line.includes('--max-connections-per-ip')).length;
    const held = await Promise.all([idleFrom(proxy.port, '198.51.100.7'), idleFrom(proxy.port, '198.51.100.7')]);
    held.forEach(track);
    await Promise.all(held.map((s) => fate(s, 200)));
    const burst = await Promise.all(Array.from({ length: 5 }, () => idleFrom(proxy.port, '198.51.100.7')));
    burst.forEach(track);
    assert.deepEqual(await Promise.all(burst.map((s) => fate(s))), Array(5).fill('closed'));
    const lines = proxy
      .output()
      .split('\n')
      .filter((line) => line.includes('--max-connections-per-ip'));
    assert.equal(lines.length - before, 1, lines.join('\n'));
    assert.match(lines.at(-1) ?? '', /198\.51\.100\.7/, 'the line names the address refused');
  });
});

describe('--max-connections-per-ip exemptions', () => {
  it('does not cap loopback peers (a reverse proxy on this host)', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy(['127.0.0.1:0', `127.0.0.1:${echo.port}`, '--max-connections-per-ip', '2']);
    const sockets = await Promise.all(Array.from({ length: 5 }, () => connect(proxy.port)));
    try {
      assert.deepEqual(await Promise.all(sockets.map((s) => fate(s, 500))), Array(5).fill('open'));
    } finally {
      for (const s of sockets) s.destroy();
      await proxy.stop();
      await echo.close();
    }
  });
});

describe('--max-connections-per-ip with --workers 2', () => {
  it('holds the cap for the server, not per worker', async () => {
    const echo = await startEchoTarget();
    const proxy = await startProxy([
      '127.0.0.1:0',
      `127.0.0.1:${echo.port}`,
      '--workers',
      '2',
      '--proxy-protocol',
      '--trust-proxy',
      '127.0.0.1',
      '--max-connections-per-ip',
      '2',
    ]);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 6; i++) sockets.push(await idleFrom(proxy.port, '203.0.113.9'));
      const fates = await Promise.all(sockets.map((s) => fate(s)));
      const open = fates.filter((f) => f === 'open').length;
      assert.ok(open >= 1 && open <= 2, `open: ${open} of 6 (${fates.join(', ')})`);
    } finally {
      for (const s of sockets) s.destroy();
      await proxy.stop();
      await echo.close();
    }
  });
});
