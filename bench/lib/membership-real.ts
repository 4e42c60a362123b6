/**
 * Real processes on 127.0.0.1: crash detection of N Heck nodes (bin/heck-server through the
 * tests' launcher), and of N real hashicorp/memberlist nodes through the anchor's own scripts
 * (../shared/anchors/memberlist: `build`, `detect`). Wall-clock figures; the machine must be
 * otherwise quiet while these run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { SeededRandom } from '../../src/runtime/random.js';
import { ROOT, type NodeProcess } from '../../test/helpers/process.js';
import { killAll, startTracked } from './heck-nodes.js';
import { ErrorReply, plain, RespClient } from '../../test/helpers/resp-client.js';
import { cpuTicks, CLK_TCK } from './system.js';

const MESH_LIMIT_MS = 30_000;
const DETECT_LIMIT_MS = 60_000;
const POLL_MS = 50;

export const ANCHOR_DIR = process.env.HECK_MEMBERLIST_ANCHOR ?? join(ROOT, '..', 'shared', 'anchors', 'memberlist');

export interface RealTrial {
  n: number;
  victim: number;
  settleMs: number;
  /** kill -9 to every survivor's CLUSTER NODES showing the victim `fail` (polled every POLL_MS). */
  detectMs: number | null;
  /** The same from the survivors' own `member_failed` log timestamps (ms resolution, no polling). */
  detectFromLogsMs: number | null;
  /** kill -9 to the first `member_suspected` of the victim in any survivor's log. */
  firstSuspectFromLogsMs: number | null;
  /** Survivors that marked someone other than the victim dead. */
  collateralDeaths: number;
  /** CPU of the node processes over the settle window, in % of one core per node. */
  cpuPercentPerNode: number;
  meshMs: number;
}


interface Started {
  proc: NodeProcess;
  id: string;
  port: number;
  busPort: number;
  pid: number;
}

async function startOne(): Promise<Started> {
  const proc = await startTracked(['--profile', 'lan']);
  const rec = proc.logs.find((r) => r.event === 'listening');
  if (!rec || typeof rec.id !== 'string' || typeof rec.bus_port !== 'number') throw new Error('no id/bus_port in the listening line');
  const pid = typeof rec.pid === 'number' ? rec.pid : proc.child.pid!;
  return { proc, id: rec.id, port: proc.port, busPort: rec.bus_port, pid };
}


/** CLUSTER NODES as [id, flags[]] pairs. */
async function clusterNodes(c: RespClient): Promise<Map<string, string[]>> {
  const reply = plain(await c.call('CLUSTER', 'NODES'));
  if (reply instanceof ErrorReply) throw new Error(`CLUSTER NODES: ${reply.message}`);
  if (typeof reply !== 'string') throw new Error('CLUSTER NODES: not a bulk string');
  const out = new Map<string, string[]>();
  for (const line of reply.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length >= 3) out.set(f[0]!, f[2]!.split(','));
  }
  return out;
}

const isFail = (flags: string[] | undefined) => flags !== undefined && flags.includes('fail');

function logTimes(proc: NodeProcess, event: string, id: string): number[] {
  return proc.logs
    .filter((r) => r.event === event && r.id === id && typeof r.ts === 'string')
    .map((r) => Date.parse(r.ts as string));
}

/**
 * One trial: N fresh Heck nodes, each but the first told `CLUSTER MEET` the first; wait until
 * every CLUSTER NODES lists N healthy members; settle a random 2-3 s; kill -9 a random node; poll
 * CLUSTER NODES on every survivor until all show it `fail`.
 */
export async function heckTrial(n: number, rnd: SeededRandom): Promise<RealTrial> {
  const nodes: Started[] = [];
  const clients: RespClient[] = [];
  try {
    const started = await Promise.allSettled(Array.from({ length: n }, () => startOne()));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const node of nodes) clients.push(await RespClient.open(node.port));

    const seed = nodes[0]!;
    const mesh0 = performance.now();
    for (const c of clients.slice(1)) {
      const r = plain(await c.call('CLUSTER', 'MEET', '127.0.0.1', String(seed.port), String(seed.busPort)));
      if (r !== 'OK') throw new Error(`CLUSTER MEET replied ${JSON.stringify(r)}`);
    }
    for (;;) {
      const views = await Promise.all(clients.map(clusterNodes));
      if (views.every((v) => v.size === n && [...v.values()].every((f) => !isFail(f) && !f.includes('fail?')))) break;
      if (performance.now() - mesh0 > MESH_LIMIT_MS) throw new Error(`${n} Heck nodes did not mesh within ${MESH_LIMIT_MS} ms`);
      await delay(POLL_MS);
    }
    const meshMs = performance.now() - mesh0;

    const settleMs = 2000 + rnd.int(1001);
    const ticks0 = nodes.map((x) => cpuTicks(x.pid));
    const cpu0 = performance.now();
    await delay(settleMs);
    const cpuSecs = (performance.now() - cpu0) / 1000;
    const ticks = nodes.reduce((s, x, i) => s + cpuTicks(x.pid) - ticks0[i]!, 0);
    const cpuPercentPerNode = (100 * ticks) / CLK_TCK / cpuSecs / n;

    const v = rnd.int(n);
    const victim = nodes[v]!;
    const survivors = nodes.map((x, i) => ({ node: x, client: clients[i]!, seenAt: null as number | null })).filter((_, i) => i !== v);
    const killWall = Date.now();
    const killAt = performance.now();
    victim.proc.child.kill('SIGKILL');
    clients[v]!.close();

    let detectMs: number | null = null;
    while (performance.now() - killAt < DETECT_LIMIT_MS) {
      await Promise.all(
        survivors
          .filter((s) => s.seenAt === null)
          .map(async (s) => {
            const view = await clusterNodes(s.client);
            if (isFail(view.get(victim.id))) s.seenAt = performance.now() - killAt;
          }),
      );
      if (survivors.every((s) => s.seenAt !== null)) {
        detectMs = Math.max(...survivors.map((s) => s.seenAt!));
        break;
      }
      await delay(POLL_MS);
    }

    const failedAt = survivors.map((s) => logTimes(s.node.proc, 'member_failed', victim.id)[0]);
    const detectFromLogsMs = failedAt.every((t) => t !== undefined) ? Math.max(...(failedAt as number[])) - killWall : null;
    const suspected = survivors.flatMap((s) => logTimes(s.node.proc, 'member_suspected', victim.id));
    const firstSuspectFromLogsMs = suspected.length > 0 ? Math.min(...suspected) - killWall : null;
    const collateralDeaths = survivors.filter((s) =>
      s.node.proc.logs.some((r) => r.event === 'member_failed' && r.id !== victim.id),
    ).length;
    return { n, victim: v, settleMs, detectMs, detectFromLogsMs, firstSuspectFromLogsMs, collateralDeaths, cpuPercentPerNode, meshMs };
  } finally {
    for (const c of clients) c.close();
    await killAll(nodes.map((x) => x.proc));
  }
}

// ---- memberlist anchor -------------------------------------------------------------------------

export interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Scripts started in their own process group, so a timeout or interrupt stops their children too. */
const groups = new Set<number>();

export function killGroups(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  groups.clear();
}

function runScript(script: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { cwd: ANCHOR_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = child.pid;
    if (pgid !== undefined) groups.add(pgid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // The script's mlnode children are in its group; make sure none outlives it.
      if (pgid !== undefined) {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // Nothing left.
        }
        groups.delete(pgid);
      }
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - t0 });
    });
  });
}

export type Build = { ok: true; binary: string; ms: number } | { ok: false; reason: string; ms: number };

/** Runs the anchor's `build` (apt-get install golang-go, memberlist; go build), time-boxed. */
export async function buildMemberlist(timeoutMs: number): Promise<Build> {
  const script = join(ANCHOR_DIR, 'build');
  if (!existsSync(script)) return { ok: false, reason: `no anchor at ${ANCHOR_DIR}`, ms: 0 };
  const out = join(tmpdir(), `heck-bench-mlnode-${process.pid}`);
  try {
    const r = await runScript(script, [out], {}, timeoutMs);
    if (r.timedOut) return { ok: false, reason: `build did not finish within ${timeoutMs / 1000} s`, ms: r.ms };
    const binary = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !existsSync(binary)) {
      const tail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ');
      return { ok: false, reason: `build exited ${r.code ?? r.signal}: ${tail}`, ms: r.ms };
    }
    return { ok: true, binary, ms: r.ms };
  } catch (e) {
    return { ok: false, reason: (e as Error).message, ms: 0 };
  }
}

export type MemberlistDetect =
  | { ok: true; n: number; trials: number; valuesMs: number[]; minMs: number; p50Ms: number; maxMs: number; failures: string[]; ms: number }
  | { ok: false; n: number; trials: number; reason: string; failures: string[]; ms: number };

/** A normal `detect N 1` trial takes ~9 s on loopback; one whose node failed to start waits out the script's 60 s loops. */
const ANCHOR_TRIAL_TIMEOUT_MS = 40_000;
const ANCHOR_ATTEMPTS = 3;

/**
 * The anchor's `detect N 1 lan` once per trial (kill -9 one of N real memberlist nodes, time until
 * every survivor declares it dead), so each trial's figure is known and a stalled one can be cut
 * off and retried: the script picks its ports at random in 40000-50000, inside Linux's ephemeral
 * range, so on a busy machine a node sometimes cannot bind and the trial runs a node short.
 * Percentiles as the script computes them (its p50 is the nearest-rank median).
 */
export async function memberlistDetect(binary: string, n: number, trials: number, log: (line: string) => void): Promise<MemberlistDetect> {
  const t0 = performance.now();
  const values: number[] = [];
  const failures: string[] = [];
  for (let t = 1; t <= trials; t++) {
    for (let attempt = 1; attempt <= ANCHOR_ATTEMPTS; attempt++) {
      const r = await runScript(join(ANCHOR_DIR, 'detect'), [String(n), '1', 'lan'], { MLNODE: binary }, ANCHOR_TRIAL_TIMEOUT_MS);
      const line = r.stdout.trim().split('\n').find((l) => l.startsWith('memberlist')) ?? '';
      const m = /p50 (\d+)/.exec(line);
      const v = m ? Number(m[1]) : NaN;
      if (!r.timedOut && Number.isFinite(v) && v < 99_999) {
        values.push(v);
        log(`real memberlist N=${n} trial ${t}/${trials}: detect ${(v / 1000).toFixed(2)} s`);
        break;
      }
      const why = r.timedOut
        ? `stalled past ${ANCHOR_TRIAL_TIMEOUT_MS / 1000} s (a node that never started or never saw the death), stopped`
        : `no result (exit ${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`;
      failures.push(`trial ${t} attempt ${attempt}: ${why}`);
      log(`real memberlist N=${n} trial ${t} attempt ${attempt}: ${why}`);
    }
  }
  const ms = performance.now() - t0;
  if (values.length === 0) return { ok: false, n, trials: 0, reason: failures[failures.length - 1] ?? 'no trials', failures, ms };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    ok: true,
    n,
    trials: values.length,
    valuesMs: values,
    minMs: sorted[0]!,
    p50Ms: sorted[Math.ceil(sorted.length / 2) - 1]!,
    maxMs: sorted[sorted.length - 1]!,
    failures,
    ms,
  };
}
