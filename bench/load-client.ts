// The load client process: runs one job at a time for bench.ts over IPC and reports numbers.
// Kept apart from the proxy and the targets so the proxy's CPU is measured alone.
import { BenchConnection, buildMessageBlock, prepareMessage } from './bench-connection.js';
import { Mode, MiB, modeHeader, type ClientJob, type ClientReady, type ClientResult } from './bench-protocol.js';

const OPEN_TIMEOUT_MS = 10_000;

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Measures this process's CPU over a job, as a share of one core. */
function cpuMeter(): () => number {
  const start = process.cpuUsage();
  const wall = nowMs();
  return () => {
    const used = process.cpuUsage(start);
    const elapsed = nowMs() - wall;
    return elapsed > 0 ? (used.user + used.system) / 1000 / elapsed : 0;
  };
}

function send(message: ClientResult | ClientReady): void {
  process.send?.(message);
}

/** Resolves when `done()` is called or the cap passes; the flag says which. */
function capped(capMs: number, body: (done: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      resolve(true);
    }, capMs);
    body(() => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(false);
    });
  });
}

async function runUp(job: Extract<ClientJob, { kind: 'up' }>): Promise<ClientResult> {
  const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
  const cpu = cpuMeter();
  const message = prepareMessage(job.endpoint.transport, Buffer.alloc(job.messageBytes, 0x75));
  const start = nowMs();
  let lastTick = start;
  let sent = 0;
  connection.send(modeHeader(Mode.sink, job.bytes));
  const wasCapped = await capped(job.capMs, (done) => {
    connection.onPayload = () => {
      lastTick = nowMs();
      if (connection.received * MiB >= job.bytes) done();
    };
    const pump = (): void => {
      while (sent < job.bytes) {
        const n = Math.min(job.messageBytes, job.bytes - sent);
        sent += n;
        const more = n === job.messageBytes ? connection.sendPrepared(message) : connection.send(Buffer.alloc(n, 0x75));
        if (!more) {
          connection.socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const clientCpu = cpu();
  const bytes = connection.received * MiB;
  const elapsedMs = (wasCapped ? nowMs() : lastTick) - start;
  connection.close();
  return { type: 'result', kind: 'up', ok: true, bytes, elapsedMs, capped: wasCapped, clientCpu };
}

async function runDown(job: Extract<ClientJob, { kind: 'down' }>): Promise<ClientResult> {
  const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
  const cpu = cpuMeter();
  const start = nowMs();
  let last = start;
  connection.send(modeHeader(Mode.source, job.bytes));
  const wasCapped = await capped(job.capMs, (done) => {
    connection.onPayload = () => {
      last = nowMs();
      if (connection.received >= job.bytes) done();
    };
  });
  const clientCpu = cpu();
  const elapsedMs = (wasCapped ? nowMs() : last) - start;
  const bytes = connection.received;
  connection.close();
  return { type: 'result', kind: 'down', ok: true, bytes, elapsedMs, capped: wasCapped, clientCpu };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? NaN;
}

async function runLatency(job: Extract<ClientJob, { kind: 'latency' }>): Promise<ClientResult> {
  const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
  const cpu = cpuMeter();
  const message = prepareMessage(job.endpoint.transport, Buffer.alloc(job.messageBytes, 0x6c));
  const samples: number[] = [];
  connection.send(modeHeader(Mode.echo, 0));
  let round = 0;
  let expected = 0;
  let t0 = 0n;
  const wasCapped = await capped(job.capMs, (done) => {
    const next = (): void => {
      expected += job.messageBytes;
      t0 = process.hrtime.bigint();
      connection.sendPrepared(message);
    };
    connection.onPayload = () => {
      if (connection.received < expected) return;
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      round += 1;
      if (round > job.warmup) samples.push(us);
      if (samples.length >= job.count) done();
      else next();
    };
    next();
  });
  const clientCpu = cpu();
  connection.close();
  const sorted = samples.slice().sort((a, b) => a - b);
  const meanUs = sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length);
  return {
    type: 'result',
    kind: 'latency',
    ok: samples.length > 0,
    ...(samples.length === 0 ? { error: 'no echo received' } : {}),
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    p999Us: percentile(sorted, 99.9),
    meanUs,
    samples: samples.length,
    capped: wasCapped,
    clientCpu,
  };
}

async function runSmall(job: Extract<ClientJob, { kind: 'small' }>): Promise<ClientResult> {
  const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
  const perBlock = Math.max(1, Math.floor((64 * 1024) / job.messageBytes));
  const block = buildMessageBlock(job.endpoint.transport, job.messageBytes, perBlock);
  connection.send(modeHeader(Mode.echo, 0));
  let sentMessages = 0;
  const echoed = (): number => Math.floor(connection.received / job.messageBytes);
  // The first fifth of the run warms the JIT of every process involved; only the rest counts.
  const warmMs = job.durationMs / 5;
  const start = nowMs();
  let measureStart = 0;
  let measureFrom = 0;
  let cpu: (() => number) | null = null;
  let stopped = false;
  const pump = (): void => {
    if (stopped) return;
    while ((sentMessages - echoed()) * job.messageBytes < job.windowBytes) {
      sentMessages += perBlock;
      if (!connection.sendPrepared(block)) {
        connection.socket.once('drain', pump);
        return;
      }
    }
  };
  connection.onPayload = pump;
  pump();
  const warmTimer = setTimeout(() => {
    measureStart = nowMs();
    measureFrom = echoed();
    cpu = cpuMeter();
  }, warmMs);
  await new Promise<void>((resolve) => setTimeout(resolve, job.durationMs));
  stopped = true;
  clearTimeout(warmTimer);
  const messages = echoed() - measureFrom;
  const elapsedMs = nowMs() - (measureStart || start);
  const clientCpu = cpu === null ? 0 : (cpu as () => number)();
  connection.close();
  return { type: 'result', kind: 'small', ok: messages > 0, messages, elapsedMs, clientCpu };
}

let held: BenchConnection[] = [];

async function runHold(job: Extract<ClientJob, { kind: 'hold' }>): Promise<void> {
  const start = nowMs();
  const probe = Buffer.alloc(16, 0x68);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const deadline = start + job.capMs;
  // Each connection opens, selects echo, and proves its target leg is up with one echoed probe.
  const openOne = async (): Promise<void> => {
    const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
    connection.send(modeHeader(Mode.echo, 0));
    await capped(OPEN_TIMEOUT_MS, (done) => {
      connection.onPayload = () => {
        if (connection.received >= probe.length) done();
      };
      connection.send(probe);
    });
    connection.onPayload = null;
    if (connection.received < probe.length) {
      connection.close();
      throw new Error('probe not echoed');
    }
    held.push(connection);
  };
  const worker = async (): Promise<void> => {
    while (next < job.connections && nowMs() < deadline) {
      next += 1;
      try {
        await openOne();
      } catch (error) {
        failed += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const ready: ClientReady = {
    type: 'ready',
    kind: 'hold',
    opened: held.length,
    failed,
    elapsedMs: nowMs() - start,
    ...(firstError === undefined ? {} : { error: firstError }),
  };
  send(ready);
}

async function runStall(job: Extract<ClientJob, { kind: 'stall' }>): Promise<void> {
  const start = nowMs();
  const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
  // The client stops reading right away: everything the target sends piles up somewhere,
  // and the proxy's share of that pile is what this scenario measures.
  connection.socket.pause();
  held.push(connection);
  send({ type: 'ready', kind: 'stall', opened: 1, failed: 0, elapsedMs: nowMs() - start });
}

/** Many downloads that stop reading at once (the `stalled` scenario): each asks for `bytesEach`. */
async function runStalls(job: Extract<ClientJob, { kind: 'stalls' }>): Promise<void> {
  const start = nowMs();
  const deadline = start + job.capMs;
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < job.connections && nowMs() < deadline) {
      next += 1;
      try {
        const connection = await BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS);
        connection.socket.pause();
        connection.send(modeHeader(Mode.source, job.bytesEach));
        held.push(connection);
        opened += 1;
      } catch (error) {
        failed += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  send({ type: 'ready', kind: 'stalls', opened, failed, elapsedMs: nowMs() - start, ...(firstError === undefined ? {} : { error: firstError }) });
}

/** Starts the flood once bench.ts has taken its "before" memory reading. */
function startStallFlood(bytes: number): void {
  held[0]?.send(modeHeader(Mode.source, bytes));
}

async function runStreams(job: Extract<ClientJob, { kind: 'streams' }>): Promise<ClientResult> {
  const connections = await Promise.all(Array.from({ length: job.streams }, () => BenchConnection.open(job.endpoint, OPEN_TIMEOUT_MS)));
  const cpu = cpuMeter();
  const start = nowMs();
  let last = start;
  const total = job.bytesEach * job.streams;
  let received = 0;
  const wasCapped = await capped(job.capMs, (done) => {
    for (const connection of connections) {
      connection.onPayload = (n) => {
        received += n;
        last = nowMs();
        if (received >= total) done();
      };
      connection.send(modeHeader(Mode.source, job.bytesEach));
    }
  });
  const clientCpu = cpu();
  for (const connection of connections) connection.close();
  const elapsedMs = (wasCapped ? nowMs() : last) - start;
  return { type: 'result', kind: 'streams', ok: true, bytes: received, elapsedMs, capped: wasCapped, clientCpu };
}

function release(): ClientResult {
  const opened = held.length;
  const alive = held.filter((c) => !c.closed).length;
  for (const connection of held) connection.close();
  held = [];
  return { type: 'result', kind: 'release', ok: true, opened, failed: opened - alive };
}

async function runJob(job: ClientJob | { kind: 'flood'; bytes: number }): Promise<void> {
  try {
    switch (job.kind) {
      case 'up':
        send(await runUp(job));
        return;
      case 'down':
        send(await runDown(job));
        return;
      case 'latency':
        send(await runLatency(job));
        return;
      case 'small':
        send(await runSmall(job));
        return;
      case 'streams':
        send(await runStreams(job));
        return;
      case 'hold':
        await runHold(job);
        return;
      case 'stall':
        await runStall(job);
        return;
      case 'stalls':
        await runStalls(job);
        return;
      case 'flood':
        startStallFlood(job.bytes);
        return;
      case 'release':
        send(release());
        return;
    }
  } catch (error) {
    send({ type: 'result', kind: job.kind === 'flood' ? 'stall' : job.kind, ok: false, error: (error as Error).message });
  }
}

process.on('message', (job: ClientJob | { kind: 'flood'; bytes: number }) => {
  void runJob(job);
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'started' });
