import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WorkerReverseBroker, type ReverseToPrimary } from '../../../src/reverse/reverse-cluster.js';
import { captureLogger } from '../../support/capture-logger.js';
import { waitFor } from '../../support/wait.js';

/**
 * The worker's side of --reverse-listen under --workers: it asks the primary for an ID and gets
 * the socket as a handle. Every way the answer can go must end with the primary told when the
 * ID is free again, or the ID would answer 409 until the worker exits.
 */
let listener: net.Server;
const accepted: net.Socket[] = [];

async function socketPair(): Promise<{ mine: net.Socket; peer: net.Socket }> {
  const peerP = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const address = listener.address() as net.AddressInfo;
  const mine = net.connect(address.port, '127.0.0.1');
  await new Promise((resolve) => mine.once('connect', resolve));
  const peer = await peerP;
  accepted.push(peer, mine);
  return { mine, peer };
}

function broker(timeoutMs = 5_000): { broker: WorkerReverseBroker; sent: ReverseToPrimary[] } {
  const sent: ReverseToPrimary[] = [];
  return {
    broker: new WorkerReverseBroker((message) => {
      sent.push(message);
      return true;
    }, timeoutMs),
    sent,
  };
}

describe('WorkerReverseBroker', () => {
  before(async () => {
    listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const s of accepted) s.destroy();
    await new Promise((resolve) => listener.close(resolve));
  });

  it('asks the primary, gets the socket with the held bytes first, and says when the session ended', async () => {
    const { broker: b, sent } = broker();
    const { logger } = captureLogger();
    const answer = b.take('1234');
    assert.deepEqual(sent, [{ wsfy: 'reverse-take', seq: 1, id: '1234' }]);
    const { mine, peer } = await socketPair();
    b.answer({ wsfy: 'reverse-taken', seq: 1, id: '1234', ok: true, early: Buffer.from('RFB 003.008\n').toString('base64') }, mine, logger);
    const got = await answer;
    assert.ok(got.ok);
    peer.write('later');
    const bytes: Buffer[] = [];
    got.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    await waitFor(() => Buffer.concat(bytes).length >= 17, { what: 'the held bytes and the later ones' });
    assert.equal(Buffer.concat(bytes).toString(), 'RFB 003.008\nlater');
    const closed = new Promise((resolve) => got.socket.once('close', resolve));
    got.socket.destroy();
    await closed;
    assert.deepEqual(sent.at(-1), { wsfy: 'reverse-ended', id: '1234' });
  });

  it('passes on a refusal: not connected, busy', async () => {
    const { broker: b } = broker();
    const { logger } = captureLogger();
    const first = b.take('1');
    const second = b.take('2');
    b.answer({ wsfy: 'reverse-taken', seq: 1, id: '1', ok: false, reason: 'not_connected' }, undefined, logger);
    b.answer({ wsfy: 'reverse-taken', seq: 2, id: '2', ok: false, reason: 'busy' }, undefined, logger);
    assert.deepEqual(await first, { ok: false, reason: 'not_connected' });
    assert.deepEqual(await second, { ok: false, reason: 'busy' });
  });

  it('refuses when the primary does not answer in time, and gives back a socket that comes later', async () => {
    const { broker: b, sent } = broker(20);
    const { logger, sink } = captureLogger();
    assert.deepEqual(await b.take('77'), { ok: false, reason: 'not_connected' });
    const { mine } = await socketPair();
    b.answer({ wsfy: 'reverse-taken', seq: 1, id: '77', ok: true }, mine, logger);
    assert.ok(mine.destroyed, 'the late socket is closed');
    assert.deepEqual(sent.at(-1), { wsfy: 'reverse-ended', id: '77' }, 'the primary is told the ID is free');
    assert.match(sink.text(), /arrived after the browser gave up/);
  });

  it('gives the ID back when an answer says yes but carries no socket', async () => {
    const { broker: b, sent } = broker();
    const { logger } = captureLogger();
    const answer = b.take('55');
    b.answer({ wsfy: 'reverse-taken', seq: 1, id: '55', ok: true }, undefined, logger);
    assert.deepEqual(await answer, { ok: false, reason: 'not_connected' });
    assert.deepEqual(sent.at(-1), { wsfy: 'reverse-ended', id: '55' });
  });

  it('refuses at once when the primary cannot be reached', async () => {
    const b = new WorkerReverseBroker(() => false);
    assert.deepEqual(await b.take('9'), { ok: false, reason: 'not_connected' });
  });
});
