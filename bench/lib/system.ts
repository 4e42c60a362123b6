import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { loadavg, release } from 'node:os';

/** Clock ticks per second for /proc times: 100 on any Linux we meet, but asked rather than assumed. */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const n = Number(run('getconf', ['CLK_TCK']));
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/** Fields of /proc/<pid>/stat from field 3 (state) on; comm may hold spaces and ')' so cut at the last one. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime in clock ticks, all threads included (V8's GC and JIT threads are Heck's cost too). */
export function cpuTicks(pid: number): number {
  const f = statFields(pid);
  return Number(f[14 - 3]) + Number(f[15 - 3]);
}

/** Resident set size in bytes, from VmRSS in /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Pids whose parent is this process: the last-resort cleanup when a child escaped our bookkeeping. */
export function ownChildPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const f = statFields(Number(name));
      if (Number(f[4 - 3]) === process.pid && f[0] !== 'Z') pids.push(Number(name));
    } catch {
      // The process went away between readdir and read.
    }
  }
  return pids;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memTotalBytes: number;
  kernel: string;
  node: string;
  redisServer: string;
  redisBenchmark: string;
  loadavg: number[];
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cpus: Number(run('nproc', [])),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalBytes: Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0) * 1024,
    kernel: release(),
    // The `node` on PATH is the one bin/heck-server execs, which may differ from the bench's own.
    node: run('node', ['--version']),
    redisServer: run('redis-server', ['--version']),
    redisBenchmark: run('redis-benchmark', ['--version']),
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** The code under test: its commit, and how many files under src/ test/ bench/ differ from it (read-only git). */
export function codeUnderTest(root: string): { commit: string; uncommittedFiles: number } {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], cwd: root }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedFiles: git(['status', '--porcelain', '--', 'src', 'test', 'bench', ':!bench/results']).split('\n').filter((l) => l.trim() && l !== 'unknown').length,
  };
}

/** Nearest-rank percentile (the ceil(p/100 × n)-th of n sorted values); null values (never finished) sort last. */
export function percentile(values: (number | null)[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => (a ?? Infinity) - (b ?? Infinity));
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}
