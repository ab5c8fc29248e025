// Printing: one table per scenario (absolute figures per subject, then ours/python,
// ours/<node peer> and ours/relay ratios), the CPU-per-MiB table, and the speed targets (docs/performance.md) with PASS/MISS.
import type { MetricDef, Scenario } from './scenarios.js';
import type { SubjectName } from './bench-subject.js';
import { NODE_PEER_NAMES } from './node-peer.js';

export interface SubjectRecord {
  /** Samples per metric, one per run. */
  values: Record<string, number[]>;
  notes: string[];
  errors: string[];
}

export type ScenarioRecords = Partial<Record<SubjectName, SubjectRecord>>;
export type BenchRecords = Record<string, ScenarioRecords>;

export function median(samples: number[] | undefined): number {
  if (samples === undefined || samples.length === 0) return NaN;
  const sorted = samples.slice().sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function formatNumber(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(samples: number[] | undefined, metric: MetricDef): string {
  if (samples === undefined || samples.length === 0) return '-';
  const main = formatNumber(median(samples), metric.digits);
  if (samples.length < 2) return main;
  const low = formatNumber(Math.min(...samples), metric.digits);
  const high = formatNumber(Math.max(...samples), metric.digits);
  return `${main} (${low}-${high})`;
}

/** The subjects ours is divided by in the ratio rows. */
const RATIO_SUBJECTS: readonly SubjectName[] = ['python', ...NODE_PEER_NAMES, 'relay'];

/** The Node peer with the highest connect+echo rate in a scenario, if any ran. */
function bestNodePeer(records: ScenarioRecords): { name: SubjectName; rate: number } | null {
  let best: { name: SubjectName; rate: number } | null = null;
  for (const name of NODE_PEER_NAMES) {
    const rate = median(records[name]?.values.connectRate);
    if (Number.isFinite(rate) && (best === null || rate > best.rate)) best = { name, rate };
  }
  return best;
}

export function ratio(ours: number, theirs: number): number {
  return Number.isFinite(ours) && Number.isFinite(theirs) && theirs !== 0 ? ours / theirs : NaN;
}

function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : '-';
}

function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function scenarioTable(scenario: Scenario, title: string, records: ScenarioRecords, subjects: readonly SubjectName[]): string {
  const shown = subjects.filter((s) => records[s] !== undefined);
  const header = ['subject', ...scenario.metrics.map((m) => `${m.label}${m.better === 'higher' ? ' ^' : ' v'}`)];
  const rows: string[][] = shown.map((s) => [s, ...scenario.metrics.map((m) => cell(records[s]?.values[m.key], m))]);
  const ours = records.ours;
  for (const other of RATIO_SUBJECTS) {
    const theirs = records[other];
    if (ours === undefined || theirs === undefined) continue;
    rows.push([
      `ours/${other}`,
      ...scenario.metrics.map((m) => (m.ratio === false ? '' : formatRatio(ratio(median(ours.values[m.key]), median(theirs.values[m.key]))))),
    ]);
  }
  const recording = records['ours-rec'];
  if (ours !== undefined && recording !== undefined) {
    rows.push([
      'ours-rec/ours',
      ...scenario.metrics.map((m) => (m.ratio === false ? '' : formatRatio(ratio(median(recording.values[m.key]), median(ours.values[m.key]))))),
    ]);
  }
  const twoWorkers = records['ours-w2'];
  if (ours !== undefined && twoWorkers !== undefined) {
    rows.push([
      'ours-w2/ours',
      ...scenario.metrics.map((m) => (m.ratio === false ? '' : formatRatio(ratio(median(twoWorkers.values[m.key]), median(ours.values[m.key]))))),
    ]);
  }
  const notes: string[] = [];
  // The connect+echo target (docs/performance.md) is read off this line: ours against the best Node peer measured.
  if (scenario.name === 'sessions' && ours !== undefined) {
    const best = bestNodePeer(records);
    const vsPeer = best === null ? NaN : ratio(median(ours.values.connectRate), best.rate);
    notes.push(
      `  connect+echo ours / best Node peer${best === null ? '' : ` (${best.name})`}: ${Number.isFinite(vsPeer) ? formatRatio(vsPeer) : 'not measured'}`,
    );
  }
  for (const s of shown) {
    const record = records[s] as SubjectRecord;
    for (const note of new Set(record.notes)) notes.push(`  ${s}: ${note}`);
    for (const error of record.errors) notes.push(`  ${s}: FAILED: ${error.split('\n')[0]}`);
  }
  return [`== ${title} ==`, renderTable(header, rows), ...notes, ''].join('\n');
}

/** CPU seconds of the proxy process tree per MiB moved, both directions side by side. */
export function cpuTable(records: BenchRecords, subjects: readonly SubjectName[]): string | null {
  const up = records.up ?? {};
  const down = records.down ?? {};
  const shown = subjects.filter((s) => up[s] !== undefined || down[s] !== undefined);
  if (shown.length === 0) return null;
  const metric: MetricDef = { key: 'cpuMsPerMiB', label: '', better: 'lower', digits: 2 };
  const rows = shown.map((s) => [s, cell(up[s]?.values.cpuMsPerMiB, metric), cell(down[s]?.values.cpuMsPerMiB, metric)]);
  for (const other of RATIO_SUBJECTS) {
    if (!shown.includes('ours') || !shown.includes(other)) continue;
    rows.push([
      `ours/${other}`,
      formatRatio(ratio(median(up.ours?.values.cpuMsPerMiB), median(up[other]?.values.cpuMsPerMiB))),
      formatRatio(ratio(median(down.ours?.values.cpuMsPerMiB), median(down[other]?.values.cpuMsPerMiB))),
    ]);
  }
  return [
    '== CPU per MiB: proxy CPU ms (user+system, whole process tree) per MiB moved ==',
    renderTable(['subject', 'up ms/MiB v', 'down ms/MiB v'], rows),
    '',
  ].join('\n');
}

export interface TargetCheck {
  target: string;
  measured: string;
  verdict: 'PASS' | 'MISS' | 'n/a';
}

function value(records: BenchRecords, scenario: string, subject: SubjectName, key: string): number {
  return median(records[scenario]?.[subject]?.values[key]);
}

function check(target: string, measured: number, ok: (v: number) => boolean, show: (v: number) => string): TargetCheck {
  if (!Number.isFinite(measured)) return { target, measured: 'not measured', verdict: 'n/a' };
  return { target, measured: show(measured), verdict: ok(measured) ? 'PASS' : 'MISS' };
}

export function targetChecks(records: BenchRecords, quick: boolean): TargetCheck[] {
  const vsPython = (scenario: string, key: string): number => ratio(value(records, scenario, 'ours', key), value(records, scenario, 'python', key));
  const x = (v: number): string => `${v.toFixed(2)}x`;
  const held = value(records, 'hold', 'ours', 'held');
  const perConn = value(records, 'hold', 'ours', 'kibPerConn');
  const wantHeld = quick ? 500 : 5000;
  const sessionsHeld = value(records, 'sessions', 'ours', 'held');
  const sessionKib = value(records, 'sessions', 'ours', 'kibPerConn');
  const vsPeerConnect = ratio(value(records, 'sessions', 'ours', 'connectRate'), bestNodePeer(records.sessions ?? {})?.rate ?? NaN);
  return [
    check('throughput up >= 2.5x python', vsPython('up', 'mibps'), (v) => v >= 2.5, x),
    check('throughput down >= 1.0x python', vsPython('down', 'mibps'), (v) => v >= 1.0, x),
    check('small messages >= 4x python', vsPython('small', 'msgps'), (v) => v >= 4, x),
    check(
      `${wantHeld.toLocaleString('en-US')} connections held at <= 16 KiB each`,
      Number.isFinite(held) ? perConn : NaN,
      (v) => held >= wantHeld && v <= 16,
      (v) => `${held} held, ${v.toFixed(1)} KiB each`,
    ),
    check(
      'RSS growth under backpressure <= 16 MiB',
      value(records, 'backpressure', 'ours', 'growthMiB'),
      (v) => v <= 16,
      (v) => `${v.toFixed(1)} MiB`,
    ),
    check('throughput down >= 1.2x python', vsPython('down', 'mibps'), (v) => v >= 1.2, x),
    check(
      'down CPU/MiB within 1.15x of the relay',
      ratio(value(records, 'down', 'ours', 'cpuMsPerMiB'), value(records, 'down', 'relay', 'cpuMsPerMiB')),
      (v) => v <= 1.15,
      x,
    ),
    check('throughput up >= 3x python', vsPython('up', 'mibps'), (v) => v >= 3, x),
    check('echo p50 <= python', vsPython('latency', 'p50'), (v) => v <= 1, x),
    check('echo p99 <= python', vsPython('latency', 'p99'), (v) => v <= 1, x),
    check('small messages >= 6x python', vsPython('small', 'msgps'), (v) => v >= 6, x),
    check(
      '10,000 sessions held at <= 10 KiB each',
      Number.isFinite(sessionsHeld) ? sessionKib : NaN,
      (v) => sessionsHeld >= 10_000 && v <= 10,
      (v) => `${sessionsHeld} held, ${v.toFixed(1)} KiB each`,
    ),
    check('sessions connect+echo >= 2x the best Node peer', vsPeerConnect, (v) => v >= 2, x),
    check(
      '8 streams with --workers 2 >= 1.7x 1 worker',
      ratio(value(records, 'streams', 'ours-w2', 'mibps'), value(records, 'streams', 'ours', 'mibps')),
      (v) => v >= 1.7,
      x,
    ),
  ];
}

export function targetsBlock(checks: TargetCheck[]): string {
  const rows = checks.map((c) => [c.target, c.measured, c.verdict]);
  return ['== targets (informational) ==', renderTable(['target', 'measured (ours)', 'verdict'], rows), ''].join('\n');
}
