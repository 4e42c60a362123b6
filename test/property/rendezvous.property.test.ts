import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OwnershipTable, owners, rank } from '../../src/ownership/rendezvous.js';

/**
 * Rendezvous ownership over random node sets and origins: membership changes move only the origins
 * that must move, load spreads evenly, and the answer depends on the set of nodes alone. Ids mix
 * cluster-style hex ids, short similar names and arbitrary Unicode, as similar ids are where a
 * weak mix would show.
 */
const RUNS = { numRuns: 200 };

const HEX = [...'0123456789abcdef'];
const idArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...HEX), minLength: 40, maxLength: 40 }),
  fc.nat({ max: 50 }).map((i) => `node-${i}`),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
);
const nodesArb = (min: number, max: number) => fc.uniqueArray(idArb, { minLength: min, maxLength: max });
const originsArb = fc.uniqueArray(
  fc.oneof(fc.nat({ max: 10_000 }).map((i) => `origin-${i}`), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 })),
  { minLength: 1, maxLength: 60 },
);

describe('minimal movement', () => {
  test('removing a node moves exactly the origins it owned, each to its second choice', () => {
    fc.assert(
      fc.property(nodesArb(2, 12), originsArb, fc.nat(), (nodes, origins, pick) => {
        const gone = nodes[pick % nodes.length]!;
        const rest = nodes.filter((id) => id !== gone);
        const before = new OwnershipTable(nodes);
        const after = new OwnershipTable(rest);
        for (const origin of origins) {
          const ranked = before.rank(origin);
          const want = ranked[0] === gone ? ranked[1] : ranked[0];
          assert.equal(after.owner(origin), want);
        }
        const moved = OwnershipTable.diff(nodes, rest, origins);
        assert.deepEqual(moved.map((c) => c.origin), before.ownedBy(gone, origins));
        for (const c of moved) assert.equal(c.from, gone);
      }),
      { seed: 0x0e1d, ...RUNS },
    );
  });

  test('adding a node moves origins only to it, never between the old nodes', () => {
    fc.assert(
      fc.property(nodesArb(2, 12), originsArb, (all, origins) => {
        const [added, ...old] = all;
        const before = new OwnershipTable(old);
        const after = new OwnershipTable(all);
        const moved = OwnershipTable.diff(old, all, origins);
        for (const origin of origins) {
          const was = before.owner(origin);
          const now = after.owner(origin);
          assert.ok(now === was || now === added, origin);
        }
        assert.deepEqual(moved.map((c) => c.origin), after.ownedBy(added!, origins));
        for (const c of moved) assert.equal(c.to, added);
      }),
      { seed: 0xadd1, ...RUNS },
    );
  });

  test('diff matches comparing owners one origin at a time, for any two node sets', () => {
    fc.assert(
      fc.property(nodesArb(0, 10), nodesArb(0, 10), originsArb, (prevNodes, nextNodes, origins) => {
        const prev = new OwnershipTable(prevNodes);
        const next = new OwnershipTable(nextNodes);
        const want = origins
          .map((origin) => ({ origin, from: prev.owner(origin), to: next.owner(origin) }))
          .filter((c) => c.from !== c.to);
        assert.deepEqual(OwnershipTable.diff(prevNodes, nextNodes, origins), want);
      }),
      { seed: 0xd1ff, ...RUNS },
    );
  });
});

describe('balance', () => {
  test('10,000 origins over 10 nodes: every node owns between 7% and 13%', () => {
    // 1,000 expected per node with a standard deviation of 30: the bounds are 10 deviations out.
    const cases = fc.record({
      nodes: fc.oneof(
        fc.uniqueArray(idArb, { minLength: 10, maxLength: 10 }),
        fc.nat({ max: 1000 }).map((base) => Array.from({ length: 10 }, (_, i) => `node-${base + i}`)),
      ),
      prefix: fc.string({ unit: 'binary', maxLength: 8 }),
    });
    fc.assert(
      fc.property(cases, ({ nodes, prefix }) => {
        const table = new OwnershipTable(nodes);
        const counts = new Map<string, number>();
        for (let i = 0; i < 10_000; i++) {
          const owner = table.owner(`${prefix}${i}`)!;
          counts.set(owner, (counts.get(owner) ?? 0) + 1);
        }
        for (const id of nodes) {
          const n = counts.get(id) ?? 0;
          assert.ok(n >= 700 && n <= 1300, `${JSON.stringify(id)} owns ${n} of 10,000`);
        }
      }),
      { seed: 0xba1a, numRuns: 30 },
    );
  });
});

describe('rank', () => {
  test('is a permutation of the distinct nodes, and owners(k) is its prefix', () => {
    fc.assert(
      fc.property(fc.array(idArb, { maxLength: 15 }), originsArb, fc.integer({ min: -1, max: 20 }), (nodes, origins, k) => {
        const distinct = [...new Set(nodes)];
        const table = new OwnershipTable(nodes);
        for (const origin of origins) {
          const ranked = rank(origin, nodes);
          assert.deepEqual([...ranked].sort(), [...distinct].sort());
          assert.deepEqual(owners(origin, nodes, k), ranked.slice(0, Math.max(0, k)));
          assert.deepEqual(table.owners(origin, k), ranked.slice(0, Math.max(0, k)));
          assert.equal(table.owner(origin), ranked[0] ?? null);
        }
      }),
      { seed: 0x9e4a, ...RUNS },
    );
  });

  test('depends only on the set of nodes, not their order or repeats', () => {
    const arb = nodesArb(1, 15).chain((nodes) =>
      fc.tuple(fc.constant(nodes), fc.shuffledSubarray(nodes, { minLength: nodes.length }), fc.array(fc.constantFrom(...nodes))),
    );
    fc.assert(
      fc.property(arb, originsArb, ([nodes, shuffled, repeats], origins) => {
        const other = [...shuffled, ...repeats];
        for (const origin of origins) assert.deepEqual(rank(origin, other), rank(origin, nodes));
        assert.deepEqual(OwnershipTable.diff(nodes, other, origins), []);
      }),
      { seed: 0x0bd3, ...RUNS },
    );
  });
});
