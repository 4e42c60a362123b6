/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and sums self time by function and by source file, so
 * the bench can say where a Heck process spent its CPU under the ADDORIGIN load.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../../test/helpers/process.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time of the idle node: the main thread waiting (for I/O, the fsync included). */
  idleMs: number;
  gcMs: number;
  topFunctions: ProfileEntry[];
  topFiles: ProfileEntry[];
  /** Inclusive time of Heck's own functions (dist/src), highest first. */
  inclusive: ProfileEntry[];
}

function where(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  try {
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    return relative(ROOT, path);
  } catch {
    return url;
  }
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = (p.endTime - p.startTime) / 1000;
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  let idleMs = 0;
  let gcMs = 0;
  for (const [id, ms] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (f.functionName === '(garbage collector)') gcMs += ms;
    const file = where(f.url);
    const name = `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + ms);
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + ms);
  }
  // Inclusive time of Heck's own functions: every sample counted once for each distinct one above it.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, ms] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!f.url.includes('/dist/src/')) continue;
      const key = `${f.functionName} ${where(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
    }
  }
  const busy = totalMs - idleMs;
  const rank = (m: Map<string, number>, k: number, base: number): ProfileEntry[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, ms]) => ({ name, selfMs: ms, percent: (100 * ms) / base }));
  return {
    file,
    totalMs,
    idleMs,
    gcMs,
    topFunctions: rank(fnSelf, top, busy),
    topFiles: rank(fileSelf, top, busy),
    inclusive: rank(inclusive, top, busy),
  };
}
