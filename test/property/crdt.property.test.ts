import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Stamp } from '../../src/crdt/hlc.js';
import { leafOf, LEAVES, LEAVES_PER_TOP, LwwSet, TOPS, type Entry } from '../../src/crdt/lww-set.js';
import { hash64 } from '../../src/ownership/hash.js';
import { UNKNOWN_HEALTH } from '../../src/probe/health.js';
import { SPEC_DEFAULTS } from '../../src/probe/spec.js';
import { answer, exchange, type ExchangeResult } from '../../src/replication/anti-entropy.js';
import { Replica } from '../../src/replication/replica.js';
import { ByteWriter } from '../../src/runtime/bytes.js';

/**
 * Merge laws and digest bookkeeping of the LWW set over random records chosen to collide: few
 * ids, few wall times and counters, two nodes, so equal stamps, add-vs-remove ties at one stamp
 * and equal-stamp adds with different values all come up often.
 */
const NODES = ['1'.repeat(40), '2'.repeat(40)];
const IDS = ['a', 'b', 'c', 'd'];

const stampArb: fc.Arbitrary<Stamp> = fc.record({
  wall: fc.integer({ min: 0, max: 3 }),
  counter: fc.integer({ min: 0, max: 1 }),
  node: fc.constantFrom(...NODES),
});

const entryArb: fc.Arbitrary<Entry<string>> = fc
  .record({ id: fc.constantFrom(...IDS), stamp: stampArb, removed: fc.boolean(), value: fc.constantFrom('x', 'y') })
  .map(({ id, stamp, removed, value }) =>
    removed
      ? { id, stamp, removed, value: null, bytes: Buffer.alloc(0) }
      : { id, stamp, removed, value, bytes: Buffer.from(value) },
  );

const entriesArb = fc.array(entryArb, { maxLength: 12 });

type Op = { kind: 'merge'; entry: Entry<string> } | { kind: 'collect'; before: number } | { kind: 'drop'; id: string };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: entryArb.map((entry) => ({ kind: 'merge' as const, entry })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }).map((before) => ({ kind: 'collect' as const, before })) },
  { weight: 1, arbitrary: fc.constantFrom(...IDS).map((id) => ({ kind: 'drop' as const, id })) },
);

const RUNS = { numRuns: 400 };

function setOf(entries: Iterable<Entry<string>>): LwwSet<string> {
  const s = new LwwSet<string>();
  for (const e of entries) s.merge(e);
  return s;
}

/** Merges b's records into (a copy of) a: the state-based join. */
function join(a: LwwSet<string>, b: LwwSet<string>): LwwSet<string> {
  const s = setOf(a.entries());
  for (const e of b.entries()) s.merge(e);
  return s;
}

const recordKey = (e: Entry<string>) =>
  `${e.id}|${e.stamp.wall}.${e.stamp.counter}.${e.stamp.node}|${e.removed ? 'R' : 'A'}|${e.bytes.toString('hex')}`;

/** Full record contents plus every digest. */
function state(s: LwwSet<string>) {
  return {
    records: [...s.entries()].map(recordKey).sort(),
    size: s.size,
    root: s.root(),
    live: s.liveDigest(),
    tops: [...s.tops()],
  };
}

/** The digest tree written out independently of LwwSet's incremental XOR bookkeeping. */
function oracle(entries: Iterable<Entry<string>>) {
  const leaves = new Uint32Array(LEAVES * 2);
  let liveHi = 0;
  let liveLo = 0;
  for (const e of entries) {
    const leaf = hash64(e.id)[0] >>> 20;
    const [hi, lo] = hash64(`${e.id}\0${e.stamp.wall}\0${e.stamp.counter}\0${e.stamp.node}\0${e.removed ? 1 : 0}`);
    leaves[leaf * 2] ^= hi;
    leaves[leaf * 2 + 1] ^= lo;
    if (!e.removed) {
      liveHi ^= hi;
      liveLo ^= lo;
    }
  }
  const tops = new Uint32Array(TOPS * 2);
  for (let leaf = 0; leaf < LEAVES; leaf++) {
    const t = Math.floor(leaf / LEAVES_PER_TOP);
    tops[t * 2] ^= leaves[leaf * 2]!;
    tops[t * 2 + 1] ^= leaves[leaf * 2 + 1]!;
  }
  let hi = 0;
  let lo = 0;
  for (let t = 0; t < TOPS; t++) {
    hi ^= tops[t * 2]!;
    lo ^= tops[t * 2 + 1]!;
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  return { leaves, tops, root: [hi >>> 0, lo >>> 0], live: hex(liveHi) + hex(liveLo) };
}

/** What a sequence of ops must leave: the newest record per id by the documented rule. */
function newest(entries: Entry<string>[]): Map<string, Entry<string>> {
  const m = new Map<string, Entry<string>>();
  const key = (e: Entry<string>) => [e.stamp.wall, e.stamp.counter, e.stamp.node, e.removed ? 1 : 0, e.bytes.toString('hex')] as const;
  for (const e of entries) {
    const old = m.get(e.id);
    if (!old) {
      m.set(e.id, e);
      continue;
    }
    const [a, b] = [key(e), key(old)];
    let c = 0;
    for (let i = 0; i < a.length && c === 0; i++) c = a[i]! < b[i]! ? -1 : a[i]! > b[i]! ? 1 : 0;
    if (c > 0) m.set(e.id, e);
  }
  return m;
}

describe('LWW set: merge laws (property)', () => {
  test('merge keeps, per element, the newest record by (stamp, remove-over-add, bytes)', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const s = setOf(entries);
        assert.deepEqual(state(s).records, [...newest(entries).values()].map(recordKey).sort());
      }),
      { seed: 0xc4d7, ...RUNS },
    );
  });

  test('idempotent: merging records again, or a set into itself, changes nothing', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const once = setOf(entries);
        assert.deepEqual(state(setOf([...entries, ...entries])), state(once));
        assert.deepEqual(state(join(once, once)), state(once));
        for (const e of entries) assert.notEqual(setOf(once.entries()).merge(e), 'applied', 'a record already merged is stale');
      }),
      { seed: 0x1de0, ...RUNS },
    );
  });

  test('commutative: join(A, B) = join(B, A)', () => {
    fc.assert(
      fc.property(entriesArb, entriesArb, (a, b) => {
        assert.deepEqual(state(join(setOf(a), setOf(b))), state(join(setOf(b), setOf(a))));
      }),
      { seed: 0xc033, ...RUNS },
    );
  });

  test('associative: join(join(A, B), C) = join(A, join(B, C))', () => {
    fc.assert(
      fc.property(entriesArb, entriesArb, entriesArb, (a, b, c) => {
        const [sa, sb, sc] = [setOf(a), setOf(b), setOf(c)];
        assert.deepEqual(state(join(join(sa, sb), sc)), state(join(sa, join(sb, sc))));
      }),
      { seed: 0xa550, ...RUNS },
    );
  });

  test('every permutation of a set of adds and removes gives the same state, root and liveDigest', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { minLength: 1, maxLength: 10 }).chain((entries) =>
          fc.tuple(fc.constant(entries), fc.array(fc.shuffledSubarray(entries, { minLength: entries.length }), { minLength: 1, maxLength: 8 })),
        ),
        ([entries, orders]) => {
          const expected = state(setOf(entries));
          for (const order of orders) {
            const s = setOf(order);
            assert.deepEqual(state(s), expected);
            assert.deepEqual(s.root(), expected.root);
            assert.equal(s.liveDigest(), expected.live);
          }
        },
      ),
      { seed: 0x9e53, ...RUNS },
    );
  });

  test('exhaustive: all 5040 orders of 7 colliding records agree', () => {
    const N = NODES;
    const r = (id: string, wall: number, counter: number, node: string, removed: boolean, value = 'x'): Entry<string> => ({
      id, stamp: { wall, counter, node }, removed, value: removed ? null : value, bytes: removed ? Buffer.alloc(0) : Buffer.from(value),
    });
    const records = [
      r('a', 1, 0, N[0]!, false, 'x'), r('a', 1, 0, N[0]!, true), r('a', 1, 0, N[0]!, false, 'y'), // same stamp: add, remove, add
      r('a', 1, 0, N[1]!, false), r('a', 0, 5, N[1]!, true), // node tie-break; older wall, higher counter
      r('b', 2, 0, N[0]!, true), r('b', 2, 0, N[0]!, false),
    ];
    const expected = JSON.stringify(state(setOf(records)));
    const perms = (xs: Entry<string>[]): Entry<string>[][] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    let n = 0;
    for (const order of perms(records)) {
      assert.equal(JSON.stringify(state(setOf(order))), expected);
      n++;
    }
    assert.equal(n, 5040);
    const s = setOf(records);
    assert.equal(s.get('a')!.stamp.node, N[1], 'a(1,0,node 2) is the newest stamp of a');
    assert.equal(s.get('b')!.removed, true, 'remove wins the equal-stamp tie on b');
  });
});

describe('LWW set: bookkeeping after random merges, collects and drops (property)', () => {
  test('tops(), leavesOf(), root() and liveDigest() agree with a from-scratch recomputation', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const s = new LwwSet<string>();
        for (const op of ops) {
          if (op.kind === 'merge') s.merge(op.entry);
          else if (op.kind === 'collect') s.collect(op.before);
          else s.drop(op.id);
        }
        const o = oracle(s.entries());
        assert.deepEqual([...s.tops()], [...o.tops]);
        for (let t = 0; t < TOPS; t++) {
          assert.deepEqual([...s.leavesOf(t)], [...o.leaves.subarray(t * LEAVES_PER_TOP * 2, (t + 1) * LEAVES_PER_TOP * 2)]);
        }
        assert.deepEqual(s.root(), o.root);
        assert.equal(s.liveDigest(), o.live);
        // The same records merged into a fresh set, in any order, give the same tree.
        const fresh = setOf([...s.entries()].reverse());
        assert.deepEqual(state(fresh), state(s));
      }),
      { seed: 0xd16e, ...RUNS },
    );
  });

  test('size, records and entriesInLeaf() match the records held', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const s = new LwwSet<string>();
        for (const op of ops) {
          if (op.kind === 'merge') s.merge(op.entry);
          else if (op.kind === 'collect') s.collect(op.before);
          else s.drop(op.id);
        }
        const all = [...s.entries()];
        assert.equal(s.records, all.length);
        assert.equal(s.size, all.filter((e) => !e.removed).length);
        for (const e of all) assert.equal(s.value(e.id), e.removed ? undefined : e.value);
        const inLeaves = IDS.flatMap((id) => s.entriesInLeaf(leafOf(id)).filter((e) => e.id === id));
        assert.deepEqual(inLeaves.map(recordKey).sort(), all.map(recordKey).sort());
        const leavesHeld = new Set(IDS.map(leafOf));
        let elsewhere = 0;
        for (let leaf = 0; leaf < LEAVES; leaf++) if (!leavesHeld.has(leaf)) elsewhere += s.entriesInLeaf(leaf).length;
        assert.equal(elsewhere, 0);
      }),
      { seed: 0x512e, ...RUNS },
    );
  });

  test('collect(bound) drops exactly the tombstones older than bound, never a present element', () => {
    fc.assert(
      fc.property(entriesArb, fc.integer({ min: 0, max: 5 }), (entries, bound) => {
        const s = setOf(entries);
        const before = [...s.entries()];
        const dropped = s.collect(bound);
        const expected = before.filter((e) => !(e.removed && e.stamp.wall < bound));
        assert.equal(dropped, before.length - expected.length);
        assert.deepEqual([...s.entries()].map(recordKey).sort(), expected.map(recordKey).sort());
        assert.deepEqual(state(s), state(setOf(expected)));
      }),
      { seed: 0xc011, ...RUNS },
    );
  });
});

/**
 * The tombstone rule between replicas (docs/replication.md): C was in sync with the cluster (A),
 * then away for longer than the grace period while A went on (writes, removals, tombstones
 * collected); then both write a little more and they meet. Whoever initiates, the outcome must be
 * the LWW join of A and of C without C's records that are older than its syncedAt and that A holds
 * nothing about (removed while C was away): dropped on C, never resurrected on A, and nothing else
 * lost on either side.
 */
describe('anti-entropy: a stale replica reconciling with a current one (property)', () => {
  const DAY = 86_400_000;
  const GRACE = 7 * DAY;
  const T0 = 1_700_000_000_000;
  const ELEMENTS = Array.from({ length: 12 }, (_, i) => `e${i}`);
  const wallOp = fc.record({
    id: fc.constantFrom(...ELEMENTS),
    kind: fc.constantFrom('add', 'add', 'remove', 'remove', 'health', 'unhealth'),
    url: fc.constantFrom('http://a.example/', 'http://b.example/'),
    dt: fc.integer({ min: 0, max: 2 }),
  });
  type WallOp = typeof wallOp extends fc.Arbitrary<infer T> ? T : never;
  const onC = fc.tuple(fc.boolean(), wallOp);

  const spec = (url: string) => ({ ...SPEC_DEFAULTS, headers: [], url });
  /** A META log payload (currency: syncedAt, since), as Replica persists it. */
  const meta = (syncedAt: number, since: number) => {
    const w = new ByteWriter();
    w.u8(2);
    w.u48(syncedAt);
    w.u48(since);
    return w.done();
  };
  const key = (e: Entry<unknown>) => `${e.id}|${e.stamp.wall}.${e.stamp.counter}.${e.stamp.node}|${e.removed ? 'R' : 'A'}`;
  const dump = (r: Replica) => ({ origins: [...r.origins.set.entries()].map(key).sort(), health: [...r.health.set.entries()].map(key).sort() });
  const roots = (r: Replica) => `${r.origins.set.root().join(':')}/${r.health.set.root().join(':')}`;

  async function sync(a: Replica, b: Replica): Promise<ExchangeResult[]> {
    const out: ExchangeResult[] = [];
    let reconcileWith: string | null = null;
    const send = async (p: Buffer) => {
      const ans = answer(b, p);
      reconcileWith ??= ans.reconcileWith;
      return ans.reply;
    };
    do out.push(await exchange(a, send));
    while (out[out.length - 1]!.more);
    if (out[0]!.reversed) {
      assert.equal(reconcileWith, a.nodeId);
      return sync(b, a);
    }
    return out;
  }

  function build(before: WallOp[], whileAway: WallOp[], after: [boolean, WallOp][]) {
    const clock = { now: T0 };
    const replica = (n: number) =>
      new Replica({ nodeId: String(n).repeat(40), wallNow: () => clock.now, tombstoneGraceMs: GRACE, maxClockAheadMs: 60_000, persist: () => {} });
    const [a, c] = [replica(1), replica(3)];
    const apply = (r: Replica, o: WallOp) => {
      clock.now += o.dt;
      if (o.kind === 'add') r.origins.add(o.id, spec(o.url));
      else if (o.kind === 'remove') r.origins.remove(o.id);
      else if (o.kind === 'health') r.health.add(o.id, { ...UNKNOWN_HEALTH, status: 'up', reason: o.url });
      else r.health.remove(o.id);
    };
    for (const o of before) apply(a, o);
    return { clock, a, c, apply, whileAway, after };
  }

  test('the outcome is the join minus what the cluster removed while C was away; nothing else is lost; either side may initiate', async () => {
    let runsWithDrops = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(wallOp, { maxLength: 20 }),
        fc.array(wallOp, { maxLength: 15 }),
        fc.array(onC, { maxLength: 12 }),
        fc.boolean(),
        async (before, whileAway, after, cInitiates) => {
          const { clock, a, c, apply } = build(before, whileAway, after);
          clock.now += 1;
          await sync(c, a);
          const s = c.syncedAt;
          assert.equal(s, clock.now);
          const history = a.currency.since;
          assert.deepEqual(c.currency, { syncedAt: s, since: history }, 'one history: C was in the cluster');
          clock.now += 1;
          for (const o of whileAway) apply(a, o);
          // Past the grace period; A stayed current (its cluster syncs all the time, its history
          // unbroken since before C left), both collect.
          clock.now += GRACE + DAY;
          a.load([meta(clock.now, history)]);
          a.collectGarbage();
          c.collectGarbage();
          for (const [cWrites, o] of after) apply(cWrites ? c : a, o);
          assert.equal(c.staleNextTo(a.currency), true);

          // The oracle: LWW join of A and of C minus C's records from before s that A knows nothing of.
          const expected = { origins: new LwwSet<unknown>(), health: new LwwSet<unknown>() };
          let toDrop = 0;
          for (const name of ['origins', 'health'] as const) {
            for (const e of a[name].set.entries()) expected[name].merge(e);
            for (const e of c[name].set.entries()) {
              if (e.stamp.wall < s && a[name].set.get(e.id) === undefined) toDrop++;
              else expected[name].merge(e);
            }
          }
          const want = {
            origins: [...expected.origins.entries()].map(key).sort(),
            health: [...expected.health.entries()].map(key).sort(),
          };
          const rounds = cInitiates ? await sync(c, a) : await sync(a, c);
          const dropped = rounds.reduce((n, r) => n + r.dropped, 0);
          assert.equal(dropped, toDrop);
          if (dropped > 0) runsWithDrops++;
          assert.equal(roots(a), roots(c));
          assert.deepEqual(dump(a), want);
          assert.deepEqual(dump(c), want);
          assert.deepEqual(c.currency, { syncedAt: clock.now, since: history }, 'C reconciled: current again, with the history of A');
          // Settled: another exchange either way changes nothing.
          for (const [x, y] of [[a, c], [c, a]] as const) {
            assert.deepEqual(await exchange(x, async (p) => answer(y, p).reply), { received: 0, sent: 0, dropped: 0, more: false, reversed: false });
          }
        },
      ),
      { seed: 0x5a1e, numRuns: 300 },
    );
    assert.ok(runsWithDrops >= 30, `only ${runsWithDrops} of 300 runs dropped anything`);
  });

  test('next to a current peer whose history starts after C left (new nodes), the outcome is the plain join: nothing dropped; either side may initiate', async () => {
    let runsWithOldOnlyOnC = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(wallOp, { maxLength: 20 }),
        fc.array(wallOp, { maxLength: 15 }),
        fc.array(onC, { maxLength: 12 }),
        fc.boolean(),
        async (before, whileAway, after, cInitiates) => {
          const { clock, a, c, apply } = build(before, whileAway, after);
          clock.now += 1;
          await sync(c, a);
          const s = c.syncedAt;
          clock.now += 1;
          for (const o of whileAway) apply(a, o);
          clock.now += GRACE + DAY;
          // A's history restarted after C left (as two new nodes that synced with each other have it).
          const history = s + 1;
          a.load([meta(clock.now, history)]);
          a.collectGarbage();
          c.collectGarbage();
          for (const [cWrites, o] of after) apply(cWrites ? c : a, o);
          assert.equal(c.staleNextTo(a.currency), false);
          assert.equal(a.staleNextTo(c.currency), false);
          const expected = { origins: new LwwSet<unknown>(), health: new LwwSet<unknown>() };
          for (const name of ['origins', 'health'] as const) {
            for (const r of [a, c]) for (const e of r[name].set.entries()) expected[name].merge(e);
            for (const e of c[name].set.entries()) if (e.stamp.wall < s && a[name].set.get(e.id) === undefined) runsWithOldOnlyOnC++;
          }
          const want = {
            origins: [...expected.origins.entries()].map(key).sort(),
            health: [...expected.health.entries()].map(key).sort(),
          };
          const rounds = cInitiates ? await sync(c, a) : await sync(a, c);
          assert.equal(rounds.reduce((n, r) => n + r.dropped + (r.reversed ? 1 : 0), 0), 0, 'nothing dropped, no reversal');
          assert.deepEqual(dump(a), want);
          assert.deepEqual(dump(c), want);
          for (const r of [a, c]) assert.deepEqual(r.currency, { syncedAt: clock.now, since: history }, 'C joined A\'s history');
        },
      ),
      { seed: 0x5a1f, numRuns: 200 },
    );
    assert.ok(runsWithOldOnlyOnC >= 30, `only ${runsWithOldOnlyOnC} old records held by C alone`);
  });
});
