import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ReverseRefusal } from '../../../src/metrics/reverse-metrics.js';
import { ReverseRegistry, HELD_EARLY_BYTES_CAP } from '../../../src/reverse/reverse-registry.js';
import { captureLogger } from '../../support/capture-logger.js';
import { waitFor } from '../../support/wait.js';

/** Loopback socket pairs: `held` is the proxy's end, `server` the VNC server's. */
let listener: net.Server;
const accepted: net.Socket[] = [];
const waiting: Array<(s: net.Socket) => void> = [];

async function pair(): Promise<{ held: net.Socket; server: net.Socket }> {
  const heldP = new Promise<net.Socket>((resolve) => waiting.push(resolve));
  const address = listener.address() as net.AddressInfo;
  const server = net.connect(address.port, '127.0.0.1');
  server.on('error', () => undefined);
  await new Promise((resolve) => server.once('connect', resolve));
  return { held: await heldP, server };
}

function closed(socket: net.Socket): Promise<void> {
  return socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

function makeRegistry(idleTimeoutMs = 0) {
  const { logger, sink } = captureLogger();
  const refusals: ReverseRefusal[] = [];
  let held = -1;
  const registry = new ReverseRegistry({
    idleTimeoutMs,
    logger,
    metrics: { setHeld: (n) => (held = n), registered: () => undefined, paired: () => undefined, refused: (r) => refusals.push(r) },
  });
  return { registry, sink, logger, refusals, heldGauge: () => held };
}

describe('ReverseRegistry', () => {
  before(async () => {
    listener = net.createServer((socket) => {
      accepted.push(socket);
      waiting.shift()?.(socket);
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    for (const s of accepted) s.destroy();
    listener.close();
  });

  it('holds a server and hands it over with the bytes it sent meanwhile, in order', async () => {
    const { registry, logger, heldGauge } = makeRegistry();
    const { held, server } = await pair();
    registry.register('1234', held, Buffer.from('RFB '), logger);
    assert.equal(heldGauge(), 1);
    server.write('003.008\n');
    await waitFor(() => held.bytesRead >= 8, { what: 'bytes read' });
    await new Promise((resolve) => setImmediate(resolve));
    const taken = registry.take('1234');
    assert.ok(taken.ok);
    assert.equal(taken.early.toString(), 'RFB 003.008\n');
    assert.equal(registry.heldCount, 0);
    assert.equal(heldGauge(), 0);
    server.destroy();
  });

  it('says not_connected for an unknown ID, and busy while a session runs for it', async () => {
    const { registry } = makeRegistry();
    assert.deepEqual(registry.take('9'), { ok: false, reason: 'not_connected' });
    registry.markPaired('9');
    assert.deepEqual(registry.take('9'), { ok: false, reason: 'busy' });
    registry.unmarkPaired('9');
    assert.deepEqual(registry.take('9'), { ok: false, reason: 'not_connected' });
  });

  it('replaces a held server registering the same ID, closing the old one', async () => {
    const { registry, logger } = makeRegistry();
    const first = await pair();
    const second = await pair();
    registry.register('77', first.held, Buffer.alloc(0), logger);
    registry.register('77', second.held, Buffer.from('two'), logger);
    await closed(first.server.resume());
    assert.equal(registry.heldCount, 1);
    const taken = registry.take('77');
    assert.ok(taken.ok);
    assert.equal(taken.socket, second.held);
    assert.equal(taken.early.toString(), 'two');
    second.server.destroy();
  });

  it('forgets a held server that disconnects', async () => {
    const { registry, logger, sink } = makeRegistry();
    const { held, server } = await pair();
    registry.register('55', held, Buffer.alloc(0), logger);
    server.destroy();
    await waitFor(() => registry.heldCount === 0, { what: 'forgotten' });
    assert.deepEqual(registry.take('55'), { ok: false, reason: 'not_connected' });
    assert.match(sink.text(), /reverse server dropped: server went away/);
  });

  it('closes a server no browser asked for within the idle limit', async () => {
    const { registry, logger, refusals } = makeRegistry(50);
    const { held, server } = await pair();
    registry.register('66', held, Buffer.alloc(0), logger);
    await closed(server.resume());
    assert.equal(registry.heldCount, 0);
    assert.deepEqual(refusals, ['idle_timeout']);
  });

  it('closes a held server that sends more than the cap before a browser comes', async () => {
    const { registry, logger, refusals } = makeRegistry();
    const { held, server } = await pair();
    registry.register('88', held, Buffer.alloc(0), logger);
    server.write(Buffer.alloc(HELD_EARLY_BYTES_CAP + 1));
    await closed(server.resume());
    assert.equal(registry.heldCount, 0);
    assert.deepEqual(refusals, ['held_overflow']);
  });

  it('logs a short hash of the ID, never the ID', async () => {
    const { registry, logger, sink } = makeRegistry();
    const { held, server } = await pair();
    registry.register('31415926', held, Buffer.alloc(0), logger);
    registry.closeAll();
    await closed(server.resume());
    assert.match(sink.text(), /reverse server registered/);
    assert.ok(!sink.text().includes('31415926'));
  });
});
