import { strict as assert } from 'node:assert';
import type net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { TargetConnectError } from '../../src/errors.js';
import type { LogRecord } from '../../src/log/logger.js';
import type { Dialer } from '../../src/proxy/dial-target.js';
import { deferCleanup } from '../support/cleanup.js';
import { pairedTargets, startInProcessServer, type InProcessOptions, type InProcessServer, type PairedTargets } from '../support/in-process-server.js';
import { ManualClock } from '../support/manual-clock.js';
import { closePayload, connect, encodeFrame, FrameReader, readHttpAnswer, readToEnd, upgradeRequest } from '../support/raw-ws.js';
import { closeEvent, openClient, receiveBytes } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

const TARGET = '127.0.0.1:5900';

/** The server with real socket pairs as targets; both stop when the test ends. */
/** A server whose dials wait until the test calls `release()`: the session is in its dial meanwhile. */
async function setUpHeldDial(t: TestContext): Promise<{ server: InProcessServer; targets: PairedTargets; release: () => void }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let paired: PairedTargets | null = null;
  const dial: Dialer = async (target, options) => {
    await released;
    return (paired as PairedTargets).dial(target, options);
  };
  const { server, targets } = await setUp(t, [], { dial });
  paired = targets;
  return { server, targets, release };
}

async function setUp(t: TestContext, args: string[] = [], options: InProcessOptions = {}): Promise<{ server: InProcessServer; targets: PairedTargets }> {
  const defer = deferCleanup(t);
  const targets = await pairedTargets();
  defer(() => targets.close());
  const server = await startInProcessServer([TARGET, ...args], { dial: targets.dial, ...options });
  defer(() => server.close());
  return { server, targets };
}

/** Reads exactly `n` bytes from a target socket. */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= n) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
        const all = Buffer.concat(chunks);
        if (got > n) socket.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    const onEnd = (): void => reject(new Error(`target got ${got} of ${n} bytes, then FIN`));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  });
}

/** The `session closed` line of the one session, once it has ended. */
async function summaryOf(server: InProcessServer): Promise<LogRecord> {
  await waitFor(() => server.sessions.length === 1, { what: 'the session to start' });
  await server.sessions[0]!.done;
  const lines = server.sink.records.filter((r) => r.message === 'session closed');
  assert.equal(lines.length, 1);
  return lines[0]!;
}

/** A raw client past its 101 (subprotocol binary), reading the server's frames. */
async function rawClient(server: InProcessServer): Promise<{ socket: net.Socket; frames: FrameReader }> {
  const socket = await connect(server.port);
  socket.write(upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': 'binary' } }));
  const answer = await readHttpAnswer(socket);
  assert.equal(answer.status, 101);
  return { socket, frames: new FrameReader(socket, answer.rest) };
}

describe('close precedence: the side that ends first decides the code', () => {
  it('the target ends first: its last bytes, then 1000 "Target closed"; a client close that crosses it does not change the code', async (t) => {
    const { server, targets } = await setUp(t);
    const client = await rawClient(server);
    const target = await targets.next();
    target.end('last words');
    const closing = await client.frames.untilClose();
    assert.equal(closing.data.toString(), 'last words');
    assert.deepEqual([closing.code, closing.reason], [1000, 'Target closed']);
    // The client answers with a code of its own instead of echoing 1000.
    client.socket.write(encodeFrame(0x8, closePayload(4001, 'me too')));
    await readToEnd(client.socket);
    const summary = await summaryOf(server);
    assert.equal(summary.fields?.['close'], 1000);
    assert.equal(summary.fields?.['by'], 'target');
  });

  it('the client closes first: its code wins, and what it sent before reaches the target before the FIN', async (t) => {
    const { server, targets } = await setUp(t);
    const ws = await openClient(server.url);
    const target = await targets.next();
    const targetGot = readToEnd(target);
    const clientClosed = closeEvent(ws);
    ws.send(Buffer.from('goodbye'));
    ws.close(4001, 'done');
    // The target answers our FIN with its own (it does not allow half-open): too late to decide anything.
    assert.equal((await targetGot).toString(), 'goodbye');
    assert.deepEqual(await clientClosed, { code: 4001, reason: 'done' });
    const summary = await summaryOf(server);
    assert.equal(summary.fields?.['close'], 4001);
    assert.equal(summary.fields?.['by'], 'client');
  });

  it('the server closes first (shutdown, 1001): a client close and a target FIN that follow keep 1001', async (t) => {
    const { server, targets } = await setUp(t);
    const client = await rawClient(server);
    const target = await targets.next();
    await waitFor(() => server.sessions.length === 1, { what: 'the session to start' });
    // The bridge is up once a byte has gone through.
    client.socket.write(encodeFrame(0x2, Buffer.from('!')));
    assert.equal((await readBytes(target, 1)).toString(), '!');
    const targetClosed = readToEnd(target);
    const clientClosed = readToEnd(client.socket);
    server.sessions[0]!.close(1001, 'Server shutting down', 1_000);
    const closing = await client.frames.untilClose();
    assert.deepEqual([closing.code, closing.reason], [1001, 'Server shutting down']);
    client.socket.write(encodeFrame(0x8, closePayload(4002, 'whatever')));
    await targetClosed;
    await clientClosed;
    const summary = await summaryOf(server);
    assert.equal(summary.fields?.['close'], 1001);
    assert.equal(summary.fields?.['by'], 'server');
  });

  it('the server closes while the dial is still out: the close handshake ends as soon as the dial returns, 1001 by server', async (t) => {
    const { server, release } = await setUpHeldDial(t);
    const client = await rawClient(server);
    const clientClosed = readToEnd(client.socket);
    await waitFor(() => server.sessions.length === 1, { what: 'the session to start' });
    server.sessions[0]!.close(1001, 'Server shutting down', 1_000);
    const closing = await client.frames.untilClose();
    assert.deepEqual([closing.code, closing.reason], [1001, 'Server shutting down']);
    client.socket.write(encodeFrame(0x8, closePayload(1001)));
    release();
    // Before, the reply sat unread in the paused socket until ws gave up after 30 s.
    await clientClosed;
    const summary = await summaryOf(server);
    assert.deepEqual([summary.fields?.['close'], summary.fields?.['by']], [1001, 'server']);
  });
});

describe('bytes that come before the upgrade has finished', () => {
  it('a target that writes and closes before its dial even returns: the client gets the 101, the bytes, then 1000', async (t) => {
    const defer = deferCleanup(t);
    const targets = await pairedTargets();
    defer(() => targets.close());
    // The dial returns only once the target has written its banner and its FIN, and the banner
    // waits in the proxy's end of the socket, before anything reads it.
    const dial: Dialer = async (target, options) => {
      const proxyEnd = await targets.dial(target, options);
      const targetEnd = await targets.next();
      await new Promise<void>((resolve) => targetEnd.end('RFB 003.008\n', resolve));
      await waitFor(() => proxyEnd.readableLength === 12, { what: 'the banner to reach the proxy' });
      return proxyEnd;
    };
    const server = await startInProcessServer([TARGET], { dial });
    defer(() => server.close());
    const client = await rawClient(server);
    const closing = await client.frames.untilClose();
    assert.equal(closing.data.toString(), 'RFB 003.008\n');
    assert.deepEqual([closing.code, closing.reason], [1000, 'Target closed']);
    client.socket.end(encodeFrame(0x8, closePayload(1000)));
    const summary = await summaryOf(server);
    assert.deepEqual([summary.fields?.['close'], summary.fields?.['by'], summary.fields?.['bytes_out']], [1000, 'target', 12]);
  });

  it('while the dial is pending: the client has its 101 and sends; both directions arrive whole and in order once it connects', async (t) => {
    const { server, targets, release } = await setUpHeldDial(t);
    const ws = await openClient(server.url);
    for (const part of ['one,', 'two,', 'three']) ws.send(Buffer.from(part));
    const banner = receiveBytes(ws, 6);
    release();
    const target = await targets.next();
    target.write('hello!');
    assert.equal((await readBytes(target, 13)).toString(), 'one,two,three');
    assert.equal((await banner).toString(), 'hello!');
    ws.close(1000);
    await closeEvent(ws);
  });
});

describe('a dial that fails', () => {
  it('closes the client with 1011 "Failed to connect to downstream server", in one line with the reason and the id', async (t) => {
    const defer = deferCleanup(t);
    const dial: Dialer = () => Promise.reject(new TargetConnectError('Failed to connect to 127.0.0.1:5900: Connection refused (ECONNREFUSED)'));
    const server = await startInProcessServer([TARGET], { dial });
    defer(() => server.close());
    const ws = await openClient(server.url);
    assert.deepEqual(await closeEvent(ws), { code: 1011, reason: 'Failed to connect to downstream server' });
    const summary = await summaryOf(server);
    assert.deepEqual([summary.fields?.['close'], summary.fields?.['by']], [1011, 'connect']);
    const lines = server.sink.records.filter((r) => r.message.startsWith('Failed to connect to'));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.message, 'Failed to connect to 127.0.0.1:5900: Connection refused (ECONNREFUSED)');
    assert.equal(lines[0]!.session, summary.session);
  });

  it('names an unexpected failure in the same words, and keeps serving', async (t) => {
    const defer = deferCleanup(t);
    let fail = true;
    const targets = await pairedTargets();
    defer(() => targets.close());
    const dial: Dialer = (target, options) => (fail ? Promise.reject(new Error('boom')) : targets.dial(target, options));
    const server = await startInProcessServer([TARGET], { dial });
    defer(() => server.close());
    const first = await openClient(server.url);
    assert.equal((await closeEvent(first)).code, 1011);
    assert.ok(server.sink.records.some((r) => r.message === 'Failed to connect to 127.0.0.1:5900: Error: boom'));
    fail = false;
    const second = await openClient(server.url);
    const target = await targets.next();
    target.pipe(target);
    const echoed = receiveBytes(second, 3);
    second.send(Buffer.from('abc'));
    assert.equal((await echoed).toString(), 'abc');
    second.close(1000);
    await closeEvent(second);
  });
});

describe('heartbeat and deadlines on the server clock', () => {
  it('--heartbeat 5 pings every 5 s of the clock, and not before', async (t) => {
    const clock = new ManualClock();
    const { server, targets } = await setUp(t, ['--heartbeat', '5'], { clock });
    const ws = await openClient(server.url);
    const target = await targets.next();
    target.pipe(target);
    let pings = 0;
    ws.on('ping', () => pings++);
    // A ping sent is ahead of an echo asked for after it: once the echo is back, so are the pings.
    const pingsAfterEcho = async (): Promise<number> => {
      const echoed = receiveBytes(ws, 1);
      ws.send(Buffer.from('x'));
      await echoed;
      return pings;
    };
    await waitFor(() => clock.timers === 1, { what: 'the heartbeat to start' });
    clock.advance(4_999);
    assert.equal(await pingsAfterEcho(), 0);
    clock.advance(1);
    assert.equal(await pingsAfterEcho(), 1);
    clock.advance(5_000);
    assert.equal(await pingsAfterEcho(), 2);
    ws.close(1000);
    await closeEvent(ws);
  });

  it('--heartbeat-timeout 3 drops a client that does not answer within 3 s (1006, by server, one line) and keeps one that does', async (t) => {
    const clock = new ManualClock();
    const { server, targets } = await setUp(t, ['--heartbeat', '5', '--heartbeat-timeout', '3'], { clock });
    const silent = new WebSocket(server.url, ['binary'], { autoPong: false });
    await new Promise((resolve, reject) => silent.once('open', resolve).once('error', reject));
    const silentTarget = await targets.next();
    const answering = await openClient(server.url);
    const answeringTarget = await targets.next();
    answeringTarget.pipe(answeringTarget);
    await waitFor(() => clock.timers === 2, { what: 'both heartbeats to start' });

    const pinged = new Promise((resolve) => silent.once('ping', resolve));
    const answered = new Promise((resolve) => answering.once('ping', resolve));
    clock.advance(5_000);
    await Promise.all([pinged, answered]);
    // ws answers a ping before telling us of it: once this echo is back, so is the pong.
    const echoed = receiveBytes(answering, 4);
    answering.send(Buffer.from('ping'));
    await echoed;

    const overdueLines = (): LogRecord[] => server.sink.records.filter((r) => r.message === 'heartbeat timeout: no pong within 3s');
    const silentClosed = closeEvent(silent);
    const silentTargetClosed = readToEnd(silentTarget);
    clock.advance(2_999);
    assert.equal(overdueLines().length, 0);
    clock.advance(1);
    const overdue = overdueLines();
    assert.equal(overdue.length, 1, 'only the client that did not answer is dropped');
    assert.equal((await silentClosed).code, 1006);
    await silentTargetClosed;
    const stillEchoes = receiveBytes(answering, 5);
    answering.send(Buffer.from('alive'));
    assert.equal((await stillEchoes).toString(), 'alive');
    await waitFor(() => server.sink.records.some((r) => r.message === 'session closed'), { what: 'the dropped session to end' });
    const summary = server.sink.records.find((r) => r.message === 'session closed')!;
    assert.deepEqual([summary.session, summary.fields?.['close'], summary.fields?.['by']], [overdue[0]!.session, 1006, 'server']);
    answering.close(1000);
    await closeEvent(answering);
  });

  it('a connection that sends nothing is closed when the handshake deadline passes on the clock, in one line', async (t) => {
    const clock = new ManualClock();
    const { server } = await setUp(t, [], { clock });
    const socket = await connect(server.port);
    await waitFor(() => clock.timers === 1, { what: 'the deadline to be set' });
    const closed = readToEnd(socket);
    clock.advance(server.config.limits.handshakeTimeoutMs - 1);
    assert.deepEqual(server.refusals, []);
    clock.advance(1);
    assert.equal((await closed).length, 0);
    const lines = server.sink.records.filter((r) => r.fields?.['code'] === 'WSFY_ERR_REQUEST_TIMEOUT');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.message, `handshake timed out after ${server.config.limits.handshakeTimeoutMs / 1000}s`);
    assert.equal(typeof lines[0]!.session, 'number');
    assert.deepEqual(server.refusals, ['handshake_timeout']);
  });

  it('an admitted upgrade clears the handshake deadline: the session outlives it', async (t) => {
    const clock = new ManualClock();
    const { server, targets } = await setUp(t, [], { clock });
    const ws = await openClient(server.url);
    const target = await targets.next();
    target.pipe(target);
    // No timer left: the deadline went at admission (no --heartbeat here).
    assert.equal(clock.timers, 0);
    clock.advance(server.config.limits.handshakeTimeoutMs * 2);
    const echoed = receiveBytes(ws, 5);
    ws.send(Buffer.from('still'));
    assert.equal((await echoed).toString(), 'still');
    ws.close(1000);
    await closeEvent(ws);
  });
});
