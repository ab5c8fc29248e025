import type { ParentChannel } from '../cluster/process-signals.js';

/**
 * This process's IPC channel to the process that started it: a --workers worker's primary, a
 * -D daemon's waiting parent, or a daemonized primary's parent. The one module that sends on it,
 * listens on it, asks whether it is open and closes it (as cli/lifecycle.ts is for signals and
 * exits); the code below gets it as a ParentChannel (cluster/process-signals.ts).
 */
export const processParentChannel: ParentChannel = {
  get connected(): boolean {
    return process.send !== undefined && process.connected;
  },
  send(message: unknown, sent?: () => void): boolean {
    if (!process.connected || !process.send) return false;
    if (sent) process.send(message, () => sent());
    else process.send(message);
    return true;
  },
  onMessage(listener: (message: unknown, handle: unknown) => void): void {
    process.on('message', listener);
  },
  disconnect(): void {
    process.disconnect?.();
  },
};
