import type { Machine } from './system.js';
import type { ServerName } from './servers.js';

/** One redis-benchmark invocation against one server. */
export interface Run {
  round: number;
  server: ServerName;
  test: string;
  pipeline: number;
  requests: number;
  rps: number;
  seconds: number;
  cpuTicks: number;
  cpuUsPerRequest: number;
}

export interface Side {
  rps: number;
  cpuUsPerRequest: number;
}

/** Medians over rounds for one (test, pipeline), both servers side by side. */
export interface Row {
  test: string;
  pipeline: number;
  redis: Side;
  heck: Side;
  rpsRatio: number;
  cpuRatio: number;
}

export interface Memory {
  rssFreshBytes: number;
  rssIdleBytes: number;
  rssConnectedBytes: number;
  idleConnections: number;
  connectedClientsSeen: number;
}

export interface Target {
  name: string;
  value: number;
  limit: string;
  pass: boolean;
}

/** Something that makes a figure suspect: an error reply, a wrong answer, a warning. */
export interface Note {
  server: ServerName;
  where: string;
  message: string;
}

export interface Results {
  generatedAt: string;
  mode: 'quick' | 'full';
  rounds: number;
  clients: number;
  requests: Record<string, number>;
  machine: Machine;
  rows: Row[];
  memory: Record<ServerName, Memory>;
  targets: Target[];
  notes: Note[];
  runs: Run[];
}

const MB = 1e6;
const RSS_LIMIT_BYTES = 100 * MB;

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
const mb = (bytes: number) => `${fixed(bytes / MB, 1)} MB`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function side(runs: Run[]): Side {
  return { rps: median(runs.map((r) => r.rps)), cpuUsPerRequest: median(runs.map((r) => r.cpuUsPerRequest)) };
}

/** Rows in the order the cases first ran. */
export function summarize(runs: Run[]): Row[] {
  const keys = [...new Set(runs.map((r) => `${r.test}\0${r.pipeline}`))];
  return keys.map((key) => {
    const [test, p] = key.split('\0') as [string, string];
    const of = (server: ServerName) => side(runs.filter((r) => r.test === test && r.pipeline === Number(p) && r.server === server));
    const redis = of('redis');
    const heck = of('heck');
    return { test, pipeline: Number(p), redis, heck, rpsRatio: heck.rps / redis.rps, cpuRatio: heck.cpuUsPerRequest / redis.cpuUsPerRequest };
  });
}

export function checkTargets(rows: Row[], heckMemory: Memory): Target[] {
  const targets: Target[] = [];
  for (const r of rows.filter((r) => r.test.startsWith('PING'))) {
    const floor = r.pipeline === 1 ? 1.0 : 0.9;
    targets.push({ name: `${r.test} -P ${r.pipeline} rps heck/redis`, value: r.rpsRatio, limit: `>= ${floor.toFixed(2)}`, pass: r.rpsRatio >= floor });
  }
  for (const r of rows) {
    targets.push({ name: `${r.test} -P ${r.pipeline} cpu/req heck/redis`, value: r.cpuRatio, limit: '<= 2.00', pass: r.cpuRatio <= 2 });
  }
  const rss = heckMemory.rssConnectedBytes;
  targets.push({ name: `heck RSS with ${int(heckMemory.idleConnections)} idle conns (MB)`, value: rss / MB, limit: `< ${RSS_LIMIT_BYTES / MB}`, pass: rss < RSS_LIMIT_BYTES });
  return targets;
}

function table(header: string[], lines: string[][]): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...lines.map(row)].join('\n');
}

function machineBlock(m: Machine): string {
  return [
    `machine: ${m.cpus} cpus, ${m.cpuModel}, ${fixed(m.memTotalBytes / 2 ** 30, 1)} GiB RAM, Linux ${m.kernel}`,
    `load average at start: ${m.loadavg.join(' ')}`,
    `node ${m.node}`,
    m.redisServer,
    m.redisBenchmark,
  ].join('\n');
}

function throughputTable(rows: Row[]): string {
  return table(
    ['test', 'pipeline', 'redis rps', 'heck rps', 'ratio', 'redis µs/req', 'heck µs/req', 'cpu ratio'],
    rows.map((r) => [r.test, String(r.pipeline), int(r.redis.rps), int(r.heck.rps), fixed(r.rpsRatio), fixed(r.redis.cpuUsPerRequest, 3), fixed(r.heck.cpuUsPerRequest, 3), fixed(r.cpuRatio)]),
  );
}

function memoryTable(memory: Record<ServerName, Memory>): string {
  const n = memory.heck.idleConnections;
  return table(
    ['server', 'RSS at start', 'RSS idle, before connecting', `RSS with ${int(n)} idle conns`, 'per conn'],
    (['redis', 'heck'] as const).map((s) => {
      const m = memory[s];
      const perConn = (m.rssConnectedBytes - m.rssIdleBytes) / m.idleConnections;
      return [s, mb(m.rssFreshBytes), mb(m.rssIdleBytes), mb(m.rssConnectedBytes), `${fixed(perConn / 1024, 1)} KiB`];
    }),
  );
}

function targetsBlock(targets: Target[]): string {
  return ['targets:', ...targets.map((t) => `  ${t.pass ? 'PASS' : 'MISS'}  ${t.name} ${t.limit}: ${fixed(t.value)}`)].join('\n');
}

function notesBlock(notes: Note[]): string {
  if (notes.length === 0) return 'notes: none (no error replies, warnings or wrong answers seen)';
  return ['notes:', ...notes.map((n) => `  ${n.server} ${n.where}: ${n.message}`)].join('\n');
}

export function render(r: Results): string {
  const requests = Object.entries(r.requests).map(([p, n]) => `${int(n)} at -P ${p}`).join(', ');
  return [
    machineBlock(r.machine),
    '',
    `redis-benchmark: ${r.clients} clients, ${requests}; median of ${r.rounds} round(s), redis/heck alternated (${r.mode} mode)`,
    'µs/req: server CPU time (user+system, all threads) per request',
    '',
    throughputTable(r.rows),
    '',
    memoryTable(r.memory),
    '',
    targetsBlock(r.targets),
    '',
    notesBlock(r.notes),
  ].join('\n');
}
