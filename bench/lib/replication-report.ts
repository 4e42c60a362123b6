/**
 * Figures, targets and the printed report of the replication bench. Percentiles are nearest-rank
 * (p of n sorted values: the ceil(p/100 × n)-th), so with fewer than 100 samples p99 is the
 * slowest; a sample that never completed counts as slower than any that did.
 */
import { ROOT } from '../../test/helpers/process.js';
import type { ProfileSummary } from './replication-profile.js';
import type { RealCounters, RealSample } from './replication-real.js';
import type { DurableName } from './replication-servers.js';
import type { AeResult, PropagationSample } from './replication-sim.js';
import { codeUnderTest, describeMachine, percentile, type Machine } from './system.js';

export interface Host extends Machine {
  /** The commit the code under test sits on, and how many files under src/ test/ bench/ differ from it. */
  commit: string;
  uncommittedFiles: number;
}

/** The machine (system.ts) and the code under test (read-only git, as the membership bench names it). */
export function describeHost(): Host {
  return {
    ...describeMachine(),
    ...codeUnderTest(ROOT),
  };
}

export interface Summary {
  samples: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  timeouts: number;
}

export function summarize(values: (number | null)[]): Summary {
  return { samples: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100), timeouts: values.filter((v) => v === null).length };
}

export interface SimSize {
  n: number;
  seed: number;
  samplesWanted: number;
  stoppedBy: 'samples' | 'budget';
  budgetWallMs: number;
  all: Summary;
  firstRemote: Summary;
  /** Samples in which anti-entropy repaired a record (some node got it from an exchange, not gossip). */
  samplesWithRepairs: number;
  formMs: number;
  drainMs: number;
  formWallMs: number;
  wallMs: number;
  wallPerSimSecond: number;
  samples: PropagationSample[];
}

export interface RealSize {
  n: number;
  meshMs: number | null;
  all: Summary;
  firstRemote: Summary;
  local: Summary;
  ack: Summary;
  counters: RealCounters | null;
  originsPerNode: number[];
  failures: string[];
  wallMs: number;
  samples: RealSample[];
}

export interface ThroughputRun {
  round: number;
  server: DurableName;
  pipeline: number;
  requests: number;
  rps: number;
  /** Request latency as redis-benchmark reports it (its CSV columns). */
  p50LatencyMs: number;
  p99LatencyMs: number;
  seconds: number;
  cpuTicks: number;
  cpuUsPerOp: number;
  /** CPU µs per request by thread group: main (the event loop), then other threads (see threadTicks). */
  threadUsPerOp: Record<string, number>;
  /**
   * Heck only: PING on the same node right after, same clients and depth: a turn of RESP with no
   * work and no disk, the ceiling of any command at this depth.
   */
  pingRps: number | null;
  /** Heck only: state-log appends and fdatasyncs during the run (INFO persistence), compactions. */
  appends: number | null;
  fsyncs: number | null;
  compactions: number | null;
}

export interface ThroughputRow {
  pipeline: number;
  redisRps: number;
  heckRps: number;
  ratio: number;
  /** Heck's PING at this depth (see ThroughputRun.pingRps), median. */
  heckPingRps: number | null;
  redisP50Ms: number;
  heckP50Ms: number;
  redisCpuUsPerOp: number;
  heckCpuUsPerOp: number;
  /** Medians of each thread group's µs per request. */
  redisThreads: Record<string, number>;
  heckThreads: Record<string, number>;
  heckAppendsPerFsync: number | null;
  heckFsyncsPerSecond: number | null;
}

export interface Throughput {
  rounds: number;
  clients: number;
  keyspace: number;
  requests: Record<number, number>;
  warmupRequests: number;
  commands: Record<DurableName, string>;
  filesystem: Record<DurableName, { dir: string; type: string; device: number }>;
  rows: ThroughputRow[];
  runs: ThroughputRun[];
  notes: string[];
  /** Taken when heck misses the target at that depth (skipped with --no-profile). */
  profiles: HeckProfile[];
}

export interface HeckProfile {
  pipeline: number;
  /** ops/s under the profiler (slower than unprofiled). */
  rps: number;
  summary: ProfileSummary | { error: string };
}

export interface Target {
  name: string;
  limit: string;
  value: string;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

export interface Results {
  generatedAt: string;
  mode: 'quick' | 'full';
  host: Host;
  sim: SimSize[];
  real: RealSize[];
  antiEntropy: AeResult | null;
  throughput: Throughput | null;
  targets: Target[];
  observations: string[];
  wallSeconds: Record<string, number>;
}

const ms = (v: number | null | undefined, d = 1): string => (v === null || v === undefined ? 'timeout' : `${v.toFixed(d)} ms`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (r: number, d = 3) => `${(r * 100).toFixed(d)}%`;

function table(header: string[], lines: string[][]): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...lines.map(row)].join('\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function threadMedians(runs: ThroughputRun[]): Record<string, number> {
  const groups = [...new Set(runs.flatMap((r) => Object.keys(r.threadUsPerOp)))];
  return Object.fromEntries(groups.map((g) => [g, median(runs.map((r) => r.threadUsPerOp[g] ?? 0))]));
}

const threadList = (t: Record<string, number>) =>
  Object.entries(t)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');

/** Medians over rounds, one row per pipeline depth. */
export function throughputRows(runs: ThroughputRun[]): ThroughputRow[] {
  const depths = [...new Set(runs.map((r) => r.pipeline))];
  return depths.map((pipeline) => {
    const of = (s: DurableName) => runs.filter((r) => r.pipeline === pipeline && r.server === s);
    const redis = of('redis');
    const heck = of('heck');
    const redisRps = median(redis.map((r) => r.rps));
    const heckRps = median(heck.map((r) => r.rps));
    const fsyncs = heck.map((r) => r.fsyncs ?? NaN);
    return {
      pipeline,
      redisRps,
      heckRps,
      ratio: heckRps / redisRps,
      heckPingRps: heck.every((r) => r.pingRps !== null) ? median(heck.map((r) => r.pingRps!)) : null,
      redisP50Ms: median(redis.map((r) => r.p50LatencyMs)),
      heckP50Ms: median(heck.map((r) => r.p50LatencyMs)),
      redisCpuUsPerOp: median(redis.map((r) => r.cpuUsPerOp)),
      heckCpuUsPerOp: median(heck.map((r) => r.cpuUsPerOp)),
      redisThreads: threadMedians(redis),
      heckThreads: threadMedians(heck),
      heckAppendsPerFsync: fsyncs.every(Number.isFinite) ? median(heck.map((r) => (r.appends ?? 0) / Math.max(1, r.fsyncs ?? 0))) : null,
      heckFsyncsPerSecond: fsyncs.every(Number.isFinite) ? median(heck.map((r) => (r.fsyncs ?? 0) / r.seconds)) : null,
    };
  });
}

export function checkTargets(r: Pick<Results, 'sim' | 'real' | 'antiEntropy' | 'throughput'>): Target[] {
  const out: Target[] = [];
  const real10 = r.real.find((x) => x.n === 10);
  const p99 = real10?.all.p99 ?? null;
  out.push({
    name: `real N=10 new origin on every node, p99 (${real10?.all.samples ?? 0} samples)`,
    limit: '<= 500 ms',
    value: real10 && real10.all.samples > 0 ? ms(p99) : 'not measured',
    verdict: !real10 || real10.all.samples === 0 ? 'SKIP' : p99 !== null && p99 <= 500 ? 'PASS' : 'MISS',
  });
  const sim1k = r.sim.find((x) => x.n === 1000);
  const s99 = sim1k?.all.p99 ?? null;
  out.push({
    name: `sim N=1,000 new origin on every node, p99 (${sim1k?.all.samples ?? 0} samples, virtual time)`,
    limit: '<= 2,000 ms',
    value: sim1k && sim1k.all.samples > 0 ? ms(s99) : 'not measured',
    verdict: !sim1k || sim1k.all.samples === 0 ? 'SKIP' : s99 !== null && s99 <= 2000 ? 'PASS' : 'MISS',
  });
  const ae10 = r.antiEntropy?.cases.find((c) => c.diffs === 10);
  out.push({
    name: `anti-entropy bytes, 10 differences in ${int(r.antiEntropy?.origins ?? 0)} origins, vs full state`,
    limit: '< 1%',
    value: ae10 ? `${pct(ae10.ratio)} (${int(ae10.exchangeBytes)} of ${int(ae10.fullStateBytes)} B)${ae10.converged ? '' : ', NOT converged'}` : 'not measured',
    verdict: !ae10 ? 'SKIP' : ae10.ratio < 0.01 && ae10.converged ? 'PASS' : 'MISS',
  });
  for (const row of r.throughput?.rows ?? []) {
    out.push({
      name: `HECK.ADDORIGIN ops/s vs redis SET appendfsync always, -P ${row.pipeline}`,
      limit: '>= 1.00',
      value: `${row.ratio.toFixed(2)} (${int(row.heckRps)} vs ${int(row.redisRps)})`,
      verdict: row.ratio >= 1 ? 'PASS' : 'MISS',
    });
  }
  if (!r.throughput) out.push({ name: 'HECK.ADDORIGIN ops/s vs redis SET appendfsync always', limit: '>= 1.00', value: 'not measured', verdict: 'SKIP' });
  return out;
}

function hostBlock(h: Host): string {
  return [
    `machine: ${h.cpus} cpus, ${h.cpuModel}, ${(h.memTotalBytes / 2 ** 30).toFixed(1)} GiB RAM, Linux ${h.kernel}`,
    `load average at start: ${h.loadavg.join(' ')}`,
    `node ${h.node}; ${h.redisServer}`,
    `code: commit ${h.commit}${h.uncommittedFiles ? ` + ${h.uncommittedFiles} uncommitted file(s) under src/ test/ bench/` : ', clean'}`,
  ].join('\n');
}

function propagationBlock(r: Results): string {
  const lines: string[] = [];
  lines.push('1. a new origin reaches every node (HECK.ADDORIGIN / replica add on a random node -> every node holds it)');
  lines.push('');
  lines.push('real processes (bin/heck-server --profile lan on 127.0.0.1, CLUSTER MEET; clock from just before the command is sent');
  lines.push('to each node\'s `add` on heck:origins, timestamped as the bytes arrive; no polling):');
  lines.push(
    table(
      ['N', 'samples', 'p50', 'p99', 'max', 'first other node p50', 'origin node applied p50', '+OK (fsync) p50 / p99', 'repaired by anti-entropy', 'deltas applied', 'timeouts'],
      r.real.map((x) => [
        String(x.n),
        String(x.all.samples),
        ms(x.all.p50),
        ms(x.all.p99),
        ms(x.all.max),
        ms(x.firstRemote.p50),
        ms(x.local.p50),
        `${ms(x.ack.p50)} / ${ms(x.ack.p99)}`,
        x.counters ? int(x.counters.recordsRepaired) : '—',
        x.counters ? int(x.counters.deltasApplied) : '—',
        String(x.all.timeouts),
      ]),
    ),
  );
  lines.push('');
  lines.push('simulator (test/sim/harness.ts, virtual time, link 1 ms + 0-1 ms jitter, lan membership, anti-entropy every 1 s):');
  lines.push(
    table(
      ['N', 'samples', 'p50', 'p99', 'max', 'first other node p50', 'samples with an anti-entropy repair', 'formed + drained (virtual)', 'wall s per sim s', 'seed'],
      r.sim.map((x) => [
        int(x.n),
        `${x.all.samples}${x.stoppedBy === 'budget' ? ` of ${x.samplesWanted} (wall budget)` : ''}`,
        ms(x.all.p50),
        ms(x.all.p99),
        ms(x.all.max),
        ms(x.firstRemote.p50, 2),
        String(x.samplesWithRepairs),
        `${(x.formMs / 1000).toFixed(1)} s + ${(x.drainMs / 1000).toFixed(1)} s (${Math.round(x.formWallMs / 1000)} s wall)`,
        x.wallPerSimSecond.toFixed(2),
        String(x.seed),
      ]),
    ),
  );
  lines.push('one cluster per size, samples back to back 200-1000 ms (virtual) apart; every figure reproducible from the seed.');
  return lines.join('\n');
}

function aeBlock(ae: AeResult): string {
  const lines: string[] = [];
  lines.push(`2. anti-entropy bytes: two Replica objects with the same ${int(ae.origins)} origins (realistic specs), then d differences`);
  lines.push('(adds, removes, changed specs, alternating sides); one anti-entropy run A -> B (rounds chained while `more`),');
  lines.push('request + reply payload bytes, vs the full state (sum of A\'s Replica.snapshot() payloads):');
  lines.push(
    table(
      ['differences', 'mix', 'exchange bytes', 'request / reply', 'rounds', 'of full state', 'differing records alone', 'records A<-B / A->B', 'converged', 'full state'],
      ae.cases.map((c) => [
        int(c.diffs),
        c.mix,
        int(c.exchangeBytes),
        `${int(c.requestBytes)} / ${int(c.replyBytes)}`,
        String(c.rounds),
        pct(c.ratio),
        int(c.differingRecordBytes),
        `${c.received} / ${c.sent}`,
        c.converged ? 'yes' : 'NO',
        `${int(c.fullStateBytes)} B (${int(c.fullStateRecords)} records)`,
      ]),
    ),
  );
  const ten = ae.cases.find((c) => c.diffs === 10);
  if (ten) {
    lines.push(`10 differences, by step: ${ten.steps.map((s) => `${s.round}.${s.step} ${int(s.requestBytes)}/${int(s.replyBytes)}`).join(', ')} (round.step request/reply B;`);
    lines.push('step 1 roots + top digests, 2 leaf digests + the responder\'s records of every differing leaf, 3 the requester\'s push).');
  }
  return lines.join('\n');
}

function throughputBlock(t: Throughput): string {
  const lines: string[] = [];
  const req = Object.entries(t.requests).map(([p, n]) => `${int(n)} at -P ${p}`).join(', ');
  lines.push(`3. durable writes: redis-benchmark -c ${t.clients} -r ${int(t.keyspace)}, ${req}; median of ${t.rounds} round(s)`);
  lines.push(`   heck:  ${t.commands.heck}`);
  lines.push(`   redis: ${t.commands.redis}   (redis-server --appendonly yes --appendfsync always --save '')`);
  const fs = t.filesystem;
  lines.push(`   logs on ${fs.heck.type} (heck ${fs.heck.dir}, redis ${fs.redis.dir}: ${fs.heck.device === fs.redis.device ? 'same filesystem' : 'DIFFERENT filesystems'})`);
  lines.push(`   every (round, depth) on a fresh redis-server and a fresh heck-server, each warmed up with ${int(t.warmupRequests)} untimed requests; order alternates by round`);
  lines.push(
    table(
      ['pipeline', 'redis SET ops/s', 'heck ADDORIGIN ops/s', 'heck/redis', 'heck PING ops/s (ceiling)', 'latency p50 redis / heck', 'redis CPU µs/op', 'heck CPU µs/op', 'heck appends per fdatasync', 'heck fdatasyncs/s'],
      t.rows.map((x) => [
        String(x.pipeline),
        int(x.redisRps),
        int(x.heckRps),
        x.ratio.toFixed(2),
        x.heckPingRps === null ? '—' : `${int(x.heckPingRps)} (${(x.heckPingRps / x.redisRps).toFixed(2)}x redis)`,
        `${x.redisP50Ms.toFixed(2)} / ${x.heckP50Ms.toFixed(2)} ms`,
        x.redisCpuUsPerOp.toFixed(1),
        x.heckCpuUsPerOp.toFixed(1),
        x.heckAppendsPerFsync === null ? '—' : x.heckAppendsPerFsync.toFixed(1),
        x.heckFsyncsPerSecond === null ? '—' : int(x.heckFsyncsPerSecond),
      ]),
    ),
  );
  lines.push('heck PING: the same node right after each ADDORIGIN run, same clients and depth: RESP with no work and no disk, what no command of this node can exceed.');
  lines.push('CPU µs/op: utime+stime of the server process (all threads) per request, from /proc; by thread (µs/op, medians):');
  for (const x of t.rows) {
    lines.push(`  -P ${x.pipeline} heck:  ${threadList(x.heckThreads)}`);
    lines.push(`  -P ${x.pipeline} redis: ${threadList(x.redisThreads)}`);
  }
  lines.push('  (main = the event loop, which also writes the log; heck\'s other threads = V8\'s GC/JIT helpers and libuv\'s threadpool, which runs fdatasync)');
  for (const { pipeline, rps, summary: p } of t.profiles) {
    lines.push('');
    if ('error' in p) {
      lines.push(`heck CPU profile, -P ${pipeline}: not taken (${p.error})`);
      continue;
    }
    const busy = p.totalMs - p.idleMs;
    lines.push(`heck CPU profile under the -P ${pipeline} load (${int(rps)} ops/s under the profiler; node --cpu-prof, main thread only:`);
    lines.push(`${(p.totalMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s busy, GC ${(p.gcMs / 1000).toFixed(1)} s; % of busy time, warm-up and start-up included):`);
    lines.push('  self time by file: ' + p.topFiles.slice(0, 8).map((e) => `${e.name} ${e.percent.toFixed(1)}%`).join(', '));
    lines.push('  self time, top functions:');
    for (const e of p.topFunctions.slice(0, 12)) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
    lines.push('  inclusive time, Heck functions:');
    for (const e of p.inclusive.slice(0, 25)) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`);
    lines.push(`  profile: ${p.file}`);
  }
  return lines.join('\n');
}

export function render(r: Results): string {
  const wall = Object.entries(r.wallSeconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ');
  return [
    hostBlock(r.host),
    `mode: ${r.mode}; percentiles nearest-rank (p99 of < 100 samples = the slowest)`,
    '',
    propagationBlock(r),
    '',
    r.antiEntropy ? aeBlock(r.antiEntropy) : '2. anti-entropy bytes: not measured',
    '',
    r.throughput ? throughputBlock(r.throughput) : '3. durable writes: not measured',
    '',
    'targets:',
    ...r.targets.map((t) => `  ${t.verdict}  ${t.name} ${t.limit}: ${t.value}`),
    '',
    r.observations.length ? ['observations:', ...r.observations.map((o) => `  - ${o}`)].join('\n') : 'observations: none',
    '',
    `wall time: ${wall}`,
  ].join('\n');
}
