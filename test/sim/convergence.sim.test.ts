import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sim } from './harness.js';

/**
 * Join and convergence on the LAN profile: every node joins through the first one, and the
 * cluster must settle on one membership digest (same members, same states, same incarnations).
 */

async function converge(seed: number, n: number): Promise<{ sim: Sim; aliveMs: number; digestMs: number }> {
  const sim = new Sim(seed);
  for (let i = 0; i < n; i++) sim.add();
  const first = sim.nodes[0]!;
  for (const node of sim.nodes.slice(1)) void node.membership.join([first.address]);
  const aliveMs = await sim.until(() => sim.everyoneAlive(n), 10_000);
  const digestMs = aliveMs + (await sim.until(() => sim.digests().size === 1, 10_000));
  return { sim, aliveMs, digestMs };
}

for (const [seed, n, boundMs] of [
  [101, 10, 2_000],
  [102, 100, 5_000],
] as const) {
  test(`${n} nodes joined through one seed reach one digest everywhere (seed ${seed})`, async (t) => {
    const { sim, aliveMs, digestMs } = await converge(seed, n);
    t.diagnostic(`N=${n}: everyone sees everyone alive after ${aliveMs} ms, one digest after ${digestMs} ms (virtual)`);
    assert.ok(digestMs <= boundMs, `took ${digestMs} ms`);
    assert.equal(sim.digests().size, 1);
    for (const node of sim.live()) {
      const list = node.membership.list();
      assert.equal(list.length, n);
      assert.ok(list.every((m) => m.state === 'alive'));
    }
    // And it stays converged: nothing flaps once the cluster is quiet.
    const changes = sim.record();
    await sim.run(10_000);
    assert.equal(changes.length, 0, `unexpected changes: ${JSON.stringify(changes.slice(0, 3))}`);
    assert.equal(sim.digests().size, 1);
  });
}

test('a join reaches every member of a 100-node cluster (seed 103)', async (t) => {
  const sim = new Sim(103);
  await sim.formCluster(100);
  await sim.run(2_000);
  const newcomer = sim.add();
  // Joins through a member other than the one everybody joined through.
  void newcomer.membership.join([sim.nodes[57]!.address]);
  const took = await sim.until(() => sim.viewsOf(newcomer.id).every((m) => m?.state === 'alive'), 30_000);
  t.diagnostic(`the join reached all 100 members after ${took} ms (virtual)`);
  assert.ok(took <= 5_000, `took ${took} ms`);
  // The newcomer itself learned the whole cluster from its one push-pull.
  assert.equal(newcomer.aliveCount, 101);
  await sim.until(() => sim.digests().size === 1, 10_000);
});

test('16 nodes converge on the local profile at 20 ms intervals (memberlist integ_test.go) (seed 104)', async (t) => {
  const sim = new Sim(104, {
    probeIntervalMs: 20,
    probeTimeoutMs: 10,
    indirectChecks: 3,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 3,
    retransmitMult: 4,
    gossipIntervalMs: 20,
    gossipNodes: 3,
    gossipToTheDeadMs: 5_000,
    pushPullIntervalMs: 5_000,
    requestTimeoutMs: 1_000,
    awarenessMaxMultiplier: 8,
    reconnectIntervalMs: 3_000,
    forgetBanMs: 60_000,
  }, { delayMs: 0.2, jitterMs: 0.3 });
  for (let i = 0; i < 16; i++) sim.add();
  for (const node of sim.nodes.slice(1)) void node.membership.join([sim.nodes[0]!.address]);
  const took = await sim.until(() => sim.everyoneAlive(16) && sim.digests().size === 1, 5_000, 1);
  t.diagnostic(`16 nodes converged after ${took} ms (virtual)`);
  assert.ok(took <= 250, `took ${took} ms`);
});
