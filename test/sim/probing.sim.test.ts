/**
 * Probing with membership and replication on the simulator (DESIGN.md 4, 5; docs/probing.md):
 * one probe per origin per interval cluster-wide, a live owner for every origin after joins,
 * kills and leaves, a killed owner's origins picked up, double probing only while views differ,
 * and a node that suspects itself overruled by its peers while a real outage still goes down.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SPEC_DEFAULTS, type OriginSpec } from '../../src/probe/spec.js';
import { Sim, type SimNode } from './harness.js';

const INTERVAL = 1_000;
const FALL = 3;
const spec = (i: number): OriginSpec => ({ ...SPEC_DEFAULTS, headers: [], url: `http://127.0.0.1:${9000 + i}/`, intervalMs: INTERVAL, timeoutMs: 500, fall: FALL });
const timers = { antiEntropyIntervalMs: 1_000, gcIntervalMs: 60_000, tombstoneGraceMs: 7 * 86_400_000 };

/** n nodes probing `origins` origins; `up` decides what each node's probes see. */
async function probingSim(seed: number, n: number, origins: number, up: (node: SimNode, url: string) => boolean = () => true) {
  const sim = new Sim(seed).replicate(timers).probe({ up, latencyMs: 5, detailFlushMs: 10_000 });
  await sim.formCluster(n);
  for (let i = 0; i < origins; i++) sim.nodes[0]!.replica!.origins.add(`o${i}`, spec(i));
  await sim.until(() => sim.live().every((x) => x.replica!.origins.set.size === origins), 10_000);
  return sim;
}

/** Probes per origin per interval in [from, to) of virtual time. */
function rate(sim: Sim, origins: number, from: number, to: number): number {
  const hits = sim.hits.filter((h) => h.at >= from && h.at < to).length;
  return hits / origins / ((to - from) / INTERVAL);
}

/** The longest time any of `urls` went without a probe in [from, to]. */
function longestGap(sim: Sim, urls: Set<string>, from: number, to: number): number {
  const last = new Map([...urls].map((u) => [u, from]));
  let worst = 0;
  for (const h of sim.hits) {
    if (h.at < from || h.at > to || !urls.has(h.url)) continue;
    worst = Math.max(worst, h.at - last.get(h.url)!);
    last.set(h.url, h.at);
  }
  for (const at of last.values()) worst = Math.max(worst, to - at);
  return worst;
}

/** Every origin is scheduled by exactly one live node, and that node is its owner in every live view. */
function oneLiveOwnerEach(sim: Sim, origins: number): void {
  const live = sim.live();
  assert.equal(live.reduce((sum, x) => sum + x.engine!.owned, 0), origins, 'origins scheduled, summed over live nodes');
  for (let i = 0; i < origins; i++) {
    const owners = new Set(live.map((x) => x.engine!.owners(`o${i}`)[0]));
    assert.equal(owners.size, 1, `o${i}: one owner in every view`);
    assert.ok(live.some((x) => owners.has(x.id)), `o${i}: its owner is live`);
  }
}

const urlsOwnedBy = (node: SimNode, origins: number) =>
  new Set([...Array(origins).keys()].filter((i) => node.engine!.owners(`o${i}`)[0] === node.id).map((i) => spec(i).url));

test('steady state: one probe per origin per interval cluster-wide, each origin by one live owner', async () => {
  const ORIGINS = 200;
  const sim = await probingSim(51, 5, ORIGINS);
  await sim.run(3 * INTERVAL);
  const from = sim.clock.now();
  await sim.run(20 * INTERVAL);
  const r = rate(sim, ORIGINS, from, sim.clock.now());
  assert.ok(Math.abs(r - 1) <= 0.02, `probes per origin per interval: ${r.toFixed(3)}`);
  oneLiveOwnerEach(sim, ORIGINS);
});

test('a killed owner’s origins are picked up once it is declared dead; every origin keeps a live owner through kill, join and leave', async () => {
  const ORIGINS = 200;
  const sim = await probingSim(52, 5, ORIGINS);
  await sim.run(3 * INTERVAL);
  const victim = sim.nodes[2]!;
  const orphans = urlsOwnedBy(victim, ORIGINS);
  assert.ok(orphans.size > 0);
  const killedAt = sim.clock.now();
  sim.kill(victim);
  const suspected = await sim.until(() => sim.live().every((x) => x.membership.get(victim.id)?.state !== 'alive'), 30_000);
  await sim.until(() => sim.live().every((x) => x.membership.get(victim.id)?.state === 'dead'), 30_000);
  await sim.run(3 * INTERVAL);
  const gap = longestGap(sim, orphans, killedAt - INTERVAL, sim.clock.now());
  // Suspects keep their origins (DESIGN.md 4), but the best-ranked member that is not suspect
  // stands in for them: the gap is the time since the last probe before the kill (one interval),
  // plus the time until every node suspects the owner, plus a quarter interval (taken-over origins
  // are overdue: their first probes are spread over a quarter) and the jitter.
  assert.ok(gap <= suspected + 1.35 * INTERVAL, `longest gap ${gap} ms, suspected everywhere after ${suspected} ms (killed at ${killedAt})`);
  oneLiveOwnerEach(sim, ORIGINS);

  const joiner = sim.add();
  void joiner.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => sim.everyoneAlive(5), 30_000);
  await sim.until(() => joiner.replica!.origins.set.size === ORIGINS, 30_000);
  await sim.run(2 * INTERVAL);
  oneLiveOwnerEach(sim, ORIGINS);

  const leaver = sim.nodes[1]!;
  const leftOrphans = urlsOwnedBy(leaver, ORIGINS);
  const leftAt = sim.clock.now();
  sim.leave(leaver);
  await sim.until(() => sim.everyoneAlive(4), 30_000);
  await sim.run(3 * INTERVAL);
  oneLiveOwnerEach(sim, ORIGINS);
  // A graceful leave is known at once: its origins are picked up within about one interval.
  const leaveGap = longestGap(sim, leftOrphans, leftAt - INTERVAL, sim.clock.now());
  assert.ok(leaveGap <= 2.5 * INTERVAL, `longest gap after a leave ${leaveGap} ms`);
});

test('a join causes at most brief double probing while views differ', async () => {
  const ORIGINS = 300;
  const sim = await probingSim(53, 4, ORIGINS);
  await sim.run(3 * INTERVAL);
  const joinedAt = sim.clock.now();
  const joiner = sim.add();
  void joiner.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => sim.everyoneAlive(5), 30_000);
  await sim.run(10 * INTERVAL);
  const during = rate(sim, ORIGINS, joinedAt, joinedAt + 10 * INTERVAL);
  assert.ok(during <= 1.1, `probes per origin per interval over the 10 s after the join: ${during.toFixed(3)}`);
  const after = rate(sim, ORIGINS, sim.clock.now() - 5 * INTERVAL, sim.clock.now());
  assert.ok(Math.abs(after - 1) <= 0.02, `and once views agree: ${after.toFixed(3)}`);
  assert.ok(joiner.engine!.owned > 0, 'the joiner probes its share');
});

test('a node that suddenly sees every origin fail is overruled by its peers: nothing goes down anywhere', async () => {
  const ORIGINS = 100;
  let impaired: string | null = null;
  const sim = await probingSim(54, 4, ORIGINS, (node) => node.id !== impaired);
  await sim.until(() => sim.live().every((x) => [...Array(ORIGINS).keys()].every((i) => x.replica!.health.set.value(`o${i}`)?.status === 'up')), 20_000);
  const sick = sim.nodes[1]!;
  impaired = sick.id;
  const downs: string[] = [];
  for (const x of sim.live()) x.replica!.health.onChange((after) => after.value?.status === 'down' && downs.push(after.id));
  await sim.run(20 * INTERVAL);
  assert.deepEqual(downs, [], 'no origin condemned on one node’s word');
  assert.equal(sick.engine!.selfCheck.suspect, true);
  assert.ok(sick.engine!.stats.opinionsOverruled > 0, 'peers overruled it');
  const given = sim.live().reduce((s, x) => s + x.engine!.stats.opinionsGiven, 0);
  assert.ok(given >= sick.engine!.stats.opinionsOverruled, `peers gave ${given} opinions`);

  impaired = null;
  await sim.run(3 * INTERVAL);
  assert.equal(sick.engine!.selfCheck.suspect, false, 'trusts itself again once its probes succeed');
});

test('a real outage of most origins is confirmed by peers and goes down on every node within fall x interval and moments', async () => {
  const ORIGINS = 100;
  let outage = false;
  const failing = (url: string) => Number(new URL(url).port) - 9000 < 60;
  const sim = await probingSim(55, 4, ORIGINS, (_node, url) => !(outage && failing(url)));
  await sim.until(() => sim.live().every((x) => x.replica!.health.set.size === ORIGINS), 20_000);
  await sim.run(3 * INTERVAL);
  outage = true;
  const took = await sim.until(
    () => sim.live().every((x) => [...Array(60).keys()].every((i) => x.replica!.health.set.value(`o${i}`)?.status === 'down')),
    30_000,
  );
  assert.ok(took <= (FALL + 2) * INTERVAL, `all 60 down everywhere after ${took} ms`);
  const up = sim.live().every((x) => [...Array(40).keys()].every((i) => x.replica!.health.set.value(`o${i + 60}`)?.status === 'up'));
  assert.ok(up, 'the other 40 stay up');
  assert.ok(sim.live().some((x) => x.engine!.stats.opinionsAsked > 0), 'some node suspected itself and asked');
});
