import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { parseArgv } from '../../../src/cli/argv-parser.js';
import { buildConfig } from '../../../src/cli/build-config.js';
import { Lifecycle, serve, type ProcessHandle, type ServedServer } from '../../../src/cli/lifecycle.js';
import { OPTIONS } from '../../../src/cli/option-table.js';
import { ConnectionRegistry, type LiveSession } from '../../../src/server/connection-registry.js';
import { captureLogger } from '../../support/capture-logger.js';
import { ManualClock } from '../../support/manual-clock.js';
import { waitFor } from '../../support/wait.js';

/** A process that records what the lifecycle does with it; signals are emitted by the test. */
class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  readonly kills: Array<[number, NodeJS.Signals | number]> = [];
  exit(code?: number): never {
    this.exits.push(code ?? 0);
    return undefined as never;
  }
  kill(pid: number, signal?: NodeJS.Signals | number): true {
    this.kills.push([pid, signal ?? 'SIGTERM']);
    if (pid === -404) throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    return true;
  }
}

function lifecycle(): { proc: FakeProcess; life: Lifecycle } {
  const proc = new FakeProcess();
  return { proc, life: new Lifecycle(proc as unknown as ProcessHandle) };
}

describe('Lifecycle', () => {
  it('leaves every signal its default action until something asks for it', () => {
    const { proc, life } = lifecycle();
    life.onNotice('SIGHUP', () => undefined);
    assert.deepEqual(proc.eventNames(), ['SIGHUP']);
  });

  it('a worker that does not serve yet exits 0 on a stop signal and ignores SIGHUP and SIGUSR1', () => {
    const { proc, life } = lifecycle();
    const seen: string[] = [];
    life.watchStop((signal) => seen.push(signal));
    proc.emit('SIGHUP');
    proc.emit('SIGUSR1');
    assert.deepEqual(proc.exits, []);
    proc.emit('SIGTERM');
    assert.deepEqual(proc.exits, [0]);
    assert.deepEqual(seen, [], 'nothing to tell the primary: there is nothing to drain');
  });

  it('once the server handles stop signals, watchers see each one first, and deliver() is the same as the signal', () => {
    const { proc, life } = lifecycle();
    const seen: string[] = [];
    life.watchStop((signal) => seen.push(`watch ${signal}`));
    life.onStop((signal) => seen.push(`stop ${signal}`));
    proc.emit('SIGINT');
    life.deliver('SIGTERM');
    assert.deepEqual(seen, ['watch SIGINT', 'stop SIGINT', 'watch SIGTERM', 'stop SIGTERM']);
    assert.deepEqual(proc.exits, []);
    assert.equal(proc.rawListeners('SIGTERM').length, 1, 'one process listener per signal');
  });

  it('signals a process group, says when none of it is left, and stops groups when the process exits', () => {
    const { proc, life } = lifecycle();
    assert.equal(life.signalGroup(1234, 'SIGTERM'), true);
    assert.equal(life.signalGroup(404, 0), false);
    assert.deepEqual(proc.kills, [
      [-1234, 'SIGTERM'],
      [-404, 0],
    ]);
    const ran: string[] = [];
    const cancel = life.atExit(() => ran.push('a'));
    life.atExit(() => ran.push('b'));
    cancel();
    proc.emit('exit');
    assert.deepEqual(ran, ['b']);
  });
});

/** The parts of a server serve() drives, around a real registry. */
function fakeServer(): ServedServer & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    registry: new ConnectionRegistry(),
    onSessionStart: null,
    stopAccepting: async () => void calls.push('stopAccepting'),
    shutdown: async () => void calls.push('shutdown'),
  };
}

function setUp(args: string[]) {
  const { proc, life } = lifecycle();
  const { logger, sink } = captureLogger();
  const server = fakeServer();
  const clock = new ManualClock();
  const config = buildConfig(parseArgv([...args, '127.0.0.1:0', '127.0.0.1:5900'], OPTIONS), { cwd: '/' });
  const served = serve(life, { config, server, logger, drain: async () => undefined, reload: () => undefined, worker: false, clock });
  const lines = (): string[] => sink.records.map((r) => r.message);
  return { proc, server, clock, served, lines };
}

function connection(registry: ConnectionRegistry): net.Socket {
  const socket = new net.Socket();
  registry.trackSocket(socket);
  return socket;
}

async function close(socket: net.Socket): Promise<void> {
  const closed = once(socket, 'close');
  socket.destroy();
  await closed;
}

describe('serve()', () => {
  it('--idle-timeout exits N seconds after launch when no connection ever opened', async () => {
    const { proc, clock, lines } = setUp(['--idle-timeout', '3']);
    clock.advance(2_999);
    assert.deepEqual(proc.exits, []);
    clock.advance(1);
    await waitFor(() => proc.exits.length > 0, { what: 'the exit' });
    assert.deepEqual(proc.exits, [0]);
    assert.ok(lines().includes('listener exit due to --idle-timeout 3'));
  });

  it('--idle-timeout waits while a connection is open and counts again from the moment the last one closes', async () => {
    const { proc, server, clock } = setUp(['--idle-timeout', '3']);
    clock.advance(2_000);
    const socket = connection(server.registry);
    clock.advance(60_000);
    assert.deepEqual(proc.exits, [], 'an open connection is not idle');
    await close(socket);
    clock.advance(2_999);
    assert.deepEqual(proc.exits, []);
    assert.equal(clock.timers, 1, 'one idle timer, not one per edge');
    clock.advance(1);
    await waitFor(() => proc.exits.length > 0, { what: 'the exit' });
    assert.deepEqual(server.calls, ['shutdown']);
  });

  it('--timeout stops accepting after N seconds and exits when the last connection closes, not before', async () => {
    const { proc, server, clock, lines } = setUp(['--timeout', '5']);
    const socket = connection(server.registry);
    let ended!: () => void;
    const session: LiveSession = { id: 1, close: () => undefined, done: new Promise<void>((resolve) => (ended = resolve)) };
    server.registry.addSession(session);
    clock.advance(5_000);
    assert.deepEqual(server.calls, ['stopAccepting']);
    assert.ok(lines().includes('listener exit due to --timeout 5'));
    ended();
    server.registry.removeSession(session);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(proc.exits, [], 'a connection is still open');
    await close(socket);
    await waitFor(() => proc.exits.length > 0, { what: 'the exit' });
    assert.deepEqual(proc.exits, [0]);
    assert.ok(lines().includes('all sessions finished'));
  });

  it('on SIGTERM stops accepting before it logs, drains, closes what was added in order, then exits 0', async () => {
    const { proc, server, served, lines } = setUp([]);
    served.closeOnExit(async () => void server.calls.push('plugins'));
    served.closeOnExit(async () => void server.calls.push('program'));
    proc.emit('SIGTERM');
    assert.deepEqual(server.calls, ['stopAccepting']);
    assert.deepEqual(lines(), ['In exit (SIGTERM)']);
    await waitFor(() => proc.exits.length > 0, { what: 'the exit' });
    assert.deepEqual(server.calls, ['stopAccepting', 'shutdown', 'plugins', 'program']);
    assert.deepEqual(proc.exits, [0]);
  });

  it('a second signal closes the sessions without waiting for the drain, a third exits 1 at once', () => {
    const { proc, lines } = setUp([]);
    proc.emit('SIGINT');
    proc.emit('SIGINT');
    assert.deepEqual(lines(), ['In exit (SIGINT)', 'second signal: closing remaining sessions now']);
    proc.emit('SIGINT');
    assert.deepEqual(proc.exits, [1]);
  });
});
