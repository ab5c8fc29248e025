import * as path from 'node:path';

/** Variables of the preload library; a caller's own values would mix modes, so we drop them. */
const LIBRARY_VARIABLE = /^(UNSOCK_|REBIND_|WSFY_PRELOAD_)/;

export type PreloadPlan =
  /** Unsock mode: binds of `port` (any port when null) on any IPv4 address go to `dir`/PORT.sock. */
  | { kind: 'unsock'; dir: string; port: number | null }
  /** Rebind mode: binds of `port` go to a free loopback port, reported through the report file. */
  | { kind: 'rebind'; port: number };

/**
 * The wrapped program's environment: the caller's, minus any library variables of its own,
 * plus LD_PRELOAD (ours first, then any existing entries, as the reference) and the mode's
 * variables. Only the child gets these; the reference also changed its own os.environ.
 */
export function preloadEnvironment(base: NodeJS.ProcessEnv, library: string, plan: PreloadPlan, reportFile: string, parentPid: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!LIBRARY_VARIABLE.test(k) && v !== undefined) env[k] = v;
  const existing = (base.LD_PRELOAD ?? '').split(/[:\s]+/).filter((p) => p !== '' && path.resolve(p) !== library);
  env.LD_PRELOAD = [library, ...existing].join(':');
  env.WSFY_PRELOAD_REPORT = reportFile;
  env.WSFY_PRELOAD_PARENT = String(parentPid);
  if (plan.kind === 'unsock') {
    env.UNSOCK_DIR = plan.dir;
    // Every IPv4 address (0.0.0.0, 127.0.0.1, a LAN address) on the port is moved; the program
    // sees 127.0.0.1 as its own and its peers' address.
    env.UNSOCK_ADDR = '127.0.0.1/0';
    if (plan.port !== null) env.UNSOCK_PORT = String(plan.port);
    env.UNSOCK_MODE = '600';
    // A program that tries IPv6 first (Node's default `::`) must fall back to IPv4, where we
    // move it; otherwise it would listen publicly on IPv6 around the proxy.
    env.UNSOCK_BLOCK_INET6 = '1';
  } else {
    env.REBIND_OLD_PORT = String(plan.port);
    // 0 = the library picks a free loopback port and reports it: no free-port race.
    env.REBIND_NEW_PORT = '0';
  }
  return env;
}
