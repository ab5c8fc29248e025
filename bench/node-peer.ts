// The Node peer the issue 7 connect+echo target is measured against: the npm package
// `websockify` (novnc/websockify-js). It crashes with current ws, so it is installed on first
// use into bench/.peers/ (git-ignored) with ws pinned to 1.x through npm overrides. That old
// ws has known advisories: acceptable here only, where it serves loopback during a bench run;
// it never enters our package.json or lockfile.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const NODE_PEER_PACKAGE = 'websockify';
export const NODE_PEER_VERSION = '0.7.1';
/**
 * The newest ws the peer runs with: ws 2 made `handleProtocols` synchronous (the peer passes a
 * callback and crashes on the first upgrade), ws 3 dropped `client.upgradeReq`.
 */
export const NODE_PEER_WS = '1.1.5';

/** bench/.peers/websockify, next to the bench sources (dist/bench/ is two levels below the repo). */
export const NODE_PEER_DIR = fileURLToPath(new URL('../../bench/.peers/websockify/', import.meta.url));

export interface NodePeer {
  entry: string;
  version: string;
}

function installedPeer(): NodePeer | null {
  const entry = `${NODE_PEER_DIR}node_modules/websockify/websockify.js`;
  const wsManifest = `${NODE_PEER_DIR}node_modules/ws/package.json`;
  if (!existsSync(entry) || !existsSync(wsManifest)) return null;
  const ws = (JSON.parse(readFileSync(wsManifest, 'utf8')) as { version: string }).version;
  if (ws !== NODE_PEER_WS) return null;
  return { entry, version: `${NODE_PEER_PACKAGE}@${NODE_PEER_VERSION} (ws ${ws})` };
}

/** Installs the peer from the npm registry when missing. Returns the peer, or why it is not there. */
export function ensureNodePeer(log: (line: string) => void): NodePeer | string {
  const ready = installedPeer();
  if (ready !== null) return ready;
  // Always from scratch: npm reconciling an old tree with a changed override can drop ws entirely.
  rmSync(NODE_PEER_DIR, { recursive: true, force: true });
  mkdirSync(NODE_PEER_DIR, { recursive: true });
  const manifest = {
    name: 'bench-peer-websockify',
    private: true,
    description: 'Installed by npm run bench; never committed (see docs/bench.md)',
    dependencies: { [NODE_PEER_PACKAGE]: NODE_PEER_VERSION },
    overrides: { ws: NODE_PEER_WS },
  };
  writeFileSync(`${NODE_PEER_DIR}package.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  log(`bench: installing the node peer ${NODE_PEER_PACKAGE}@${NODE_PEER_VERSION} (ws ${NODE_PEER_WS}) into ${NODE_PEER_DIR} ...`);
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], {
    cwd: NODE_PEER_DIR,
    encoding: 'utf8',
    timeout: 180_000,
  });
  const peer = installedPeer();
  if (install.status === 0 && peer !== null) return peer;
  const output = `${install.stdout ?? ''}${install.stderr ?? ''}`.trim().split('\n').slice(-2).join(' ');
  return `npm install of ${NODE_PEER_PACKAGE}@${NODE_PEER_VERSION} failed (registry unreachable?): ${output || install.error?.message || 'no output'}`;
}
