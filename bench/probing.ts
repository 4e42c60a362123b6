/**
 * Probing: probes per second and CPU per probe of one node against a local origin farm, RSS at
 * 10,000 and 100,000 origins, the cost of recomputing ownership for 100 nodes x 100,000 origins,
 * and how evenly 3 and 5 meshed nodes share the probing (each origin once per interval).
 * `node dist/bench/probing.js [--quick]`; prints a report and writes
 * bench/results/probing-latest.json. A report, not a gate: a missed target prints MISS and the exit
 * code stays 0 unless the bench itself broke.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { OwnershipTable } from '../src/ownership/rendezvous.js';
import { ROOT, startNodeProcess, type NodeProcess } from '../test/helpers/process.js';
import { RespClient, type Reply } from '../test/helpers/resp-client.js';
import { describeHost } from './lib/replication-report.js';
import { runBench } from './lib/run.js';
import { CLK_TCK, cpuTicks, ownChildPids, rssBytes } from './lib/system.js';

const QUICK = process.argv.includes('--quick');
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'probing-latest.json');
/** Farm ports: undici pools 4 connections per host:port, so origins are spread over many ports. */
const FARM_PORTS = 250;
const WINDOW_MS = QUICK ? 5_000 : 10_000;
const SINGLE = [
  { origins: 10_000, intervalMs: 1000 },
  { origins: 100_000, intervalMs: 10_000 },
];
const CLUSTER_SIZES = [3, 5];
const CLUSTER_ORIGINS = 500;
const CLUSTER_INTERVAL_MS = 1000;
const OWNER_NODES = 100;
const OWNER_ORIGINS = 100_000;
const OWNER_RUNS = 5;

const log = (line: string) => console.error(line);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mb = (b: number) => b / 1e6;

// ---- the farm ----------------------------------------------------------------------------------

interface Snapshot {
  total: number;
  perPath: Record<string, number>;
}

class Farm {
  private constructor(readonly child: ChildProcess, readonly ports: number[]) {}

  static async start(ports: number): Promise<Farm> {
    const child = fork(new URL('./lib/probing-farm.js', import.meta.url), [String(ports)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    farmChildren.add(child);
    child.once('exit', () => farmChildren.delete(child));
    const msg = await new Promise<{ ports: number[] }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { ports: number[] }));
      child.once('exit', (code) => reject(new Error(`farm exited (${code}) before listening`)));
    });
    return new Farm(child, msg.ports);
  }

  get pid(): number {
    return this.child.pid!;
  }

  snapshot(prefix?: string): Promise<Snapshot> {
    return new Promise((resolve) => {
      this.child.once('message', (m) => resolve(m as Snapshot));
      this.child.send({ cmd: 'snapshot', prefix });
    });
  }

  url(i: number, path: string): string {
    return `http://127.0.0.1:${this.ports[i % this.ports.length]}${path}`;
  }
}

const farmChildren = new Set<ChildProcess>();
const nodes = new Set<NodeProcess>();
const clients = new Set<RespClient>();

async function stopNode(n: NodeProcess): Promise<void> {
  if (n.child.exitCode === null && n.child.signalCode === null) {
    n.child.kill('SIGTERM');
    const t = setTimeout(() => n.child.kill('SIGKILL'), 10_000);
    await n.exited;
    clearTimeout(t);
  }
  nodes.delete(n);
}

async function startNode(): Promise<{ proc: NodeProcess; client: RespClient }> {
  const proc = await startNodeProcess(['--profile', 'lan', '--bind', '127.0.0.1', '--probing', 'yes']);
  nodes.add(proc);
  const client = await RespClient.open(proc.port);
  clients.add(client);
  return { proc, client };
}

function info(text: Reply): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of String(text).split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0 && !line.startsWith('#')) out.set(line.slice(0, c), line.slice(c + 1));
  }
  return out;
}

async function clusterInfo(c: RespClient, field: string): Promise<number> {
  return Number(info(await c.call('CLUSTER', 'INFO')).get(field));
}

/** The engine's counters (INFO heck probe_*), by name without the prefix. */
async function probeStats(c: RespClient): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of info(await c.call('INFO', 'heck'))) if (k.startsWith('probe_')) out[k.slice('probe_'.length)] = Number(v);
  return out;
}

async function until(check: () => Promise<boolean>, what: string, deadlineMs: number): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await delay(200);
  }
  return performance.now() - t0;
}

/** Pipelined HECK.ADDORIGIN in batches; returns the ms it took. Fails on any reply but +OK. */
async function addOrigins(c: RespClient, count: number, id: (i: number) => string, url: (i: number) => string, intervalMs: number): Promise<number> {
  const t0 = performance.now();
  const BATCH = 5000;
  for (let start = 0; start < count; start += BATCH) {
    const end = Math.min(count, start + BATCH);
    for (let i = start; i < end; i++) c.send('HECK.ADDORIGIN', id(i), url(i), 'INTERVAL', String(intervalMs));
    for (let i = start; i < end; i++) {
      const r = await c.read();
      if (!(r !== null && typeof r === 'object' && 'value' in r && (r as { value: unknown }).value === 'OK')) throw new Error(`HECK.ADDORIGIN ${id(i)}: ${String(r)}`);
    }
  }
  return performance.now() - t0;
}

// ---- 1. one node -------------------------------------------------------------------------------

interface SingleResult {
  origins: number;
  intervalMs: number;
  addMs: number;
  ownedAfterMs: number;
  settleMs: number;
  windowMs: number;
  probes: number;
  probesPerSecond: number;
  expectedPerSecond: number;
  heckCpuUsPerProbe: number | null;
  /**
   * Over the window, from the engine's counters: probes due while MAX_PROBES_IN_FLIGHT were
   * running (not sent: Heck or the farm could not keep up), probes that failed (a timeout under
   * overload), and status changes (the rise of new origins, if still under way).
   */
  skipped: number;
  failures: number;
  transitions: number;
  heckCpuPercent: number;
  farmCpuPercent: number;
  rssBytes: number;
  rssAfterAddBytes: number;
  loadavg: number[];
}

async function single(farm: Farm, origins: number, intervalMs: number): Promise<SingleResult> {
  const { proc, client } = await startNode();
  try {
    const pid = proc.child.pid!;
    const prefix = `/s${origins}-`;
    log(`one node: adding ${int(origins)} origins at INTERVAL ${intervalMs} ...`);
    const addMs = await addOrigins(client, origins, (i) => `s${origins}-${i}`, (i) => farm.url(i, `${prefix}${i}`), intervalMs);
    const ownedAfterMs = await until(async () => (await clusterInfo(client, 'cluster_origins_owned')) === origins, `${origins} owned`, 60_000);
    const rssAfterAddBytes = rssBytes(pid);
    // Probes start spread over the first interval: wait two intervals (at least 3 s) before counting.
    const settleMs = Math.max(3000, 2 * intervalMs);
    log(`  added in ${int(addMs)} ms, all owned ${int(ownedAfterMs)} ms later; settling ${settleMs / 1000} s`);
    await delay(settleMs);
    const p0 = await probeStats(client);
    const f0 = await farm.snapshot();
    const h0 = cpuTicks(pid);
    const fc0 = cpuTicks(farm.pid);
    const t0 = performance.now();
    await delay(WINDOW_MS);
    const f1 = await farm.snapshot();
    const h1 = cpuTicks(pid);
    const fc1 = cpuTicks(farm.pid);
    const windowMs = performance.now() - t0;
    const p1 = await probeStats(client);
    const probes = f1.total - f0.total;
    const heckSec = (h1 - h0) / CLK_TCK;
    const r: SingleResult = {
      origins,
      intervalMs,
      addMs,
      ownedAfterMs,
      settleMs,
      windowMs,
      probes,
      probesPerSecond: probes / (windowMs / 1000),
      expectedPerSecond: origins / (intervalMs / 1000),
      heckCpuUsPerProbe: probes > 0 ? (heckSec * 1e6) / probes : null,
      skipped: p1.skipped! - p0.skipped!,
      failures: p1.failures! - p0.failures!,
      transitions: p1.transitions! - p0.transitions!,
      heckCpuPercent: (100 * heckSec) / (windowMs / 1000),
      farmCpuPercent: (100 * (fc1 - fc0)) / CLK_TCK / (windowMs / 1000),
      rssBytes: rssBytes(pid),
      rssAfterAddBytes,
      loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    };
    log(`  ${int(r.probesPerSecond)} probes/s (expected ${int(r.expectedPerSecond)}), ${r.heckCpuUsPerProbe?.toFixed(1)} µs CPU/probe, heck ${r.heckCpuPercent.toFixed(0)}% CPU, farm ${r.farmCpuPercent.toFixed(0)}%, RSS ${mb(r.rssBytes).toFixed(0)} MB; skipped ${r.skipped}, failed ${r.failures}, transitions ${r.transitions}`);
    return r;
  } finally {
    client.close();
    clients.delete(client);
    await stopNode(proc);
  }
}

// ---- 2. ownership recomputation ----------------------------------------------------------------

interface OwnershipResult {
  nodes: number;
  origins: number;
  runsMs: number[];
  medianMs: number;
  /** Share of origins of the most and least loaded node, x nodes (1.0 = perfectly even). */
  maxShare: number;
  minShare: number;
}

function ownership(): OwnershipResult {
  const nodeIds = Array.from({ length: OWNER_NODES }, (_, i) => `${i.toString(16).padStart(8, '0')}${'ab'.repeat(16)}`.slice(0, 40));
  const originIds = Array.from({ length: OWNER_ORIGINS }, (_, i) => `origin-${i}`);
  const counts = new Map<string, number>();
  const once = (record: boolean): number => {
    const t0 = performance.now();
    const table = new OwnershipTable(nodeIds);
    let sink = 0;
    for (const id of originIds) {
      const o = table.owner(id)!;
      sink += o.length;
      if (record) counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    const ms = performance.now() - t0;
    if (sink === 0) throw new Error('no owners');
    return ms;
  };
  once(true); // warm-up (JIT), and the share of each node
  const runsMs = Array.from({ length: OWNER_RUNS }, () => once(false));
  const sorted = [...runsMs].sort((a, b) => a - b);
  const shares = [...counts.values()].map((c) => (c * OWNER_NODES) / OWNER_ORIGINS);
  const r = { nodes: OWNER_NODES, origins: OWNER_ORIGINS, runsMs, medianMs: sorted[Math.floor(sorted.length / 2)]!, maxShare: Math.max(...shares), minShare: Math.min(...shares) };
  log(`ownership: ${OWNER_NODES} nodes x ${int(OWNER_ORIGINS)} origins: median ${r.medianMs.toFixed(1)} ms (${runsMs.map((m) => m.toFixed(1)).join(' ')})`);
  return r;
}

// ---- 3. a cluster ------------------------------------------------------------------------------

interface ClusterResult {
  nodes: number;
  origins: number;
  intervalMs: number;
  meshMs: number;
  ownedMs: number;
  windowMs: number;
  probes: number;
  probesPerOriginPerInterval: number;
  perOriginMin: number;
  perOriginMax: number;
  originsNeverProbed: number;
  ownedPerNode: number[];
}

async function cluster(farm: Farm, n: number): Promise<ClusterResult> {
  const started: { proc: NodeProcess; client: RespClient }[] = [];
  try {
    for (let i = 0; i < n; i++) started.push(await startNode());
    const t0 = performance.now();
    const [first] = started;
    for (const other of started.slice(1)) {
      const r = await first!.client.call('CLUSTER', 'MEET', '127.0.0.1', String(other.proc.port), String(other.proc.busPort));
      if (String((r as { value?: unknown })?.value) !== 'OK') throw new Error(`CLUSTER MEET: ${String(r)}`);
    }
    await until(async () => (await Promise.all(started.map((s) => clusterInfo(s.client, 'cluster_alive_nodes')))).every((a) => a === n), `${n} nodes alive everywhere`, 60_000);
    const meshMs = performance.now() - t0;
    const prefix = `/c${n}-`;
    await addOrigins(first!.client, CLUSTER_ORIGINS, (i) => `c${n}-${i}`, (i) => farm.url(i, `${prefix}${i}`), CLUSTER_INTERVAL_MS);
    const ownedMs = await until(async () => {
      const owned = await Promise.all(started.map((s) => clusterInfo(s.client, 'cluster_origins_owned')));
      return owned.reduce((a, b) => a + b, 0) === CLUSTER_ORIGINS;
    }, `${CLUSTER_ORIGINS} owned once across the cluster`, 30_000);
    await delay(3 * CLUSTER_INTERVAL_MS);
    const ownedPerNode = await Promise.all(started.map((s) => clusterInfo(s.client, 'cluster_origins_owned')));
    const s0 = await farm.snapshot(prefix);
    const w0 = performance.now();
    await delay(WINDOW_MS);
    const s1 = await farm.snapshot(prefix);
    const windowMs = performance.now() - w0;
    const per = Array.from({ length: CLUSTER_ORIGINS }, (_, i) => (s1.perPath[`${prefix}${i}`] ?? 0) - (s0.perPath[`${prefix}${i}`] ?? 0));
    const probes = per.reduce((a, b) => a + b, 0);
    const r: ClusterResult = {
      nodes: n,
      origins: CLUSTER_ORIGINS,
      intervalMs: CLUSTER_INTERVAL_MS,
      meshMs,
      ownedMs,
      windowMs,
      probes,
      probesPerOriginPerInterval: probes / CLUSTER_ORIGINS / (windowMs / CLUSTER_INTERVAL_MS),
      perOriginMin: Math.min(...per),
      perOriginMax: Math.max(...per),
      originsNeverProbed: per.filter((p) => p === 0).length,
      ownedPerNode,
    };
    log(`cluster N=${n}: ${probes} probes in ${(windowMs / 1000).toFixed(2)} s: ${r.probesPerOriginPerInterval.toFixed(3)} per origin per interval (min ${r.perOriginMin}, max ${r.perOriginMax}); owned ${ownedPerNode.join(' ')}`);
    return r;
  } finally {
    for (const s of started) {
      s.client.close();
      clients.delete(s.client);
    }
    await Promise.allSettled(started.map((s) => stopNode(s.proc)));
  }
}

// ---- report ------------------------------------------------------------------------------------

interface Target {
  check: string;
  threshold: string;
  value: string;
  pass: boolean | null;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const host = describeHost();
  const notes: string[] = [];
  log(`probing bench (${QUICK ? 'quick' : 'full'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const own = ownership();
  const farm = await Farm.start(FARM_PORTS);
  const singles: SingleResult[] = [];
  for (const s of SINGLE) {
    try {
      singles.push(await single(farm, s.origins, s.intervalMs));
    } catch (e) {
      notes.push(`one node, ${s.origins} origins: failed: ${(e as Error).message.split('\n')[0]}`);
      log(notes.at(-1)!);
    }
  }
  const clusters: ClusterResult[] = [];
  for (const n of CLUSTER_SIZES) {
    try {
      clusters.push(await cluster(farm, n));
    } catch (e) {
      notes.push(`cluster N=${n}: failed: ${(e as Error).message.split('\n')[0]}`);
      log(notes.at(-1)!);
    }
  }

  const s10k = singles.find((s) => s.origins === 10_000);
  const s100k = singles.find((s) => s.origins === 100_000);
  const targets: Target[] = [
    { check: 'probes/s on one node (10,000 origins, INTERVAL 1000)', threshold: '>= 10,000', value: s10k ? int(s10k.probesPerSecond) : 'n/a', pass: s10k ? s10k.probesPerSecond >= 10_000 : null },
    { check: 'RSS at 100,000 origins (INTERVAL 10000)', threshold: '<= 300 MB', value: s100k ? `${mb(s100k.rssBytes).toFixed(1)} MB` : 'n/a', pass: s100k ? mb(s100k.rssBytes) <= 300 : null },
    { check: `ownership, ${OWNER_NODES} nodes x ${int(OWNER_ORIGINS)} origins (median of ${OWNER_RUNS})`, threshold: '<= 100 ms', value: `${own.medianMs.toFixed(1)} ms`, pass: own.medianMs <= 100 },
    ...CLUSTER_SIZES.map((n) => {
      const c = clusters.find((x) => x.nodes === n);
      return { check: `probes per origin per interval, ${n} nodes`, threshold: '1.00 ± 0.02', value: c ? c.probesPerOriginPerInterval.toFixed(3) : 'n/a', pass: c ? Math.abs(c.probesPerOriginPerInterval - 1) <= 0.02 : null };
    }),
  ];

  for (const s of singles) {
    if (s.probesPerSecond < 0.98 * s.expectedPerSecond) {
      const limit = s.heckCpuPercent >= 90 ? `heck used ${s.heckCpuPercent.toFixed(0)}% of a core (all threads): its event loop is the likely limit` : s.farmCpuPercent >= 90 ? `the farm used ${s.farmCpuPercent.toFixed(0)}% of a core: the farm is the likely limit` : `neither heck (${s.heckCpuPercent.toFixed(0)}%) nor the farm (${s.farmCpuPercent.toFixed(0)}%) saturated a core`;
      notes.push(`one node, ${int(s.origins)} origins: ${int(s.probesPerSecond)} probes/s of ${int(s.expectedPerSecond)} scheduled (${((100 * s.probesPerSecond) / s.expectedPerSecond).toFixed(1)}%); ${limit}.`);
    }
    if (s.skipped > 0) notes.push(`one node, ${int(s.origins)} origins: ${int(s.skipped)} probes skipped in the window because the node's cap of probes in flight was reached (responses slower than probes fall due: an overloaded node or farm); they are not sent, so not counted as probes.`);
    notes.push(`one node, ${int(s.origins)} origins: heck ${s.heckCpuPercent.toFixed(0)}% CPU, farm ${s.farmCpuPercent.toFixed(0)}% CPU over the window (${host.cpus} cores shared by heck, farm and bench); load average then ${s.loadavg.join(' ')}.`);
  }
  if (s100k) notes.push(`100,000 origins used INTERVAL ${s100k.intervalMs} (not 1000) to stay within the machine: ${int(s100k.expectedPerSecond)} probes/s scheduled.`);
  for (const c of clusters) if (c.originsNeverProbed) notes.push(`cluster N=${c.nodes}: ${c.originsNeverProbed} origins not probed in the window.`);
  notes.push(`farm: one process, ${FARM_PORTS} ports on 127.0.0.1 (undici keeps at most 4 connections per host:port), keep-alive 65 s; origin i on port i mod ${FARM_PORTS}, each its own path.`);
  if (QUICK) notes.push(`quick mode: ${WINDOW_MS / 1000} s counting windows (full: 10 s).`);

  const results = {
    generatedAt: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    host,
    windowMs: WINDOW_MS,
    farmPorts: FARM_PORTS,
    single: singles,
    ownership: own,
    cluster: clusters,
    targets,
    notes,
    wallSeconds: (performance.now() - t0) / 1000,
  };

  const lines: string[] = [];
  lines.push(`# probing bench (${results.mode}) — ${host.cpus} × ${host.cpuModel}, ${(host.memTotalBytes / 2 ** 30).toFixed(1)} GiB, node ${host.node}, commit ${host.commit}${host.uncommittedFiles ? ` + ${host.uncommittedFiles} changed files` : ''}`);
  lines.push('', '## one node (--profile lan) against the farm', '');
  lines.push('| origins | interval | probes/s | scheduled/s | heck CPU µs/probe | heck CPU % | farm CPU % | RSS after add | RSS in window | skipped | failed | transitions |');
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of singles) lines.push(`| ${int(s.origins)} | ${s.intervalMs} ms | ${int(s.probesPerSecond)} | ${int(s.expectedPerSecond)} | ${s.heckCpuUsPerProbe?.toFixed(1) ?? 'n/a'} | ${s.heckCpuPercent.toFixed(0)} | ${s.farmCpuPercent.toFixed(0)} | ${mb(s.rssAfterAddBytes).toFixed(1)} MB | ${mb(s.rssBytes).toFixed(1)} MB | ${int(s.skipped)} | ${int(s.failures)} | ${int(s.transitions)} |`);
  for (const s of singles) lines.push(`(${int(s.origins)} origins added in ${int(s.addMs)} ms by pipeline; all owned ${int(s.ownedAfterMs)} ms later; ${s.settleMs / 1000} s settle, ${(s.windowMs / 1000).toFixed(2)} s window)`);
  lines.push('', '## ownership recomputation (in-process)', '');
  lines.push(`OwnershipTable(${OWNER_NODES} nodes) + owner() for ${int(OWNER_ORIGINS)} origins: median ${own.medianMs.toFixed(1)} ms; runs ${own.runsMs.map((m) => m.toFixed(1)).join(', ')} ms; node share ×N min ${own.minShare.toFixed(2)} max ${own.maxShare.toFixed(2)}`);
  lines.push('', '## meshed clusters', '');
  lines.push('| nodes | origins | probes in window | per origin per interval | per origin min/max | owned per node | mesh | owned after add |');
  lines.push('| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
  for (const c of clusters) lines.push(`| ${c.nodes} | ${c.origins} | ${c.probes} in ${(c.windowMs / 1000).toFixed(2)} s | ${c.probesPerOriginPerInterval.toFixed(3)} | ${c.perOriginMin}/${c.perOriginMax} | ${c.ownedPerNode.join(' ')} | ${int(c.meshMs)} ms | ${int(c.ownedMs)} ms |`);
  lines.push('', '## targets', '');
  for (const t of targets) lines.push(`${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'MISS'}  ${t.check}: ${t.value} (target ${t.threshold})`);
  lines.push('', '## notes', '');
  for (const n of notes) lines.push(`- ${n}`);
  console.log(lines.join('\n'));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_FILE} (${Math.round(results.wallSeconds)} s)`);
}

let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const c of clients) c.close();
    await Promise.allSettled([...nodes].map(stopNode));
    for (const f of farmChildren) {
      if (f.exitCode === null && f.signalCode === null) f.kill('SIGKILL');
    }
  })();
  return stopping;
}

await runBench(main, stopAll, () => [...[...nodes].map((n) => n.child.pid!), ...[...farmChildren].map((f) => f.pid!), ...ownChildPids()]);
