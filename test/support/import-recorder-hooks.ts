import { appendFileSync } from 'node:fs';

/**
 * Module hooks (node:module register) that write the URL of every module a process resolves,
 * one per line, to the file named at registration: what a start really loads.
 */

let logFile = '';

export function initialize(data: { logFile: string }): void {
  logFile = data.logFile;
}

type NextResolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<{ url: string }> {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(logFile, `${resolved.url}\n`);
  return resolved;
}
