import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SPEC_DEFAULTS, type OriginSpec } from '../../src/probe/spec.js';
import { Sim } from './harness.js';

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
