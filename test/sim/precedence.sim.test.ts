import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeRef } from '../../src/membership/messages.js';
import { Sim, type SimNode } from './harness.js';

/**
 * State precedence (REFERENCE 4.4, memberlist state.go) checked end to end: a scripted fake peer
 * on the simulated network sends stale, replayed or lying messages to real nodes.
 */

/** An id no node has: the accuser of hand-made suspicions. */
const LIAR = 'ab'.repeat(20);

function ref(node: SimNode, busPort = node.address.port): NodeRef {
  return { id: node.id, host: node.address.host, busPort };
}

function incarnationOf(sim: Sim, node: SimNode): number {
  return sim.live().find((n) => n !== node)!.membership.get(node.id)!.incarnation;
}

test('an old alive replayed after a dead does not revive the member (seed 501)', async () => {
  const sim = new Sim(501);
  await sim.formCluster(6);
  await sim.run(2_000);
  const victim = sim.nodes[2]!;
  sim.kill(victim);
  await sim.until(() => sim.viewsOf(victim.id).every((m) => m?.state === 'dead'), 30_000);
  const inc = incarnationOf(sim, victim);
  const revivals = sim.record((c) => c.member.id === victim.id && c.member.state !== 'dead');
  const fake = sim.injector();
  for (const n of sim.live()) {
    fake.send(n, { type: 'alive', incarnation: inc, node: ref(victim), port: 6380 });
    if (inc > 0) fake.send(n, { type: 'alive', incarnation: inc - 1, node: ref(victim), port: 6380 });
  }
  await sim.run(15_000);
  assert.deepEqual(revivals.map((c) => `${c.observer.slice(0, 6)}: ${c.member.state}`), []);
  assert.ok(sim.viewsOf(victim.id).every((m) => m?.state === 'dead' && m.incarnation === inc));
});

// Regression (found by this test, fixed in 666340a, membership.ts onAlive): an alive for a dead
// member used to be accepted at ANY incarnation as soon as its address differed from the one
// held, so a stale alive from an older life of the node (an earlier port, a lower incarnation),
// replayed by gossip or carried in a push-pull from a peer that missed the restart, brought a
// dead member back to life at a dead address (then suspected and killed again: a flap).
// REFERENCE 4.4: only a newer incarnation is news. A restarted node does not need the exception:
// the dead record it gets back from its join makes it refute with a higher incarnation.
test('a dead member is not revived by an older alive from a previous address (seed 502)', async () => {
  const sim = new Sim(502);
  await sim.formCluster(6);
  await sim.run(2_000);
  const first = sim.nodes[3]!;
  const firstBusPort = first.address.port;
  // It restarts on a new port (higher incarnation), then dies for good.
  const second = sim.restart(first);
  void second.membership.join([sim.nodes[0]!.address]);
  await sim.until(() => sim.viewsOf(second.id).every((m) => m?.state === 'alive' && m.busPort === second.address.port), 10_000);
  await sim.run(3_000);
  sim.kill(second);
  await sim.until(() => sim.viewsOf(second.id).every((m) => m?.state === 'dead'), 30_000);
  const inc = incarnationOf(sim, second);
  assert.ok(inc > 1);
  const revivals = sim.record((c) => c.member.id === second.id && c.member.state !== 'dead');
  // The alive of its first life (incarnation 1, first port) turns up again.
  sim.injector().send(sim.nodes[0]!, { type: 'alive', incarnation: 1, node: ref(second, firstBusPort), port: 6380 });
  await sim.run(5_000);
  assert.deepEqual(revivals.map((c) => `${c.observer.slice(0, 6)}: ${c.member.state} at ${c.member.busPort} inc ${c.member.incarnation}`), []);
  assert.ok(sim.viewsOf(second.id).every((m) => m?.state === 'dead' && m.incarnation === inc));
});

test('an equal-incarnation suspect of an alive member is accepted, and the member refutes it (seed 503)', async (t) => {
  const sim = new Sim(503);
  await sim.formCluster(8);
  await sim.run(2_000);
  const target = sim.nodes[5]!;
  const observer = sim.nodes[1]!;
  const inc = incarnationOf(sim, target);
  const suspected = sim.record((c) => c.member.id === target.id && c.member.state === 'suspect');
  const deaths = sim.record((c) => c.member.state === 'dead');
  sim.injector().send(observer, { type: 'suspect', incarnation: inc, id: target.id, from: LIAR });
  const took = await sim.until(() => sim.viewsOf(target.id).every((m) => m?.state === 'alive' && m.incarnation > inc), 10_000);
  t.diagnostic(`refuted everywhere after ${took} ms; ${suspected.length} observers saw it suspect`);
  assert.equal(target.membership.get(target.id)!.incarnation, inc + 1);
  // The observer took the suspect at the known incarnation as news (and the buddy ping it sent at
  // once let the target refute within a round trip or two).
  const first = suspected.find((c) => c.observer === observer.id);
  assert.ok(first, 'the observer marked it suspect');
  assert.equal(first.member.incarnation, inc);
  await sim.run(10_000);
  assert.deepEqual(deaths, []);

  // A suspicion older than the refutation is stale and changes nothing.
  const stale = sim.record((c) => c.member.id === target.id);
  for (const n of sim.live()) sim.injector().send(n, { type: 'suspect', incarnation: inc, id: target.id, from: LIAR });
  await sim.run(5_000);
  assert.deepEqual(stale, []);
  assert.ok(sim.viewsOf(target.id).every((m) => m?.state === 'alive' && m.incarnation === inc + 1));
});

test('a node refutes a suspicion about itself with a higher incarnation (seed 504)', async () => {
  const sim = new Sim(504);
  await sim.formCluster(8);
  await sim.run(2_000);
  const target = sim.nodes[6]!;
  const deaths = sim.record((c) => c.member.state === 'dead');
  sim.injector().send(target, { type: 'suspect', incarnation: 41, id: target.id, from: LIAR });
  await sim.run(20);
  assert.equal(target.membership.get(target.id)!.incarnation, 42);
  assert.equal(target.membership.get(target.id)!.state, 'alive');
  await sim.until(() => sim.viewsOf(target.id).every((m) => m?.state === 'alive' && m.incarnation === 42), 5_000);
  await sim.run(5_000);
  assert.deepEqual(deaths, []);
  assert.equal(sim.digests().size, 1);
});

test('a false dead about a live node is accepted, then refuted by the node itself (seed 505)', async (t) => {
  const sim = new Sim(505);
  await sim.formCluster(8);
  await sim.run(2_000);
  const target = sim.nodes[3]!;
  const observer = sim.nodes[0]!;
  const inc = incarnationOf(sim, target);
  // A lower incarnation is stale: ignored.
  sim.injector().send(observer, { type: 'dead', incarnation: inc - 1, id: target.id, from: LIAR });
  await sim.run(20);
  assert.equal(observer.membership.get(target.id)?.state, 'alive');
  sim.injector().send(observer, { type: 'dead', incarnation: inc, id: target.id, from: LIAR });
  await sim.run(20);
  assert.equal(observer.membership.get(target.id)?.state, 'dead');
  const took = await sim.until(() => sim.viewsOf(target.id).every((m) => m?.state === 'alive' && m.incarnation > inc), 15_000);
  t.diagnostic(`the node refuted its own death everywhere after ${took} ms`);
  assert.equal(sim.digests().size, 1);
});

test('an alive at the same incarnation with another address: ignored by peers, refuted by the node (seed 506)', async () => {
  const sim = new Sim(506);
  await sim.formCluster(8);
  await sim.run(2_000);
  const target = sim.nodes[2]!;
  const peer = sim.nodes[7]!;
  const inc = incarnationOf(sim, target);
  const impostor: NodeRef = { id: target.id, host: '10.0.200.1', busPort: 7777 };
  sim.injector().send(peer, { type: 'alive', incarnation: inc, node: impostor, port: 6380 });
  await sim.run(20);
  assert.equal(peer.membership.get(target.id)?.busPort, target.address.port, 'same incarnation is no news to a peer');
  sim.injector().send(target, { type: 'alive', incarnation: inc, node: impostor, port: 6380 });
  await sim.run(20);
  assert.equal(target.membership.get(target.id)!.incarnation, inc + 1, 'the node outbids the impostor');
  await sim.until(() => sim.viewsOf(target.id).every((m) => m?.incarnation === inc + 1 && m.busPort === target.address.port && m.state === 'alive'), 5_000);
});

test('a left member stays left whatever stale news arrives (seed 507)', async () => {
  const sim = new Sim(507);
  await sim.formCluster(8);
  await sim.run(2_000);
  const leaver = sim.nodes[5]!;
  sim.leave(leaver);
  await sim.until(() => sim.viewsOf(leaver.id).every((m) => m?.state === 'left'), 5_000);
  const inc = incarnationOf(sim, leaver);
  const changes = sim.record((c) => c.member.id === leaver.id);
  const fake = sim.injector();
  for (const n of sim.live()) {
    fake.send(n, { type: 'alive', incarnation: inc, node: ref(leaver), port: 6380 });
    fake.send(n, { type: 'suspect', incarnation: inc, id: leaver.id, from: LIAR });
    fake.send(n, { type: 'dead', incarnation: inc, id: leaver.id, from: LIAR });
  }
  await sim.run(10_000);
  assert.deepEqual(changes.map((c) => `${c.observer.slice(0, 6)}: ${c.member.state}`), []);
  assert.ok(sim.viewsOf(leaver.id).every((m) => m?.state === 'left'));
});

test('a suspect about a dead member does not bring it back to suspect (seed 508)', async () => {
  const sim = new Sim(508);
  await sim.formCluster(6);
  const victim = sim.nodes[1]!;
  sim.kill(victim);
  await sim.until(() => sim.viewsOf(victim.id).every((m) => m?.state === 'dead'), 30_000);
  const inc = incarnationOf(sim, victim);
  const changes = sim.record((c) => c.member.id === victim.id);
  for (const n of sim.live()) sim.injector().send(n, { type: 'suspect', incarnation: inc + 5, id: victim.id, from: LIAR });
  await sim.run(10_000);
  assert.deepEqual(changes, []);
});
