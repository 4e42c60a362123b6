import assert from 'node:assert/strict';
import { test } from 'node:test';
import { suspicionMinMs } from '../../src/membership/math.js';
import { PROFILES } from '../../src/membership/profile.js';
import { Sim } from './harness.js';

/** Hundreds of nodes on one virtual clock, in a few seconds of real time. */

const lan = PROFILES.lan;

test('200 nodes form a cluster, converge, and detect a kill (seed 601)', async (t) => {
  const started = performance.now();
  const sim = new Sim(601);
  const n = 200;
  for (let i = 0; i < n; i++) sim.add();
  for (const node of sim.nodes.slice(1)) void node.membership.join([sim.nodes[0]!.address]);
  const formed = await sim.until(() => sim.everyoneAlive(n), 30_000);
  const converged = formed + (await sim.until(() => sim.digests().size === 1, 30_000, 50));
  const victim = sim.nodes[123]!;
  const deaths = sim.record((c) => c.member.state === 'dead');
  sim.kill(victim);
  const detected = await sim.until(() => sim.viewsOf(victim.id).every((m) => m?.state === 'dead'), 60_000);
  const real = performance.now() - started;
  const min = suspicionMinMs(lan.suspicionMult, n, lan.probeIntervalMs);
  const bound = 2 * lan.probeIntervalMs + min * lan.suspicionMaxTimeoutMult + 1_000;
  t.diagnostic(
    `N=${n}: everyone alive after ${formed} ms, one digest after ${converged} ms, kill detected by all in ${detected} ms ` +
      `(bound ${bound.toFixed(0)} ms); ${(sim.clock.now() / 1000).toFixed(1)} simulated s in ${(real / 1000).toFixed(2)} real s`,
  );
  assert.ok(detected < bound, `detection took ${detected} ms`);
  assert.ok(deaths.every((c) => c.member.id === victim.id));
  assert.ok(sim.everyoneAlive(n - 1));
  assert.ok(real < 20_000, `took ${real.toFixed(0)} ms of real time`);
});
