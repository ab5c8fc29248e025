// What the bench measures: each scenario runs against one started subject and returns its
// figures. Sizes shrink under --quick; every job carries a time cap.
import { readFileSync } from 'node:fs';
import type { BenchWorker } from './bench-worker.js';
import { MiB, type ClientJob, type ClientReady, type ClientResult, type TargetStats } from './bench-protocol.js';
import { sleep, type Subject, type SubjectName } from './bench-subject.js';
import { treeCpuSeconds, treeMemory } from './proc-stats.js';

export interface MetricDef {
  key: string;
  label: string;
  /** Which way is good, so readers know how to take a ratio (it is always ours / theirs). */
  better: 'higher' | 'lower';
  digits: number;
  /** False for counts that differ by design (connections held): no ratio row for them. */
  ratio?: boolean;
}

export interface BenchContext {
  quick: boolean;
  targets: BenchWorker;
  /** Two load-client processes; scenarios with background load use the second. */
  clients: [BenchWorker, BenchWorker];
  fdLimit: number;
}

export interface ScenarioOutcome {
  values: Record<string, number>;
  notes: string[];
}

export interface Scenario {
  name: string;
  title: (ctx: BenchContext) => string;
  /** Part of --full only (the scale scenarios). */
  full: boolean;
  subjects: readonly SubjectName[];
  metrics: MetricDef[];
  run: (ctx: BenchContext, subject: Subject) => Promise<ScenarioOutcome>;
}

/** Slack on top of a job's own cap before the bench gives up on the load client. */
const JOB_SLACK_MS = 20_000;

async function job<T extends ClientResult | ClientReady>(client: BenchWorker, message: ClientJob, capMs: number): Promise<T> {
  const answer = await client.request<T>(message, capMs + JOB_SLACK_MS);
  if (answer.type === 'result' && !answer.ok) throw new Error(`${message.kind} failed: ${answer.error ?? 'no result'}`);
  if (answer.type === 'ready' && answer.opened === 0) throw new Error(`${message.kind}: no connection opened: ${answer.error ?? ''}`);
  return answer;
}

function targetStats(ctx: BenchContext): Promise<TargetStats> {
  return ctx.targets.request<TargetStats>({ type: 'stats' }, 5000);
}

const ALL: readonly SubjectName[] = ['ours', 'python', 'node-peer', 'node-websockify', 'relay'];
const pct = (share: number): number => share * 100;

function throughputMetrics(): MetricDef[] {
  return [
    { key: 'mibps', label: 'MiB/s', better: 'higher', digits: 1 },
    { key: 'coldMibps', label: 'cold MiB/s', better: 'higher', digits: 1 },
    { key: 'coldCpuMsPerMiB', label: 'cold CPU ms/MiB', better: 'lower', digits: 2 },
    { key: 'cpuMsPerMiB', label: 'proxy CPU ms/MiB', better: 'lower', digits: 2 },
    { key: 'proxyCpu', label: 'proxy CPU %', better: 'lower', digits: 0 },
    { key: 'clientCpu', label: 'client CPU %', better: 'lower', digits: 0 },
  ];
}

function throughput(direction: 'up' | 'down'): Scenario {
  return {
    name: direction,
    title: (ctx) =>
      direction === 'up'
        ? `throughput up: ${sizes(ctx).bulkMiB} MiB client -> target in 64 KiB messages (cap ${sizes(ctx).bulkCapS} s), after ${sizes(ctx).warmMiB} MiB of warm-up ("cold")`
        : `throughput down: ${sizes(ctx).bulkMiB} MiB target -> client (cap ${sizes(ctx).bulkCapS} s), after ${sizes(ctx).warmMiB} MiB of warm-up ("cold")`,
    full: false,
    // ours-rec: ours with --record, for the recording writer's cost (the ours-rec/ours row).
    subjects: ['ours', 'ours-rec', 'python', 'node-peer', 'node-websockify', 'relay'],
    metrics: throughputMetrics(),
    run: async (ctx, subject) => {
      const { bulkMiB, bulkCapS, warmMiB } = sizes(ctx);
      const capMs = bulkCapS * 1000;
      const transfer = (mib: number): ClientJob =>
        direction === 'up'
          ? { kind: 'up', endpoint: subject.endpoint, bytes: mib * MiB, messageBytes: 64 * 1024, capMs }
          : { kind: 'down', endpoint: subject.endpoint, bytes: mib * MiB, capMs };
      // A fresh Node process moves its first ~100 MiB slower while V8 compiles the hot path
      // (measured: 748 -> 934 MiB/s over the first four 256 MiB transfers). A proxy runs for days,
      // so the figure that counts is the steady one; the first transfer is kept as "cold".
      // Every subject gets the same warm-up (Python's is a no-op for it: nothing to compile).
      // The subject is fresh (started for this scenario): its first transfer is its first session.
      const coldCpu0 = treeCpuSeconds(subject.pid);
      const warm = await job<ClientResult>(ctx.clients[0], transfer(warmMiB), capMs);
      const coldCpu = treeCpuSeconds(subject.pid) - coldCpu0;
      const coldMib = (warm.bytes ?? 0) / MiB;
      const cpu0 = treeCpuSeconds(subject.pid);
      const result = await job<ClientResult>(ctx.clients[0], transfer(bulkMiB), capMs);
      const cpu = treeCpuSeconds(subject.pid) - cpu0;
      const mib = (result.bytes ?? 0) / MiB;
      const seconds = (result.elapsedMs ?? 0) / 1000;
      const notes = result.capped ? [`capped at ${bulkCapS} s after ${mib.toFixed(0)} MiB`] : [];
      if (subject.name === 'ours-rec' && subject.recordingDropped) notes.push('the disk could not keep up and recording stopped mid-transfer');
      return {
        values: {
          mibps: mib / seconds,
          coldMibps: coldMib / ((warm.elapsedMs ?? 0) / 1000),
          coldCpuMsPerMiB: coldMib > 0 ? (coldCpu * 1000) / coldMib : NaN,
          cpuMsPerMiB: mib > 0 ? (cpu * 1000) / mib : NaN,
          proxyCpu: pct(cpu / seconds),
          clientCpu: pct(result.clientCpu ?? 0),
        },
        notes,
      };
    },
  };
}

const latency: Scenario = {
  name: 'latency',
  title: (ctx) => `echo latency: 1 connection, 32-byte messages, one in flight, N=${sizes(ctx).latencyN} after ${sizes(ctx).latencyWarmup} warm-up round trips`,
  full: false,
  subjects: ALL,
  metrics: [
    { key: 'p50', label: 'p50 us', better: 'lower', digits: 0 },
    { key: 'p99', label: 'p99 us', better: 'lower', digits: 0 },
    { key: 'p999', label: 'p99.9 us', better: 'lower', digits: 0 },
    { key: 'mean', label: 'mean us', better: 'lower', digits: 0 },
  ],
  run: async (ctx, subject) => {
    const capMs = 20_000;
    const result = await job<ClientResult>(
      ctx.clients[0],
      { kind: 'latency', endpoint: subject.endpoint, count: sizes(ctx).latencyN, warmup: sizes(ctx).latencyWarmup, messageBytes: 32, capMs },
      capMs,
    );
    const notes = result.capped ? [`capped at 20 s after ${result.samples} samples`] : [];
    return { values: { p50: result.p50Us ?? NaN, p99: result.p99Us ?? NaN, p999: result.p999Us ?? NaN, mean: result.meanUs ?? NaN }, notes };
  },
};

const small: Scenario = {
  name: 'small',
  title: (ctx) => `small messages: 64-byte messages to echo, pipelined (1 MiB in flight), ${sizes(ctx).smallS} s, first fifth is warm-up`,
  full: false,
  subjects: ALL,
  metrics: [
    { key: 'msgps', label: 'messages/s', better: 'higher', digits: 0 },
    { key: 'proxyCpu', label: 'proxy CPU %', better: 'lower', digits: 0 },
    { key: 'clientCpu', label: 'client CPU %', better: 'lower', digits: 0 },
  ],
  run: async (ctx, subject) => {
    const durationMs = sizes(ctx).smallS * 1000;
    const cpu0 = treeCpuSeconds(subject.pid);
    const started = Date.now();
    const result = await job<ClientResult>(
      ctx.clients[0],
      { kind: 'small', endpoint: subject.endpoint, messageBytes: 64, durationMs, windowBytes: 1024 * 1024, capMs: durationMs },
      durationMs,
    );
    const cpu = treeCpuSeconds(subject.pid) - cpu0;
    const wall = (Date.now() - started) / 1000;
    const notes = subject.name === 'relay' ? ['relay: plain TCP, so the 64-byte "messages" coalesce into a stream'] : [];
    return {
      values: {
        msgps: (result.messages ?? 0) / ((result.elapsedMs ?? 1) / 1000),
        proxyCpu: pct(cpu / wall),
        clientCpu: pct(result.clientCpu ?? 0),
      },
      notes,
    };
  },
};

/** Connections held at once: the reference forks per connection, so it holds far fewer. */
function holdCount(ctx: BenchContext, subject: Subject): number {
  if (subject.name === 'python') return ctx.quick ? 50 : 200;
  return ctx.quick ? 500 : 5000;
}

async function holdConnections(
  ctx: BenchContext,
  subject: Subject,
  connections: number,
  capMs: number,
  whileHeld?: () => Promise<Record<string, number>>,
): Promise<ScenarioOutcome> {
  await sleep(300);
  const mem0 = treeMemory(subject.pid);
  const before = await targetStats(ctx);
  const cpu0 = treeCpuSeconds(subject.pid);
  const ready = await job<ClientReady>(ctx.clients[0], { kind: 'hold', endpoint: subject.endpoint, connections, concurrency: 64, capMs }, capMs);
  // The proxy's own CPU per opened session: on two shared cores the connect rate is also set by
  // the load client and the target, this is not.
  const cpuPerConn = (treeCpuSeconds(subject.pid) - cpu0) / Math.max(1, ready.opened);
  // Let timers and lazy allocations settle before reading memory.
  await sleep(1000);
  const mem1 = treeMemory(subject.pid);
  const during = await targetStats(ctx);
  const extra = whileHeld === undefined ? {} : await whileHeld();
  const released = await job<ClientResult>(ctx.clients[0], { kind: 'release' }, 10_000);
  const notes: string[] = [];
  if (ready.failed > 0) notes.push(`${ready.failed} connections failed to open (first: ${ready.error ?? '?'})`);
  if ((released.failed ?? 0) > 0) notes.push(`${released.failed} held connections were closed by the proxy while idle`);
  if (subject.name === 'python') notes.push(`python holds ${connections} (one forked process each; 5,000 forks is not cheap)`);
  const opened = ready.opened;
  return {
    values: {
      held: opened,
      targetLegs: during.open - before.open,
      kibPerConn: (mem1.pss - mem0.pss) / 1024 / Math.max(1, opened),
      rssKibPerConn: (mem1.rss - mem0.rss) / 1024 / Math.max(1, opened),
      connectRate: opened / (ready.elapsedMs / 1000),
      cpuUsPerConn: cpuPerConn * 1e6,
      processes: mem1.processes,
      ...extra,
    },
    notes,
  };
}

const holdMetrics: MetricDef[] = [
  { key: 'held', label: 'held', better: 'higher', digits: 0, ratio: false },
  { key: 'targetLegs', label: 'target legs', better: 'higher', digits: 0, ratio: false },
  { key: 'kibPerConn', label: 'KiB/conn (Pss)', better: 'lower', digits: 1 },
  { key: 'rssKibPerConn', label: 'KiB/conn (RSS sum)', better: 'lower', digits: 1 },
  { key: 'connectRate', label: 'connect+echo/s', better: 'higher', digits: 0 },
  { key: 'cpuUsPerConn', label: 'proxy CPU us/open', better: 'lower', digits: 0 },
  { key: 'processes', label: 'processes', better: 'lower', digits: 0, ratio: false },
];

const hold: Scenario = {
  name: 'hold',
  title: (ctx) => `connections held: ${ctx.quick ? 500 : 5000} idle connections (python: ${ctx.quick ? 50 : 200}), each echoed once, memory per connection`,
  full: false,
  subjects: ALL,
  metrics: holdMetrics,
  run: (ctx, subject) => holdConnections(ctx, subject, holdCount(ctx, subject), 90_000),
};

const backpressure: Scenario = {
  name: 'backpressure',
  title: (ctx) => `backpressure: client stops reading, target floods ${sizes(ctx).floodMiB} MiB; proxy memory growth (peak - before)`,
  full: false,
  subjects: ALL,
  metrics: [
    { key: 'growthMiB', label: 'growth MiB (Pss)', better: 'lower', digits: 1 },
    { key: 'rssGrowthMiB', label: 'growth MiB (RSS)', better: 'lower', digits: 1 },
    { key: 'pushedMiB', label: 'target pushed MiB', better: 'lower', digits: 1 },
  ],
  run: async (ctx, subject) => {
    const { floodMiB } = sizes(ctx);
    const capMs = ctx.quick ? 8000 : 20_000;
    const before = await targetStats(ctx);
    await job<ClientReady>(ctx.clients[0], { kind: 'stall', endpoint: subject.endpoint, bytes: floodMiB * MiB, capMs }, capMs);
    await sleep(300);
    const mem0 = treeMemory(subject.pid);
    let peakPss = mem0.pss;
    let peakRss = mem0.rss;
    ctx.clients[0].post({ kind: 'flood', bytes: floodMiB * MiB });
    const start = Date.now();
    let lastPushed = 0;
    let lastProgress = start;
    let pushed = 0;
    let stalled = false;
    while (Date.now() - start < capMs) {
      await sleep(100);
      const mem = treeMemory(subject.pid);
      peakPss = Math.max(peakPss, mem.pss);
      peakRss = Math.max(peakRss, mem.rss);
      pushed = (await targetStats(ctx)).sourceQueued - before.sourceQueued;
      if (pushed >= floodMiB * MiB) break;
      if (pushed - lastPushed > 64 * 1024) {
        lastPushed = pushed;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > 2000) {
        stalled = true;
        break;
      }
    }
    await job<ClientResult>(ctx.clients[0], { kind: 'release' }, 10_000);
    const notes = [
      stalled
        ? `target stalled after ${(pushed / MiB).toFixed(1)} MiB: backpressure reached it`
        : `target pushed all ${(pushed / MiB).toFixed(0)} MiB: not held back`,
    ];
    return {
      values: {
        growthMiB: (peakPss - mem0.pss) / MiB,
        rssGrowthMiB: (peakRss - mem0.rss) / MiB,
        pushedMiB: pushed / MiB,
      },
      notes,
    };
  },
};

/** Stalled downloads: as many as the fd limit allows (the proxy needs 2 per session), up to `wanted`. */
function stalledCount(ctx: BenchContext): number {
  const wanted = Number(process.env.BENCH_STALLED ?? (ctx.quick ? 200 : 1000));
  return Math.min(wanted, Math.floor((ctx.fdLimit - 256) / 2));
}

const stalled: Scenario = {
  name: 'stalled',
  title: (ctx) => `stalled readers: ${stalledCount(ctx)} clients start a download and stop reading; proxy memory growth, then echo latency meanwhile`,
  full: true,
  subjects: ['ours', 'node-peer', 'node-websockify', 'relay'],
  metrics: [
    { key: 'stalled', label: 'stalled', better: 'higher', digits: 0, ratio: false },
    { key: 'rssGrowthMiB', label: 'RSS growth MiB', better: 'lower', digits: 1 },
    { key: 'rssKibPerSession', label: 'RSS KiB/session', better: 'lower', digits: 0 },
    { key: 'pssKibPerSession', label: 'Pss KiB/session', better: 'lower', digits: 0 },
    { key: 'pushedMibPerSession', label: 'target pushed MiB/session', better: 'lower', digits: 1 },
    { key: 'p50', label: 'echo p50 us', better: 'lower', digits: 0 },
    { key: 'p99', label: 'echo p99 us', better: 'lower', digits: 0 },
  ],
  run: async (ctx, subject) => {
    const count = stalledCount(ctx);
    const capMs = 180_000;
    await sleep(300);
    const mem0 = treeMemory(subject.pid);
    const before = await targetStats(ctx);
    // 64 MiB each: more than the kernel's loopback buffers take, so every session fills the proxy.
    const ready = await job<ClientReady>(
      ctx.clients[0],
      { kind: 'stalls', endpoint: subject.endpoint, connections: count, concurrency: 64, bytesEach: 64 * MiB, capMs },
      capMs,
    );
    // Wait until the targets can push no more: backpressure reached every source.
    let pushed = 0;
    let last = -1;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      await sleep(1000);
      pushed = (await targetStats(ctx)).sourceQueued - before.sourceQueued;
      if (pushed === last) break;
      last = pushed;
    }
    const mem1 = treeMemory(subject.pid);
    const latency = await job<ClientResult>(
      ctx.clients[1],
      { kind: 'latency', endpoint: subject.endpoint, count: 1000, warmup: 100, messageBytes: 32, capMs: 20_000 },
      20_000,
    );
    await job<ClientResult>(ctx.clients[0], { kind: 'release' }, 30_000);
    const opened = Math.max(1, ready.opened);
    const notes: string[] = [];
    if (ready.failed > 0) notes.push(`${ready.failed} downloads failed to open (first: ${ready.error ?? '?'})`);
    if (pushed !== last) notes.push('the targets were still pushing after 60 s');
    return {
      values: {
        stalled: ready.opened,
        rssGrowthMiB: (mem1.rss - mem0.rss) / MiB,
        rssKibPerSession: (mem1.rss - mem0.rss) / 1024 / opened,
        pssKibPerSession: (mem1.pss - mem0.pss) / 1024 / opened,
        pushedMibPerSession: pushed / MiB / opened,
        p50: latency.p50Us ?? NaN,
        p99: latency.p99Us ?? NaN,
      },
      notes,
    };
  },
};

const streams: Scenario = {
  name: 'streams',
  title: (ctx) => `8 concurrent streams down, ${sizes(ctx).streamMiB} MiB each, aggregate, after 8 x ${sizes(ctx).streamWarmMiB} MiB of warm-up`,
  full: true,
  // ours-w2: the same with --workers 2, for the 2-workers-vs-1 target (docs/performance.md).
  subjects: ['ours', 'ours-w2', 'python', 'node-peer', 'node-websockify', 'relay'],
  metrics: [
    { key: 'mibps', label: 'aggregate MiB/s', better: 'higher', digits: 1 },
    { key: 'cpuMsPerMiB', label: 'proxy CPU ms/MiB', better: 'lower', digits: 2 },
    { key: 'proxyCpu', label: 'proxy CPU %', better: 'lower', digits: 0 },
    { key: 'clientCpu', label: 'client CPU %', better: 'lower', digits: 0 },
  ],
  run: async (ctx, subject) => {
    const capMs = 30_000;
    const { streamMiB, streamWarmMiB } = sizes(ctx);
    const streamsJob = (mib: number): ClientJob => ({ kind: 'streams', endpoint: subject.endpoint, streams: 8, bytesEach: mib * MiB, capMs });
    // As for `up` and `down`: a fresh Node process is measured once V8 has compiled the hot path
    // (each worker of ours-w2 gets four of the eight warm-up streams). Without it, 8 x 32 MiB
    // measured mostly compilation: 1.60 ms/MiB for ours against 0.68 in the warm `down`.
    await job<ClientResult>(ctx.clients[0], streamsJob(streamWarmMiB), capMs);
    const cpu0 = treeCpuSeconds(subject.pid);
    const result = await job<ClientResult>(ctx.clients[0], streamsJob(streamMiB), capMs);
    const cpu = treeCpuSeconds(subject.pid) - cpu0;
    const mib = (result.bytes ?? 0) / MiB;
    const seconds = (result.elapsedMs ?? 1) / 1000;
    return {
      values: {
        mibps: mib / seconds,
        cpuMsPerMiB: (cpu * 1000) / Math.max(mib, 1e-9),
        proxyCpu: pct(cpu / seconds),
        clientCpu: pct(result.clientCpu ?? 0),
      },
      notes: result.capped ? [`capped at 30 s after ${mib.toFixed(0)} MiB`] : [],
    };
  },
};

/** How many sessions fit: the proxy holds two sockets per session under one fd limit. */
function sessionCount(ctx: BenchContext): number {
  const wanted = ctx.quick ? 1000 : 10_000;
  return Math.min(wanted, Math.floor((ctx.fdLimit - 256) / 2));
}

const sessions: Scenario = {
  name: 'sessions',
  title: (ctx) => `sessions held: ${sessionCount(ctx)} concurrent sessions, then echo latency while held`,
  full: true,
  subjects: ['ours', 'node-peer', 'node-websockify', 'relay'],
  metrics: [...holdMetrics, { key: 'p50', label: 'held p50 us', better: 'lower', digits: 0 }, { key: 'p99', label: 'held p99 us', better: 'lower', digits: 0 }],
  run: async (ctx, subject) => {
    const count = sessionCount(ctx);
    const outcome = await holdConnections(ctx, subject, count, 120_000, async () => {
      const result = await job<ClientResult>(
        ctx.clients[1],
        { kind: 'latency', endpoint: subject.endpoint, count: 1000, warmup: 100, messageBytes: 32, capMs: 20_000 },
        20_000,
      );
      return { p50: result.p50Us ?? NaN, p99: result.p99Us ?? NaN };
    });
    if (count < 10_000 && !ctx.quick) outcome.notes.push(`${count}, not 10,000: the fd limit is ${ctx.fdLimit} and the proxy needs 2 per session`);
    return outcome;
  },
};

const latencyUnderLoad: Scenario = {
  name: 'latency-load',
  title: () => 'echo latency under a background bulk transfer down (second connection)',
  full: true,
  // ours-w2: round robin puts the two connections on different workers.
  subjects: ['ours', 'ours-w2', 'python', 'node-peer', 'node-websockify', 'relay'],
  metrics: [
    { key: 'p50', label: 'p50 us', better: 'lower', digits: 0 },
    { key: 'p99', label: 'p99 us', better: 'lower', digits: 0 },
    { key: 'bulkMibps', label: 'bulk MiB/s', better: 'higher', digits: 1 },
  ],
  run: async (ctx, subject) => {
    const bulkCapMs = ctx.quick ? 4000 : 10_000;
    const bulk = job<ClientResult>(ctx.clients[1], { kind: 'down', endpoint: subject.endpoint, bytes: 64 * 1024 * MiB, capMs: bulkCapMs }, bulkCapMs);
    await sleep(500);
    const latencyResult = await job<ClientResult>(
      ctx.clients[0],
      { kind: 'latency', endpoint: subject.endpoint, count: ctx.quick ? 300 : 1000, warmup: 50, messageBytes: 32, capMs: bulkCapMs - 1000 },
      bulkCapMs,
    );
    const bulkResult = await bulk;
    const notes = (latencyResult.samples ?? 0) < (ctx.quick ? 300 : 1000) ? [`only ${latencyResult.samples} samples before the cap`] : [];
    return {
      values: {
        p50: latencyResult.p50Us ?? NaN,
        p99: latencyResult.p99Us ?? NaN,
        bulkMibps: (bulkResult.bytes ?? 0) / MiB / ((bulkResult.elapsedMs ?? 1) / 1000),
      },
      notes,
    };
  },
};

function sizes(ctx: BenchContext): {
  bulkMiB: number;
  bulkCapS: number;
  /** Transferred once, unmeasured, before the measured transfer (see throughput()). */
  warmMiB: number;
  latencyN: number;
  latencyWarmup: number;
  smallS: number;
  floodMiB: number;
  streamMiB: number;
  streamWarmMiB: number;
} {
  return ctx.quick
    ? { bulkMiB: 32, bulkCapS: 10, warmMiB: 16, latencyN: 300, latencyWarmup: 200, smallS: 1.5, floodMiB: 50, streamMiB: 8, streamWarmMiB: 4 }
    : { bulkMiB: 2048, bulkCapS: 30, warmMiB: 512, latencyN: 10_000, latencyWarmup: 3000, smallS: 5, floodMiB: 200, streamMiB: 128, streamWarmMiB: 32 };
}

export const scenarios: readonly Scenario[] = [
  throughput('up'),
  throughput('down'),
  latency,
  small,
  hold,
  backpressure,
  stalled,
  streams,
  sessions,
  latencyUnderLoad,
];

/** The soft limit on open files this process (and so its children) runs under. */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'latin1');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (match === null || match[1] === 'unlimited') return 1_048_576;
  return Number(match[1]);
}
