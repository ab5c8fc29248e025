// CPU and memory of a subject read from /proc, summed over its whole process tree: Python
// websockify forks one child per connection, so its cost is the parent plus every child.
import { readFileSync, readdirSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the bench targets

interface StatLine {
  ppid: number;
  /** utime + stime of the process itself, in seconds */
  cpu: number;
  /** cutime + cstime: children already reaped, in seconds */
  reapedChildrenCpu: number;
}

function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field N of proc(5) is fields[N - 3].
  const num = (n: number): number => Number(fields[n - 3] ?? 0);
  return {
    ppid: num(4),
    cpu: (num(14) + num(15)) / CLOCK_TICKS_PER_SECOND,
    reapedChildrenCpu: (num(16) + num(17)) / CLOCK_TICKS_PER_SECOND,
  };
}

/** The pid and every descendant pid (zombies included: their CPU is still in their stat). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === null) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** CPU seconds used so far by the tree, counting children that have already exited and been reaped. */
export function treeCpuSeconds(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    const stat = readStat(pid);
    if (stat === null) continue;
    total += stat.cpu;
    if (pid === root) total += stat.reapedChildrenCpu;
  }
  return total;
}

export interface TreeMemory {
  /** Summed VmRSS in bytes: counts pages shared between forks once per process. */
  rss: number;
  /** Summed Pss in bytes: shared pages split between the processes sharing them (the fair sum). */
  pss: number;
  processes: number;
}

function readKiB(text: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return match === null ? 0 : Number(match[1]) * 1024;
}

export function treeMemory(root: number): TreeMemory {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
      rss += readKiB(status, 'VmRSS');
      pss += readKiB(rollup, 'Pss');
      processes += 1;
    } catch {
      // The process exited between listing and reading: it holds no memory any more.
    }
  }
  return { rss, pss, processes };
}

/** The machine's CPU time so far, all cores, in clock ticks: all of it, and what the hypervisor took. */
export interface MachineTicks {
  total: number;
  steal: number;
}

/** From /proc/stat's first line; zeros where it cannot be read (not Linux). */
export function machineTicks(): MachineTicks {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time is
    // already counted in user and nice.
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + (Number.isFinite(value) ? value : 0), 0);
    return { total, steal: fields[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

/**
 * The share of the machine's CPU time the hypervisor took between two readings, in percent: on a
 * virtual machine, time a runnable thread waited for a physical core. A batch in which it is high
 * measured the host's neighbours as much as the subjects (docs/bench.md).
 */
export function stealPercent(from: MachineTicks, to: MachineTicks): number {
  const total = to.total - from.total;
  return total > 0 ? (100 * (to.steal - from.steal)) / total : 0;
}
