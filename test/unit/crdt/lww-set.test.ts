import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Stamp } from '../../../src/crdt/hlc.js';
import { beats, leafOf, LEAVES, LEAVES_PER_TOP, LwwSet, TOPS, type Entry } from '../../../src/crdt/lww-set.js';
import { hash64 } from '../../../src/ownership/hash.js';

const N1 = '1'.repeat(40);
const N2 = '2'.repeat(40);

const st = (wall: number, counter = 0, node = N1): Stamp => ({ wall, counter, node });
const add = (id: string, stamp: Stamp, value = 'v'): Entry<string> => ({ id, stamp, removed: false, value, bytes: Buffer.from(value) });
const rem = (id: string, stamp: Stamp): Entry<string> => ({ id, stamp, removed: true, value: null, bytes: Buffer.alloc(0) });

/** Everything observable about a set, for comparing states. */
function state(s: LwwSet<string>) {
  const records = [...s.entries()]
    .map((e) => `${e.id}|${e.stamp.wall}.${e.stamp.counter}.${e.stamp.node}|${e.removed ? 'R' : 'A'}|${e.bytes.toString('hex')}`)
    .sort();
  return { records, size: s.size, count: s.records, root: s.root(), live: s.liveDigest(), tops: [...s.tops()] };
}

/** The top 12 bits of an id's xxHash64 (the leaf rule written out independently). */
const hashPrefix = (id: string) => hash64(id)[0] >>> 20;

function setOf(...entries: Entry<string>[]): LwwSet<string> {
  const s = new LwwSet<string>();
  for (const e of entries) s.merge(e);
  return s;
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('LwwSet: Roshi write rules (REFERENCE 5)', () => {
  test('A(a,1) + add(a,0) or remove(a,0): no-op', () => {
    for (const op of [add('a', st(0), 'old'), rem('a', st(0))]) {
      const s = setOf(add('a', st(1)));
      const before = state(s);
      assert.equal(s.merge(op), 'stale');
      assert.deepEqual(state(s), before);
      assert.equal(s.value('a'), 'v');
    }
  });

  test('A(a,1) + add(a,1) (the same write again): no change', () => {
    const s = setOf(add('a', st(1)));
    const before = state(s);
    assert.equal(s.merge(add('a', st(1))), 'stale');
    assert.deepEqual(state(s), before);
  });

  test('A(a,1) + remove(a,1): R(a,1), remove wins on equal stamps', () => {
    const s = setOf(add('a', st(1)));
    assert.equal(s.merge(rem('a', st(1))), 'applied');
    assert.equal(s.get('a')!.removed, true);
    assert.equal(s.value('a'), undefined);
    assert.equal(s.size, 0);
    assert.equal(s.records, 1);
  });

  test('R(a,1) + add(a,1): rejected (remove wins in either arrival order)', () => {
    const s = setOf(rem('a', st(1)));
    assert.equal(s.merge(add('a', st(1))), 'stale');
    assert.equal(s.get('a')!.removed, true);
    assert.deepEqual(state(s), state(setOf(add('a', st(1)), rem('a', st(1)))));
  });

  test('a newer add replaces a remove, a newer remove replaces an add', () => {
    const s = setOf(rem('a', st(1)));
    assert.equal(s.merge(add('a', st(2), 'x')), 'applied');
    assert.equal(s.value('a'), 'x');
    assert.equal(s.merge(rem('a', st(3))), 'applied');
    assert.equal(s.value('a'), undefined);
  });

  test('equal wall times from two nodes: the counter, then the node id, decide (one comparator)', () => {
    // Same wall ms: a higher counter wins regardless of node.
    assert.equal(beats(add('a', st(5, 1, N1)), rem('a', st(5, 0, N2))), true);
    // Same wall and counter, different nodes: the greater node id wins, add or remove alike.
    assert.equal(beats(add('a', st(5, 0, N2)), rem('a', st(5, 0, N1))), true);
    assert.equal(beats(rem('a', st(5, 0, N1)), add('a', st(5, 0, N2))), false);
    // Identical stamps: remove beats add, and a record never beats itself.
    assert.equal(beats(rem('a', st(5)), add('a', st(5))), true);
    assert.equal(beats(add('a', st(5)), rem('a', st(5))), false);
    assert.equal(beats(add('a', st(5)), add('a', st(5))), false);
    assert.equal(beats(rem('a', st(5)), rem('a', st(5))), false);
    // Identical stamps and kinds (only possible through a bug): value bytes keep the order total.
    assert.equal(beats(add('a', st(5), 'y'), add('a', st(5), 'x')), true);
    assert.equal(beats(add('a', st(5), 'x'), add('a', st(5), 'y')), false);
  });

  test('zero timestamps are ordinary stamps', () => {
    const s = setOf(add('a', st(0, 0)));
    assert.equal(s.value('a'), 'v');
    assert.equal(s.merge(rem('a', st(0, 0))), 'applied');
    assert.equal(s.merge(add('a', st(0, 0))), 'stale');
    assert.equal(s.merge(add('a', st(0, 1))), 'applied');
    assert.equal(s.value('a'), 'v');
  });

  test('every order of {add(a,1), remove(a,1), add(a,2), remove(a,2)} gives the same state (all 24)', () => {
    const ops = [add('a', st(1), 'one'), rem('a', st(1)), add('a', st(2), 'two'), rem('a', st(2))];
    const orders = permutations(ops);
    assert.equal(orders.length, 24);
    const expected = state(setOf(rem('a', st(2))));
    for (const order of orders) {
      const s = setOf(...order);
      assert.deepEqual(state(s), expected, order.map((e) => `${e.removed ? 'R' : 'A'}${e.stamp.wall}`).join(' '));
      assert.equal(s.value('a'), undefined);
    }
  });

  test('the same four ops with stamps from two nodes: every order agrees too', () => {
    const ops = [add('a', st(1, 0, N2), 'one'), rem('a', st(1, 0, N1)), add('a', st(2, 0, N1), 'two'), rem('a', st(2, 0, N2))];
    const states = permutations(ops).map((o) => JSON.stringify(state(setOf(...o))));
    assert.equal(new Set(states).size, 1);
  });
});

describe('LwwSet: bookkeeping', () => {
  test('merge() reports applied or stale, and never refuses a record, however old', () => {
    const s = new LwwSet<string>();
    assert.equal(s.merge(add('a', st(100))), 'applied');
    // Records far older than anything held, of elements the set knows nothing about: plain LWW
    // merges them (the tombstone rule lives in anti-entropy, not in the set).
    assert.equal(s.merge(add('b', st(0))), 'applied');
    assert.equal(s.merge(rem('c', st(0))), 'applied');
    assert.equal(s.value('b'), 'v');
    assert.equal(s.get('c')?.removed, true);
    assert.equal(s.merge(add('a', st(99))), 'stale');
    assert.equal(s.merge(rem('a', st(101))), 'applied');
    assert.equal(s.records, 3);
    // merge() takes the record alone: no bound can be passed any more.
    assert.equal(LwwSet.prototype.merge.length, 1);
  });

  test('size counts present elements and records counts tombstones too', () => {
    const s = setOf(add('a', st(1)), add('b', st(1)), rem('c', st(1)), add('d', st(1)));
    assert.equal(s.size, 3);
    assert.equal(s.records, 4);
    s.merge(rem('a', st(2)));
    assert.equal(s.size, 2);
    s.merge(add('c', st(2)));
    assert.equal(s.size, 3);
    s.merge(add('c', st(3), 'w')); // add over add
    assert.equal(s.size, 3);
    assert.equal(s.records, 4);
  });

  test('liveDigest depends only on the present elements (tombstones do not count)', () => {
    const live = [add('a', st(1)), add('b', st(2))];
    const withTombstones = setOf(...live, rem('x', st(3)), rem('y', st(4)));
    assert.equal(withTombstones.liveDigest(), setOf(...live).liveDigest());
    assert.notDeepEqual(withTombstones.root(), setOf(...live).root());
    assert.equal(new LwwSet().liveDigest(), '0000000000000000');
    // Removing everything brings the live digest back to empty.
    const s = setOf(...live);
    s.merge(rem('a', st(9)));
    s.merge(rem('b', st(9)));
    assert.equal(s.liveDigest(), '0000000000000000');
    assert.notDeepEqual(s.root(), [0, 0]);
  });

  test('collect() drops only tombstones older than the bound, never a present element', () => {
    const s = setOf(add('a', st(10)), add('b', st(1)), rem('c', st(5)), rem('d', st(10)), rem('e', st(11)));
    assert.equal(s.collect(10), 1); // only c (5 < 10); d at 10 stays
    assert.deepEqual([...s.entries()].map((e) => e.id).sort(), ['a', 'b', 'd', 'e']);
    assert.equal(s.collect(1e15), 2); // d and e; adds a and b (even b at 1) stay
    assert.deepEqual([...s.entries()].map((e) => e.id).sort(), ['a', 'b']);
    assert.equal(s.size, 2);
    assert.deepEqual(state(s), state(setOf(add('a', st(10)), add('b', st(1)))));
  });

  test('drop() forgets an element (add or tombstone) and its digest contribution', () => {
    const s = setOf(add('a', st(1)), rem('b', st(1)), add('c', st(1)));
    s.drop('a');
    s.drop('b');
    s.drop('zzz'); // unknown: nothing happens
    assert.deepEqual(state(s), state(setOf(add('c', st(1)))));
    assert.equal(s.entriesInLeaf(leafOf('a')).some((e) => e.id === 'a'), false);
    // A dropped element is unknown again: any record of it merges, even the one dropped.
    assert.equal(s.merge(add('a', st(1))), 'applied');
    assert.equal(s.merge(rem('b', st(0))), 'applied');
    assert.deepEqual(state(s), state(setOf(add('a', st(1)), rem('b', st(0)), add('c', st(1)))));
  });

  test('value() and get()', () => {
    const s = setOf(add('a', st(1), 'x'), rem('b', st(1)));
    assert.equal(s.value('a'), 'x');
    assert.equal(s.value('b'), undefined);
    assert.equal(s.get('b')!.removed, true);
    assert.equal(s.get('nope'), undefined);
  });
});

describe('LwwSet: digest tree', () => {
  test('an empty set has all-zero digests', () => {
    const s = new LwwSet<string>();
    assert.deepEqual(s.root(), [0, 0]);
    assert.ok(s.tops().every((d) => d === 0));
    assert.equal(s.tops().length, TOPS * 2);
    assert.equal(s.leavesOf(0).length, LEAVES_PER_TOP * 2);
  });

  test('leafOf() is fixed by the id and in range', () => {
    for (let i = 0; i < 2000; i++) {
      const leaf = leafOf(`origin-${i}`);
      assert.ok(Number.isInteger(leaf) && leaf >= 0 && leaf < LEAVES);
      assert.equal(leafOf(`origin-${i}`), leaf);
    }
    // Golden values: peers must agree on them forever (top 12 bits of the id's xxHash64).
    assert.equal(leafOf('a'), 0xd24);
    assert.equal(leafOf('web-1'), 0x76b);
    assert.equal(leafOf('web-1'), hashPrefix('web-1'));
  });

  test('tops(), leavesOf() and root() are consistent with each other', () => {
    const s = new LwwSet<string>();
    for (let i = 0; i < 500; i++) s.merge(i % 3 === 0 ? rem(`o${i}`, st(i)) : add(`o${i}`, st(i)));
    const tops = s.tops();
    let hi = 0;
    let lo = 0;
    for (let t = 0; t < TOPS; t++) {
      const leaves = s.leavesOf(t);
      let thi = 0;
      let tlo = 0;
      for (let k = 0; k < LEAVES_PER_TOP; k++) {
        thi ^= leaves[k * 2]!;
        tlo ^= leaves[k * 2 + 1]!;
      }
      assert.equal(thi >>> 0, tops[t * 2]);
      assert.equal(tlo >>> 0, tops[t * 2 + 1]);
      hi ^= tops[t * 2]!;
      lo ^= tops[t * 2 + 1]!;
    }
    assert.deepEqual(s.root(), [hi >>> 0, lo >>> 0]);
  });

  test('leavesOf() returns a copy: changing it does not change the set', () => {
    const s = setOf(add('a', st(1)));
    const top = Math.floor(leafOf('a') / LEAVES_PER_TOP);
    const copy = s.leavesOf(top);
    copy.fill(0);
    assert.notDeepEqual([...s.leavesOf(top)], [...copy]);
  });

  test('entriesInLeaf() covers exactly the records, each in its own leaf', () => {
    const s = new LwwSet<string>();
    for (let i = 0; i < 300; i++) s.merge(i % 4 === 0 ? rem(`k${i}`, st(i)) : add(`k${i}`, st(i)));
    s.drop('k1');
    s.collect(50);
    const seen: string[] = [];
    for (let leaf = 0; leaf < LEAVES; leaf++) {
      for (const e of s.entriesInLeaf(leaf)) {
        assert.equal(leafOf(e.id), leaf);
        assert.equal(s.get(e.id), e);
        seen.push(e.id);
      }
    }
    assert.deepEqual(seen.sort(), [...s.entries()].map((e) => e.id).sort());
    assert.equal(seen.length, s.records);
  });

  test('the record hash covers id, stamp and kind: a different stamp changes the root', () => {
    const base = state(setOf(add('a', st(1))));
    assert.notDeepEqual(state(setOf(add('a', st(1, 1)))).root, base.root);
    assert.notDeepEqual(state(setOf(add('a', st(1, 0, N2)))).root, base.root);
    assert.notDeepEqual(state(setOf(rem('a', st(1)))).root, base.root);
    assert.notDeepEqual(state(setOf(add('b', st(1)))).root, base.root);
    // The value does not: a stamp names one write.
    assert.deepEqual(state(setOf(add('a', st(1), 'other'))).root, base.root);
  });
});
