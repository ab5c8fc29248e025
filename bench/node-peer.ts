// The Node peers the connect+echo target (docs/performance.md) is measured against, installed on first use from
// the npm registry into bench/.peers/<subject>/ (git-ignored), never into our package.json:
//  - `node-peer`: the npm package `websockify` 0.7.1 (novnc/websockify-js). It crashes with any
//    current ws, so ws is pinned to 1.x through npm overrides. That old ws has known advisories:
//    acceptable here only, where it serves loopback for the length of a bench run.
//  - `node-websockify`: the npm package `node-websockify` 1.0.2, the same bridge as a library; it
//    takes the `req` argument ws 3+ passes, so it runs with the current ws 8 and needs no pin.
// Both listen on every interface (they ignore the host in their listen address).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type NodePeerName = 'node-peer' | 'node-websockify';
export const NODE_PEER_NAMES: readonly NodePeerName[] = ['node-peer', 'node-websockify'];

interface PeerSpec {
  packageName: string;
  version: string;
  /** The ws version forced through npm overrides. */
  ws: string;
  /** The script to run with `LISTEN TARGET` arguments, relative to the peer directory. */
  entry: string;
  /** A launcher written next to package.json, for peers that are libraries only. */
  launcher?: string;
}

const SPECS: Record<NodePeerName, PeerSpec> = {
  'node-peer': {
    packageName: 'websockify',
    version: '0.7.1',
    // ws 2 made `handleProtocols` synchronous (the peer passes a callback and crashes on the
    // first upgrade); ws 3 dropped `client.upgradeReq`, which it reads per connection.
    ws: '1.1.5',
    entry: 'node_modules/websockify/websockify.js',
  },
  'node-websockify': {
    packageName: 'node-websockify',
    version: '1.0.2',
    ws: '8.18.3',
    entry: 'run.cjs',
    // The package exports a function taking {source, target}; it has no command line of its own.
    launcher: "require('node-websockify')({ source: process.argv[2], target: process.argv[3] });\n",
  },
};

export interface NodePeer {
  entry: string;
  version: string;
}

function peerDir(name: NodePeerName): string {
  // dist/bench/ is two levels below the repository; the peers live next to the bench sources.
  return fileURLToPath(new URL(`../../bench/.peers/${name}/`, import.meta.url));
}

function installedPeer(name: NodePeerName): NodePeer | null {
  const spec = SPECS[name];
  const dir = peerDir(name);
  const manifest = `${dir}node_modules/${spec.packageName}/package.json`;
  const wsManifest = `${dir}node_modules/ws/package.json`;
  if (!existsSync(`${dir}${spec.entry}`) || !existsSync(manifest) || !existsSync(wsManifest)) return null;
  const version = (path: string): string => (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  if (version(wsManifest) !== spec.ws || version(manifest) !== spec.version) return null;
  return { entry: `${dir}${spec.entry}`, version: `${spec.packageName}@${spec.version} (ws ${spec.ws})` };
}

/** Installs a peer from the npm registry when missing. Returns the peer, or why it is not there. */
export function ensureNodePeer(name: NodePeerName, log: (line: string) => void): NodePeer | string {
  const ready = installedPeer(name);
  if (ready !== null) return ready;
  const spec = SPECS[name];
  const dir = peerDir(name);
  // Always from scratch: npm reconciling an old tree with a changed override can drop ws entirely.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const manifest = {
    name: `bench-peer-${name}`,
    private: true,
    description: 'Installed by npm run bench; never committed (see docs/bench.md)',
    dependencies: { [spec.packageName]: spec.version },
    overrides: { ws: spec.ws },
  };
  writeFileSync(`${dir}package.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  if (spec.launcher !== undefined) writeFileSync(`${dir}${spec.entry}`, spec.launcher);
  log(`bench: installing ${name}: ${spec.packageName}@${spec.version} (ws ${spec.ws}) into ${dir} ...`);
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 180_000,
  });
  const peer = installedPeer(name);
  if (install.status === 0 && peer !== null) return peer;
  const output = `${install.stdout ?? ''}${install.stderr ?? ''}`.trim().split('\n').slice(-2).join(' ');
  return `npm install of ${spec.packageName}@${spec.version} failed (registry unreachable?): ${output || install.error?.message || 'no output'}`;
}
