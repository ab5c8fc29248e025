import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WrapError } from '../errors.js';
import type { Config, TargetSpec, WrapMode } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import { findPreloadLibrary } from './preload-library.js';
import { preloadEnvironment, type PreloadPlan } from './preload-environment.js';
import { RespawnLimiter } from './respawn-limiter.js';

/** How long a stopping program gets between SIGTERM and SIGKILL. */
const DEFAULT_STOP_GRACE_MS = 5_000;
/** sun_path is 108 bytes on Linux; "/65535.sock" and the NUL must fit after the directory. */
const SUN_PATH_MAX = 107;

/** The program's process groups, as the CLI's lifecycle (src/cli/lifecycle.ts) reaches them. */
export interface ProcessGroups {
  /** Sends `signal` (0: only checks) to every process of group `pgid`; false when none is left. */
  signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean;
  /** Runs `hook` when this process exits; the function returned cancels it. */
  atExit(hook: () => void): () => void;
}

/** The time and the timer of respawns (a test hands in a ManualClock, test/support/manual-clock.ts). */
export interface RespawnClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): object;
  clear(timer: object): void;
}

const realTime: RespawnClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clear: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

interface WrapRuntime {
  /**
   * The port the proxy really listens on (after listen(0) it is the bound one), which the
   * program is expected to bind too, as in the reference. Null for --unix-listen / --inetd:
   * then whatever TCP port the program binds first is moved.
   */
  listenPort: number | null;
  /** Environment the program starts from (the CLI passes process.env; nothing below cli/ reads it). */
  env: NodeJS.ProcessEnv;
  /** Signals the program's process groups, and stops them if this process exits first. */
  groups: ProcessGroups;
  stopGraceMs?: number;
  /** When respawns happen; real time unless a test hands in its own clock. */
  clock?: RespawnClock;
  /** For tests: a library path instead of the built one. */
  library?: string;
  /**
   * Told where to dial whenever that changes: at start in unsock mode with a known port (the
   * path is fixed), else after each run's bind is reported (null while a new run starts).
   */
  onTarget?: (target: TargetSpec | null) => void;
}

interface WrappedProgramEvents {
  spawn: [pid: number];
  exit: [code: number];
}

/**
 * A program run under the preload library (the reference's wrap mode), supervised by mode:
 * `exit` ends with the program's exit code (`exitCode` resolves; the reference lost it and
 * exited 0), `ignore` keeps proxying, `respawn` restarts it under the reference's rate limit.
 * The program runs in its own process group, stopped (SIGTERM, then SIGKILL) by `stop()`; the
 * reference left it orphaned.
 */
export class WrappedProgram extends EventEmitter<WrappedProgramEvents> {
  /** Resolves with the program's exit code (128+signal if killed) when mode is `exit`. */
  readonly exitCode: Promise<number>;
  /** Where the program's moved port is; null until it is known. */
  private fixedTarget: TargetSpec | null;
  private reportedTarget: TargetSpec | null = null;
  private child: ChildProcess | null = null;
  /** The last spawn failed (ENOENT, EACCES): its close event is not an exit of the program. */
  private spawnFailed = false;
  /** Process groups of every run so far: a run's forked helpers may outlive its leader. */
  private readonly groups = new Set<number>();
  private childGone: Promise<void> = Promise.resolve();
  private spawnCount = 0;
  private stopping = false;
  private stopped: Promise<void> | null = null;
  private respawnTimer: object | null = null;
  private readonly clock: RespawnClock;
  private cancelExitHook: (() => void) | null = null;
  private resolveExit!: (code: number) => void;
  private readonly limiter: RespawnLimiter;

  /** @internal use startWrappedProgram */
  constructor(
    private readonly command: readonly string[],
    private readonly mode: WrapMode,
    private readonly plan: PreloadPlan,
    /** Private directory (0700) holding the sockets and report files; removed by stop(). */
    readonly dir: string,
    private readonly library: string,
    private readonly runtime: WrapRuntime,
    private readonly logger: Logger,
    private readonly stdinIgnored: boolean,
  ) {
    super();
    this.exitCode = new Promise((resolve) => (this.resolveExit = resolve));
    this.limiter = new RespawnLimiter();
    this.clock = runtime.clock ?? realTime;
    this.fixedTarget = plan.kind === 'unsock' && plan.port !== null ? { kind: 'unix', path: path.join(plan.dir, `${plan.port}.sock`) } : null;
  }

  /** Pid of the running program (its process group id too), or null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /**
   * The target the proxy dials for the program: `dir/PORT.sock` in unsock mode, or what the
   * library reported after the program's bind (loopback mode, or no known port). Null while the
   * program has not bound yet; a client then gets 1011, as with the reference.
   */
  target(): TargetSpec | null {
    if (this.fixedTarget) return this.fixedTarget;
    if (!this.reportedTarget) this.reportedTarget = this.readReport();
    return this.reportedTarget;
  }

  /** Resolves with the target once the program has bound its port (polls the report). */
  async waitForTarget(timeoutMs = 10_000): Promise<TargetSpec> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const t = this.fixedTarget ? (this.reportFileHasLines() ? this.fixedTarget : null) : this.target();
      if (t) return t;
      if (Date.now() > deadline) throw new WrapError(`the wrapped program did not bind its port within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Starts the first run; rejects with WrapError if it cannot be started at all. */
  async start(): Promise<void> {
    // Should this process end without stop() (a crash, process.exit), the program goes too.
    this.cancelExitHook = this.runtime.groups.atExit(() => this.killGroup('SIGTERM'));
    await this.spawnOnce();
  }

  /**
   * Stops the program and its process group: SIGTERM, then SIGKILL after the grace period; no
   * respawn. Removes the private directory. Every call returns the same promise.
   */
  stop(): Promise<void> {
    this.stopped ??= this.stopNow();
    return this.stopped;
  }

  private async stopNow(): Promise<void> {
    this.stopping = true;
    if (this.respawnTimer) this.clock.clear(this.respawnTimer);
    const alive = (): number[] => [...this.groups].filter((pgid) => this.groupAlive(pgid));
    if (alive().length > 0) {
      this.killGroup('SIGTERM');
      const grace = this.runtime.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      const deadline = Date.now() + grace;
      while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (alive().length > 0) {
        this.logger.warn(`wrapped program did not stop within ${grace} ms; killing it`, { pid: alive()[0] });
        this.killGroup('SIGKILL');
        // SIGKILL cannot be refused, but the members vanish only once reaped; give init a moment.
        const reapBy = Date.now() + 2_000;
        while (alive().length > 0 && Date.now() < reapBy) await new Promise((r) => setTimeout(r, 10));
      }
    }
    await this.childGone;
    this.cancelExitHook?.();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private reportFile(): string {
    return path.join(this.dir, `report.${this.spawnCount}`);
  }

  private reportFileHasLines(): boolean {
    try {
      return readFileSync(this.reportFile(), 'utf8').includes('\n');
    } catch {
      return false;
    }
  }

  /** First complete line the library wrote for the current run. */
  private readReport(): TargetSpec | null {
    let text: string;
    try {
      text = readFileSync(this.reportFile(), 'utf8');
    } catch {
      return null;
    }
    for (const line of text.split('\n').slice(0, -1)) {
      const unix = /^unix (\/.+)$/.exec(line);
      if (unix) return { kind: 'unix', path: unix[1]! };
      const inet = /^inet6? (\S+) (\d+)$/.exec(line);
      if (inet) return { kind: 'tcp', host: inet[1]!, port: Number(inet[2]) };
    }
    return null;
  }

  /** Follows the current run's report until its bind shows up, then tells onTarget. */
  private watchReport(): void {
    const run = this.spawnCount;
    let delay = 25;
    const check = (): void => {
      if (this.stopping || run !== this.spawnCount) return;
      const t = this.target();
      if (t) {
        this.logger.info(`wrapped program listening on ${t.kind === 'unix' ? t.path : t.kind === 'tcp' ? `${t.host}:${t.port}` : ''}`);
        this.runtime.onTarget?.(t);
        return;
      }
      delay = Math.min(delay * 2, 500);
      setTimeout(check, delay).unref();
    };
    setTimeout(check, delay).unref();
  }

  private spawnOnce(): Promise<void> {
    this.spawnCount++;
    this.reportedTarget = null;
    const env = preloadEnvironment(this.runtime.env, this.library, this.plan, this.reportFile(), process.pid);
    this.logger.info(`Starting '${this.command.join(' ')}'`);
    if (this.fixedTarget) {
      if (this.spawnCount === 1) {
        this.logger.info(
          `wrapped program's port ${this.plan.kind === 'unsock' ? this.plan.port : ''} moved to ${this.fixedTarget.kind === 'unix' ? this.fixedTarget.path : ''}`,
        );
        this.runtime.onTarget?.(this.fixedTarget);
      }
    } else {
      if (this.spawnCount > 1) this.runtime.onTarget?.(null);
      this.watchReport();
    }
    this.limiter.started(this.clock.now());
    // detached: the program leads its own process group (setsid), so stop() reaches everything
    // it forked. stdin: not ours under --inetd (fd 0 is the listening socket).
    const child = spawn(this.command[0]!, this.command.slice(1), {
      env,
      detached: true,
      stdio: [this.stdinIgnored ? 'ignore' : 'inherit', 'inherit', 'inherit'],
    });
    this.child = child;
    this.childGone = new Promise((resolve) => child.once('close', () => resolve()));
    return new Promise((resolve, reject) => {
      child.once('spawn', () => {
        this.groups.add(child.pid!);
        this.logger.debug(`wrapped program pid ${child.pid}`);
        this.emit('spawn', child.pid!);
        resolve();
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        // Node still reports a 'close' for a child that never ran; it is not an exit to log.
        this.spawnFailed = true;
        const reason = err.code === 'ENOENT' ? 'not found' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
        const message = `could not start the wrapped program '${this.command[0]}': ${reason}`;
        if (this.spawnCount === 1) reject(new WrapError(message, err));
        else this.logger.error(message);
      });
      child.once('close', (code, signal) => this.onChildExit(code, signal));
    });
  }

  private onChildExit(code: number | null, signal: NodeJS.Signals | null): void {
    const rc = code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
    this.child = null;
    // Forget groups with no member left, so a recycled pid is never signalled later.
    for (const pgid of this.groups) if (!this.groupAlive(pgid)) this.groups.delete(pgid);
    if (this.stopping) return;
    if (this.spawnFailed) this.spawnFailed = false;
    else this.logger.info(`Wrapped command exited (or daemon). Returned ${rc}`);
    this.emit('exit', rc);
    switch (this.mode) {
      case 'exit':
        this.resolveExit(rc);
        return;
      case 'ignore':
        return;
      case 'respawn': {
        const delay = this.limiter.delayMs(this.clock.now());
        if (delay > 0) this.logger.warn('Command respawning too fast', { retryInMs: delay });
        this.respawnTimer = this.clock.setTimeout(() => {
          this.respawnTimer = null;
          if (!this.stopping) this.spawnOnce().catch((err: unknown) => this.logger.error(String(err)));
        }, delay);
      }
    }
  }

  private killGroup(signal: NodeJS.Signals): void {
    for (const pgid of this.groups) {
      if (!this.runtime.groups.signalGroup(pgid, signal)) this.groups.delete(pgid); // already gone
    }
  }

  private groupAlive(pgid: number): boolean {
    return this.runtime.groups.signalGroup(pgid, 0);
  }
}

/**
 * Starts `config.wrap.command` under the preload library, after the proxy's listener is up.
 * Default (unsock): the program's bind of the listen port becomes a unix socket in a fresh
 * private directory (mode 0700 via mkdtemp), so no other local user can reach it around our
 * authentication, and there is no free port to race for. With `wrap.loopback`: the reference's
 * move to a loopback TCP port, but the port is chosen by the kernel at the program's bind and
 * reported back, instead of being probed free beforehand.
 */
export async function startWrappedProgram(config: Config, logger: Logger, runtime: WrapRuntime): Promise<WrappedProgram> {
  const wrap = config.wrap;
  if (!wrap) throw new WrapError('startWrappedProgram called without a wrap command');
  const library = runtime.library ?? findPreloadLibrary();
  if (wrap.loopback && runtime.listenPort === null) throw new WrapError('--wrap-loopback needs a TCP listen port');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'websockify-wrap-'));
  if (dir.length + '/65535.sock'.length > SUN_PATH_MAX) {
    rmSync(dir, { recursive: true, force: true });
    throw new WrapError(`the temporary directory ${dir} is too long for unix socket paths; set TMPDIR to a shorter directory`);
  }
  const plan: PreloadPlan = wrap.loopback ? { kind: 'rebind', port: runtime.listenPort! } : { kind: 'unsock', dir, port: runtime.listenPort };
  const program = new WrappedProgram(wrap.command, wrap.mode, plan, dir, library, runtime, logger.child({}), config.listen.kind === 'fd');
  try {
    await program.start();
  } catch (err) {
    await program.stop();
    throw err;
  }
  return program;
}
