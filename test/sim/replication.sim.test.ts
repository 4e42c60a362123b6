import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareStamps, type Stamp } from '../../src/crdt/hlc.js';
import type { Entry } from '../../src/crdt/lww-set.js';
import { SPEC_DEFAULTS, type OriginSpec } from '../../src/probe/spec.js';
import { Sim, type SimNode } from './harness.js';

const spec = (url: string): OriginSpec => ({ ...SPEC_DEFAULTS, headers: [], url });
const DAY = 86_400_000;
const timers = { antiEntropyIntervalMs: 1000, gcIntervalMs: 60_000, tombstoneGraceMs: 7 * DAY };

test('an origin added on one node is on all 10 within moments', async () => {
  const sim = new Sim(11).replicate(timers);
  await sim.formCluster(10);
  const start = sim.clock.now();
  sim.nodes[3]!.replica!.origins.add('web-1', spec('http://127.0.0.1:8080/'));
  const took = await sim.until(() => sim.live().every((n) => n.replica!.origins.set.value('web-1')), 5_000, 1);
  assert.ok(took < 500, `took ${took} ms`);
  assert.equal(sim.setDigests('origins').size, 1);
  void start;
});

test('concurrent adds and removes on both sides of a partition converge after it heals', async () => {
  const sim = new Sim(12).replicate(timers);
  await sim.formCluster(6);
  const [a, b] = [sim.nodes.slice(0, 3), sim.nodes.slice(3)];
  for (let i = 0; i < 20; i++) a[0]!.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 20), 5_000);
  sim.network.partition(a.map((n) => n.address), b.map((n) => n.address));
  for (let i = 0; i < 10; i++) a[1]!.replica!.origins.remove(`o${i}`);
  await sim.run(100);
  for (let i = 5; i < 15; i++) b[1]!.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${7000 + i}/`));
  for (let i = 20; i < 25; i++) b[2]!.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${7000 + i}/`));
  await sim.run(5_000);
  sim.network.heal();
  await sim.until(() => sim.setDigests('origins').size === 1, 60_000);
  // Adds made after the removes win for o5..o9: o0..o4 removed, the rest present.
  const present = [...sim.nodes[0]!.replica!.origins.set.entries()].filter((e) => !e.removed).map((e) => e.id).sort();
  assert.deepEqual(present, [...Array(20).keys()].map((i) => `o${i + 5}`).sort());
});

// --- Repair, loss, skew, restarts and bytes -------------------------------------------------------

const converged = (sim: Sim) => sim.setDigests('origins').size === 1 && sim.setDigests('health').size === 1;
const present = (n: SimNode) => [...n.replica!.origins.set.entries()].filter((e) => !e.removed).map((e) => e.id).sort();
const originEntry = (id: string, stamp: Stamp, url: string): Entry<OriginSpec> => {
  const value = spec(url);
  return { id, stamp, removed: false, value, bytes: Buffer.from(JSON.stringify(value)) };
};

/** Restarts every given node from its disk and joins it (again) through `via`. */
function restartAndJoin(sim: Sim, nodes: SimNode[], via: () => SimNode): SimNode[] {
  return nodes.map((n) => {
    const fresh = sim.restart(n);
    if (fresh !== via()) void fresh.membership.join([via().address]);
    return fresh;
  });
}

test('nodes restarted from their disks are repaired: a missed delete, a missed add, a tombstone-only key', async () => {
  const sim = new Sim(21).replicate(timers);
  await sim.formCluster(6);
  const writer = sim.nodes[0]!;
  const origins = () => writer.replica!.origins;
  for (let i = 0; i < 10; i++) origins().add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 10), 5_000);
  const [missedDelete, missedAdd, tombstoneOnly] = [sim.nodes[3]!, sim.nodes[4]!, sim.nodes[5]!];

  sim.kill(missedDelete);
  origins().remove('o1');
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.value('o1') === undefined), 5_000);
  sim.kill(missedAdd);
  origins().add('late', spec('http://127.0.0.1:9999/'));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.value('late')), 5_000);
  sim.kill(tombstoneOnly);
  origins().add('t', spec('http://127.0.0.1:9998/'));
  await sim.run(50);
  origins().remove('t');
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.get('t')?.removed), 5_000);
  await sim.run(2_000);

  const [d, a, t] = restartAndJoin(sim, [missedDelete, missedAdd, tombstoneOnly], () => sim.nodes[0]!);
  // Straight from their disks: each holds what it held when killed.
  assert.ok(d!.replica!.origins.set.value('o1'), 'the disk replay kept o1 (the delete was missed)');
  assert.equal(a!.replica!.origins.set.get('late'), undefined);
  assert.equal(t!.replica!.origins.set.get('t'), undefined);

  await sim.until(() => sim.everyoneAlive(6) && converged(sim), 30_000);
  assert.equal(d!.replica!.origins.set.get('o1')?.removed, true, 'missed delete repaired');
  assert.equal(a!.replica!.origins.set.value('late')?.url, 'http://127.0.0.1:9999/', 'missed add repaired');
  assert.equal(t!.replica!.origins.set.get('t')?.removed, true, 'tombstone-only key repaired');
  for (const n of sim.live()) assert.deepEqual(present(n), ['late', 'o0', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9']);
});

test('30% packet loss on every link, 50 adds: anti-entropy repairs what gossip lost', async (t) => {
  const sim = new Sim(22).replicate(timers);
  await sim.formCluster(5);
  sim.network.setDefaults({ delayMs: 1, jitterMs: 1, lossRate: 0.3 });
  for (let i = 0; i < 50; i++) {
    sim.nodes[i % 5]!.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
    await sim.run(20);
  }
  const took = await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 50) && converged(sim), 30_000);
  const stats = sim.live().map((n) => n.replicator!.stats);
  const repaired = stats.reduce((n, s) => n + s.recordsRepaired, 0);
  const applied = stats.reduce((n, s) => n + s.deltasApplied, 0);
  t.diagnostic(`converged ${took} ms after the last add; records repaired by anti-entropy: ${repaired}; deltas applied: ${applied}`);
  for (const n of sim.live()) assert.equal(n.replica!.origins.set.size, 50);
  assert.ok(repaired > 0, 'some records arrived only through anti-entropy');
});

test('clock skew (one node 30 s behind, one 30 s ahead): writes converge and a later write wins', async () => {
  const skew = (i: number) => (i === 1 ? -30_000 : i === 2 ? 30_000 : 0);
  const sim = new Sim(23).replicate({ ...timers, wallSkewMs: skew });
  await sim.formCluster(4);
  const [, behind, ahead] = [sim.nodes[0]!, sim.nodes[1]!, sim.nodes[2]!];
  // Writes from every node, converging.
  for (const [i, n] of sim.nodes.entries()) n.replica!.origins.add(`from-${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 4) && converged(sim), 10_000);
  // The node ahead writes x; once the node behind holds it, the node behind overwrites it.
  ahead.replica!.origins.add('x', spec('http://127.0.0.1:7001/'));
  await sim.until(() => behind.replica!.origins.set.value('x') !== undefined, 5_000);
  await sim.run(100);
  behind.replica!.origins.add('x', spec('http://127.0.0.1:7002/'));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.value('x')?.url === 'http://127.0.0.1:7002/'), 5_000);
  await sim.until(() => converged(sim), 10_000);
  const winner = behind.replica!.origins.set.get('x')!;
  assert.equal(winner.stamp.node, behind.id);
  assert.ok(winner.stamp.wall > sim.clock.wallNow() + skew(1), 'stamped past its own (slow) wall clock');
  // Its clock itself moved (not just the one element): a write to another element orders after
  // everything it has seen from the node ahead.
  const seen = ahead.replica!.origins.set.get(`from-2`)!.stamp;
  const y = behind.replica!.origins.add('y', spec('http://127.0.0.1:7003/'));
  assert.ok(compareStamps(y.stamp, seen) > 0 && compareStamps(y.stamp, winner.stamp) > 0);
  // And the node ahead removes it later still: the remove wins too.
  await sim.run(100);
  ahead.replica!.origins.remove('x');
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.get('x')?.removed) && converged(sim), 10_000);
  for (const n of sim.live()) assert.deepEqual(present(n), ['from-0', 'from-1', 'from-2', 'from-3', 'y']);
});

test('whole-cluster restart from the disks keeps every origin and resurrects none', async () => {
  // A short grace period so that tombstones are collected within the test.
  const sim = new Sim(24).replicate({ antiEntropyIntervalMs: 1000, gcIntervalMs: 2_000, tombstoneGraceMs: 20_000 });
  await sim.formCluster(5);
  const writer = sim.nodes[0]!;
  for (let i = 0; i < 30; i++) writer.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 30), 5_000);
  // Long enough for every node's syncedAt (logged at most every tenth of the grace) to be logged past the adds.
  await sim.run(3_000);
  // Node 4 is down while o0..o9 are removed and their tombstones collected everywhere else.
  sim.kill(sim.nodes[4]!);
  for (let i = 0; i < 10; i++) writer.replica!.origins.remove(`o${i}`);
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 20), 5_000);
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.records === 20), 40_000);
  // Back with its stale adds, and stale: it drops them when it reconciles with a current node.
  const [stale] = restartAndJoin(sim, [sim.nodes[4]!], () => sim.nodes[0]!);
  assert.equal(stale!.replica!.origins.set.size, 30);
  assert.ok(stale!.replica!.staleNextTo(sim.nodes[0]!.replica!.currency), 'node 4 is stale next to the cluster');
  await sim.until(() => sim.everyoneAlive(5) && converged(sim), 30_000);
  const expected = [...Array(20).keys()].map((i) => `o${i + 10}`).sort();
  for (const n of sim.live()) assert.deepEqual(present(n), expected);
  await sim.run(3_000); // the stats count an exchange once its last reply is in
  assert.equal(stale!.replicator!.stats.recordsDropped, 10);
  for (const n of sim.nodes.slice(0, 4)) assert.equal(n.replicator!.stats.recordsDropped, 0, `node ${n.index} dropped records`);

  for (const n of sim.nodes) sim.kill(n);
  const fresh = restartAndJoin(sim, [...sim.nodes], () => sim.nodes[0]!);
  // Straight from the disks, before any exchange: every origin kept, none resurrected, and every
  // node current (its logged syncedAt within the grace period), so none is taken for stale.
  const wall = sim.clock.wallNow();
  for (const n of fresh) {
    assert.deepEqual(present(n), expected, `node ${n.index} right after the restart`);
    for (let i = 0; i < 30; i++) assert.equal(n.replica!.origins.set.value(`o${i}`)?.url, i < 10 ? undefined : `http://127.0.0.1:${9000 + i}/`);
    const age = wall - n.replica!.syncedAt;
    assert.ok(n.replica!.syncedAt > 0 && age <= 20_000, `node ${n.index} comes back ${age} ms behind`);
  }
  await sim.until(() => sim.everyoneAlive(5) && converged(sim), 30_000);
  for (const n of fresh) assert.equal(n.replicator!.stats.recordsDropped, 0);
  for (const n of fresh) assert.equal(sim.clock.wallNow() - n.replica!.syncedAt < 20_000, true, `node ${n.index} is current again`);
  await sim.run(5_000);
  for (const n of sim.live()) assert.deepEqual(present(n), expected, `node ${n.index} after the cluster re-formed`);
  assert.equal(sim.setDigests('origins').size, 1);
});

test('bytes: 3 nodes with 100,000 origins, 10 differences: one anti-entropy round vs the snapshot', async () => {
  const sim = new Sim(25).replicate(timers);
  await sim.formCluster(3);
  const base = sim.clock.wallNow() - 86_400_000;
  const origin = 'ab'.repeat(20);
  const entries: Entry<OriginSpec>[] = [];
  for (let i = 0; i < 100_000; i++) {
    entries.push(originEntry(`origin-${i}`, { wall: base + i, counter: 0, node: origin }, `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080/health`));
  }
  for (const n of sim.nodes) for (const e of entries) n.replica!.origins.merge(e, false);
  await sim.until(() => converged(sim), 5_000);
  // Quiet the periodic exchanges, then make 10 differences on node 0 that gossip does not carry
  // (merged records: 4 adds, 3 removes, 3 changed values).
  for (const n of sim.nodes) n.replicator!.stop();
  await sim.run(500);
  const [a, b] = [sim.nodes[0]!, sim.nodes[1]!];
  const now = sim.clock.wallNow();
  const me = a.id;
  for (let i = 0; i < 4; i++) a.replica!.origins.merge(originEntry(`new-${i}`, { wall: now, counter: i, node: me }, `http://new-${i}.example/`));
  for (let i = 0; i < 3; i++) a.replica!.origins.merge({ id: `origin-${500 + i}`, stamp: { wall: now, counter: 10 + i, node: me }, removed: true, value: null, bytes: Buffer.alloc(0) });
  for (let i = 0; i < 3; i++) a.replica!.origins.merge(originEntry(`origin-${900 + i}`, { wall: now, counter: 20 + i, node: me }, `http://changed-${i}.example/`));
  assert.notEqual(a.replica!.origins.set.root().join(':'), b.replica!.origins.set.root().join(':'));

  const s0 = { ...a.replicator!.stats };
  let done: boolean | undefined;
  void a.replicator!.antiEntropy(b.id).then((ok) => (done = ok));
  await sim.until(() => done !== undefined, 5_000);
  assert.equal(done, true);
  const s1 = a.replicator!.stats;
  assert.equal(s1.exchanges - s0.exchanges, 1, 'one round');
  assert.deepEqual(a.replica!.origins.set.root(), b.replica!.origins.set.root());
  const exchanged = s1.exchangeBytesOut - s0.exchangeBytesOut + (s1.exchangeBytesIn - s0.exchangeBytesIn);
  const snapshotBytes = [...a.replica!.snapshot()].flat().reduce((n, p) => n + p.length, 0);
  const line =
    `anti-entropy bytes (sim, 3 nodes, 100,000 origins, 10 differences): out ${s1.exchangeBytesOut - s0.exchangeBytesOut} + ` +
    `in ${s1.exchangeBytesIn - s0.exchangeBytesIn} = ${exchanged} bytes in one round; snapshot ${snapshotBytes} bytes; ` +
    `ratio ${((exchanged / snapshotBytes) * 100).toFixed(3)}%`;
  console.log(line);
  assert.ok(exchanged / snapshotBytes < 0.01);
});

test('a node joining a cluster with 2,000 origins 30 days old copies them all, and nobody loses any', async () => {
  const sim = new Sim(26).replicate(timers);
  await sim.formCluster(3);
  const old = sim.clock.wallNow() - 30 * DAY;
  const entries = [...Array(2000).keys()].map((i) => originEntry(`o${i}`, { wall: old + i, counter: 0, node: 'cd'.repeat(20) }, `http://127.0.0.1:${10000 + i}/`));
  for (const n of sim.nodes) for (const e of entries) n.replica!.origins.merge(e, false);
  await sim.run(3_000);
  const current = (n: SimNode) => n.replica!.syncedAt > 0 && sim.clock.wallNow() - n.replica!.syncedAt <= timers.tombstoneGraceMs;
  assert.ok(sim.nodes.every(current), 'the founding nodes are current through their exchanges');
  const newcomer = sim.add();
  assert.equal(newcomer.replica!.syncedAt, 0);
  void newcomer.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => sim.everyoneAlive(4) && newcomer.replica!.origins.set.size === 2000 && converged(sim), 30_000);
  await sim.run(3_000);
  for (const n of sim.live()) assert.equal(n.replica!.origins.set.size, 2000, `node ${n.index}`);
  for (const n of sim.live()) assert.equal(n.replicator!.stats.recordsDropped, 0, `node ${n.index} dropped records`);
  assert.ok(current(newcomer));
});

// --- The tombstone rule: a node away longer than the grace period --------------------------------

/** Short periods so that a grace period passes within the test. */
const shortGrace = { antiEntropyIntervalMs: 1000, gcIntervalMs: 2_000, tombstoneGraceMs: 20_000 };

/**
 * 5 nodes with o0..o9; node 4 goes down; the cluster removes o0..o2 and adds `n`; their
 * tombstones are collected everywhere (more than the grace period later). Returns the dead node.
 */
async function awayScenario(seed: number) {
  const sim = new Sim(seed).replicate(shortGrace);
  await sim.formCluster(5);
  const writer = sim.nodes[0]!;
  for (let i = 0; i < 10; i++) writer.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 10) && converged(sim), 5_000);
  await sim.run(3_000);
  const away = sim.nodes[4]!;
  sim.kill(away);
  for (let i = 0; i < 3; i++) writer.replica!.origins.remove(`o${i}`);
  writer.replica!.origins.add('n', spec('http://127.0.0.1:9100/'));
  await sim.until(() => sim.live().every((n) => n.replica!.origins.set.records === 8), 40_000);
  await sim.run(2_000);
  return { sim, away };
}

const REMOVED = ['o0', 'o1', 'o2'];
const AFTER = ['n', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9'];

/** Fails at once if a node other than those allowed holds a removed origin (a resurrection). */
function noResurrection(sim: Sim, allowed: SimNode[]): boolean {
  for (const n of sim.live()) {
    if (allowed.includes(n)) continue;
    for (const id of REMOVED) assert.equal(n.replica!.origins.set.get(id), undefined, `node ${n.index} resurrected ${id}`);
  }
  return true;
}

test('a node away longer than the grace period drops what was removed meanwhile, resurrects nothing, and keeps its own later write', async () => {
  const { sim, away } = await awayScenario(31);
  // Restarted from its disk, on its own: it writes before it meets anyone.
  const back = sim.restart(away);
  assert.deepEqual(present(back), [...Array(10).keys()].map((i) => `o${i}`));
  const cluster = sim.live().filter((n) => n !== back);
  assert.ok(back.replica!.staleNextTo(cluster[0]!.replica!.currency), 'stale next to the cluster');
  back.replica!.origins.add('mine', spec('http://127.0.0.1:9200/'));
  const removals: string[] = [];
  back.replica!.origins.onChange((after, before) => {
    if (after.removed && before && !before.removed) removals.push(after.id);
  });
  void back.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => noResurrection(sim, [back]) && sim.everyoneAlive(5) && converged(sim), 30_000);
  await sim.run(5_000);
  noResurrection(sim, []);
  for (const n of sim.live()) assert.deepEqual(present(n), [...AFTER, 'mine'].sort(), `node ${n.index}`);
  assert.deepEqual(removals.sort(), REMOVED, 'listeners (heck:origins) saw the drops as removals');
  assert.equal(back.replicator!.stats.recordsDropped, 3);
  for (const n of cluster) assert.equal(n.replicator!.stats.recordsDropped, 0, `node ${n.index} dropped records`);
  assert.ok(sim.clock.wallNow() - back.replica!.syncedAt < shortGrace.tombstoneGraceMs, 'current again');
  // The drops are on its disk: restarted once more, it comes back without them.
  const again = sim.restart(back);
  assert.deepEqual(present(again), [...AFTER, 'mine'].sort());
  for (const id of REMOVED) assert.equal(again.replica!.origins.set.get(id), undefined);
});

test('a new node that first copies the stale node inherits its staleness, and is reconciled when it meets the cluster', async () => {
  for (const seed of [32, 33, 34, 35]) await copiesTheStaleNodeFirst(seed);
});

async function copiesTheStaleNodeFirst(seed: number) {
  const { sim, away } = await awayScenario(seed);
  const back = sim.restart(away);
  const staleCurrency = back.replica!.currency;
  // A new node that knows only the stale node copies everything from it, and its staleness.
  const newcomer = sim.add();
  void newcomer.membership.join([back.address]);
  // Until that exchange is complete: answered (the copy arrives with the last step), or run (it
  // counts what it received once the push is answered).
  const stats = newcomer.replicator!.stats;
  await sim.until(() => newcomer.replica!.origins.set.size === 10 && (stats.exchangesAnswered === 3 || stats.recordsRepaired === 10), 10_000);
  assert.equal(stats.exchanges + stats.exchangesAnswered / 3, 1, `seed ${seed}: one exchange so far`);
  assert.deepEqual(newcomer.replica!.currency, { syncedAt: staleCurrency.syncedAt, since: 0 }, `seed ${seed}: it inherited the staleness (not the history)`);
  assert.deepEqual(back.replica!.currency, staleCurrency, 'the stale node stays stale');
  assert.ok(newcomer.replica!.staleNextTo(sim.nodes[0]!.replica!.currency));
  // The stale node goes down again before the two exchange once more (two stale replicas would
  // pick up where they stopped: see the known limits in the unit tests); the newcomer meets the cluster.
  sim.kill(back);
  void newcomer.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => noResurrection(sim, [newcomer]) && sim.everyoneAlive(5) && converged(sim), 30_000);
  await sim.run(3_000);
  noResurrection(sim, []);
  for (const n of sim.live()) assert.deepEqual(present(n), AFTER, `node ${n.index}`);
  assert.equal(newcomer.replicator!.stats.recordsDropped, 3);
  // The stale node comes back once more (from its disk, still stale) and is reconciled too.
  const again = sim.restart(back);
  void again.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => noResurrection(sim, [again]) && sim.everyoneAlive(6) && converged(sim), 30_000);
  await sim.run(3_000);
  noResurrection(sim, []);
  for (const n of sim.live()) assert.deepEqual(present(n), AFTER, `node ${n.index}`);
  assert.equal(again.replicator!.stats.recordsDropped, 3);
  for (const n of sim.nodes.slice(0, 4)) assert.equal(n.replicator!.stats.recordsDropped, 0);
  for (const n of sim.live()) assert.ok(sim.clock.wallNow() - n.replica!.syncedAt < shortGrace.tombstoneGraceMs, `node ${n.index} is current`);
}

test('a cluster of 3 removes x and collects its tombstone; a 4th node, off for longer than the grace period, comes back: x never resurrects', async () => {
  for (const seed of [41, 42, 43]) {
    const sim = new Sim(seed).replicate(shortGrace);
    await sim.formCluster(4);
    const writer = sim.nodes[0]!;
    for (const id of ['x', 'keep-1', 'keep-2']) writer.replica!.origins.add(id, spec(`http://127.0.0.1:9000/${id}`));
    await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === 3) && converged(sim), 5_000);
    // Long enough for the 4th node's syncedAt (logged at most every tenth of the grace) to be logged past the adds.
    await sim.run(3_000);
    const fourth = sim.nodes[3]!;
    sim.kill(fourth);
    writer.replica!.origins.remove('x');
    const cluster = sim.live();
    await sim.until(() => cluster.every((n) => n.replica!.origins.set.get('x') === undefined), 40_000);
    await sim.run(2_000);
    const back = sim.restart(fourth);
    assert.ok(back.replica!.origins.set.value('x'), `seed ${seed}: it comes back holding x`);
    assert.ok(sim.clock.wallNow() - back.replica!.syncedAt > shortGrace.tombstoneGraceMs, 'off for longer than the grace period');
    assert.ok(back.replica!.staleNextTo(cluster[0]!.replica!.currency), 'stale next to the cluster');
    const xIsGone = () => {
      for (const n of cluster) assert.equal(n.replica!.origins.set.get('x'), undefined, `seed ${seed}: node ${n.index} resurrected x`);
      return true;
    };
    void back.membership.join([cluster[seed % 3]!.address]);
    await sim.until(() => xIsGone() && sim.everyoneAlive(4) && converged(sim), 30_000);
    for (let i = 0; i < 50; i++) {
      await sim.run(100);
      xIsGone();
    }
    for (const n of sim.live()) assert.deepEqual(present(n), ['keep-1', 'keep-2'], `seed ${seed}: node ${n.index}`);
    assert.equal(back.replica!.origins.set.get('x'), undefined, 'dropped, not just removed');
    assert.equal(back.replicator!.stats.recordsDropped, 1);
    for (const n of cluster) assert.equal(n.replicator!.stats.recordsDropped, 0);
    assert.ok(sim.clock.wallNow() - back.replica!.syncedAt < shortGrace.tombstoneGraceMs, 'current again');
  }
});

test('a lone survivor, alone for longer than the grace period, and two new nodes: every origin is kept on all three, nothing dropped', async () => {
  // Few origins (one round copies them) and many (a copy takes several rounds: with seeds 61 and 64
  // the survivor lost most of them when a partial copy could claim its history).
  const runs = [[51, true, 6], [52, false, 6], [53, true, 300], [61, false, 300], [64, false, 300], [65, false, 300]] as const;
  for (const [seed, newNodesMeetFirst, old] of runs) {
    const sim = new Sim(seed).replicate(shortGrace);
    await sim.formCluster(3);
    const [survivor, other1, other2] = sim.nodes as [SimNode, SimNode, SimNode];
    oldOrigins(sim, [survivor, other1, other2], 'old-', old);
    for (let i = 0; i < 4; i++) other1.replica!.origins.add(`o${i}`, spec(`http://127.0.0.1:${9000 + i}/`));
    await sim.until(() => sim.live().every((n) => n.replica!.origins.set.size === old + 4) && converged(sim), 5_000);
    await sim.run(3_000);
    // The others leave for good; the survivor runs alone for longer than the grace period, and writes.
    sim.kill(other1);
    sim.kill(other2);
    await sim.run(shortGrace.tombstoneGraceMs + 5_000);
    survivor.replica!.origins.add('alone', spec('http://127.0.0.1:9100/'));
    assert.ok(sim.clock.wallNow() - survivor.replica!.syncedAt > shortGrace.tombstoneGraceMs, 'the survivor is stale');
    const expected = present(survivor);
    assert.equal(expected.length, old + 5);
    const [d, e] = [sim.add(), sim.add()];
    if (newNodesMeetFirst) {
      void e.membership.join([d.address]);
      await sim.until(() => d.replica!.syncedAt > 0 && e.replica!.syncedAt > 0, 10_000);
      assert.ok(!survivor.replica!.staleNextTo(d.replica!.currency), 'their history starts after the survivor was last in sync');
      void d.membership.join([survivor.address]);
    } else {
      void d.membership.join([survivor.address]);
      void e.membership.join([survivor.address]);
    }
    const all = [survivor, d, e];
    await sim.until(() => sim.everyoneAlive(3) && all.every((n) => n.replica!.origins.set.size === old + 5) && converged(sim), 30_000);
    await sim.run(5_000);
    for (const n of all) {
      assert.deepEqual(present(n), expected, `seed ${seed}: node ${n.index}`);
      assert.equal(n.replicator!.stats.recordsDropped, 0, `seed ${seed}: node ${n.index} dropped records`);
      assert.ok(sim.clock.wallNow() - n.replica!.syncedAt < shortGrace.tombstoneGraceMs, `seed ${seed}: node ${n.index} is current`);
    }
    assert.equal(new Set(all.map((n) => n.replica!.currency.since)).size, 1, 'one history');
  }
});

// --- Nothing is dropped between current nodes --------------------------------------------------

/** `count` origins added 30 days ago (as loaded from disk) on each given node. */
function oldOrigins(sim: Sim, nodes: SimNode[], prefix: string, count: number) {
  const old = sim.clock.wallNow() - 30 * DAY;
  const by = 'cd'.repeat(20);
  for (const n of nodes) {
    for (let i = 0; i < count; i++) n.replica!.origins.merge(originEntry(`${prefix}${i}`, { wall: old + i, counter: 0, node: by }, `http://127.0.0.1:${10000 + i}/`), false);
  }
}

test('two new nodes that meet each other first, then a cluster with 2,000 origins 30 days old, copy them all; nobody drops any', async () => {
  const sim = new Sim(27).replicate(timers);
  await sim.formCluster(3);
  oldOrigins(sim, sim.nodes, 'o', 2000);
  await sim.run(3_000);
  const [d, e] = [sim.add(), sim.add()];
  void e.membership.join([d.address]);
  await sim.until(() => d.replica!.syncedAt > 0 && e.replica!.syncedAt > 0, 10_000);
  assert.equal(d.replica!.origins.set.size, 0, 'the new nodes synced with each other only');
  void d.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => sim.everyoneAlive(5) && sim.live().every((n) => n.replica!.origins.set.size === 2000) && converged(sim), 30_000);
  await sim.run(3_000);
  for (const n of sim.live()) {
    assert.equal(n.replica!.origins.set.size, 2000, `node ${n.index}`);
    assert.equal(n.replicator!.stats.recordsDropped, 0, `node ${n.index} dropped records`);
  }
});

test('two independent clusters with old origins merged (CLUSTER MEET) end with the union; nobody drops any', async () => {
  const sim = new Sim(28).replicate(timers);
  for (let i = 0; i < 6; i++) sim.add();
  const [first, second] = [sim.nodes.slice(0, 3), sim.nodes.slice(3)];
  for (const n of first.slice(1)) void n.membership.join([first[0]!.address]);
  for (const n of second.slice(1)) void n.membership.join([second[0]!.address]);
  oldOrigins(sim, first, 'first-', 500);
  oldOrigins(sim, second, 'second-', 500);
  await sim.run(5_000);
  for (const n of sim.nodes) assert.equal(n.replica!.origins.set.size, 500);
  assert.ok(sim.nodes.every((n) => n.replica!.syncedAt > 0), 'both clusters current');
  void second[0]!.membership.join([first[0]!.address]);
  await sim.until(() => sim.everyoneAlive(6) && sim.live().every((n) => n.replica!.origins.set.size === 1000) && converged(sim), 30_000);
  await sim.run(3_000);
  for (const n of sim.live()) {
    assert.equal(n.replica!.origins.set.size, 1000, `node ${n.index}`);
    assert.equal(n.replicator!.stats.recordsDropped, 0, `node ${n.index} dropped records`);
  }
});
