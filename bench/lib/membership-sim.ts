/**
 * Simulator scenarios for the membership bench, on the deterministic harness (virtual time):
 * crash detection and join trials, steady-state bytes, and false deaths under loss or paused
 * nodes. Every job is a pure function of its description (seeds included), so any figure can be
 * reproduced from the seed printed beside it. Jobs run in worker threads (membership-worker.ts).
 */
import type { Member } from '../../src/membership/membership.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { Sim, type SimNode } from '../../test/sim/harness.js';

/** The harness' default link (1 ms + up to 1 ms jitter), restated when loss is added on top. */
const LINK = { delayMs: 1, jitterMs: 1 } as const;
const FORM_LIMIT_MS = 120_000;
export const DETECT_LIMIT_MS = 60_000;
/** Past the longest push-pull period here (180 s at N = 1,000), so a join gossip missed shows its real cost. */
export const JOIN_LIMIT_MS = 200_000;

export type SimJob =
  /** Independent trials: each seed forms its own cluster of n, then one kill and one join. */
  | { kind: 'trials'; n: number; seeds: number[] }
  /** One cluster of n formed once, then sequential kill+join trials until the wall budget is spent. */
  | { kind: 'big'; n: number; seed: number; maxTrials: number; budgetWallMs: number; drainMs: number; bytesWindowMs: number }
  | { kind: 'bytes'; n: number; seed: number; drainMs: number; windowMs: number }
  | { kind: 'stress'; mode: 'loss' | 'pause'; n: number; seed: number; durationMs: number };

export interface Trial {
  n: number;
  /** Seed of the cluster (Sim) and of the bench's own choices in this trial. */
  seed: number;
  /** For trials on one long-lived cluster: its position in the sequence (0-based). */
  sequence: number;
  settleMs: number;
  victim: number;
  /** Kill to the first survivor marking the victim suspect (virtual ms); null if none did. */
  firstSuspectMs: number | null;
  /** Kill to every live member holding the victim dead; null if not within the limit. */
  detectMs: number | null;
  /** Members other than the victim marked dead by someone during the trial (false deaths). */
  collateralDeaths: string[];
  /** Join call to every live member listing the newcomer alive; null if not within the limit. */
  joinMs: number | null;
  joinVia: number;
  wallMs: number;
}

export interface BytesResult {
  n: number;
  seed: number;
  /** Virtual ms after the cluster formed (all queues empty + the fixed drain) when the window opened. */
  startMs: number;
  drainMs: number;
  windowMs: number;
  /** Sent bytes per node per second: packets (UDP) plus stream requests and replies (TCP). */
  meanBps: number;
  maxBps: number;
  p50Bps: number;
  packetMeanBps: number;
  streamMeanBps: number;
  wallMs: number;
}

export interface StressResult {
  mode: 'loss' | 'pause';
  n: number;
  seed: number;
  durationMs: number;
  nodeHours: number;
  /** Dead verdicts (observer, subject pairs); every node stays up, so each one is false. */
  falseDeaths: number;
  falselyDeadNodes: number;
  /** Suspect verdicts (observer, subject pairs), each refuted or not. */
  suspicions: number;
  /** Nodes frozen (pause mode), by index. */
  paused: number[];
  /** After the run every node lists all n alive. */
  finalAllAlive: boolean;
  /** The first few false deaths, for a bug report: virtual ms, observer index, subject index. */
  examples: { atMs: number; observer: number; subject: number }[];
  wallMs: number;
}

export type SimJobResult =
  | { kind: 'trials'; n: number; trials: Trial[]; wallMs: number }
  | { kind: 'big'; n: number; seed: number; formMs: number; formWallMs: number; trials: Trial[]; bytes: BytesResult; wallMs: number; budgetWallMs: number; maxTrials: number }
  | { kind: 'bytes'; result: BytesResult }
  | { kind: 'stress'; result: StressResult };

type Log = (line: string) => void;

/** What the bench listens for on every node: one listener per node, pointed at the current trial. */
class Watch {
  private sink: ((observer: SimNode, m: Member) => void) | undefined;
  private readonly watched = new Set<SimNode>();

  constructor(private readonly sim: Sim) {}

  /** Registers the listener on nodes not seen yet (a joiner, a restart). */
  attachAll(): void {
    for (const node of this.sim.nodes) {
      if (this.watched.has(node)) continue;
      this.watched.add(node);
      node.membership.onChange((m) => this.sink?.(node, m));
    }
  }

  listen(sink: ((observer: SimNode, m: Member) => void) | undefined): void {
    this.sink = sink;
  }
}

function pick<T>(rnd: SeededRandom, items: T[]): T {
  return items[rnd.int(items.length)]!;
}

/** Runs until `done`, or returns null once `limitMs` of virtual time have passed. */
async function timed(sim: Sim, done: () => boolean, limitMs: number): Promise<number | null> {
  try {
    return await sim.until(done, limitMs);
  } catch (e) {
    if (e instanceof Error && /condition not met/.test(e.message)) return null;
    throw e;
  }
}

/**
 * One trial on a formed cluster: settle a random 2-3 s, kill -9 a random member and time until
 * every live member marks it dead; then, 1-2 s later, a new node joins through a random member
 * and we time until every live member lists it alive.
 */
async function trialOn(sim: Sim, watch: Watch, seed: number, sequence: number, earlierDead: Set<string>): Promise<Trial> {
  const wall0 = performance.now();
  const rnd = new SeededRandom(seed ^ 0x5bd1e995);
  const n = sim.live().length;
  const settleMs = 2000 + rnd.int(1001);
  await sim.run(settleMs);

  const victim = pick(rnd, sim.live());
  const killedAt = sim.clock.now();
  let firstSuspectAt: number | null = null;
  const collateral = new Set<string>();
  watch.attachAll();
  watch.listen((_observer, m) => {
    if (m.id === victim.id && m.state === 'suspect' && firstSuspectAt === null) firstSuspectAt = sim.clock.now();
    if (m.id !== victim.id && m.state === 'dead' && !earlierDead.has(m.id)) collateral.add(m.id);
  });
  sim.kill(victim);
  earlierDead.add(victim.id);
  const detectMs = await timed(sim, () => sim.viewsOf(victim.id).every((m) => m?.state === 'dead'), DETECT_LIMIT_MS);

  await sim.run(1000 + rnd.int(1001));
  const via = pick(rnd, sim.live());
  const joiner = sim.add();
  watch.attachAll();
  void joiner.membership.join([via.address]);
  const joinMs = await timed(sim, () => sim.viewsOf(joiner.id).every((m) => m?.state === 'alive'), JOIN_LIMIT_MS);
  watch.listen(undefined);

  const indexOf = new Map(sim.nodes.map((x) => [x.id, x.index]));
  return {
    n,
    seed,
    sequence,
    settleMs,
    victim: victim.index,
    firstSuspectMs: firstSuspectAt === null ? null : firstSuspectAt - killedAt,
    detectMs,
    collateralDeaths: [...collateral].map((id) => `node ${indexOf.get(id) ?? '?'} (${id.slice(0, 8)})`),
    joinMs,
    joinVia: via.index,
    wallMs: performance.now() - wall0,
  };
}

async function trials(job: Extract<SimJob, { kind: 'trials' }>, log: Log): Promise<SimJobResult> {
  const wall0 = performance.now();
  const out: Trial[] = [];
  for (const seed of job.seeds) {
    const sim = new Sim(seed);
    await sim.formCluster(job.n, FORM_LIMIT_MS);
    const t = await trialOn(sim, new Watch(sim), seed, 0, new Set());
    out.push(t);
    log(`sim N=${job.n} seed ${seed}: detect ${fmt(t.detectMs)}, join ${fmt(t.joinMs)} (${Math.round(t.wallMs)} ms wall)`);
  }
  return { kind: 'trials', n: job.n, trials: out, wallMs: performance.now() - wall0 };
}

/** Sent bytes per node per second over `windowMs` of a cluster already formed and drained. */
async function measureBytes(sim: Sim, seed: number, drainMs: number, windowMs: number, formedAt: number): Promise<BytesResult> {
  const wall0 = performance.now();
  // The joins' alive broadcasts first: every queue empty, then `drainMs` more.
  await timed(sim, () => sim.live().every((x) => x.membership.queuedBroadcasts() === 0), FORM_LIMIT_MS);
  await sim.run(drainMs);
  const nodes = sim.live();
  const startMs = sim.clock.now() - formedAt;
  const before = nodes.map((x) => sim.network.stats(x.address));
  await sim.run(windowMs);
  const secs = windowMs / 1000;
  const packet: number[] = [];
  const stream: number[] = [];
  nodes.forEach((x, i) => {
    const a = before[i]!;
    const b = sim.network.stats(x.address);
    packet.push((b.packetBytesSent - a.packetBytesSent) / secs);
    stream.push((b.requestBytesSent - a.requestBytesSent) / secs);
  });
  const total = packet.map((p, i) => p + stream[i]!).sort((x, y) => x - y);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    n: nodes.length,
    seed,
    startMs,
    drainMs,
    windowMs,
    meanBps: mean(total),
    maxBps: total[total.length - 1]!,
    p50Bps: total[Math.ceil(total.length / 2) - 1]!,
    packetMeanBps: mean(packet),
    streamMeanBps: mean(stream),
    wallMs: performance.now() - wall0,
  };
}

async function bytes(job: Extract<SimJob, { kind: 'bytes' }>, log: Log): Promise<SimJobResult> {
  const sim = new Sim(job.seed);
  await sim.formCluster(job.n, FORM_LIMIT_MS);
  const result = await measureBytes(sim, job.seed, job.drainMs, job.windowMs, sim.clock.now());
  log(`sim N=${job.n} bytes: mean ${Math.round(result.meanBps)} B/s, max ${Math.round(result.maxBps)} B/s`);
  return { kind: 'bytes', result };
}

async function big(job: Extract<SimJob, { kind: 'big' }>, log: Log): Promise<SimJobResult> {
  const wall0 = performance.now();
  const sim = new Sim(job.seed);
  const t0 = sim.clock.now();
  await sim.formCluster(job.n, FORM_LIMIT_MS);
  const formMs = sim.clock.now() - t0;
  const formWallMs = performance.now() - wall0;
  log(`sim N=${job.n}: formed in ${Math.round(formMs)} virtual ms (${Math.round(formWallMs / 1000)} s wall)`);
  const bytesResult = await measureBytes(sim, job.seed, job.drainMs, job.bytesWindowMs, sim.clock.now());
  log(`sim N=${job.n} bytes: mean ${Math.round(bytesResult.meanBps)} B/s, max ${Math.round(bytesResult.maxBps)} B/s (${Math.round(bytesResult.wallMs / 1000)} s wall)`);
  const watch = new Watch(sim);
  const dead = new Set<string>();
  const out: Trial[] = [];
  for (let i = 0; i < job.maxTrials; i++) {
    const elapsed = performance.now() - wall0;
    const last = out.length > 0 ? out[out.length - 1]!.wallMs : 0;
    if (out.length > 0 && elapsed + last > job.budgetWallMs) break;
    const t = await trialOn(sim, watch, job.seed * 1000 + i, i, dead);
    out.push(t);
    log(`sim N=${job.n} trial ${i + 1}: detect ${fmt(t.detectMs)}, join ${fmt(t.joinMs)} (${Math.round(t.wallMs / 1000)} s wall)`);
  }
  return {
    kind: 'big',
    n: job.n,
    seed: job.seed,
    formMs,
    formWallMs,
    trials: out,
    bytes: bytesResult,
    wallMs: performance.now() - wall0,
    budgetWallMs: job.budgetWallMs,
    maxTrials: job.maxTrials,
  };
}

/**
 * No node ever dies here, so every dead verdict is false. `loss`: 10 % of packets lost uniformly
 * (streams are never lost in the harness). `pause`: 10 % of the nodes frozen 1.5 s every 5 s,
 * each at its own random phase.
 */
async function stress(job: Extract<SimJob, { kind: 'stress' }>, log: Log): Promise<SimJobResult> {
  const wall0 = performance.now();
  const sim = new Sim(job.seed);
  const rnd = new SeededRandom(job.seed ^ 0x27d4eb2f);
  await sim.formCluster(job.n, FORM_LIMIT_MS);
  await sim.run(2000);
  const watch = new Watch(sim);
  watch.attachAll();
  const start = sim.clock.now();
  const indexOf = new Map(sim.nodes.map((x) => [x.id, x.index]));
  let falseDeaths = 0;
  let suspicions = 0;
  const victims = new Set<string>();
  const examples: StressResult['examples'] = [];
  watch.listen((observer, m) => {
    if (m.state === 'suspect') suspicions++;
    if (m.state !== 'dead') return;
    falseDeaths++;
    victims.add(m.id);
    if (examples.length < 10) examples.push({ atMs: Math.round(sim.clock.now() - start), observer: observer.index, subject: indexOf.get(m.id) ?? -1 });
  });

  const paused: number[] = [];
  if (job.mode === 'loss') {
    sim.network.setDefaults({ ...LINK, lossRate: 0.1 });
  } else {
    const pool = [...sim.nodes];
    const count = Math.max(1, Math.round(job.n * 0.1));
    for (let i = 0; i < count; i++) {
      const node = pool.splice(rnd.int(pool.length), 1)[0]!;
      paused.push(node.index);
      sim.clock.setTimeout(() => {
        sim.pause(node, 1500);
        sim.clock.setInterval(() => sim.pause(node, 1500), 5000);
      }, rnd.int(5000));
    }
    paused.sort((a, b) => a - b);
  }

  const chunkMs = 60_000;
  for (let done = 0; done < job.durationMs; done += chunkMs) {
    await sim.run(Math.min(chunkMs, job.durationMs - done));
  }
  watch.listen(undefined);
  const finalAllAlive = sim.everyoneSees((m) => m.state === 'alive', job.n);
  const result: StressResult = {
    mode: job.mode,
    n: job.n,
    seed: job.seed,
    durationMs: job.durationMs,
    nodeHours: (job.n * job.durationMs) / 3_600_000,
    falseDeaths,
    falselyDeadNodes: victims.size,
    suspicions,
    paused,
    finalAllAlive,
    examples,
    wallMs: performance.now() - wall0,
  };
  log(`sim N=${job.n} ${job.mode} ${job.durationMs / 60_000} min: ${falseDeaths} false deaths, ${suspicions} suspicions (${Math.round(result.wallMs / 1000)} s wall)`);
  return { kind: 'stress', result };
}

function fmt(ms: number | null): string {
  return ms === null ? 'TIMEOUT' : `${Math.round(ms)} ms`;
}

export function runSimJob(job: SimJob, log: Log): Promise<SimJobResult> {
  switch (job.kind) {
    case 'trials':
      return trials(job, log);
    case 'big':
      return big(job, log);
    case 'bytes':
      return bytes(job, log);
    case 'stress':
      return stress(job, log);
  }
}
