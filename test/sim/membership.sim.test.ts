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

test('a node frozen for 1.5 s every 5 s is never declared dead', async () => {
  const sim = new Sim(3);
  await sim.formCluster(10);
  const sleeper = sim.nodes[5]!;
  let falseDeaths = 0;
  for (const n of sim.live()) {
    n.membership.onChange((m) => {
      if (m.id === sleeper.id && m.state === 'dead') falseDeaths++;
    });
  }
  for (let round = 0; round < 12; round++) {
    sim.pause(sleeper, 1500);
    await sim.run(5000);
  }
  assert.equal(falseDeaths, 0);
});
