/**
 * Simulator and in-process jobs of the replication bench (run on worker threads, see
 * replication-worker.ts):
 * - `propagation`: a cluster of n simulated nodes (test/sim/harness.ts, virtual time, `lan`
 *   membership) that replicates; origins added one at a time on a random node, each timed until
 *   every node holds it. Virtual time: deaf to machine load, reproducible from the seed.
 * - `ae-bytes`: two Replica objects wired back to back through the anti-entropy exchange, holding
 *   the same origins, then d differences; bytes of the exchange against the full state's.
 */
import type { Entry } from '../../src/crdt/lww-set.js';
import type { OriginSpec } from '../../src/probe/spec.js';
import { answer, exchange } from '../../src/replication/anti-entropy.js';
import { Replica } from '../../src/replication/replica.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { Sim, type SimNode } from '../../test/sim/harness.js';
import { realisticOrigin } from './replication-specs.js';

const DAY = 86_400_000;
/** The replication timers the brief and the sim tests use (REPLICATION_PROFILES.lan + 7 days of grace). */
export const SIM_REPLICATION = { antiEntropyIntervalMs: 1000, gcIntervalMs: 60_000, tombstoneGraceMs: 7 * DAY } as const;
const FORM_LIMIT_MS = 120_000;
/** One sample gives up after this much virtual time (anti-entropy repairs a missed node within seconds). */
export const SAMPLE_LIMIT_MS = 30_000;
/** Virtual time between two samples, drawn uniformly, so each add lands at a random phase of the gossip ticks. */
const GAP_MIN_MS = 200;
const GAP_MAX_MS = 1000;
/** Resolution of the sample clock (Sim.until's step). */
const STEP_MS = 1;
/** Anti-entropy chains at most this many rounds per run (replicator.ts MAX_ROUNDS). */
const MAX_ROUNDS = 64;

export type SimJob =
  | { kind: 'propagation'; n: number; seed: number; samples: number; budgetWallMs: number }
  | { kind: 'ae-bytes'; origins: number; seed: number; diffs: number[] };

export interface PropagationSample {
  seq: number;
  /** Index of the node the origin was added on. */
  via: number;
  /** Add to the first other node holding it (virtual ms). */
  firstRemoteMs: number | null;
  /** Add to every live node holding it; null past SAMPLE_LIMIT_MS. */
  allMs: number | null;
  /** Records the nodes' anti-entropy repaired during the sample (0 when gossip alone delivered it). */
  repairedByAntiEntropy: number;
  wallMs: number;
}

export interface PropagationResult {
  kind: 'propagation';
  n: number;
  seed: number;
  /** Virtual ms to form the cluster, and then until every membership broadcast queue was empty. */
  formMs: number;
  drainMs: number;
  formWallMs: number;
  samples: PropagationSample[];
  samplesWanted: number;
  stoppedBy: 'samples' | 'budget';
  budgetWallMs: number;
  wallMs: number;
  /** Wall seconds per simulated second over the samples: the cost of this size in the simulator. */
  wallPerSimSecond: number;
}

export interface AeStep {
  round: number;
  step: number;
  requestBytes: number;
  replyBytes: number;
}

export interface AeCase {
  diffs: number;
  /** How the differences were made, e.g. "A add 2, B add 2, A remove 2, ...". */
  mix: string;
  /** Request + reply bytes over every round and step (payloads as they go on the bus). */
  exchangeBytes: number;
  requestBytes: number;
  replyBytes: number;
  rounds: number;
  steps: AeStep[];
  /** Records applied on the requester and on the responder. */
  received: number;
  sent: number;
  /** Sum of the requester's Replica.snapshot() payload bytes when the exchange started. */
  fullStateBytes: number;
  fullStateRecords: number;
  /** exchangeBytes / fullStateBytes. */
  ratio: number;
  /** Encoded size of the differing records alone: the least any protocol must ship. */
  differingRecordBytes: number;
  /** Both replicas' origin root digests equal afterwards. */
  converged: boolean;
  ms: number;
}

export interface AeResult {
  kind: 'ae-bytes';
  origins: number;
  seed: number;
  cases: AeCase[];
  buildMs: number;
  wallMs: number;
}

export type SimJobResult = PropagationResult | AeResult;

type Log = (line: string) => void;

function pick<T>(rnd: SeededRandom, items: T[]): T {
  return items[rnd.int(items.length)]!;
}

// ---- propagation -------------------------------------------------------------------------------

async function propagation(job: Extract<SimJob, { kind: 'propagation' }>, log: Log): Promise<PropagationResult> {
  const wall0 = performance.now();
  const sim = new Sim(job.seed).replicate({ ...SIM_REPLICATION });
  const rnd = new SeededRandom(job.seed ^ 0x5bd1e995);
  const t0 = sim.clock.now();
  await sim.formCluster(job.n, FORM_LIMIT_MS);
  const formMs = sim.clock.now() - t0;
  // The joins' alive broadcasts first, so the samples see steady-state gossip, not formation's.
  const drainMs = await sim.until(() => sim.live().every((x) => x.membership.queuedBroadcasts() === 0), FORM_LIMIT_MS);
  await sim.run(1000);
  const formWallMs = performance.now() - wall0;
  log(`sim N=${job.n}: formed in ${(formMs / 1000).toFixed(1)} s virtual, queues empty ${(drainMs / 1000).toFixed(1)} s later (${Math.round(formWallMs / 1000)} s wall)`);

  // Arrival times per node for the origin being timed, from each replica's change events.
  let current: string | null = null;
  const arrived = new Map<number, number>();
  const watchNode = (node: SimNode) =>
    node.replica!.origins.onChange((after) => {
      if (after.id === current && !after.removed && !arrived.has(node.index)) arrived.set(node.index, sim.clock.now());
    });
  for (const node of sim.nodes) watchNode(node);

  const samples: PropagationSample[] = [];
  const simStart = sim.clock.now();
  const samplesWall0 = performance.now();
  let stoppedBy: PropagationResult['stoppedBy'] = 'samples';
  for (let seq = 0; seq < job.samples; seq++) {
    const elapsed = performance.now() - wall0;
    const last = samples.at(-1)?.wallMs ?? 0;
    if (samples.length > 0 && elapsed + last > job.budgetWallMs) {
      stoppedBy = 'budget';
      break;
    }
    await sim.run(GAP_MIN_MS + rnd.int(GAP_MAX_MS - GAP_MIN_MS + 1));
    const sw0 = performance.now();
    const live = sim.live();
    const via = pick(rnd, live);
    const { id, spec } = realisticOrigin(`sim-${job.n}-${seq}`, rnd);
    const repaired0 = live.reduce((s, x) => s + x.replicator!.stats.recordsRepaired, 0);
    arrived.clear();
    current = id;
    const addedAt = sim.clock.now();
    via.replica!.origins.add(id, spec);
    let allMs: number | null;
    try {
      await sim.until(() => arrived.size >= live.length, SAMPLE_LIMIT_MS, STEP_MS);
      // The exact arrival times, not the step the loop noticed the last one in.
      allMs = Math.max(...arrived.values()) - addedAt;
    } catch (e) {
      if (!(e instanceof Error && /condition not met/.test(e.message))) throw e;
      allMs = null;
    }
    const remote = [...arrived].filter(([i]) => i !== via.index).map(([, at]) => at - addedAt);
    const sample: PropagationSample = {
      seq,
      via: via.index,
      firstRemoteMs: remote.length ? Math.min(...remote) : null,
      allMs,
      repairedByAntiEntropy: live.reduce((s, x) => s + x.replicator!.stats.recordsRepaired, 0) - repaired0,
      wallMs: performance.now() - sw0,
    };
    current = null;
    samples.push(sample);
    log(`sim N=${job.n} sample ${seq + 1}/${job.samples}: every node after ${allMs === null ? 'TIMEOUT' : `${allMs.toFixed(1)} ms`} (via node ${via.index}, ${Math.round(sample.wallMs)} ms wall)`);
  }
  const simSeconds = (sim.clock.now() - simStart) / 1000;
  return {
    kind: 'propagation',
    n: job.n,
    seed: job.seed,
    formMs,
    drainMs,
    formWallMs,
    samples,
    samplesWanted: job.samples,
    stoppedBy,
    budgetWallMs: job.budgetWallMs,
    wallMs: performance.now() - wall0,
    wallPerSimSecond: simSeconds > 0 ? (performance.now() - samplesWall0) / 1000 / simSeconds : 0,
  };
}

// ---- anti-entropy bytes ------------------------------------------------------------------------

const NODE_A = 'a'.repeat(40);
const NODE_B = 'b'.repeat(40);
/** Any fixed wall time: the replicas' clocks, moved on by hand. */
const WALL0 = 1_800_000_000_000;

function newReplica(nodeId: string, now: () => number): Replica {
  return new Replica({ nodeId, wallNow: now, tombstoneGraceMs: 7 * DAY, maxClockAheadMs: 60_000, persist: () => {} });
}

function snapshotBytes(r: Replica): { bytes: number; records: number } {
  const payloads = r.snapshot();
  return { bytes: payloads.reduce((s, p) => s + p.length, 0), records: payloads.length - 1 };
}

/** Encoded bytes of one record as the exchange ships it (records.ts framing, without the set tag). */
function recordBytes(e: Entry<unknown>): number {
  return 2 + Buffer.byteLength(e.id) + 6 + 4 + 20 + 1 + 4 + e.bytes.length;
}

/** Two replicas holding exactly `base`, then `diffs` differences spread over both sides, then one anti-entropy run. */
async function aeCase(base: Entry<OriginSpec>[], diffs: number, seed: number): Promise<AeCase> {
  let now = WALL0 + 3_600_000;
  const clock = () => now;
  const a = newReplica(NODE_A, clock);
  const b = newReplica(NODE_B, clock);
  for (const e of base) {
    a.origins.merge(e, false);
    b.origins.merge(e, false);
  }
  now += 60_000;

  // Adds, removes and changed specs in turn, alternating sides; every difference on its own element.
  const rnd = new SeededRandom(seed * 1000 + diffs);
  const used = new Set<string>();
  const existing = (): string => {
    for (;;) {
      const id = base[rnd.int(base.length)]!.id;
      if (!used.has(id)) {
        used.add(id);
        return id;
      }
    }
  };
  const counts = new Map<string, number>();
  const differing: string[] = [];
  for (let i = 0; i < diffs; i++) {
    const side = i % 2 === 0 ? a : b;
    const kind = (['add', 'remove', 'change'] as const)[Math.floor(i / 2) % 3]!;
    const label = `${side === a ? 'A' : 'B'} ${kind}`;
    counts.set(label, (counts.get(label) ?? 0) + 1);
    now += 1;
    if (kind === 'add') {
      const { id, spec } = realisticOrigin(`new-${diffs}-${i}`, rnd);
      side.origins.add(id, spec);
      differing.push(id);
    } else if (kind === 'remove') {
      const id = existing();
      side.origins.remove(id);
      differing.push(id);
    } else {
      const id = existing();
      side.origins.add(id, realisticOrigin(id, rnd).spec);
      differing.push(id);
    }
  }
  const full = snapshotBytes(a);
  const differingRecordBytes = differing.reduce((s, id) => s + recordBytes((a.origins.set.get(id) ?? b.origins.set.get(id))!), 0);

  // As the replicator runs it: rounds chained while more buckets differ than one round carries.
  const steps: AeStep[] = [];
  let received = 0;
  let sent = 0;
  let rounds = 0;
  const t0 = performance.now();
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    rounds = round;
    let step = 0;
    const result = await exchange(a, async (payload) => {
      const reply = replyOf(answer(b, payload));
      steps.push({ round, step: ++step, requestBytes: payload.length, replyBytes: reply.length });
      return reply;
    });
    received += result.received;
    sent += result.sent;
    if (!result.more) break;
  }
  const ms = performance.now() - t0;
  const requestBytes = steps.reduce((s, x) => s + x.requestBytes, 0);
  const replyBytes = steps.reduce((s, x) => s + x.replyBytes, 0);
  const ra = a.origins.set.root();
  const rb = b.origins.set.root();
  return {
    diffs,
    mix: diffs === 0 ? 'none' : [...counts].map(([k, v]) => `${k} ${v}`).join(', '),
    exchangeBytes: requestBytes + replyBytes,
    requestBytes,
    replyBytes,
    rounds,
    steps,
    received,
    sent,
    fullStateBytes: full.bytes,
    fullStateRecords: full.records,
    ratio: (requestBytes + replyBytes) / full.bytes,
    differingRecordBytes,
    converged: ra[0] === rb[0] && ra[1] === rb[1] && a.origins.set.liveDigest() === b.origins.set.liveDigest(),
    ms,
  };
}

/** answer()'s reply, whether it returns the bytes or an object carrying them (its API has had both). */
function replyOf(out: Buffer | { reply: Buffer }): Buffer {
  return Buffer.isBuffer(out) ? out : out.reply;
}

async function aeBytes(job: Extract<SimJob, { kind: 'ae-bytes' }>, log: Log): Promise<AeResult> {
  const wall0 = performance.now();
  // The common state: records made once by one writer, merged into every pair.
  const rnd = new SeededRandom(job.seed);
  const writer = newReplica('c'.repeat(40), () => WALL0);
  const base: Entry<OriginSpec>[] = [];
  for (let i = 0; i < job.origins; i++) {
    const { id, spec } = realisticOrigin(`origin-${String(i).padStart(6, '0')}`, rnd);
    base.push(writer.origins.add(id, spec));
  }
  const buildMs = performance.now() - wall0;
  log(`anti-entropy: ${job.origins.toLocaleString('en-US')} origins built in ${Math.round(buildMs)} ms`);
  const cases: AeCase[] = [];
  for (const d of job.diffs) {
    const c = await aeCase(base, d, job.seed);
    cases.push(c);
    log(`anti-entropy: ${d} differences -> ${c.exchangeBytes.toLocaleString('en-US')} B in ${c.rounds} round(s), ${(c.ratio * 100).toFixed(3)}% of ${c.fullStateBytes.toLocaleString('en-US')} B, converged ${c.converged}`);
  }
  return { kind: 'ae-bytes', origins: job.origins, seed: job.seed, cases, buildMs, wallMs: performance.now() - wall0 };
}

export function runSimJob(job: SimJob, log: Log): Promise<SimJobResult> {
  switch (job.kind) {
    case 'propagation':
      return propagation(job, log);
    case 'ae-bytes':
      return aeBytes(job, log);
  }
}
