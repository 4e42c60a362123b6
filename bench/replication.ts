/**
 * Replication: how fast a new origin reaches every node (real processes and the simulator), how
 * many bytes anti-entropy ships for a few differences in a large set, and durable HECK.ADDORIGIN
 * throughput beside redis-server SET with `appendfsync always`.
 * `node dist/bench/replication.js [--quick] [--no-profile]`; prints a report and writes
 * bench/results/replication-latest.json. A report, not a gate: a missed target prints MISS and the
 * exit code stays 0 unless the bench itself broke.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SeededRandom } from '../src/runtime/random.js';
import { ROOT } from '../test/helpers/process.js';
import { summarizeProfile } from './lib/replication-profile.js';
import { killRunning, livePids } from './lib/heck-nodes.js';
import { REAL_SAMPLE_LIMIT_MS, realPropagation } from './lib/replication-real.js';
import {
  checkTargets,
  describeHost,
  render,
  summarize,
  throughputRows,
  type RealSize,
  type Results,
  type SimSize,
  type HeckProfile,
  type Throughput,
  type ThroughputRun,
} from './lib/replication-report.js';
import {
  errorStats,
  filesystemOf,
  HECK_NODE_FLAGS,
  heckPersistence,
  preflight,
  redisBenchmarkCsv,
  serverPids,
  startHeckNode,
  startHeckWithFlags,
  startRedisAof,
  threadTicks,
  type DurableServer,
} from './lib/replication-servers.js';
import { SAMPLE_LIMIT_MS, type AeResult, type PropagationResult, type SimJob, type SimJobResult } from './lib/replication-sim.js';
import { runBench } from './lib/run.js';
import { CLK_TCK, cpuTicks, ownChildPids } from './lib/system.js';
import { firstLines, runPool, terminateWorkers } from './lib/worker-pool.js';

const QUICK = process.argv.includes('--quick');
const PROFILE = !process.argv.includes('--no-profile');
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'replication-latest.json');

/** Simulator sizes: samples wanted and a wall budget for the whole size (formation included). */
const SIM_SIZES = [
  { n: 1000, samples: QUICK ? 3 : 10, budgetWallMs: QUICK ? 240_000 : 420_000 },
  { n: 100, samples: QUICK ? 10 : 30, budgetWallMs: 300_000 },
];
const AE_ORIGINS = 100_000;
const AE_DIFFS = [0, 1, 10, 100, 1000];
const REAL_SIZES = [3, 10];
const REAL_SAMPLES = QUICK ? 20 : 100;
const CLIENTS = 50;
const KEYSPACE = 1_000_000;
const ROUNDS = QUICK ? 1 : 3;
/** Requests per measured run by pipeline depth. */
const REQUESTS: Record<number, number> = QUICK ? { 1: 20_000, 16: 60_000 } : { 1: 100_000, 16: 300_000 };
const WARMUP_REQUESTS = 10_000;
const HECK_COMMAND = ['HECK.ADDORIGIN', 'o:__rand_int__', 'http://127.0.0.1:9/'];
const REDIS_COMMAND = ['SET', 'o:__rand_int__', 'http://127.0.0.1:9/'];

const log = (line: string) => console.error(line);

function simSize(r: PropagationResult): SimSize {
  return {
    n: r.n,
    seed: r.seed,
    samplesWanted: r.samplesWanted,
    stoppedBy: r.stoppedBy,
    budgetWallMs: r.budgetWallMs,
    all: summarize(r.samples.map((s) => s.allMs)),
    firstRemote: summarize(r.samples.map((s) => s.firstRemoteMs)),
    samplesWithRepairs: r.samples.filter((s) => s.repairedByAntiEntropy > 0).length,
    formMs: r.formMs,
    drainMs: r.drainMs,
    formWallMs: r.formWallMs,
    wallMs: r.wallMs,
    wallPerSimSecond: r.wallPerSimSecond,
    samples: r.samples,
  };
}

// ---- real processes ----------------------------------------------------------------------------

async function realPhase(): Promise<RealSize[]> {
  const rnd = new SeededRandom(20_240);
  const out: RealSize[] = [];
  for (const n of REAL_SIZES) {
    const failures: string[] = [];
    let size: RealSize | null = null;
    // A failed start is retried (twice): others may be rebuilding dist/ on a shared machine.
    for (let attempt = 1; attempt <= 3 && !size; attempt++) {
      try {
        const run = await realPropagation(n, REAL_SAMPLES, rnd, log);
        size = {
          n,
          meshMs: run.meshMs,
          all: summarize(run.samples.map((s) => s.allMs)),
          firstRemote: summarize(run.samples.map((s) => s.firstRemoteMs)),
          local: summarize(run.samples.map((s) => s.localMs)),
          ack: summarize(run.samples.map((s) => s.ackMs)),
          counters: run.counters,
          originsPerNode: run.originsPerNode,
          failures,
          wallMs: run.wallMs,
          samples: run.samples,
        };
        log(`real N=${n}: p50 ${size.all.p50?.toFixed(1)} ms, p99 ${size.all.p99?.toFixed(1)} ms (${Math.round(run.wallMs / 1000)} s)`);
      } catch (e) {
        const why = firstLines((e as Error).message);
        failures.push(`attempt ${attempt}: ${why}`);
        log(`real N=${n} attempt ${attempt} failed: ${why}`);
        await delay(2000);
      }
    }
    const empty = summarize([]);
    out.push(size ?? { n, meshMs: null, all: empty, firstRemote: empty, local: empty, ack: empty, counters: null, originsPerNode: [], failures, wallMs: 0, samples: [] });
  }
  return out;
}

// ---- durable write throughput ------------------------------------------------------------------

const servers = new Set<DurableServer>();

function loadArgs(server: DurableServer): string[] {
  return ['-r', String(KEYSPACE), ...(server.name === 'heck' ? HECK_COMMAND : REDIS_COMMAND)];
}

/** Per-thread-group CPU of a run, in µs per request (user + system). */
function threadUs(before: Map<string, { user: number; sys: number }>, after: Map<string, { user: number; sys: number }>, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [group, a] of after) {
    const b = before.get(group) ?? { user: 0, sys: 0 };
    const ticks = a.user - b.user + (a.sys - b.sys);
    if (ticks > 0) out[group] = (ticks * 1e6) / CLK_TCK / requests;
  }
  return out;
}

async function measure(server: DurableServer, pipeline: number, round: number, notes: Set<string>): Promise<ThroughputRun> {
  const requests = REQUESTS[pipeline]!;
  const before = server.name === 'heck' ? await heckPersistence(server.port) : null;
  const ticks0 = cpuTicks(server.pid);
  const threads0 = threadTicks(server.pid);
  const t0 = performance.now();
  const r = await redisBenchmarkCsv(server.port, loadArgs(server), requests, CLIENTS, pipeline);
  const seconds = (performance.now() - t0) / 1000;
  const ticks = cpuTicks(server.pid) - ticks0;
  const threads = threadUs(threads0, threadTicks(server.pid), requests);
  const after = server.name === 'heck' ? await heckPersistence(server.port) : null;
  for (const w of r.warnings) notes.add(`${server.name} -P ${pipeline}: ${w}`);
  const ping = server.name === 'heck' ? await redisBenchmarkCsv(server.port, ['PING'], requests, CLIENTS, pipeline) : null;
  return {
    round,
    server: server.name,
    pipeline,
    requests,
    rps: r.rps,
    p50LatencyMs: r.p50LatencyMs,
    p99LatencyMs: r.p99LatencyMs,
    seconds,
    cpuTicks: ticks,
    cpuUsPerOp: (ticks * 1e6) / CLK_TCK / requests,
    threadUsPerOp: threads,
    pingRps: ping?.rps ?? null,
    appends: before && after ? after.appends - before.appends : null,
    fsyncs: before && after ? after.fsyncs - before.fsyncs : null,
    compactions: before && after ? after.compactions - before.compactions : null,
  };
}

async function startPair(): Promise<DurableServer[]> {
  const redis = await startRedisAof();
  servers.add(redis);
  const heck = await startHeckNode();
  servers.add(heck);
  return [redis, heck];
}

async function stopServer(s: DurableServer): Promise<void> {
  await s.stop();
  servers.delete(s);
}

async function throughputPhase(): Promise<Throughput> {
  const notes = new Set<string>();
  const runs: ThroughputRun[] = [];
  let filesystem: Throughput['filesystem'] | null = null;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const pipeline of Object.keys(REQUESTS).map(Number)) {
      // Fresh servers for every run: the same (small) state at the start of each, on both sides.
      const pair = await startPair();
      try {
        if (!filesystem) {
          const [redis, heck] = pair as [DurableServer, DurableServer];
          filesystem = { redis: { dir: redis.dir, ...filesystemOf(redis.dir) }, heck: { dir: heck.dir, ...filesystemOf(heck.dir) } };
        }
        for (const s of pair) for (const p of await preflight(s)) notes.add(`${s.name} preflight: ${p}`);
        for (const s of pair) {
          const { warnings } = await redisBenchmarkCsv(s.port, loadArgs(s), WARMUP_REQUESTS, CLIENTS, pipeline);
          for (const w of warnings) notes.add(`${s.name} -P ${pipeline} (warm-up): ${w}`);
        }
        // A/B, then B/A in the next round, so a drift in background load hits both alike.
        const order = round % 2 === 1 ? pair : [...pair].reverse();
        for (const s of order) {
          const run = await measure(s, pipeline, round, notes);
          runs.push(run);
          const sync = run.fsyncs !== null ? `, ${run.appends} appends in ${run.fsyncs} fdatasyncs, ${run.compactions} compaction(s); PING on it ${Math.round(run.pingRps ?? 0)} ops/s` : '';
          const threads = Object.entries(run.threadUsPerOp).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
          log(`round ${round}/${ROUNDS} ${s.name.padEnd(5)} -P ${String(pipeline).padEnd(2)} ${Math.round(run.rps)} ops/s, p50 ${run.p50LatencyMs} ms, ${run.cpuUsPerOp.toFixed(1)} µs CPU/op (${threads})${sync}`);
        }
        for (const s of pair) for (const e of await errorStats(s.port)) notes.add(`${s.name} INFO errorstats: ${e}`);
      } finally {
        await Promise.allSettled(pair.map(stopServer));
      }
    }
  }
  return {
    rounds: ROUNDS,
    clients: CLIENTS,
    keyspace: KEYSPACE,
    requests: REQUESTS,
    warmupRequests: WARMUP_REQUESTS,
    commands: {
      heck: `redis-benchmark -c ${CLIENTS} -r ${KEYSPACE} ${HECK_COMMAND.join(' ')}`,
      redis: `redis-benchmark -c ${CLIENTS} -r ${KEYSPACE} ${REDIS_COMMAND.join(' ')}`,
    },
    filesystem: filesystem!,
    rows: throughputRows(runs),
    runs,
    notes: [...notes],
    profiles: [],
  };
}

/** A Heck node under `node --cpu-prof` (otherwise as bin/heck-server), one load at this depth; its profile, summarized. */
async function profileHeck(pipeline: number): Promise<HeckProfile> {
  const dir = mkdtempSync(join(tmpdir(), 'heck-bench-cpuprof-'));
  const heck = await startHeckWithFlags([...HECK_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`]);
  servers.add(heck);
  let rps = 0;
  try {
    await redisBenchmarkCsv(heck.port, loadArgs(heck), WARMUP_REQUESTS, CLIENTS, pipeline);
    rps = (await redisBenchmarkCsv(heck.port, loadArgs(heck), REQUESTS[pipeline]!, CLIENTS, pipeline)).rps;
    log(`profiled heck -P ${pipeline}: ${Math.round(rps)} ops/s (under the profiler)`);
  } finally {
    // SIGTERM: the node stops gracefully and exits, which writes the profile.
    await stopServer(heck);
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return { pipeline, rps, summary: { error: `no .cpuprofile written in ${dir}` } };
  return { pipeline, rps, summary: summarizeProfile(join(dir, file)) };
}

// ---- observations ------------------------------------------------------------------------------

function observations(r: Omit<Results, 'targets' | 'observations'>, extra: string[]): string[] {
  const out = [...extra];
  for (const x of r.sim) {
    if (x.all.timeouts) out.push(`sim N=${x.n}: ${x.all.timeouts} sample(s) not on every node within ${SAMPLE_LIMIT_MS / 1000} s (virtual).`);
    if (x.stoppedBy === 'budget') out.push(`sim N=${x.n}: ${x.all.samples} of ${x.samplesWanted} samples, cut short by the wall budget (${x.budgetWallMs / 1000} s for the size; formation took ${Math.round(x.formWallMs / 1000)} s).`);
    if (x.samplesWithRepairs) out.push(`sim N=${x.n}: in ${x.samplesWithRepairs} of ${x.all.samples} samples at least one node got the record from an anti-entropy exchange (racing the gossip, or repairing a node gossip missed).`);
    const slow = [...x.samples].sort((a, b) => (b.allMs ?? Infinity) - (a.allMs ?? Infinity))[0];
    if (slow && x.samples.length > 1) out.push(`sim N=${x.n}: slowest sample ${slow.allMs === null ? 'timeout' : `${slow.allMs.toFixed(1)} ms`} (sample ${slow.seq}, added on node ${slow.via}, seed ${x.seed}).`);
  }
  for (const x of r.real) {
    for (const f of x.failures) out.push(`real N=${x.n}: ${f}${x.all.samples ? ' (retried)' : ''}.`);
    if (x.all.timeouts) out.push(`real N=${x.n}: ${x.all.timeouts} sample(s) not on every node within ${REAL_SAMPLE_LIMIT_MS / 1000} s.`);
    if (x.counters) {
      const c = x.counters;
      out.push(
        `real N=${x.n}: over the samples, ${int(c.deltasApplied)} deltas applied from gossip, ${int(c.recordsRepaired)} records repaired by anti-entropy ` +
          `(${int(c.exchanges)} exchanges, ${c.exchangesFailed} failed, ${int(c.exchangeBytes)} B sent by requesters and responders); expected per node: ${x.all.samples} samples.`,
      );
    }
    const want = x.originsPerNode[0];
    if (x.originsPerNode.some((o) => o !== want)) out.push(`real N=${x.n}: nodes disagree on the origin count at the end: ${x.originsPerNode.join(', ')}.`);
  }
  const ae = r.antiEntropy;
  if (ae) for (const c of ae.cases.filter((c) => !c.converged)) out.push(`anti-entropy: ${c.diffs} differences did NOT converge in ${c.rounds} round(s).`);
  const t = r.throughput;
  if (t) {
    for (const n of t.notes) out.push(`throughput: ${n}`);
    if (t.filesystem.heck.device !== t.filesystem.redis.device) out.push('throughput: heck and redis logs are on different filesystems.');
    for (const row of t.rows.filter((x) => x.ratio < 1)) {
      const main = row.heckThreads.main ?? 0;
      out.push(
        `throughput -P ${row.pipeline}: heck's event loop spent ${main.toFixed(1)} µs per ADDORIGIN (redis' ${(row.redisThreads.main ?? 0).toFixed(1)} µs per SET), ` +
          `a ceiling of ~${int(1e6 / Math.max(main, 0.001))} ops/s on one core; ${row.heckAppendsPerFsync?.toFixed(1) ?? '?'} appends per fdatasync ` +
          `(${row.heckFsyncsPerSecond === null ? '?' : int(row.heckFsyncsPerSecond)}/s).`,
      );
    }
    const comp = t.runs.filter((x) => (x.compactions ?? 0) > 0);
    if (comp.length) out.push(`throughput: heck compacted its state log during ${comp.length} of ${t.runs.filter((x) => x.server === 'heck').length} measured runs (snapshot() of the whole state on the event loop, then a write + fsync).`);
  }
  return out;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const t0 = performance.now();
  const wallSeconds: Record<string, number> = {};
  const host = describeHost();
  const extra: string[] = [];
  const concurrency = Math.max(1, availableParallelism());

  log(`replication bench (${QUICK ? 'quick' : 'full'}): simulator and anti-entropy jobs on ${concurrency} worker thread(s) ...`);
  const jobs: SimJob[] = [
    ...SIM_SIZES.map((s) => ({ kind: 'propagation' as const, n: s.n, seed: s.n, samples: s.samples, budgetWallMs: s.budgetWallMs })),
    { kind: 'ae-bytes', origins: AE_ORIGINS, seed: 1, diffs: AE_DIFFS },
  ];
  const simResults = await runPool<SimJob, SimJobResult>(new URL('./lib/replication-worker.js', import.meta.url), jobs, concurrency, log);
  wallSeconds['simulator + anti-entropy'] = (performance.now() - t0) / 1000;
  const sim = simResults.filter((r): r is PropagationResult => r.kind === 'propagation').map(simSize).sort((a, b) => a.n - b.n);
  const antiEntropy = simResults.find((r): r is AeResult => r.kind === 'ae-bytes') ?? null;

  const t1 = performance.now();
  extra.push(`load average when the real-process phase started: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (wall-clock figures; anything else running skews them)`);
  const real = await realPhase();
  wallSeconds['real processes'] = (performance.now() - t1) / 1000;

  const t2 = performance.now();
  extra.push(`load average when the throughput phase started: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const throughput = await throughputPhase();
  wallSeconds.throughput = (performance.now() - t2) / 1000;
  if (PROFILE && throughput.rows.some((r) => r.ratio < 1)) {
    const t3 = performance.now();
    for (const row of throughput.rows.filter((r) => r.ratio < 1)) {
      try {
        throughput.profiles.push(await profileHeck(row.pipeline));
      } catch (e) {
        throughput.profiles.push({ pipeline: row.pipeline, rps: 0, summary: { error: firstLines((e as Error).message) } });
      }
    }
    wallSeconds['heck profiles'] = (performance.now() - t3) / 1000;
  }
  wallSeconds.total = (performance.now() - t0) / 1000;

  const base = { generatedAt: new Date().toISOString(), mode: QUICK ? ('quick' as const) : ('full' as const), host, sim, real, antiEntropy, throughput, wallSeconds };
  if (QUICK) extra.push(`quick mode: ${SIM_SIZES.map((s) => `${s.samples} sim samples at N=${s.n}`).join(', ')}, ${REAL_SAMPLES} real samples per size, ${ROUNDS} throughput round(s) of ${Object.entries(REQUESTS).map(([p, n]) => `${int(n)} at -P ${p}`).join(', ')}.`);
  const results: Results = { ...base, targets: checkTargets(base), observations: observations(base, extra) };
  console.log(render(results));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_FILE}`);
}

let stopping: Promise<void> | undefined;

/** Stops every worker, node and server this run started; safe to call more than once. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await terminateWorkers();
    await killRunning();
    await Promise.allSettled([...servers].map((s) => s.stop()));
  })();
  return stopping;
}

// Last resort: only our own children, by pid.
await runBench(main, stopAll, () => [...livePids(), ...serverPids(), ...ownChildPids()]);
