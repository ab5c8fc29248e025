// Where our proxy's CPU went, from the .cpuprofile files `--prof` makes node write on exit:
// self time per function, heaviest first, so a missed target comes with its reason.
import { readdirSync, readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function place(node: ProfileNode): string {
  const name = node.callFrame.functionName || '(anonymous)';
  const url = node.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist)\//, '$1/');
  return url === '' ? name : `${name} ${url}:${node.callFrame.lineNumber + 1}`;
}

export function summariseProfiles(directory: string, top = 15): string {
  let files: string[];
  try {
    files = readdirSync(directory).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    files = [];
  }
  if (files.length === 0) return `== profile: no .cpuprofile in ${directory} (did our proxy exit cleanly on SIGTERM?) ==\n`;
  const selfHits = new Map<string, number>();
  let totalHits = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(`${directory}/${file}`, 'utf8')) as CpuProfile;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      totalHits += hits;
      const key = place(node);
      selfHits.set(key, (selfHits.get(key) ?? 0) + hits);
    }
  }
  const rows = [...selfHits.entries()]
    .filter(([key]) => key !== '(idle)' && key !== '(program)' && key !== '(garbage collector)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, hits]) => `  ${((hits / Math.max(1, totalHits)) * 100).toFixed(1).padStart(5)}%  ${key}`);
  const idle = ((selfHits.get('(idle)') ?? 0) / Math.max(1, totalHits)) * 100;
  const program = ((selfHits.get('(program)') ?? 0) / Math.max(1, totalHits)) * 100;
  const gc = ((selfHits.get('(garbage collector)') ?? 0) / Math.max(1, totalHits)) * 100;
  return [
    `== profile of our proxy (${files.length} file(s) in ${directory}): self time, top ${top} ==`,
    `  idle ${idle.toFixed(1)}%, native/program ${program.toFixed(1)}%, gc ${gc.toFixed(1)}%`,
    ...rows,
    '',
  ].join('\n');
}
