/**
 * Origin propagation between real Heck processes on 127.0.0.1: N `bin/heck-server --profile lan`
 * nodes meshed with CLUSTER MEET, every node subscribed to `heck:origins` (each node publishes an
 * `add` there the moment it applies the origin, whether it made it or learnt it), origins added
 * one at a time with HECK.ADDORIGIN on a random node. The clock starts just before the command is
 * written and stops at the last node's `add` message, timestamped as its bytes arrive: no polling,
 * so the measurement puts no load on the nodes.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { SeededRandom } from '../../src/runtime/random.js';
import type { NodeProcess } from '../../test/helpers/process.js';
import { killAll, startTracked, within } from './heck-nodes.js';
import { ErrorReply, parseReply, plain, Push, RespClient, type Reply } from '../../test/helpers/resp-client.js';
import { infoField } from './clients.js';
import { originArgs } from './replication-specs.js';

const MESH_LIMIT_MS = 30_000;
const POLL_MS = 50;
/** After the mesh: membership's own gossip dies down before anything is timed. */
const SETTLE_MS = 2000;
/** A sample gives up after this long (anti-entropy, every second, repairs what gossip missed). */
export const REAL_SAMPLE_LIMIT_MS = 10_000;
/** Between samples, drawn uniformly: each add lands at a random phase of the gossip ticks. */
const GAP_MIN_MS = 50;
const GAP_MAX_MS = 300;
/** Untimed adds first, so V8 has compiled the path on every node. */
const WARMUP_ADDS = 5;

export interface RealSample {
  seq: number;
  via: number;
  /** Send to the +OK (the origin node's fsync included). */
  ackMs: number;
  /** Send to the origin node's own `add` event (applied, before the fsync). */
  localMs: number | null;
  /** Send to the first other node's `add`. */
  firstRemoteMs: number | null;
  /** Send to the last node's `add`; null past REAL_SAMPLE_LIMIT_MS. */
  allMs: number | null;
}

/** Replication counters summed over the nodes (INFO heck), for the whole measured run. */
export interface RealCounters {
  deltasSent: number;
  deltasReceived: number;
  deltasApplied: number;
  recordsRepaired: number;
  exchanges: number;
  exchangesFailed: number;
  exchangeBytes: number;
}

export interface RealRun {
  n: number;
  meshMs: number;
  samples: RealSample[];
  counters: RealCounters;
  /** Origins every node holds at the end (HECK.ALL length agrees through INFO heck `origins`). */
  originsPerNode: number[];
  wallMs: number;
}


/**
 * A `SUBSCRIBE heck:origins` connection that timestamps every message when its bytes arrive
 * (performance.now() in the 'data' handler, before any parsing).
 */
class Subscriber {
  /** Origin id -> arrival of its first `add` (or `update`) message. */
  readonly seen = new Map<string, number>();
  private buf: Buffer = Buffer.alloc(0);
  private onSeen: (() => void) | undefined;
  private subscribed: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      const at = performance.now();
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        const r = parseReply(this.buf);
        if (!r) break;
        this.buf = this.buf.subarray(r.end);
        this.handle(r.value instanceof Push ? r.value.items : r.value, at);
      }
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<Subscriber> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    const sub = new Subscriber(socket);
    const ready = new Promise<void>((resolve) => (sub.subscribed = resolve));
    socket.write('*2\r\n$9\r\nSUBSCRIBE\r\n$12\r\nheck:origins\r\n');
    await within(ready, 5000, 'SUBSCRIBE heck:origins');
    return sub;
  }

  /** Calls fn after every message until replaced. */
  listen(fn: (() => void) | undefined): void {
    this.onSeen = fn;
  }

  close(): void {
    this.socket.destroy();
  }

  private handle(reply: Reply, at: number): void {
    if (!Array.isArray(reply)) return;
    const kind = plain(reply[0]!);
    if (kind === 'subscribe') {
      this.subscribed?.();
      return;
    }
    if (kind !== 'message' || typeof reply[2] !== 'string') return;
    try {
      const event = JSON.parse(reply[2]) as { op?: string; id?: string };
      if ((event.op === 'add' || event.op === 'update') && typeof event.id === 'string' && !this.seen.has(event.id)) {
        this.seen.set(event.id, at);
        this.onSeen?.();
      }
    } catch {
      // Not an event of ours.
    }
  }
}

/** CLUSTER NODES as id -> flags. */
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

async function infoHeck(c: RespClient): Promise<string> {
  const r = plain(await c.call('INFO', 'heck'));
  if (typeof r !== 'string') throw new Error('INFO heck: not a bulk string');
  return r;
}

function counters(infos: string[]): RealCounters {
  const sum = (field: string) => infos.reduce((s, t) => s + Number(infoField(t, field) ?? 0), 0);
  return {
    deltasSent: sum('deltas_sent'),
    deltasReceived: sum('deltas_received'),
    deltasApplied: sum('deltas_applied'),
    recordsRepaired: sum('records_repaired'),
    exchanges: sum('exchanges'),
    exchangesFailed: sum('exchanges_failed'),
    exchangeBytes: sum('exchange_bytes_out'),
  };
}

const diff = (a: RealCounters, b: RealCounters): RealCounters =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - a[k as keyof RealCounters]])) as unknown as RealCounters;

/** Resolves with the time each subscriber saw `id`, or with what it has once limitMs has passed. */
function waitForAll(subs: Subscriber[], id: string, limitMs: number): Promise<(number | undefined)[]> {
  return new Promise((resolve) => {
    const check = () => subs.every((s) => s.seen.has(id));
    const finish = () => {
      clearTimeout(timer);
      for (const s of subs) s.listen(undefined);
      resolve(subs.map((s) => s.seen.get(id)));
    };
    const timer = setTimeout(finish, limitMs);
    for (const s of subs) s.listen(() => check() && finish());
    if (check()) finish();
  });
}

/**
 * One cluster of n fresh nodes: mesh, settle, warm up, then `samples` timed adds one after another.
 */
export async function realPropagation(n: number, samples: number, rnd: SeededRandom, log: (line: string) => void): Promise<RealRun> {
  const wall0 = performance.now();
  const nodes: NodeProcess[] = [];
  const clients: RespClient[] = [];
  const subs: Subscriber[] = [];
  try {
    const started = await Promise.allSettled(Array.from({ length: n }, () => startTracked(['--profile', 'lan', '--probing', 'no'])));
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const node of nodes) clients.push(await RespClient.open(node.port));

    const mesh0 = performance.now();
    const seed = nodes[0]!;
    for (const c of clients.slice(1)) {
      const r = plain(await c.call('CLUSTER', 'MEET', '127.0.0.1', String(seed.port), String(seed.busPort)));
      if (r !== 'OK') throw new Error(`CLUSTER MEET replied ${JSON.stringify(r)}`);
    }
    for (;;) {
      const views = await Promise.all(clients.map(clusterNodes));
      if (views.every((v) => v.size === n && [...v.values()].every((f) => !f.includes('fail') && !f.includes('fail?')))) break;
      if (performance.now() - mesh0 > MESH_LIMIT_MS) throw new Error(`${n} Heck nodes did not mesh within ${MESH_LIMIT_MS} ms`);
      await delay(POLL_MS);
    }
    const meshMs = performance.now() - mesh0;
    log(`real N=${n}: meshed in ${Math.round(meshMs)} ms`);
    await delay(SETTLE_MS);
    for (const node of nodes) subs.push(await Subscriber.open(node.port));

    const add = async (id: string, via: number) => {
      const args = originArgs(id, rnd);
      const t0 = performance.now();
      const reply = plain(await clients[via]!.call('HECK.ADDORIGIN', ...args));
      const ackMs = performance.now() - t0;
      if (reply !== 'OK') throw new Error(`HECK.ADDORIGIN replied ${reply instanceof ErrorReply ? reply.message : JSON.stringify(reply)}`);
      return { t0, ackMs };
    };
    const tag = rnd.bytes(3).toString('hex');
    for (let i = 0; i < WARMUP_ADDS; i++) {
      const id = `warm-${tag}-${i}`;
      const via = rnd.int(n);
      const seen = waitForAll(subs, id, REAL_SAMPLE_LIMIT_MS);
      await add(id, via);
      await seen;
      await delay(GAP_MIN_MS);
    }

    const before = counters(await Promise.all(clients.map(infoHeck)));
    const out: RealSample[] = [];
    for (let seq = 0; seq < samples; seq++) {
      await delay(GAP_MIN_MS + rnd.int(GAP_MAX_MS - GAP_MIN_MS + 1));
      const id = `prop-${n}-${tag}-${seq}`;
      const via = rnd.int(n);
      // Listening before the command goes out: a fast node's event may beat the +OK.
      const seen = waitForAll(subs, id, REAL_SAMPLE_LIMIT_MS);
      const { t0, ackMs } = await add(id, via);
      const times = await seen;
      const rel = times.map((t) => (t === undefined ? undefined : t - t0));
      const remote = rel.filter((t, i): t is number => i !== via && t !== undefined);
      const sample: RealSample = {
        seq,
        via,
        ackMs,
        localMs: rel[via] ?? null,
        firstRemoteMs: remote.length ? Math.min(...remote) : null,
        allMs: rel.every((t) => t !== undefined) ? Math.max(...(rel as number[])) : null,
      };
      out.push(sample);
      if ((seq + 1) % 10 === 0 || sample.allMs === null) {
        log(`real N=${n} sample ${seq + 1}/${samples}: every node after ${sample.allMs === null ? 'TIMEOUT' : `${sample.allMs.toFixed(1)} ms`} (ack ${ackMs.toFixed(1)} ms)`);
      }
    }
    const infos = await Promise.all(clients.map(infoHeck));
    return {
      n,
      meshMs,
      samples: out,
      counters: diff(before, counters(infos)),
      originsPerNode: infos.map((t) => Number(infoField(t, 'origins') ?? -1)),
      wallMs: performance.now() - wall0,
    };
  } finally {
    for (const s of subs) s.close();
    for (const c of clients) c.close();
    await killAll(nodes);
  }
}
