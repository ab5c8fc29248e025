import { WebSocket } from 'ws';
import * as path from 'node:path';
import { packageRoot } from '../../src/wrap/preload-library.js';
import { start, type Running } from './programs.js';
import { waitFor } from './wait.js';

export const CLI = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

/** Starts the built CLI and waits for its banner's listen line. */
export async function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const cli = start(process.execPath, [CLI, ...args], env);
  await cli.waitFor(/ {2}- (Listen on .*|Listen for inetd connections)\n/);
  return cli;
}

/**
 * Opens a WebSocket (binary subprotocol, as noVNC), sends `send`, and collects received bytes
 * until `untilRe` matches them (latin1) or the time runs out; `answer` may reply to each chunk.
 */
export function wsExchange(
  url: string,
  send: Buffer | string | null,
  untilRe: RegExp,
  options: { timeoutMs?: number; answer?: (chunk: Buffer, ws: WebSocket) => void } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary']);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no WebSocket data matching ${untilRe} within ${options.timeoutMs ?? 5_000} ms; got ${JSON.stringify(got.toString('latin1'))}`));
    }, options.timeoutMs ?? 5_000);
    ws.on('open', () => {
      if (send !== null) ws.send(typeof send === 'string' ? Buffer.from(send) : send);
    });
    ws.on('message', (data: Buffer) => {
      got = Buffer.concat([got, data]);
      options.answer?.(data, ws);
      if (untilRe.test(got.toString('latin1'))) {
        clearTimeout(timer);
        ws.close();
        resolve(got.toString('latin1'));
      }
    });
    ws.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('close', (code: number) => {
      clearTimeout(timer);
      if (!untilRe.test(got.toString('latin1'))) reject(new Error(`closed (${code}) before ${untilRe}; got ${JSON.stringify(got.toString('latin1'))}`));
    });
  });
}

/** Retries `fn` until it resolves (the wrapped program may still be starting); on timeout throws `fn`'s last error. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  let lastError: unknown;
  const probe = async (): Promise<{ value: T } | null> => {
    try {
      return { value: await fn() };
    } catch (err) {
      lastError = err;
      return null;
    }
  };
  try {
    return (await waitFor(probe, { timeoutMs, intervalMs: 100, what: 'the wrapped program to answer' })).value;
  } catch (err) {
    throw lastError ?? err;
  }
}

/** Waits for a process to exit and returns its status. */
export function exited(cli: Running): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) resolve({ code: cli.child.exitCode, signal: cli.child.signalCode });
    else cli.child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
