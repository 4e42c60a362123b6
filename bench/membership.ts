/**
 * Membership: crash detection, join spread, egress and false deaths of Heck's SWIM + Lifeguard
 * (`lan` profile), in the simulator and as real processes, beside memberlist's DefaultLANConfig
 * (derived from its formulas, and measured through ../shared/anchors/memberlist when it builds).
 * `node dist/bench/membership.js [--quick]`; prints a report and writes
 * bench/results/membership-latest.json. A report, not a gate: a missed target prints MISS and the
 * exit code stays 0 unless the bench itself broke.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SeededRandom } from '../src/runtime/random.js';
import { ROOT } from '../test/helpers/process.js';
import { derive } from './lib/membership-derived.js';
import {
  buildMemberlist,
  heckTrial,
  killGroups,
  memberlistDetect,
  type MemberlistDetect,
  type RealTrial,
} from './lib/membership-real.js';
import { checkTargets, describeHost, render, s, summarize, type RealSize, type Results, type SimSize } from './lib/membership-report.js';
import { DETECT_LIMIT_MS, JOIN_LIMIT_MS, type BytesResult, type SimJob, type SimJobResult, type StressResult, type Trial } from './lib/membership-sim.js';
import { runBench } from './lib/run.js';
import { ownChildPids } from './lib/system.js';
import { killRunning, livePids } from './lib/heck-nodes.js';
import { firstLines, runPool, terminateWorkers } from './lib/worker-pool.js';

const QUICK = process.argv.includes('--quick');
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'membership-latest.json');

const SIM_SIZES = QUICK ? [10, 50] : [10, 50, 100];
const SIM_TRIALS = QUICK ? 10 : 30;
/** Trials per worker job, so the sizes spread over the cores. */
const TRIALS_PER_JOB = 10;
const BIG_N = 1000;
/** The N = 1,000 cluster costs ~8 s of wall time per simulated second on 2 cores with today's clock. */
const BIG_BUDGET_WALL_MS = 250_000;
/** One whole push-pull period at N = 1,000 (30 s × 6), so each node's push-pull is counted about once. */
const BIG_BYTES_WINDOW_MS = 180_000;
const STRESS_N = 50;
const STRESS_MS = (QUICK ? 3 : 30) * 60_000;
/** After the joins' broadcasts have drained (every queue empty). */
const BYTES_DRAIN_MS = 10_000;
/** A whole push-pull period (30 s × its N scaling) at least, so every node's push-pull is counted once. */
const bytesWindow = (n: number) => (n <= 32 ? 30_000 : n <= 64 ? 60_000 : 90_000);
const REAL_SIZES = [5, 10];
const REAL_TRIALS = QUICK ? 3 : 10;
const BUILD_TIMEOUT_MS = 300_000;

const log = (line: string) => console.error(line);

function simJobs(): SimJob[] {
  const jobs: SimJob[] = [];
  if (!QUICK) jobs.push({ kind: 'big', n: BIG_N, seed: BIG_N, maxTrials: 30, budgetWallMs: BIG_BUDGET_WALL_MS, drainMs: 1000, bytesWindowMs: BIG_BYTES_WINDOW_MS });
  jobs.push({ kind: 'stress', mode: 'loss', n: STRESS_N, seed: 7001, durationMs: STRESS_MS });
  jobs.push({ kind: 'stress', mode: 'pause', n: STRESS_N, seed: 7002, durationMs: STRESS_MS });
  for (const n of [...SIM_SIZES].reverse()) {
    const seeds = Array.from({ length: SIM_TRIALS }, (_, i) => n * 1000 + i + 1);
    for (let i = 0; i < seeds.length; i += TRIALS_PER_JOB) jobs.push({ kind: 'trials', n, seeds: seeds.slice(i, i + TRIALS_PER_JOB) });
  }
  for (const n of SIM_SIZES) jobs.push({ kind: 'bytes', n, seed: n * 1000 + 999, drainMs: BYTES_DRAIN_MS, windowMs: bytesWindow(n) });
  return jobs;
}

function seedRange(seeds: number[]): string {
  const sorted = [...seeds].sort((a, b) => a - b);
  const contiguous = sorted.every((x, i) => i === 0 || x === sorted[i - 1]! + 1);
  return contiguous && sorted.length > 1 ? `${sorted[0]}..${sorted[sorted.length - 1]}` : sorted.join(',');
}

function simSize(n: number, method: SimSize['method'], trials: Trial[], bytes: BytesResult | null, seeds: string, note: string): SimSize {
  return {
    n,
    method,
    seeds,
    trials,
    detect: summarize(trials.map((t) => t.detectMs)),
    firstSuspect: summarize(trials.map((t) => t.firstSuspectMs)),
    join: summarize(trials.map((t) => t.joinMs)),
    collateralDeaths: trials.reduce((sum, t) => sum + t.collateralDeaths.length, 0),
    bytes,
    note,
    derived: derive(n),
  };
}

function collectSim(results: SimJobResult[]): { sim: SimSize[]; stress: StressResult[] } {
  const sim: SimSize[] = [];
  for (const n of SIM_SIZES) {
    const trials = results.flatMap((r) => (r.kind === 'trials' && r.n === n ? r.trials : [])).sort((a, b) => a.seed - b.seed);
    const bytes = results.flatMap((r) => (r.kind === 'bytes' && r.result.n === n ? [r.result] : []))[0] ?? null;
    sim.push(simSize(n, 'independent', trials, bytes, seedRange(trials.map((t) => t.seed)), ''));
  }
  for (const r of results) {
    if (r.kind !== 'big') continue;
    const note =
      `${r.trials.length} trials (target 30), cut short by a wall budget of ${r.budgetWallMs / 1000} s for this size: forming the cluster ` +
      `(${s(r.formMs, 1)} virtual) took ${Math.round(r.formWallMs / 1000)} s and the ${r.bytes.windowMs / 1000} s bytes window ` +
      `${Math.round(r.bytes.wallMs / 1000)} s of it. The trials ran one after another on ONE cluster (seed ${r.seed}; trial i's choices ` +
      `seeded ${r.seed * 1000}+i): earlier victims stay listed dead and earlier joiners stay.`;
    sim.push(simSize(r.n, 'sequential', r.trials, r.bytes, `${r.seed}`, note));
  }
  const stress = results.flatMap((r) => (r.kind === 'stress' ? [r.result] : []));
  return { sim, stress };
}

async function realPhase(observe: (o: string) => void): Promise<{ real: RealSize[]; build: Results['memberlistBuild'] }> {
  log(`building the memberlist anchor (time-boxed to ${BUILD_TIMEOUT_MS / 1000} s) ...`);
  const build = await buildMemberlist(BUILD_TIMEOUT_MS);
  log(build.ok ? `memberlist anchor: ${build.binary} (${Math.round(build.ms / 1000)} s)` : `memberlist anchor unavailable: ${build.reason}`);
  const real: RealSize[] = [];
  const rnd = new SeededRandom(4242);
  for (const n of REAL_SIZES) {
    const trials: RealTrial[] = [];
    const failures: string[] = [];
    for (let t = 0; t < REAL_TRIALS; t++) {
      // A failed start is retried (twice): others may be rebuilding dist/ on a shared machine.
      for (let attempt = 1; attempt <= 3; attempt++) {
        try {
          const tr = await heckTrial(n, rnd);
          trials.push(tr);
          log(`real Heck N=${n} trial ${t + 1}/${REAL_TRIALS}: detect ${s(tr.detectMs)} (logs ${s(tr.detectFromLogsMs)}), mesh ${s(tr.meshMs)}`);
          break;
        } catch (e) {
          const why = firstLines((e as Error).message);
          failures.push(`trial ${t + 1} attempt ${attempt}: ${why}`);
          log(`real Heck N=${n} trial ${t + 1} attempt ${attempt} failed: ${why}`);
          await delay(2000);
        }
      }
    }
    let memberlist: MemberlistDetect | null = null;
    if (build.ok) {
      log(`real memberlist N=${n}, ${REAL_TRIALS} trials ...`);
      memberlist = await memberlistDetect(build.binary, n, REAL_TRIALS, log);
      log(memberlist.ok ? `memberlist N=${n}: p50 ${s(memberlist.p50Ms)}, max ${s(memberlist.maxMs)} (${Math.round(memberlist.ms / 1000)} s)` : `memberlist detect failed: ${memberlist.reason}`);
      for (const f of memberlist.failures) observe(`real memberlist N=${n}: ${f} (retried).`);
    }
    const heck = {
      trials,
      detect: summarize(trials.map((t) => t.detectMs)),
      detectFromLogs: summarize(trials.map((t) => t.detectFromLogsMs)),
      firstSuspectFromLogs: summarize(trials.map((t) => t.firstSuspectFromLogsMs)),
      cpuPercentPerNode: trials.length ? trials.reduce((sum, t) => sum + t.cpuPercentPerNode, 0) / trials.length : 0,
      failures,
    };
    real.push({ n, heck, memberlist, derived: derive(n) });
  }
  if (build.ok) rmSync(build.binary, { force: true });
  return { real, build };
}

function observations(r: Omit<Results, 'targets' | 'observations'>, extra: string[]): string[] {
  const out = [...extra];
  for (const x of r.sim) {
    const late = x.trials.filter((t) => t.detectMs === null);
    if (late.length) out.push(`sim N=${x.n}: death not detected everywhere within ${DETECT_LIMIT_MS / 1000} s for seed(s) ${late.map((t) => t.seed).join(', ')}.`);
    const noJoin = x.trials.filter((t) => t.joinMs === null);
    if (noJoin.length) out.push(`sim N=${x.n}: join did not reach everyone within ${JOIN_LIMIT_MS / 1000} s for seed(s) ${noJoin.map((t) => t.seed).join(', ')}.`);
    for (const t of x.trials.filter((t) => t.joinMs !== null && t.joinMs > 1500)) {
      out.push(`sim N=${x.n} seed ${t.seed}${x.method === 'sequential' ? ` trial ${t.sequence}` : ''}: the join took ${s(t.joinMs)} to reach every member (joined via node ${t.joinVia}).`);
    }
    for (const t of x.trials.filter((t) => t.collateralDeaths.length)) {
      out.push(`sim N=${x.n} seed ${t.seed}${x.method === 'sequential' ? ` trial ${t.sequence}` : ''}: healthy member(s) marked dead during the trial: ${t.collateralDeaths.join(', ')}.`);
    }
    const slow = [...x.trials].sort((a, b) => (b.detectMs ?? Infinity) - (a.detectMs ?? Infinity))[0];
    if (slow && x.trials.length > 1) out.push(`sim N=${x.n}: slowest detection ${s(slow.detectMs)} (seed ${slow.seed}${x.method === 'sequential' ? `, trial ${slow.sequence}` : ''}); slowest join ${s(x.join.max)}.`);
  }
  for (const st of r.stress) {
    if (st.falseDeaths > 0) {
      const ex = st.examples.map((e) => `t=${s(e.atMs, 1)} node ${e.observer} marked node ${e.subject} dead`).join('; ');
      out.push(`stress ${st.mode} N=${st.n} seed ${st.seed}: ${st.falseDeaths} false dead verdicts about ${st.falselyDeadNodes} node(s) (${(st.falseDeaths / st.nodeHours).toFixed(2)} per node-hour); first: ${ex}.`);
    }
    if (!st.finalAllAlive) out.push(`stress ${st.mode} N=${st.n} seed ${st.seed}: not every node listed all ${st.n} alive at the end.`);
  }
  for (const x of r.real) {
    const coll = x.heck.trials.reduce((sum, t) => sum + t.collateralDeaths, 0);
    if (coll) out.push(`real Heck N=${x.n}: ${coll} survivor(s) logged member_failed for a node other than the victim.`);
    for (const f of x.heck.failures) out.push(`real Heck N=${x.n}: ${f} (retried).`);
    const timeouts = x.heck.detect.timeouts;
    if (timeouts) out.push(`real Heck N=${x.n}: ${timeouts} trial(s) not detected by all within 60 s.`);
  }
  return out;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const wallSeconds: Record<string, number> = {};
  const host = describeHost();
  const extra: string[] = [];
  const concurrency = Math.max(1, availableParallelism());
  log(`membership bench (${QUICK ? 'quick' : 'full'}): simulator jobs on ${concurrency} worker thread(s) ...`);
  const simResults = await runPool<SimJob, SimJobResult>(new URL('./lib/membership-worker.js', import.meta.url), simJobs(), concurrency, log);
  wallSeconds.simulator = (performance.now() - t0) / 1000;
  const { sim, stress } = collectSim(simResults);

  const t1 = performance.now();
  const loadBeforeReal = loadavg().map((l) => l.toFixed(2)).join(' ');
  extra.push(`load average when the real-process phase started: ${loadBeforeReal} (real-process figures are wall-clock; anything else running skews them)`);
  const { real, build } = await realPhase((o) => extra.push(o));
  wallSeconds['real processes'] = (performance.now() - t1) / 1000;
  wallSeconds.total = (performance.now() - t0) / 1000;

  const sizes = [...new Set([...REAL_SIZES, ...sim.map((x) => x.n)])].sort((a, b) => a - b);
  const base = {
    generatedAt: new Date().toISOString(),
    mode: QUICK ? ('quick' as const) : ('full' as const),
    host,
    profile: 'lan',
    derived: sizes.map(derive),
    sim,
    stress,
    real,
    memberlistBuild: build,
    wallSeconds,
  };
  if (QUICK) extra.push(`quick mode: N = ${SIM_SIZES.join(', ')} only, ${SIM_TRIALS} trials each, stress ${STRESS_MS / 60_000} min, ${REAL_TRIALS} real trials; N = 100 and 1,000 skipped.`);
  const results: Results = { ...base, targets: checkTargets(base), observations: observations(base, extra) };
  console.log(render(results));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_FILE}`);
}

let stopping: Promise<void> | undefined;

/** Stops every worker, node and script this run started; safe to call more than once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await terminateWorkers();
    killGroups();
    await killRunning();
  })();
  return stopping;
}

// Last resort: only our own children (a node started but not yet handed back, for one).
await runBench(main, stopAll, () => {
  killGroups();
  return [...livePids(), ...ownChildPids()];
});
