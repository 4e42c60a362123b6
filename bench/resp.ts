/**
 * RESP throughput, CPU and memory: Heck against redis-server under the same redis-benchmark load.
 * `node dist/bench/resp.js [--quick]`; prints a report and writes bench/results/resp-latest.json.
 * Figures are a report, not a gate: a missed target is printed as MISS and the exit code stays 0.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/helpers/process.js';
import { closeAll, infoOnce, openIdle, preflight, waitForClients } from './lib/clients.js';
import { redisBenchmark, type LoadCase } from './lib/load.js';
import { checkTargets, render, summarize, type Memory, type Note, type Results, type Run } from './lib/report.js';
import { runBench } from './lib/run.js';
import { startHeck, startRedis, type Server, type ServerName } from './lib/servers.js';
import { CLK_TCK, cpuTicks, describeMachine, ownChildPids, rssBytes } from './lib/system.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 1 : 3;
const CLIENTS = 50;
/** Requests per run by pipeline depth: a few seconds of load each on a small machine. */
const REQUESTS: Record<number, number> = QUICK ? { 1: 50_000, 16: 500_000 } : { 1: 200_000, 16: 2_000_000 };
/** Untimed runs first, so V8's JIT has compiled Heck's hot path before anything is measured. */
const WARMUP_REQUESTS: Record<number, number> = { 1: 10_000, 16: 100_000 };
const IDLE_CONNECTIONS = 1000;
const RESULTS_FILE = join(ROOT, 'bench', 'results', 'resp-latest.json');

/** Each test runs on its own (not `-t ping`) so the CPU counted for a run belongs to one test. */
const CASES: LoadCase[] = [1, 16].flatMap((pipeline) => [
  { test: 'PING_INLINE', pipeline, command: ['-t', 'ping_inline'] },
  { test: 'PING_MBULK', pipeline, command: ['-t', 'ping_mbulk'] },
  { test: 'ECHO hello', pipeline, command: ['ECHO', 'hello'] },
]);

const servers: Server[] = [];
const notes = new Map<string, Note>();

function note(server: ServerName, where: string, message: string): void {
  notes.set(`${server}\0${where}\0${message}`, { server, where, message });
}

const where = (c: LoadCase) => `${c.test} -P ${c.pipeline}`;

/** One measured run: server CPU ticks read from /proc right before and after redis-benchmark. */
async function measure(server: Server, load: LoadCase, round: number): Promise<Run> {
  const requests = REQUESTS[load.pipeline]!;
  const ticks0 = cpuTicks(server.pid);
  const t0 = performance.now();
  const { rps, warnings } = await redisBenchmark(server.port, load, requests, CLIENTS);
  const seconds = (performance.now() - t0) / 1000;
  const ticks = cpuTicks(server.pid) - ticks0;
  for (const w of warnings) note(server.name, where(load), w);
  const cpuUsPerRequest = (ticks * 1e6) / CLK_TCK / requests;
  return { round, server: server.name, test: load.test, pipeline: load.pipeline, requests, rps, seconds, cpuTicks: ticks, cpuUsPerRequest };
}

async function warmUp(): Promise<void> {
  for (const load of CASES) {
    for (const server of servers) {
      const { warnings } = await redisBenchmark(server.port, load, WARMUP_REQUESTS[load.pipeline]!, CLIENTS);
      for (const w of warnings) note(server.name, `${where(load)} (warm-up)`, w);
    }
  }
}

/** Rounds of every case, redis then heck back to back, so drifting background load hits both alike. */
async function measureRounds(): Promise<Run[]> {
  const runs: Run[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const load of CASES) {
      for (const server of servers) {
        const run = await measure(server, load, round);
        runs.push(run);
        console.error(`round ${round}/${ROUNDS} ${server.name.padEnd(5)} ${where(load).padEnd(17)} ${Math.round(run.rps)} rps, ${run.cpuUsPerRequest.toFixed(3)} µs/req`);
      }
    }
  }
  return runs;
}

/** Error replies the server counted during the load; redis-benchmark only prints one a second. */
async function noteErrorStats(server: Server): Promise<void> {
  const stats = (await infoOnce(server.port, 'errorstats')).split(/\r?\n/).filter((l) => l.startsWith('errorstat_'));
  for (const line of stats) note(server.name, 'INFO errorstats', line);
}

async function measureMemory(server: Server, rssFreshBytes: number): Promise<Memory> {
  const rssIdleBytes = rssBytes(server.pid);
  const sockets = await openIdle(server.port, IDLE_CONNECTIONS);
  try {
    // +1: the INFO probe itself is a client too.
    const connectedClientsSeen = await waitForClients(server.port, IDLE_CONNECTIONS + 1);
    const rssConnectedBytes = rssBytes(server.pid);
    return { rssFreshBytes, rssIdleBytes, rssConnectedBytes, idleConnections: IDLE_CONNECTIONS, connectedClientsSeen };
  } finally {
    await closeAll(sockets);
  }
}

async function main(): Promise<void> {
  const machine = describeMachine();
  servers.push(await startRedis());
  servers.push(await startHeck());
  const [redis, heck] = servers as [Server, Server];
  const fresh = { redis: rssBytes(redis.pid), heck: rssBytes(heck.pid) };
  console.error(`redis-server pid ${redis.pid} port ${redis.port}; heck pid ${heck.pid} port ${heck.port}`);

  for (const server of servers) for (const p of await preflight(server.port)) note(server.name, 'preflight', p);
  await warmUp();
  const runs = await measureRounds();
  for (const server of servers) await noteErrorStats(server);

  const memory = { redis: await measureMemory(redis, fresh.redis), heck: await measureMemory(heck, fresh.heck) };
  const rows = summarize(runs);
  const results: Results = {
    generatedAt: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    rounds: ROUNDS,
    clients: CLIENTS,
    requests: REQUESTS,
    machine,
    rows,
    memory,
    targets: checkTargets(rows, memory.heck),
    notes: [...notes.values()],
    runs,
  };
  console.log(render(results));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${RESULTS_FILE}`);
}

let stopping: Promise<void> | undefined;

/** Stops every server this run started; safe to call more than once. */
function stopAll(): Promise<void> {
  stopping ??= Promise.allSettled(servers.map((s) => s.stop())).then(() => undefined);
  return stopping;
}

// The last resort covers a crash, or a child started but not yet handed back (e.g. Heck hanging
// before `listening`).
await runBench(main, stopAll, ownChildPids);
