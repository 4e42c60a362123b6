import { setTimeout as pause } from 'node:timers/promises';
import { SeededRandom } from '../../src/runtime/random.js';
import { percentile } from '../lib/system.js';
import { ChaosCluster, type ChaosNode } from './cluster.js';
import { OriginFarm } from './farm.js';

/**
 * Chaos on real processes, judged from the origins' side (issue 6): a cluster, a farm, a list of
 * scenarios drawn from a seed, and after every scenario the invariants: no origin lost or
 * resurrected, verdicts equal on every node, every origin probed again, memory and descriptors
 * flat. Each scenario also reports its figures (gaps between probes, probes per origin per
 * interval, time to converge).
 */
export interface ChaosOptions {
  nodes: number;
  origins: number;
  intervalMs: number;
  profile: 'lan' | 'local';
  seed: number;
  /** Scenario names in order; a soak repeats random ones until `untilMs` has passed. */
  scenarios: ScenarioName[];
  untilMs?: number;
  partitionMs: number;
  /** Share of origins that answer 503 throughout, so verdicts are checked both ways. */
  failingShare: number;
  log: (line: string) => void;
}

export type ScenarioName = 'kill' | 'pause' | 'restart-one' | 'restart-all' | 'join' | 'leave' | 'partition' | 'skew';
export const ALL_SCENARIOS: ScenarioName[] = ['kill', 'pause', 'restart-one', 'join', 'leave', 'partition', 'skew', 'restart-all'];

export interface ScenarioResult {
  name: ScenarioName;
  /** Figures of this run, by name (ms, ratios, counts). */
  figures: Record<string, number>;
  /** Broken invariants, in words; empty when all hold. */
  violations: string[];
}

export interface ChaosReport {
  seed: number;
  results: ScenarioResult[];
  /** Per node process (by pid): resources after warm-up and at the end. */
  resources: { node: string; pid: number; first: Resources; last: Resources }[];
}

interface Resources {
  rssKb: number;
  fds: number;
}

/** How long the cluster may take to agree again after a scenario before it counts as a violation. */
const CONVERGE_LIMIT_MS = 60_000;

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const random = new SeededRandom(o.seed);
  const farm = await OriginFarm.start();
  const cluster = new ChaosCluster(o.profile);
  const expected = new Map<string, string>(); // origin id -> path
  const failing = new Set<string>();
  let nextId = 0;
  const results: ScenarioResult[] = [];
  const resources = new Map<number, { node: string; pid: number; first: Resources; last: Resources }>();

  const pick = <T>(xs: T[]): T => xs[random.int(xs.length)]!;
  // A soak draws joins and leaves at random: keep the cluster within two nodes of its size.
  const sizeAllows = (name: ScenarioName) => {
    const size = cluster.answering().length;
    return name === 'join' ? size < o.nodes + 2 : name === 'leave' ? size > Math.max(2, o.nodes - 2) : true;
  };
  const newOrigin = async (via: ChaosNode, fails = false): Promise<string> => {
    const id = `c${String(nextId++).padStart(5, '0')}`;
    const path = `/${id}`;
    if (fails) failing.add(path);
    farm.fail(failing);
    await cluster.call(via, 'HECK.ADDORIGIN', id, farm.url(path), 'INTERVAL', String(o.intervalMs), 'TIMEOUT', String(Math.floor(o.intervalMs * 0.8)));
    expected.set(id, path);
    return id;
  };
  const removeOrigin = async (via: ChaosNode, id: string): Promise<void> => {
    await cluster.call(via, 'HECK.REMOVEORIGIN', id);
    expected.delete(id);
  };

  /** Origins the node owned, as the others saw it last. */
  const ownedBy = async (node: ChaosNode): Promise<string[]> => {
    const [view] = await cluster.views();
    return [...view!].filter(([, s]) => s.owner === node.proc.id).map(([id]) => id);
  };

  /** Gaps between probes of these origins over [from, to]: p99 and max (ms). */
  const gapFigures = (ids: string[], from: number, to: number, prefix: string): Record<string, number> => {
    const gaps = ids.map((id) => Math.max(...farm.gaps(`/${id}`, from, to)));
    return { [`${prefix}_gap_p99_ms`]: Math.round(percentile(gaps, 99) ?? 0), [`${prefix}_gap_max_ms`]: Math.round(Math.max(0, ...gaps)) };
  };

  /** Probes per origin per interval over [from, to], all origins. */
  const rate = (from: number, to: number): number => {
    let n = 0;
    for (const path of expected.values()) n += farm.probesIn(path, from, to);
    return n / expected.size / ((to - from) / o.intervalMs);
  };

  /** The invariants, checked once the cluster has had time to agree again. */
  const check = async (since: number): Promise<{ figures: Record<string, number>; violations: string[] }> => {
    const violations: string[] = [];
    const figures: Record<string, number> = {};
    const want = [...expected.keys()].sort().join();
    try {
      figures.converge_ms = Math.round(
        await cluster.until(async () => {
          const views = await cluster.views();
          if (!views.every((v) => [...v.keys()].join() === want)) return false;
          // Verdicts equal everywhere: each origin has one status on every node, and it is the farm's.
          return [...expected].every(([id, path]) => views.every((v) => v.get(id)!.status === (failing.has(path) ? 'down' : 'up')));
        }, 'origins and verdicts agree', CONVERGE_LIMIT_MS),
      );
    } catch {
      const views = await cluster.views();
      for (const [k, v] of views.entries()) {
        const lost = [...expected.keys()].filter((id) => !v.has(id));
        const extra = [...v.keys()].filter((id) => !expected.has(id));
        if (lost.length) violations.push(`${cluster.answering()[k]!.name} lost ${lost.length}: ${lost.slice(0, 5).join(' ')}`);
        if (extra.length) violations.push(`${cluster.answering()[k]!.name} resurrected ${extra.length}: ${extra.slice(0, 5).join(' ')}`);
        const wrong = [...expected].filter(([id, path]) => v.get(id) && v.get(id)!.status !== (failing.has(path) ? 'down' : 'up'));
        if (wrong.length) violations.push(`${cluster.answering()[k]!.name}: ${wrong.length} verdicts differ from the farm, e.g. ${wrong[0]![0]}=${v.get(wrong[0]![0])!.status}`);
      }
    }
    // Every origin probed again after the scenario.
    const unprobed = () => [...expected.values()].filter((p) => farm.probesIn(p, since, Infinity) === 0);
    try {
      await cluster.until(async () => unprobed().length === 0, 'every origin probed again', CONVERGE_LIMIT_MS);
    } catch {
      violations.push(`${unprobed().length} origins never probed again, e.g. ${unprobed().slice(0, 3).join(' ')}`);
    }
    for (const [name, r] of cluster.resources()) {
      const pid = cluster.nodes.find((n) => n.name === name)!.proc.child.pid!;
      const seen = resources.get(pid);
      if (seen) seen.last = r;
      else resources.set(pid, { node: name, pid, first: r, last: r });
    }
    return { figures, violations };
  };

  const scenario = async (name: ScenarioName): Promise<ScenarioResult> => {
    const figures: Record<string, number> = {};
    const running = cluster.answering();
    const start = performance.now();
    const present = [...expected.keys()];
    /** Origins a failed node owned: their gaps are the scenario's own figures, not the others'. */
    let affected: string[] = [];
    /**
     * Breaks a random node with `act`, waits until the others agree on who is alive and `settle`
     * intervals more, and reports the gaps its origins saw from one interval before the break.
     */
    const breakOne = async (prefix: string, act: (n: ChaosNode) => Promise<void>, settle: number): Promise<ChaosNode> => {
      const victim = pick(running);
      affected = await ownedBy(victim);
      const t0 = performance.now();
      await act(victim);
      figures[`${prefix}_members_agree_ms`] = Math.round(await cluster.meshed());
      await pause(settle * o.intervalMs);
      Object.assign(figures, gapFigures(affected, t0 - o.intervalMs, performance.now(), prefix));
      return victim;
    };
    switch (name) {
      case 'kill': {
        // kill -9 of an owner: how long do its origins go unprobed? Then it comes back.
        const victim = await breakOne('orphan', (n) => cluster.kill(n), 3);
        await cluster.restart(victim);
        await cluster.meshed();
        break;
      }
      case 'pause':
        await breakOne('paused', (n) => cluster.freeze(n, 3_000), 2);
        break;
      case 'restart-one':
        await breakOne('restarted', async (n) => {
          await cluster.kill(n);
          await cluster.restart(n);
        }, 2);
        break;
      case 'restart-all': {
        for (const n of running) await cluster.kill(n);
        for (const n of running) await cluster.restart(n);
        figures.rejoin_ms = Math.round(await cluster.meshed());
        break;
      }
      case 'join': {
        const t0 = performance.now();
        await cluster.add();
        await cluster.meshed();
        await pause(10 * o.intervalMs);
        figures.rate_during_join = round3(rate(t0, performance.now()));
        break;
      }
      case 'leave': {
        const t0 = performance.now();
        await breakOne('left', (n) => cluster.leave(n), 5);
        figures.rate_during_leave = round3(rate(t0, performance.now()));
        break;
      }
      case 'partition': {
        // Writes on both sides while cut off; after the heal, both survive everywhere.
        const cut = Math.max(1, Math.floor(running.length / 2));
        const [a, b] = [running.slice(0, cut), running.slice(cut)];
        // The removed origin is one both sides hold: a remove of an id B never saw changes nothing.
        const victim = pick([...expected.keys()]);
        await cluster.partition(a, b);
        await newOrigin(pick(a));
        await removeOrigin(pick(b), victim);
        await newOrigin(pick(b));
        await pause(o.partitionMs);
        const healed = performance.now();
        await cluster.heal();
        figures.members_after_heal_ms = Math.round(await cluster.meshed());
        const want = [...expected.keys()].sort().join();
        await cluster.until(async () => (await cluster.views()).every((v) => [...v.keys()].join() === want), 'origins agree after the heal', CONVERGE_LIMIT_MS);
        figures.converged_after_heal_ms = Math.round(performance.now() - healed);
        break;
      }
      case 'skew': {
        // One node's wall clock 30 s off: what it adds and removes still orders with the rest.
        const skewed = pick(running);
        const other = pick(running.filter((x) => x !== skewed)) ?? skewed;
        await cluster.skew(skewed, random.int(2) === 0 ? 30_000 : -30_000);
        const a = await newOrigin(skewed);
        await cluster.until(async () => (await cluster.views()).every((v) => v.has(a)), 'the skewed add is seen', CONVERGE_LIMIT_MS);
        await removeOrigin(other, a);
        const b = await newOrigin(other);
        await cluster.until(async () => (await cluster.views()).every((v) => v.has(b)), 'the add is seen', CONVERGE_LIMIT_MS);
        await removeOrigin(skewed, b);
        await newOrigin(skewed);
        // Verdicts written with the skewed clock, then by others after it: still one order.
        await pause(3 * o.intervalMs);
        await cluster.skew(skewed, 0);
        break;
      }
    }
    // Everyone else's origins keep being probed through it (a restart of all stops everything).
    if (name !== 'restart-all') {
      const others = present.filter((id) => expected.has(id) && !affected.includes(id));
      figures.others_gap_max_ms = Math.round(Math.max(0, ...others.map((id) => Math.max(...farm.gaps(`/${id}`, start, performance.now())))));
    }
    const { figures: after, violations } = await check(performance.now());
    figures.scenario_ms = Math.round(performance.now() - start);
    return { name, figures: { ...figures, ...after }, violations };
  };

  try {
    o.log(`chaos: seed ${o.seed}, ${o.nodes} nodes (${o.profile}), ${o.origins} origins every ${o.intervalMs} ms`);
    await cluster.start(o.nodes);
    for (let i = 0; i < o.origins; i++) await newOrigin(cluster.answering()[i % o.nodes]!, random.next() < o.failingShare);
    const warm = await check(performance.now());
    if (warm.violations.length) throw new Error(`the cluster never settled: ${warm.violations.join('; ')}`);
    o.log(`settled: ${o.origins} origins agreed on every node after ${warm.figures.converge_ms} ms`);
    const deadline = performance.now() + (o.untilMs ?? 0);
    const queue = [...o.scenarios];
    while (queue.length > 0 || performance.now() < deadline) {
      const name = queue.shift() ?? pick(ALL_SCENARIOS.filter(sizeAllows));
      // A scenario that cannot finish (a hang guard expired) is a violation; the run stops there.
      const r = await scenario(name).catch((e: unknown): ScenarioResult => ({ name, figures: {}, violations: [`did not finish: ${(e as Error).message}`] }));
      results.push(r);
      o.log(`${name}: ${Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(' ')}${r.violations.length ? `  VIOLATIONS: ${r.violations.join('; ')}` : ''}`);
      if (r.figures.scenario_ms === undefined) break;
      farm.forgetBefore(performance.now() - 120_000);
    }
  } finally {
    await cluster.close();
    await farm.close();
  }
  return { seed: o.seed, results, resources: [...resources.values()] };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
