// `npm run bench`: our proxy, Python websockify and a plain Node TCP relay, side by side in one
// run, on loopback only. See docs/bench.md for what each scenario measures and how to read it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchWorker, killAllWorkers } from './bench-worker.js';
import { Subject, SUBJECT_NAMES, ensurePythonWebsockify, killAllSubjects, pythonWebsockifyVersion, type SubjectName } from './bench-subject.js';
import { ensureNodePeer, NODE_PEER_NAMES, type NodePeer, type NodePeerName } from './node-peer.js';
import { openFileLimit, scenarios, type BenchContext, type Scenario } from './scenarios.js';
import { cpuTable, scenarioTable, targetChecks, targetsBlock, type BenchRecords, type SubjectRecord } from './bench-report.js';
import { machineTicks, stealPercent } from './proc-stats.js';

const USAGE = `usage: npm run bench -- [options]
  --only LIST       subjects to run, comma separated: ours,ours-w2,ours-rec,python,node-peer,node-websockify,relay (default: all;
                    ours-w2 is ours with --workers 2, run by streams and latency-load only;
                    ours-rec is ours with --record, run by up and down only)
  --scenario LIST   scenarios to run, comma separated (default: all of the default set):
                    up, down, latency, small, hold, backpressure; with --full also
                    stalled, streams, sessions, latency-load (naming one runs it without
                    --full)
  --quick           small sizes and short caps, for a smoke check
  --full            add the scale scenarios (8 streams, 10,000 sessions, latency under load)
  --runs N          repeat every scenario N times; tables show the median and min-max
  --prof            run our proxy under --cpu-prof and print where its CPU went
  --ours-entry PATH the JavaScript entry of our CLI (default: dist/src/cli/main.js)
  --ours-node-arg F a Node flag for our proxy, after the launcher's (repeatable), to measure a flag
  --help            this text
`;

interface BenchOptions {
  only: SubjectName[];
  scenarios: string[] | null;
  quick: boolean;
  full: boolean;
  runs: number;
  prof: boolean;
  oursEntry: string;
  /** Node flags added to our launcher's, for measuring a flag (--ours-node-arg). */
  oursNodeArgs: string[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RESULTS_DIR = `${ROOT}bench/results`;
const PROFILE_DIR = `${RESULTS_DIR}/prof`;

function fail(reason: string): never {
  process.stderr.write(`bench: ${reason}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv: string[]): BenchOptions {
  const options: BenchOptions = {
    only: [...SUBJECT_NAMES],
    scenarios: null,
    quick: false,
    full: false,
    runs: 1,
    prof: false,
    oursEntry: `${ROOT}dist/src/cli/main.js`,
    oursNodeArgs: [],
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      i += 1;
      const next = argv[i];
      if (next === undefined) fail(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--only': {
        const names = takeValue()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const name of names) if (!SUBJECT_NAMES.includes(name as SubjectName)) fail(`unknown subject "${name}"`);
        options.only = names as SubjectName[];
        break;
      }
      case '--scenario': {
        const names = takeValue()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const name of names) if (!scenarios.some((s) => s.name === name)) fail(`unknown scenario "${name}"`);
        options.scenarios = names;
        break;
      }
      case '--quick':
        options.quick = true;
        break;
      case '--full':
        options.full = true;
        break;
      case '--prof':
        options.prof = true;
        break;
      case '--runs': {
        const runs = Number(takeValue());
        if (!Number.isInteger(runs) || runs < 1 || runs > 10) fail('--runs takes an integer from 1 to 10');
        options.runs = runs;
        break;
      }
      case '--ours-entry':
        options.oursEntry = takeValue();
        break;
      case '--ours-node-arg':
        options.oursNodeArgs.push(takeValue());
        break;
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
      default:
        fail(`unknown option "${arg}"`);
    }
  }
  return options;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function cleanup(): void {
  killAllSubjects();
  killAllWorkers();
}

async function startClients(): Promise<[BenchWorker, BenchWorker]> {
  const [a, b] = await Promise.all([BenchWorker.start('load-client', 'load client 1'), BenchWorker.start('load-client', 'load client 2')]);
  return [a.worker, b.worker];
}

/**
 * `sessions` holds 10,000 sessions: two descriptors each in the proxy, one each in the load
 * client and the target. Debian's default limit (here 20,000, soft and hard) stops at 9,872,
 * so as root the bench runs itself again under `prlimit` with room to spare; the subjects,
 * clients and targets inherit it. Where that is refused (a container without
 * CAP_SYS_RESOURCE, as on the machine these notes come from) it runs as it is and the table
 * says how many sessions fit.
 */
const WANTED_OPEN_FILES = 65_536;
const RERUN_ENV = 'WSFY_BENCH_RAISED_NOFILE';

function rerunWithMoreOpenFiles(): number | null {
  if (openFileLimit() >= WANTED_OPEN_FILES / 2 || process.env[RERUN_ENV] !== undefined) return null;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/prlimit')) return null;
  const nofile = `--nofile=${WANTED_OPEN_FILES}:${WANTED_OPEN_FILES}`;
  // A container without CAP_SYS_RESOURCE refuses even root: probe before handing over.
  if (spawnSync('/usr/bin/prlimit', [nofile, '--', 'true'], { stdio: 'ignore' }).status !== 0) return null;
  const args = [nofile, '--', process.execPath, ...process.execArgv];
  args.push(fileURLToPath(import.meta.url), ...process.argv.slice(2));
  const rerun = spawnSync('/usr/bin/prlimit', args, { stdio: 'inherit', env: { ...process.env, [RERUN_ENV]: '1' } });
  return rerun.status ?? 1;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const rerunStatus = rerunWithMoreOpenFiles();
  if (rerunStatus !== null) return rerunStatus;
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log(`bench: ${signal}, stopping every child`);
      cleanup();
      process.exit(130);
    });
  }

  const chosen: Scenario[] = scenarios.filter((s) => (options.scenarios === null ? !s.full || options.full : options.scenarios.includes(s.name)));
  const subjects = options.only.slice();
  let failed = false;
  const skipped: string[] = [];

  if (subjects.includes('ours') && !existsSync(options.oursEntry)) {
    log(`bench: our CLI is not built: ${options.oursEntry} is missing (npm run build)`);
    return 1;
  }
  if (subjects.includes('python')) {
    const problem = ensurePythonWebsockify(log);
    if (problem !== null) {
      log(`bench: python websockify skipped: ${problem}`);
      skipped.push(`python: ${problem}`);
      subjects.splice(subjects.indexOf('python'), 1);
    }
  }
  const nodePeers: Partial<Record<NodePeerName, NodePeer>> = {};
  for (const name of NODE_PEER_NAMES) {
    if (!subjects.includes(name)) continue;
    const peer = ensureNodePeer(name, log);
    if (typeof peer === 'string') {
      log(`bench: ${name} skipped: ${peer}`);
      skipped.push(`${name}: ${peer}`);
      subjects.splice(subjects.indexOf(name), 1);
    } else {
      nodePeers[name] = peer;
    }
  }
  const nodePeerVersions = Object.entries(nodePeers).map(([name, peer]) => `${name} ${peer.version}`);

  const started = Date.now();
  const startedTicks = machineTicks();
  const { worker: targets, hello } = await BenchWorker.start<{ port: number }>('bench-targets', 'targets');
  const context: BenchContext = {
    quick: options.quick,
    targets,
    clients: await startClients(),
    fdLimit: openFileLimit(),
  };
  log(
    `bench: ${chosen.map((s) => s.name).join(', ')} x ${subjects.join(', ')}` +
      `${options.quick ? ' (quick)' : ''}${options.runs > 1 ? `, ${options.runs} runs` : ''}; targets on 127.0.0.1:${hello.port}`,
  );
  const subjectOptions = {
    oursEntry: options.oursEntry,
    oursNodeArgs: [...options.oursNodeArgs, ...(options.prof ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
    nodePeerEntries: Object.fromEntries(Object.entries(nodePeers).map(([name, peer]) => [name, peer.entry])),
  };
  if (options.prof) {
    // Old profiles would mix into this run's summary.
    rmSync(PROFILE_DIR, { recursive: true, force: true });
    mkdirSync(PROFILE_DIR, { recursive: true });
  }

  const records: BenchRecords = {};
  const printed: string[] = [];
  for (const scenario of chosen) {
    const scenarioRecords = (records[scenario.name] = {} as BenchRecords[string]);
    const applicable = subjects.filter((s) => scenario.subjects.includes(s));
    for (let run = 0; run < options.runs; run += 1) {
      for (const name of applicable) {
        const record: SubjectRecord = (scenarioRecords[name] ??= { values: {}, notes: [], errors: [] });
        const t0 = Date.now();
        let subject: Subject | null = null;
        try {
          subject = await Subject.start(name, hello.port, subjectOptions);
          const outcome = await scenario.run(context, subject);
          for (const [key, v] of Object.entries(outcome.values)) (record.values[key] ??= []).push(v);
          record.notes.push(...outcome.notes);
          if (!subject.running) throw new Error(`${name} exited during the scenario (${subject.exitDescription})\n${subject.tail()}`);
        } catch (error) {
          failed = true;
          record.errors.push((error as Error).message);
          log(`bench: ${scenario.name} / ${name} failed: ${(error as Error).message}`);
          // A job that timed out may leave a client mid-job: start fresh ones.
          for (const client of context.clients) client.kill();
          context.clients = await startClients();
        } finally {
          await subject?.stop();
        }
        log(`bench: ${scenario.name} / ${name}${options.runs > 1 ? ` run ${run + 1}` : ''} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
    const table = scenarioTable(scenario, scenario.title(context), scenarioRecords, subjects);
    printed.push(table);
    process.stdout.write(`${table}\n`);
  }

  const cpu = cpuTable(records, subjects);
  if (cpu !== null) {
    printed.push(cpu);
    process.stdout.write(`${cpu}\n`);
  }
  const checks = targetChecks(records, options.quick);
  const block = targetsBlock(checks);
  process.stdout.write(`${block}\n`);
  if (options.prof) {
    const { summariseProfiles } = await import('./profile-summary.js');
    process.stdout.write(`${summariseProfiles(PROFILE_DIR)}\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const steal = stealPercent(startedTicks, machineTicks());
  process.stdout.write(
    `bench: ${seconds.toFixed(0)} s on ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'} (hypervisor steal ${steal.toFixed(1)} % of the machine's CPU time), node ${process.version}, ` +
      `python websockify ${subjects.includes('python') ? pythonWebsockifyVersion() : 'not run'}, ` +
      `node peers ${nodePeerVersions.length > 0 ? nodePeerVersions.join(', ') : 'not run'}\n`,
  );
  for (const reason of skipped) process.stdout.write(`skipped ${reason}\n`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), kernel: release(), node: process.version, fdLimit: context.fdLimit, stealPercent: steal },
    pythonWebsockify: subjects.includes('python') ? pythonWebsockifyVersion() : null,
    nodePeers: nodePeerVersions,
    options,
    seconds,
    skipped,
    scenarios: Object.fromEntries(chosen.map((s) => [s.name, { title: s.title(context), metrics: s.metrics, subjects: records[s.name] }])),
    targets: checks,
  };
  writeFileSync(`${RESULTS_DIR}/latest.json`, `${JSON.stringify(json, null, 2)}\n`);
  log(`bench: results written to bench/results/latest.json`);
  cleanup();
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench: ${(error as Error).stack ?? String(error)}`);
    cleanup();
    process.exit(1);
  },
);
