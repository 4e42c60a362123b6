/**
 * Durable-write throughput: HECK.ADDORIGIN (acknowledged once fdatasync'ed, group commit) against
 * redis-server SET with `--appendonly yes --appendfsync always`, both with their data in a fresh
 * directory under os.tmpdir() (so on the same filesystem), driven by the same redis-benchmark load.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { HECK_SERVER } from '../../test/helpers/process.js';
import { ErrorReply, plain, RespClient } from '../../test/helpers/resp-client.js';
import { infoField, infoOnce } from './clients.js';
import { startHeck, startRedis, type Server, type ServerName } from './servers.js';

export type DurableName = ServerName;
export type DurableServer = Server;

/** Every server of ours still running, for the exit hook. */
const running = new Set<Server>();

export function serverPids(): number[] {
  return [...running].map((s) => s.pid);
}

function track(server: Server): Server {
  running.add(server);
  return { ...server, stop: () => server.stop().finally(() => running.delete(server)) };
}

/** redis-server with an AOF fsynced before every reply (`appendfsync always`), no RDB snapshots. */
export async function startRedisAof(): Promise<DurableServer> {
  return track(await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']));
}

/** Heck's settings for this bench: alone, and probing nothing (its origins' hosts are made up). */
const HECK_ARGS = ['--profile', 'lan', '--probing', 'no'];

/** A Heck node (`--profile lan`, alone) with a fresh data directory under os.tmpdir(). */
export async function startHeckNode(): Promise<DurableServer> {
  return track(await startHeck(HECK_ARGS));
}

/** bin/heck-server's own node flags, read from its `exec node ... dist/src/main.js` line. */
export const HECK_NODE_FLAGS = (/exec node ((?:--\S+ )*)/.exec(readFileSync(HECK_SERVER, 'utf8'))?.[1] ?? '').trim().split(' ').filter(Boolean);

/**
 * A Heck node started as bin/heck-server starts it, but with these node flags instead of its own
 * (e.g. `--cpu-prof`). A profile is written when the node exits (SIGTERM: graceful stop, exit 0).
 */
export async function startHeckWithFlags(nodeFlags: string[]): Promise<DurableServer> {
  return track(await startHeck(HECK_ARGS, nodeFlags));
}

/**
 * CPU ticks (utime, stime) by thread group, from /proc/<pid>/task/<tid>/stat: `main` (tid = pid),
 * and every other thread by its name: Redis' bio_* background threads; Node's unnamed ones
 * (V8's GC and compiler helpers, libuv's threadpool where the log's fdatasync runs)
 * together as `other threads`.
 */
export function threadTicks(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Node 20 names none of its threads (all `node`): V8's GC/JIT helpers and libuv's threadpool.
      const group = Number(tid) === pid ? 'main' : comm === 'node' ? 'other threads' : comm;
      const g = out.get(group) ?? { user: 0, sys: 0 };
      g.user += Number(f[14 - 3]);
      g.sys += Number(f[15 - 3]);
      out.set(group, g);
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return out;
}

export interface BenchRun {
  rps: number;
  avgLatencyMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  /** Distinct stderr lines, e.g. "Error from server: ..." (redis-benchmark prints at most one a second). */
  warnings: string[];
}

const RUN_TIMEOUT_MS = 10 * 60_000;

/** One redis-benchmark run with `--csv`; its rps and latency columns (located by header). */
export function redisBenchmarkCsv(port: number, args: string[], requests: number, clients: number, pipeline: number): Promise<BenchRun> {
  const all = ['-h', '127.0.0.1', '-p', String(port), '-c', String(clients), '-n', String(requests), '-P', String(pipeline), '--csv', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('redis-benchmark', all, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`redis-benchmark ${all.join(' ')} failed (${code ?? signal}):\n${stdout}${stderr}`));
      const rows = stdout.split('\n').filter((l) => l.startsWith('"')).map((l) => [...l.matchAll(/"([^"]*)"/g)].map((m) => m[1]!));
      const head = rows[0] ?? [];
      const row = rows[1];
      const col = (name: string) => (row ? Number(row[head.indexOf(name)]) : NaN);
      if (!row || !Number.isFinite(col('rps'))) return reject(new Error(`redis-benchmark printed no result row:\n${stdout}${stderr}`));
      resolve({
        rps: col('rps'),
        avgLatencyMs: col('avg_latency_ms'),
        p50LatencyMs: col('p50_latency_ms'),
        p99LatencyMs: col('p99_latency_ms'),
        warnings: [...new Set(stderr.split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean))],
      });
    });
  });
}

/** The filesystem a path is on: type (df -T) and device id, to show both logs share one. */
export function filesystemOf(path: string): { type: string; device: number } {
  let type = 'unknown';
  try {
    type = execFileSync('df', ['--output=fstype', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!.trim();
  } catch {
    // df without --output (busybox): leave it unknown.
  }
  return { type, device: statSync(path).dev };
}

/** Checks the write the load sends answers +OK (so a fast error can't pass for throughput). */
export async function preflight(server: DurableServer): Promise<string[]> {
  const c = await RespClient.open(server.port);
  try {
    const cmd = server.name === 'heck' ? ['HECK.ADDORIGIN', 'o:preflight', 'http://127.0.0.1:9/'] : ['SET', 'o:preflight', 'http://127.0.0.1:9/'];
    const r = plain(await c.call(...cmd));
    return r === 'OK' ? [] : [`${cmd[0]}: expected OK, got ${r instanceof ErrorReply ? `error "${r.message}"` : JSON.stringify(r)}`];
  } finally {
    c.close();
  }
}

/** Heck's state-log counters (INFO persistence). */
export async function heckPersistence(port: number): Promise<{ appends: number; fsyncs: number; compactions: number; logBytes: number; snapshotBytes: number }> {
  const text = await infoOnce(port, 'persistence');
  const num = (f: string) => Number(infoField(text, f) ?? NaN);
  return { appends: num('state_appends'), fsyncs: num('state_fsyncs'), compactions: num('state_compactions'), logBytes: num('state_log_bytes'), snapshotBytes: num('state_snapshot_bytes') };
}

/** Error replies the server counted (INFO errorstats lines). */
export async function errorStats(port: number): Promise<string[]> {
  return (await infoOnce(port, 'errorstats')).split(/\r?\n/).filter((l) => l.startsWith('errorstat_'));
}
