import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROFILES } from '../../src/membership/profile.js';
import { Sim, type SimNode } from './harness.js';

/**
 * Partitions: each side declares the other dead, and once the network heals the cluster merges
 * back by itself (dead members are re-contacted every reconnectIntervalMs), with no join or meet.
 */

const lan = PROFILES.lan;

function sidesSeeEachOther(a: SimNode[], b: SimNode[], state: string): boolean {
  return a.every((x) => b.every((y) => x.membership.get(y.id)?.state === state));
}

test('a 5/5 partition: each side declares the other dead, then re-merges by itself after heal (seed 301)', async (t) => {
  const sim = new Sim(301);
  await sim.formCluster(10);
  const a = sim.nodes.slice(0, 5);
  const b = sim.nodes.slice(5);
  sim.network.partition(a.map((n) => n.address), b.map((n) => n.address));

  const split = await sim.until(() => sidesSeeEachOther(a, b, 'dead') && sidesSeeEachOther(b, a, 'dead'), 60_000);
  t.diagnostic(`each side holds the other dead after ${split} ms`);
  // Within each side everyone is still alive.
  for (const side of [a, b]) assert.ok(sidesSeeEachOther(side, side, 'alive'));
  // Two minutes of split, as in REFERENCE 4.7 target 7, past gossip-to-the-dead.
  await sim.run(120_000 - split);
  assert.ok(sidesSeeEachOther(a, b, 'dead') && sidesSeeEachOther(b, a, 'dead'), 'still split while partitioned');

  sim.network.heal();
  const merged = await sim.until(() => sim.everyoneAlive(10) && sim.digests().size === 1, 120_000);
  t.diagnostic(`one view, everyone alive ${merged} ms after heal (reconnect every ${lan.reconnectIntervalMs} ms)`);
  assert.ok(merged <= 30_000, `re-merge took ${merged} ms (target 30 s)`);
  const deaths = sim.record((c) => c.member.state === 'dead');
  await sim.run(30_000);
  assert.deepEqual(deaths, [], 'nothing dies again after the merge');
  assert.equal(sim.digests().size, 1);
});

test('a 10/10 partition of 2 minutes at N = 20 heals into one view (seed 302)', async (t) => {
  const sim = new Sim(302);
  await sim.formCluster(20);
  const a = sim.nodes.filter((n) => n.index % 2 === 0);
  const b = sim.nodes.filter((n) => n.index % 2 === 1);
  sim.network.partition(a.map((n) => n.address), b.map((n) => n.address));
  await sim.until(() => sidesSeeEachOther(a, b, 'dead') && sidesSeeEachOther(b, a, 'dead'), 60_000);
  await sim.run(120_000);
  sim.network.heal();
  const merged = await sim.until(() => sim.everyoneAlive(20) && sim.digests().size === 1, 120_000);
  t.diagnostic(`one view ${merged} ms after heal`);
  assert.ok(merged <= 30_000, `re-merge took ${merged} ms (target 30 s)`);
});

test('a one-way partition does not leave a permanently split view once it heals (seed 303)', async (t) => {
  const sim = new Sim(303);
  await sim.formCluster(10);
  const a = sim.nodes.slice(0, 5);
  const b = sim.nodes.slice(5);
  // Nothing from A reaches B; B still reaches A.
  sim.network.partitionOneWay(a.map((n) => n.address), b.map((n) => n.address));
  const split = await sim.until(() => sidesSeeEachOther(b, a, 'dead'), 60_000);
  t.diagnostic(`B holds all of A dead after ${split} ms`);
  await sim.run(60_000);
  assert.ok(sidesSeeEachOther(b, a, 'dead'), 'B cannot hear A, so A stays dead to B');
  t.diagnostic(`during the one-way partition A sees B as: ${[...new Set(a.flatMap((x) => b.map((y) => x.membership.get(y.id)?.state)))].join(', ')}`);

  sim.network.heal();
  const merged = await sim.until(() => sim.everyoneAlive(10) && sim.digests().size === 1, 120_000);
  t.diagnostic(`one view, everyone alive ${merged} ms after heal`);
  assert.ok(merged <= 30_000, `re-merge took ${merged} ms`);
  const deaths = sim.record((c) => c.member.state === 'dead');
  await sim.run(30_000);
  assert.deepEqual(deaths, [], 'nothing dies again after the merge');
});

/**
 * A one-way cut shorter than the suspicion timeout. Seed 304 is a regression test (found by it,
 * fixed in 666340a, membership.ts answerAccusation): the nodes of A refute B's suspicions during
 * the cut, but their alive messages cannot cross and run out of retransmits; a suspect or dead
 * about ourselves at an incarnation older than our own used to be dropped silently, so after the
 * heal B's suspicions ran on, the buddy pings carrying them were ignored, and B declared healthy A
 * nodes dead (17 of 20 seeds at N = 10). Such a stale accusation is now answered with our alive.
 *
 * Seed 1 is a regression test too (found by it, fixed in 7452160, membership.ts probe()): A3
 * suspected B9 during the cut (A -> B is blocked, so A's probes of B fail) and every suspect
 * message about B9 sent then was lost on the way to B. After the heal nothing told B9: A3, the
 * accuser, did not probe B9 at once, and B9's turn in A3's round-robin (9 members x 450 ms) came
 * after the timer, shortened to its 1.8 s minimum by the other A nodes' confirmations, had run
 * out, so A3 declared B9 dead at 2.4 s (4 of seeds 1-20). Suspects are now pinged every period,
 * each ping carrying the suspicion, so B9 hears it and refutes in time.
 */
for (const seed of [304, 1]) {
  test(`a short one-way partition (under the suspicion timeout) is absorbed without deaths (seed ${seed})`, async () => {
    const sim = new Sim(seed);
    await sim.formCluster(10);
    const a = sim.nodes.slice(0, 5);
    const b = sim.nodes.slice(5);
    const deaths = sim.record((c) => c.member.state === 'dead');
    sim.network.partitionOneWay(a.map((n) => n.address), b.map((n) => n.address));
    await sim.run(1_000);
    sim.network.heal();
    await sim.run(30_000);
    assert.deepEqual(deaths.map((c) => `${Math.round(c.at)} ms: ${c.observer.slice(0, 6)} says ${c.member.id.slice(0, 6)} dead @${c.member.incarnation}`), []);
    assert.ok(sim.everyoneAlive(10));
    assert.equal(sim.digests().size, 1);
  });
}

// REFERENCE 4.7 target 7 at N = 100. Regression test (found by it, fixed by 7452160 as a side
// effect of probing suspects every period): everyone held everyone alive 7 s after the heal, but
// node 0 still held node 21 at incarnation 1; node 21 had refuted (incarnation 2) when it learned
// the other side held it dead, and none of that alive's retransmits reached node 0, which had it
// alive already. Only push-pull (every 90 s at N = 100) corrected it: one digest after 70 s.
test('a 50/50 partition of 2 minutes at N = 100 heals into one view within 30 s (seed 701)', async (t) => {
  const sim = new Sim(701);
  await sim.formCluster(100);
  const a = sim.nodes.slice(0, 50);
  const b = sim.nodes.slice(50);
  sim.network.partition(a.map((n) => n.address), b.map((n) => n.address));
  await sim.run(120_000);
  sim.network.heal();
  // Gives up at 30 s (until throws), so a failure costs no more simulated time than needed.
  const alive = await sim.until(() => sim.everyoneAlive(100), 30_000, 20);
  t.diagnostic(`everyone alive everywhere ${alive} ms after heal`);
  const merged = alive + (await sim.until(() => sim.digests().size === 1, 30_000 - alive, 20));
  t.diagnostic(`one digest ${merged} ms after heal`);
});
