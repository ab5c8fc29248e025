import type { Logger } from '../log/logger.js';

export type ReloadHook = () => void | Promise<void>;

/**
 * What SIGHUP reloads, in registration order: log files (reopened for logrotate), then whatever
 * other modules register (today the TLS certificate). A failing hook is logged and the old
 * state kept; sessions are never touched, so a reload drops no connection.
 */
export class ReloadHooks {
  private readonly hooks: Array<{ name: string; run: ReloadHook }> = [];
  private running: Promise<void> | null = null;

  add(name: string, run: ReloadHook): void {
    this.hooks.push({ name, run });
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
