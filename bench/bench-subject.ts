// Starting and stopping the subjects the bench compares: our proxy (the built CLI), Python
// websockify (the reference), two npm websockify ports (the Node peers, bench/node-peer.ts) and the
// plain Node TCP relay (the floor).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { BenchConnection } from './bench-connection.js';
import { Mode, modeHeader, type Endpoint } from './bench-protocol.js';
import { NODE_PEER_NAMES, type NodePeerName } from './node-peer.js';

/** `ours-w2`: our proxy with --workers 2 (only in the scenarios that compare worker counts). */
export type SubjectName = 'ours' | 'ours-w2' | 'ours-rec' | 'python' | NodePeerName | 'relay';
export const SUBJECT_NAMES: readonly SubjectName[] = ['ours', 'ours-w2', 'ours-rec', 'python', ...NODE_PEER_NAMES, 'relay'];

function isNodePeer(name: SubjectName): name is NodePeerName {
  return (NODE_PEER_NAMES as readonly SubjectName[]).includes(name);
}

export const PYTHON_WEBSOCKIFY = '/usr/bin/websockify';

export interface SubjectOptions {
  /** The JavaScript entry of our CLI (dist/src/cli/main.js unless overridden). */
  oursEntry: string;
  /** Extra node flags for our proxy, e.g. --cpu-prof. */
  oursNodeArgs: string[];
  /** The Node peers' scripts (bench/node-peer.ts installs them); absent when not installed. */
  nodePeerEntries: Partial<Record<NodePeerName, string>>;
}

const live = new Set<Subject>();

export class Subject {
  private readonly output: string[] = [];
  private exited = false;
  /** ours-rec's recording folder. */
  recordDir: string | null = null;
  exitDescription = '';

  private constructor(
    readonly name: SubjectName,
    readonly child: ChildProcess,
    readonly endpoint: Endpoint,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The last lines the subject printed, for error reports. */
  tail(lines = 8): string {
    return this.output.slice(-lines).join('\n');
  }

  static async start(name: SubjectName, targetPort: number, options: SubjectOptions): Promise<Subject> {
    let command: string;
    let args: string[];
    let fixedPort: number | null = null;
    let recordDir: string | null = null;
    if (name === 'ours' || name === 'ours-w2' || name === 'ours-rec') {
      command = process.execPath;
      const workers = name === 'ours-w2' ? ['--workers', '2'] : [];
      // ours-rec: every session recorded, in a fresh folder removed when the subject stops.
      if (name === 'ours-rec') recordDir = mkdtempSync(join(tmpdir(), 'wsfy-bench-rec-'));
      const record = recordDir === null ? [] : ['--record', join(recordDir, 'rec')];
      args = [
        ...launcherNodeFlags(options.oursEntry),
        ...options.oursNodeArgs,
        options.oursEntry,
        ...workers,
        ...record,
        '127.0.0.1:0',
        `127.0.0.1:${targetPort}`,
      ];
    } else if (name === 'python') {
      fixedPort = await freePort();
      command = PYTHON_WEBSOCKIFY;
      args = [`127.0.0.1:${fixedPort}`, `127.0.0.1:${targetPort}`];
    } else if (isNodePeer(name)) {
      const entry = options.nodePeerEntries[name];
      if (entry === undefined) throw new Error(`${name} is not installed`);
      // Like Python it prints no port it bound, so it gets a free one picked here.
      fixedPort = await freePort();
      command = process.execPath;
      args = [entry, `127.0.0.1:${fixedPort}`, `127.0.0.1:${targetPort}`];
    } else {
      command = process.execPath;
      args = [fileURLToPath(new URL('./tcp-relay.js', import.meta.url)), String(targetPort)];
    }
    // Its own process group, so stopping it also stops the children Python forks per connection.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const subject = new Subject(name, child, { transport: name === 'relay' ? 'tcp' : 'ws', host: '127.0.0.1', port: 0 });
    subject.recordDir = recordDir;
    live.add(subject);
    const port = await subject.waitForPort(fixedPort);
    subject.endpoint.port = port;
    await subject.waitUntilServing();
    return subject;
  }

  /** Reads the port from the banner (`  - Listen on HOST:PORT`, or the relay's line). */
  private waitForPort(fixedPort: number | null): Promise<number> {
    return new Promise((resolve, reject) => {
      let pending = '';
      let found = fixedPort !== null;
      const timer = setTimeout(() => {
        if (!found) reject(new Error(`${this.name}: no listen line within 15 s\n${this.tail()}`));
      }, 15_000);
      const onText = (chunk: Buffer): void => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          // Python logs a line per connection: keep a short tail only, never the whole log.
          this.output.push(line);
          if (this.output.length > 200) this.output.splice(0, 100);
          if (found) continue;
          const match = /(?:- Listen on|relay listening on) (?:\[?[^\]\s]*\]?):(\d+)\s*$/.exec(line);
          if (match !== null) {
            found = true;
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        }
      };
      // Both streams are always drained: a full pipe would block the subject and skew the figures.
      this.child.stdout?.on('data', onText);
      this.child.stderr?.on('data', onText);
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitDescription = signal === null ? `exit code ${code}` : `signal ${signal}`;
        live.delete(this);
        clearTimeout(timer);
        if (!found) reject(new Error(`${this.name} exited (${this.exitDescription}) before listening\n${this.tail()}`));
      });
      this.child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: ${error.message}`));
      });
      if (fixedPort !== null) {
        clearTimeout(timer);
        resolve(fixedPort);
      }
    });
  }

  /**
   * Retries one echo round trip until it works: proves the subject accepts, upgrades and dials
   * the target, and warms up the code paths before anything is measured.
   */
  private async waitUntilServing(): Promise<void> {
    const deadline = Date.now() + 15_000;
    let lastError = '';
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited (${this.exitDescription})\n${this.tail()}`);
      try {
        await echoOnce(this.endpoint);
        return;
      } catch (error) {
        lastError = (error as Error).message;
        await sleep(100);
      }
    }
    throw new Error(`${this.name} did not serve an echo within 15 s: ${lastError}\n${this.tail()}`);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** SIGTERM, then SIGKILL after a grace period; the whole process group either way. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.exited) {
      signalGroup(this.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (!this.exited && Date.now() < deadline) await sleep(25);
    }
    signalGroup(this.pid, 'SIGKILL');
    live.delete(this);
    if (this.recordDir !== null) rmSync(this.recordDir, { recursive: true, force: true });
  }

  /** Whether a session's recording was cut short (the disk could not keep up): then ours-rec measured less than all of it. */
  get recordingDropped(): boolean {
    return this.output.some((line) => /cannot keep up with the session|writing record file failed/.test(line));
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Last-resort cleanup (process exit, Ctrl-C): kill every subject group still alive. */
export function killAllSubjects(): void {
  for (const subject of live) signalGroup(subject.pid, 'SIGKILL');
  live.clear();
}

async function echoOnce(endpoint: Endpoint): Promise<void> {
  const connection = await BenchConnection.open(endpoint, 3000);
  try {
    const probe = Buffer.alloc(1024, 0x77);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('warm-up echo timed out')), 3000);
      connection.onPayload = () => {
        if (connection.received >= probe.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      connection.send(modeHeader(Mode.echo, 0));
      connection.send(probe);
    });
  } finally {
    connection.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = address !== null && typeof address !== 'string' ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Makes sure Python websockify is installed: apt-get when running as root, otherwise the reason
 * and the command to run. Returns null when ready, or the reason it is not.
 */
export function ensurePythonWebsockify(log: (line: string) => void): string | null {
  if (existsSync(PYTHON_WEBSOCKIFY)) return null;
  const howTo = 'install it with: sudo apt-get install -y websockify';
  if (process.getuid?.() !== 0) return `${PYTHON_WEBSOCKIFY} is missing; ${howTo}`;
  log('python websockify missing: installing the Debian package websockify with apt-get ...');
  // Another apt-get may hold the lock for a while: retry for up to two minutes.
  for (let attempt = 0; attempt < 24; attempt += 1) {
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'websockify'], {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 180_000,
    });
    if (install.status === 0 && existsSync(PYTHON_WEBSOCKIFY)) return null;
    const output = `${install.stdout ?? ''}${install.stderr ?? ''}`;
    if (/Unable to locate package/.test(output) && attempt === 0) {
      spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', timeout: 180_000 });
      continue;
    }
    if (!/Could not get lock|Unable to lock/.test(output)) {
      return `apt-get install websockify failed: ${output.trim().split('\n').slice(-2).join(' ')}`;
    }
    spawnSync('sleep', ['5']);
  }
  return `apt-get stayed locked; ${howTo}`;
}

/** The installed Python websockify's version, for the results file. */
export function pythonWebsockifyVersion(): string {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'websockify'], { encoding: 'utf8' });
  return query.status === 0 ? query.stdout.trim() : 'unknown';
}

/**
 * The Node flags our launchers pass (the CLI's `#!/usr/bin/env -S node FLAGS` line, which ./run
 * and the container repeat), so the bench measures the proxy as users start it.
 */
export function launcherNodeFlags(entry: string): string[] {
  const first = readFileSync(entry, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node (.+)$/.exec(first);
  return match ? (match[1] as string).trim().split(/\s+/) : [];
}
