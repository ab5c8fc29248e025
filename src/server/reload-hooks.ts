import type { Logger } from '../log/logger.js';

type ReloadHook = () => void | Promise<void>;

/**
 * What SIGHUP reloads: log files first (reopened for logrotate), then whatever other modules
 * register, in registration order (today the TLS certificate). A failing hook is logged and the
 * old state kept; sessions are never touched, so a reload drops no connection.
 */
export class ReloadHooks {
  private readonly hooks: Array<{ name: string; run: ReloadHook }> = [];
  private firstHooks = 0;
  private running: Promise<void> | null = null;

  add(name: string, run: ReloadHook): void {
    this.hooks.push({ name, run });
  }

  /**
   * A hook that runs before every hook given to add(), whenever it was registered: the log
   * files, so the lines the other reloads write land in the reopened file (after logrotate's
   * rename, in the new file, not the rotated one). The CLI registers the certificate before it
   * knows the log sinks.
   */
  first(name: string, run: ReloadHook): void {
    this.hooks.splice(this.firstHooks++, 0, { name, run });
  }

  get names(): string[] {
    return this.hooks.map((h) => h.name);
  }

  /** Runs every hook; a SIGHUP during a reload waits for it instead of overlapping. */
  async run(logger: Logger): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      for (const hook of this.hooks) {
        try {
          await hook.run();
          logger.info(`reloaded ${hook.name}`);
        } catch (err) {
          logger.error(`reload of ${hook.name} failed, keeping the previous one: ${(err as Error).message}`);
        }
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = null;
    }
  }
}
