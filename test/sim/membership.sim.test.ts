import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sim } from './harness.js';

test('10 nodes joined through one seed converge on one membership', async () => {
  const sim = new Sim(1);
  await sim.formCluster(10);
  const digests = new Set(sim.live().map((n) => n.membership.digest()));
  assert.equal(digests.size, 1);
});

test('a killed node is marked dead by every survivor', async () => {
  const sim = new Sim(2);
  await sim.formCluster(10);
  const victim = sim.nodes[3]!;
  sim.kill(victim);
  const took = await sim.until(() => sim.viewsOf(victim.id).every((m) => m?.state === 'dead'), 30_000);
  assert.ok(took > 0);
  assert.ok(sim.everyoneSees((m) => m.state === 'alive', 9));
});
