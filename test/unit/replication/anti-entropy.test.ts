import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Stamp } from '../../../src/crdt/hlc.js';
import { leafOf, LEAVES_PER_TOP, LwwSet, type Entry } from '../../../src/crdt/lww-set.js';
import { UNKNOWN_HEALTH, type HealthRecord } from '../../../src/probe/health.js';
import { SPEC_DEFAULTS, type OriginSpec } from '../../../src/probe/spec.js';
import { answer, exchange, MAX_TOPS_PER_ROUND, type ExchangeResult } from '../../../src/replication/anti-entropy.js';
import { originEvent } from '../../../src/replication/events.js';
import { inherited, NEVER_SYNCED, type Currency } from '../../../src/replication/currency.js';
import { Replica } from '../../../src/replication/replica.js';
import { ByteWriter, DecodeError } from '../../../src/runtime/bytes.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const GRACE = 7 * DAY;
const T0 = 1_700_000_000_000;

const spec = (url: string): OriginSpec => ({ ...SPEC_DEFAULTS, headers: [], url });
const up = (reason = 'ok'): HealthRecord => ({ ...UNKNOWN_HEALTH, status: 'up', reason });
const nodeId = (n: number) => n.toString(16).padStart(40, '0');

/** The test's wall clock, shared by the replicas of one scenario. */
class Wall {
  now = T0;
}

interface Node {
  r: Replica;
  /** Everything it persisted, in order (its log). */
  disk: Buffer[];
  name: string;
}

function node(n: number, wall: Wall, name = `n${n}`, graceMs = GRACE): Node {
  const disk: Buffer[] = [];
  const r = new Replica({
    nodeId: nodeId(n),
    wallNow: () => wall.now,
    tombstoneGraceMs: graceMs,
    maxClockAheadMs: 60_000,
    persist: (p) => disk.push(p),
  });
  return { r, disk, name };
}

/** The same node restarted from its log. */
function reload(n: Node, index: number, wall: Wall): Node {
  const again = node(index, wall, `${n.name} again`);
  assert.equal(again.r.load(n.disk), 0, 'every logged payload reads back');
  return again;
}

/** A META log payload, as Replica persists its currency: the way to give a test replica one. */
function meta(c: Currency): Buffer {
  const w = new ByteWriter();
  w.u8(2);
  w.u48(c.syncedAt);
  w.u48(c.since);
  return w.done();
}

/** A replica of node `n` loaded with this currency (and nothing else). */
function withCurrency(n: number, wall: Wall, c: Currency, name = `n${n}`): Node {
  const x = node(n, wall, name);
  assert.equal(x.r.load([meta(c)]), 0);
  assert.deepEqual(x.r.currency, c);
  return x;
}

/** Kinds of the payloads a replica logged (1 record, 2 currency, 3 drop). */
const kinds = (disk: Buffer[]) => disk.map((p) => p[0]);

/** The requester's send(): the other replica answers in-process. */
const via = (responder: Replica) => async (p: Buffer) => answer(responder, p).reply;

/** Like via(), counting the bytes each way and keeping what the responder asked for. */
function counted(responder: Replica) {
  const bytes = { out: 0, in: 0, messages: 0 };
  const reconcileWith: (string | null)[] = [];
  const send = async (p: Buffer) => {
    bytes.out += p.length;
    bytes.messages++;
    const a = answer(responder, p);
    reconcileWith.push(a.reconcileWith);
    bytes.in += a.reply.length;
    return a.reply;
  };
  return { bytes, send, reconcileWith };
}

/** Runs exchanges from a to b until one reports nothing more (as the replicator chains rounds). */
async function sync(a: Replica, b: Replica, maxRounds = 64): Promise<ExchangeResult[]> {
  const out: ExchangeResult[] = [];
  for (let i = 0; i < maxRounds; i++) {
    const res = await exchange(a, via(b));
    out.push(res);
    if (!res.more) return out;
  }
  throw new Error(`no convergence in ${maxRounds} rounds`);
}

/**
 * One anti-entropy run as two replicators do it: `a` runs rounds with `b`; if `b` answers that it
 * is stale next to `a` (reversed, naming `a`), `b` runs them with `a` instead. Returns who ended up
 * as the requester and its rounds.
 */
async function reconcile(a: Replica, b: Replica): Promise<{ requester: Replica; rounds: ExchangeResult[] }> {
  const { send, reconcileWith } = counted(b);
  const first = await exchange(a, send);
  if (first.reversed) {
    assert.deepEqual(first, { received: 0, sent: 0, dropped: 0, more: false, reversed: true });
    assert.deepEqual(reconcileWith, [a.nodeId], 'a reversed answer names the requester');
    return { requester: b, rounds: await sync(b, a) };
  }
  const rounds = [first];
  while (rounds[rounds.length - 1]!.more) rounds.push(await exchange(a, send));
  assert.ok(reconcileWith.every((x) => x === null), 'only a reversed answer names a peer');
  assert.ok(rounds.every((r) => !r.reversed));
  return { requester: a, rounds };
}

const total = (rounds: ExchangeResult[], k: 'received' | 'sent' | 'dropped') => rounds.reduce((n, r) => n + r[k], 0);

const key = (e: Entry<unknown>) =>
  `${e.id}|${e.stamp.wall}.${e.stamp.counter}.${e.stamp.node}|${e.removed ? 'R' : 'A'}|${e.bytes.toString('hex')}`;

/** Every record of both sets, sorted: replicas that agree dump equal. */
function dump(r: Replica) {
  return {
    origins: [...r.origins.set.entries()].map(key).sort(),
    health: [...r.health.set.entries()].map(key).sort(),
  };
}

/** What plain LWW merging of the replicas' records gives (the state-based join). */
function joined(...rs: Replica[]) {
  const origins = new LwwSet<unknown>();
  const health = new LwwSet<unknown>();
  for (const r of rs) {
    for (const e of r.origins.set.entries()) origins.merge(e);
    for (const e of r.health.set.entries()) health.merge(e);
  }
  return { origins: [...origins.entries()].map(key).sort(), health: [...health.entries()].map(key).sort() };
}

function roots(r: Replica): string {
  return `${r.origins.set.root().join(':')}/${r.health.set.root().join(':')}`;
}

function originEntry(id: string, stamp: Stamp, url = `http://${id}.example/`): Entry<OriginSpec> {
  const value = spec(url);
  return { id, stamp, removed: false, value, bytes: Buffer.from(JSON.stringify(value)) };
}

/** `count` origins (and their verdicts) added `ageMs` ago by `by`, as loaded from a disk. */
function loadOld(n: Node, prefix: string, count: number, wall: Wall, ageMs = 30 * DAY, by = nodeId(9)): void {
  for (let i = 0; i < count; i++) {
    const stamp = { wall: wall.now - ageMs + i, counter: 0, node: by };
    n.r.origins.merge(originEntry(`${prefix}${i}`, stamp), false);
    n.r.health.merge({ id: `${prefix}${i}`, stamp: { ...stamp, counter: 1 }, removed: false, value: up(), bytes: Buffer.from(JSON.stringify(up())) }, false);
  }
}

describe('anti-entropy: repairs', () => {
  /** Runs `check` for a fresh scenario with each side initiating. */
  async function bothWays(setup: (a: Node, b: Node, wall: Wall) => void, check: (a: Node, b: Node) => void) {
    for (const aInitiates of [true, false]) {
      const wall = new Wall();
      const a = node(1, wall, 'A');
      const b = node(2, wall, 'B');
      setup(a, b, wall);
      const rounds = aInitiates ? await sync(a.r, b.r) : await sync(b.r, a.r);
      assert.equal(total(rounds, 'dropped'), 0, 'current replicas never drop');
      assert.equal(roots(a.r), roots(b.r), `roots differ (${aInitiates ? 'A' : 'B'} initiated)`);
      assert.deepEqual(dump(a.r), dump(b.r));
      check(a, b);
    }
  }

  /** Copies every record of `from` into `to` (a past full sync). */
  function copy(from: Node, to: Node) {
    for (const e of from.r.origins.set.entries()) to.r.origins.merge(e);
    for (const e of from.r.health.set.entries()) to.r.health.merge(e);
  }

  test('a missed add', async () => {
    await bothWays(
      (a, b, wall) => {
        a.r.origins.add('keep', spec('http://keep.example/'));
        copy(a, b);
        wall.now += 1000;
        a.r.origins.add('x', spec('http://x.example/'));
      },
      (_a, b) => assert.equal(b.r.origins.set.value('x')?.url, 'http://x.example/'),
    );
  });

  test('a missed delete', async () => {
    await bothWays(
      (a, b, wall) => {
        a.r.origins.add('x', spec('http://x.example/'));
        a.r.origins.add('keep', spec('http://keep.example/'));
        copy(a, b);
        wall.now += 1000;
        assert.equal(a.r.origins.remove('x'), true);
      },
      (_a, b) => {
        assert.equal(b.r.origins.set.value('x'), undefined);
        assert.equal(b.r.origins.set.get('x')?.removed, true);
        assert.ok(b.r.origins.set.value('keep'));
      },
    );
  });

  test('a tombstone-only key (the other side never saw the element at all)', async () => {
    await bothWays(
      (a, _b, wall) => {
        a.r.origins.add('t', spec('http://t.example/'));
        wall.now += 10;
        a.r.origins.remove('t');
        // Only the tombstone is left on A: nothing of t is present anywhere.
        assert.equal(a.r.origins.set.size, 0);
      },
      (a, b) => {
        assert.equal(b.r.origins.set.get('t')?.removed, true);
        assert.equal(b.r.origins.set.records, 1);
        assert.deepEqual(a.r.origins.set.root(), b.r.origins.set.root());
      },
    );
  });

  test('a changed value', async () => {
    await bothWays(
      (a, b, wall) => {
        a.r.origins.add('x', spec('http://old.example/'));
        copy(a, b);
        wall.now += 1000;
        a.r.origins.add('x', spec('http://new.example/'));
      },
      (_a, b) => assert.equal(b.r.origins.set.value('x')?.url, 'http://new.example/'),
    );
  });

  test('both sides changed different things, and the health set too', async () => {
    await bothWays(
      (a, b, wall) => {
        for (let i = 0; i < 20; i++) a.r.origins.add(`o${i}`, spec(`http://o${i}.example/`));
        copy(a, b);
        wall.now += 1000;
        a.r.origins.remove('o1');
        b.r.origins.remove('o2');
        a.r.origins.add('o3', spec('http://a.example/'));
        wall.now += 1;
        b.r.origins.add('o3', spec('http://b.example/')); // later: wins
        b.r.health.add('o4', up());
        a.r.health.add('o5', up('status 200'));
      },
      (a) => {
        assert.equal(a.r.origins.set.value('o1'), undefined);
        assert.equal(a.r.origins.set.value('o2'), undefined);
        assert.equal(a.r.origins.set.value('o3')?.url, 'http://b.example/');
        assert.equal(a.r.origins.set.size, 18);
        assert.equal(a.r.health.set.size, 2);
      },
    );
  });

  test('in sync: one small request and reply (headers carry node id and currency), nothing sent, both synced as of now', async () => {
    const wall = new Wall();
    const a = node(1, wall);
    const b = node(2, wall);
    for (let i = 0; i < 100; i++) a.r.origins.add(`o${i}`, spec(`http://o${i}.example/`));
    await sync(b.r, a.r);
    wall.now += 5000;
    const { bytes, send } = counted(a.r);
    const res = await exchange(b.r, send);
    assert.deepEqual(res, { received: 0, sent: 0, dropped: 0, more: false, reversed: false });
    assert.equal(bytes.messages, 1);
    // Request: version, step, 20-byte id, currency (2 x u48), 2 roots; reply: flag, currency, 2 "equal".
    assert.equal(bytes.out, 2 + 20 + 12 + 1 + 2 * 9);
    assert.equal(bytes.in, 1 + 12 + 1 + 2 * 2);
    assert.equal(a.r.syncedAt, wall.now);
    assert.equal(b.r.syncedAt, wall.now);
    assert.equal(a.r.currency.since, T0, 'both keep the history they started together');
    assert.equal(b.r.currency.since, T0);
  });

  test('more than MAX_TOPS_PER_ROUND differing buckets take several rounds, then agree', async () => {
    const wall = new Wall();
    const a = node(1, wall);
    const b = node(2, wall);
    for (let i = 0; i < 2000; i++) a.r.origins.add(`o${i}`, spec(`http://o${i}.example/`));
    const rounds = await sync(b.r, a.r);
    assert.ok(rounds.length > 1 && rounds[0]!.more, `${rounds.length} rounds`);
    assert.ok(rounds.length <= Math.ceil(64 / MAX_TOPS_PER_ROUND));
    assert.equal(roots(a.r), roots(b.r));
    assert.equal(b.r.origins.set.size, 2000);
    assert.equal(total(rounds, 'received'), 2000);
    assert.equal(total(rounds, 'dropped'), 0);
  });

  test('buckets that cannot be repaired (records a peer cannot decode) do not starve the others', async () => {
    // A holds records B cannot read (a newer version's values: a method this one lacks) in 17 top buckets,
    // more than one round carries, and one ordinary record in the last bucket.
    const topOf = (id: string) => Math.floor(leafOf(id) / LEAVES_PER_TOP);
    const idInTop = (t: number, prefix: string) => {
      for (let i = 0; ; i++) if (topOf(`${prefix}${i}`) === t) return `${prefix}${i}`;
    };
    for (const aInitiates of [true, false]) {
      const wall = new Wall();
      const a = node(1, wall, 'A');
      const b = node(2, wall, 'B');
      for (let t = 0; t <= MAX_TOPS_PER_ROUND; t++) {
        const value = { ...spec('http://future.example/'), method: 'POST' } as unknown as OriginSpec;
        a.r.origins.set.merge({ id: idInTop(t, 'future-'), stamp: { wall: T0, counter: t, node: nodeId(1) }, removed: false, value, bytes: Buffer.from(JSON.stringify(value)) });
      }
      const plain = idInTop(63, 'plain-');
      a.r.origins.add(plain, spec('http://plain.example/'));
      for (let round = 0; round < 8; round++) await exchange(aInitiates ? a.r : b.r, via(aInitiates ? b.r : a.r));
      assert.equal(b.r.origins.set.value(plain)?.url, 'http://plain.example/', `never reached bucket 63 (A initiated: ${aInitiates})`);
    }
  });

  test('property: random divergent replicas, both current, agree after syncing whichever side initiates, and nothing is dropped', async () => {
    const IDS = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const op = fc.record({
      id: fc.constantFrom(...IDS),
      kind: fc.constantFrom('add', 'add', 'remove', 'health', 'old-add', 'old-remove'),
      url: fc.constantFrom('http://a.example/', 'http://b.example/'),
      dt: fc.integer({ min: 0, max: 3 }),
    });
    type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
    // Current: never synced, or synced within the grace period (up to its very edge), with a
    // history starting long before, just before, or (never synced) unknown.
    const currencyArb = fc.constantFrom<Currency>(
      NEVER_SYNCED,
      { syncedAt: T0 - DAY, since: T0 - 30 * DAY },
      { syncedAt: T0 - GRACE + HOUR, since: T0 - GRACE + HOUR },
      { syncedAt: T0, since: T0 - DAY },
    );

    /** Builds A and B: shared history, then each side's own ops; old-* are records loaded from disk, 30 days old. */
    function build(shared: Op[], onlyA: Op[], onlyB: Op[], syncedA: Currency, syncedB: Currency) {
      const wall = new Wall();
      const a = node(1, wall);
      const b = node(2, wall);
      a.r.load([meta(syncedA)]);
      b.r.load([meta(syncedB)]);
      const apply = (n: Node, o: Op, i: number) => {
        wall.now += o.dt;
        if (o.kind === 'add') n.r.origins.add(o.id, spec(o.url));
        else if (o.kind === 'remove') n.r.origins.remove(o.id);
        else if (o.kind === 'health') n.r.health.add(o.id, up(o.url));
        else {
          const stamp = { wall: T0 - 30 * DAY + i, counter: 0, node: n.r.hlc.node };
          const e = o.kind === 'old-add' ? originEntry(o.id, stamp, o.url) : { id: o.id, stamp, removed: true, value: null, bytes: Buffer.alloc(0) };
          n.r.origins.merge(e, false);
        }
      };
      shared.forEach((o, i) => apply(a, o, i));
      for (const e of a.r.origins.set.entries()) b.r.origins.merge(e, false);
      for (const e of a.r.health.set.entries()) b.r.health.merge(e, false);
      onlyA.forEach((o, i) => apply(a, o, 1000 + i));
      onlyB.forEach((o, i) => apply(b, o, 2000 + i));
      return [a, b, wall] as const;
    }

    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 15 }),
        fc.array(op, { maxLength: 10 }),
        fc.array(op, { maxLength: 10 }),
        currencyArb,
        currencyArb,
        async (shared, onlyA, onlyB, syncedA, syncedB) => {
          const [a1, b1, wall1] = build(shared, onlyA, onlyB, syncedA, syncedB);
          const expected = joined(a1.r, b1.r);
          assert.equal(a1.r.staleNextTo(b1.r.currency) || b1.r.staleNextTo(a1.r.currency), false, 'both current');
          const ab = await reconcile(a1.r, b1.r);
          const [a2, b2] = build(shared, onlyA, onlyB, syncedA, syncedB);
          const ba = await reconcile(b2.r, a2.r);
          assert.equal(ab.requester, a1.r, 'no reversal between current replicas');
          assert.equal(ba.requester, b2.r);
          assert.equal(total(ab.rounds, 'dropped') + total(ba.rounds, 'dropped'), 0, 'nothing dropped');
          assert.equal(roots(a1.r), roots(b1.r), 'A->B: roots agree');
          assert.equal(roots(a2.r), roots(b2.r), 'B->A: roots agree');
          assert.deepEqual(dump(a1.r), expected, 'the outcome is the LWW join of both sides');
          assert.deepEqual(dump(b1.r), expected);
          assert.deepEqual(dump(a2.r), expected, 'the outcome does not depend on who initiated');
          for (const r of [a1.r, b1.r]) assert.equal(r.syncedAt, wall1.now, 'both current: synced as of now');
          const since = [syncedA.since, syncedB.since].filter((x) => x > 0);
          assert.equal(a1.r.currency.since, since.length ? Math.min(...since) : wall1.now, 'the earlier history, or from now');
          assert.deepEqual(a1.r.currency, b1.r.currency, 'both agree on their currency');
          // A second exchange finds nothing to do.
          assert.deepEqual(await exchange(a1.r, via(b1.r)), { received: 0, sent: 0, dropped: 0, more: false, reversed: false });
        },
      ),
      { seed: 0xae17, numRuns: 200 },
    );
  });
});

describe('anti-entropy: bytes', () => {
  test('a 100,000-origin set differing in 10 entries: one exchange moves under 1% of the snapshot', async () => {
    const wall = new Wall();
    const a = node(1, wall, 'A');
    const b = node(2, wall, 'B');
    const origin = nodeId(9);
    for (let i = 0; i < 100_000; i++) {
      const e = originEntry(`origin-${i}`, { wall: T0 - DAY + i, counter: 0, node: origin }, `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080/health`);
      a.r.origins.set.merge(e);
      b.r.origins.set.merge(e);
    }
    assert.equal(roots(a.r), roots(b.r));
    // 10 differences: 4 adds and 3 removes on A, 3 changed values on B.
    for (let i = 0; i < 4; i++) a.r.origins.add(`new-${i}`, spec(`http://new-${i}.example/`));
    for (let i = 0; i < 3; i++) a.r.origins.remove(`origin-${1000 + i}`);
    for (let i = 0; i < 3; i++) b.r.origins.add(`origin-${2000 + i}`, spec(`http://changed-${i}.example/`));
    const { bytes, send } = counted(b.r);
    const res = await exchange(a.r, send);
    assert.deepEqual(res, { received: 3, sent: 7, dropped: 0, more: false, reversed: false });
    assert.equal(roots(a.r), roots(b.r), 'one exchange repaired all 10');
    assert.deepEqual(dump(a.r), dump(b.r));
    const snapshotBytes = [...a.r.snapshot()].flat().reduce((n, p) => n + p.length, 0);
    const exchanged = bytes.out + bytes.in;
    const ratio = exchanged / snapshotBytes;
    console.log(
      `anti-entropy bytes (pure, 100,000 origins, 10 differences): sent ${bytes.out} + received ${bytes.in} = ${exchanged} bytes ` +
        `in ${bytes.messages} requests; snapshot ${snapshotBytes} bytes; ratio ${(ratio * 100).toFixed(3)}%`,
    );
    assert.equal(bytes.messages, 3);
    assert.ok(ratio < 0.01, `${exchanged} of ${snapshotBytes} bytes`);
  });
});

/**
 * A, B and C in sync (the cluster's history starts then); then C is away (off, or cut off
 * alone) for longer than the grace period. Meanwhile the cluster removed x (origin and verdict;
 * tombstones collected since) and added n; y is old and live everywhere. C, before it meets
 * anyone again, writes: adds z, changes y2, removes v, all stamped after its syncedAt.
 */
async function away() {
  const wall = new Wall();
  const [a, b, c] = [node(1, wall, 'A'), node(2, wall, 'B'), node(3, wall, 'C')];
  for (const id of ['x', 'y', 'y2', 'v']) a.r.origins.add(id, spec(`http://${id}.example/`));
  a.r.health.add('x', up());
  wall.now += 1000;
  await sync(b.r, a.r);
  await sync(c.r, a.r);
  const cSyncedAt = c.r.syncedAt;
  const cCurrency = c.r.currency;
  assert.deepEqual(cCurrency, { syncedAt: wall.now, since: wall.now });
  assert.ok(c.r.origins.set.get('x')!.stamp.wall < cSyncedAt);

  wall.now += HOUR;
  assert.equal(a.r.origins.remove('x'), true);
  assert.equal(a.r.health.remove('x'), true);
  a.r.origins.add('n', spec('http://n.example/'));
  await sync(b.r, a.r);
  // The cluster goes on syncing (daily here, every second in life): A and B stay current.
  for (let day = 0; day < 8; day++) {
    wall.now += DAY;
    await sync(day % 2 ? a.r : b.r, day % 2 ? b.r : a.r);
  }
  assert.equal(a.r.collectGarbage(), 2);
  assert.equal(b.r.collectGarbage(), 2);
  await sync(a.r, b.r);
  for (const n of [a, b]) {
    assert.equal(n.r.origins.set.get('x'), undefined);
    assert.equal(n.r.health.set.get('x'), undefined);
    assert.deepEqual(n.r.currency, { syncedAt: wall.now, since: cSyncedAt }, 'current, with a history from before C left');
  }
  assert.ok(c.r.origins.set.value('x') && c.r.health.set.value('x'), 'C still holds x');

  wall.now += 1000;
  c.r.origins.add('z', spec('http://z.example/'));
  c.r.origins.add('y2', spec('http://y2-changed.example/'));
  assert.equal(c.r.origins.remove('v'), true);
  assert.deepEqual(c.r.currency, cCurrency, 'local writes do not move the currency');
  assert.equal(c.r.staleNextTo(a.r.currency), true, 'C is stale next to A');
  assert.equal(a.r.staleNextTo(c.r.currency), false, 'A is not stale next to C');
  return { wall, a, b, c, cSyncedAt, cCurrency };
}

/** What every node must hold after C reconciled with the cluster. */
function checkReconciled(n: Node) {
  const o = n.r.origins.set;
  assert.equal(o.get('x'), undefined, `${n.name} holds x`);
  assert.equal(n.r.health.set.get('x'), undefined, `${n.name} holds x's verdict`);
  assert.equal(o.value('y')?.url, 'http://y.example/', `${n.name} lost the old live y`);
  assert.equal(o.value('y2')?.url, 'http://y2-changed.example/', `${n.name} lacks C's change of y2`);
  assert.equal(o.value('z')?.url, 'http://z.example/', `${n.name} lacks C's new z`);
  assert.equal(o.get('v')?.removed, true, `${n.name} lacks C's removal of v`);
  assert.equal(o.value('n')?.url, 'http://n.example/', `${n.name} lacks the cluster's n`);
}

/** An id other than `id` in the same leaf (the same Merkle bucket at every level). */
function sameLeafAs(id: string): string {
  for (let i = 0; ; i++) if (leafOf(`${id}-twin-${i}`) === leafOf(id)) return `${id}-twin-${i}`;
}

describe('anti-entropy: a node away longer than the grace period (no resurrection)', () => {
  test('as the requester it drops x, pushes its own later writes, and is then current', async () => {
    const { wall, a, c } = await away();
    const aSince = a.r.currency.since;
    const changes: { after: Entry<OriginSpec>; before: Entry<OriginSpec> | undefined; source: string }[] = [];
    c.r.origins.onChange((after, before, source) => changes.push({ after, before, source }));
    const { requester, rounds } = await reconcile(c.r, a.r);
    assert.equal(requester, c.r);
    assert.equal(total(rounds, 'dropped'), 2, 'x and its verdict');
    assert.equal(total(rounds, 'sent'), 3, 'z, y2 and the tombstone of v');
    assert.equal(total(rounds, 'received'), 1, 'n');
    for (const n of [a, c]) checkReconciled(n);
    assert.equal(roots(a.r), roots(c.r));
    assert.deepEqual(dump(a.r), dump(c.r));
    assert.deepEqual(c.r.currency, { syncedAt: wall.now, since: aSince }, 'reconciled: current as of now, with the history of A');
    assert.deepEqual(a.r.currency, { syncedAt: wall.now, since: aSince }, 'A (with history) stays current; its history has no gap');
    // Listeners (heck:origins) saw the drop as a removal of x.
    const drop = changes.find((ch) => ch.after.id === 'x');
    assert.ok(drop, 'no change announced for x');
    assert.equal(drop.after.removed, true);
    assert.equal(drop.before?.removed, false);
    assert.equal(drop.source, 'remote');
    assert.deepEqual(JSON.parse(originEvent(drop.after, drop.before)!), { op: 'remove', id: 'x', at: drop.before!.stamp.wall });
    // A second run finds nothing to do, from either side.
    assert.deepEqual(await exchange(c.r, via(a.r)), { received: 0, sent: 0, dropped: 0, more: false, reversed: false });
    assert.deepEqual(await exchange(a.r, via(c.r)), { received: 0, sent: 0, dropped: 0, more: false, reversed: false });
  });

  test('the drop survives a restart from its log (DROP records), and so does the currency', async () => {
    const { wall, a, b, c } = await away();
    await reconcile(c.r, a.r);
    assert.ok(kinds(c.disk).includes(3), 'the drop was logged');
    const again = reload(c, 3, wall);
    assert.equal(again.r.origins.set.get('x'), undefined, 'replaying the log brought x back');
    assert.equal(again.r.health.set.get('x'), undefined);
    assert.deepEqual(dump(again.r), dump(c.r));
    assert.deepEqual(again.r.currency, c.r.currency);
    // And from a compacted snapshot.
    const compacted = node(3, wall, 'C compacted');
    compacted.r.load([...c.r.snapshot()].flat());
    assert.deepEqual(dump(compacted.r), dump(c.r));
    assert.deepEqual(compacted.r.currency, c.r.currency);
    // The restarted node is current: meeting B (either way) drops nothing more and resurrects nothing.
    const { requester, rounds } = await reconcile(b.r, again.r);
    assert.equal(requester, b.r);
    assert.equal(total(rounds, 'dropped'), 0);
    for (const n of [b, again]) checkReconciled(n);
  });

  test('as the responder it answers reversed, naming the requester, changes nothing, then reconciles as the requester', async () => {
    const { wall, a, b, c, cCurrency } = await away();
    const before = { a: dump(a.r), c: dump(c.r), aCurrency: a.r.currency };
    const { bytes, send, reconcileWith } = counted(c.r);
    const res = await exchange(a.r, send);
    assert.deepEqual(res, { received: 0, sent: 0, dropped: 0, more: false, reversed: true });
    assert.deepEqual(reconcileWith, [a.r.nodeId]);
    assert.equal(bytes.messages, 1, 'the exchange stops at step 1');
    assert.deepEqual(dump(a.r), before.a, 'nothing reached A');
    assert.deepEqual(dump(c.r), before.c, 'nothing changed on C yet');
    assert.deepEqual(a.r.currency, before.aCurrency);
    assert.deepEqual(c.r.currency, cCurrency);
    // C then runs the exchange as the requester (the replicator does this on reconcileWith).
    const rounds = await sync(c.r, a.r);
    assert.equal(total(rounds, 'dropped'), 2);
    for (const n of [a, c]) checkReconciled(n);
    assert.equal(c.r.syncedAt, wall.now);
    // Now current, C answers B normally, and B gets C's writes without x.
    const withB = await reconcile(b.r, c.r);
    assert.equal(withB.requester, b.r);
    assert.equal(total(withB.rounds, 'dropped'), 0);
    checkReconciled(b);
  });

  test('exchanges in any order (all 720 orders of the 6 directed pairs) never resurrect x and lose nothing', async () => {
    const pairs = [['a', 'b'], ['b', 'a'], ['a', 'c'], ['c', 'a'], ['b', 'c'], ['c', 'b']] as const;
    const perms = <T>(xs: readonly T[]): T[][] =>
      xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    let orders = 0;
    for (const order of perms(pairs)) {
      const nodes = await away();
      let dropped = 0;
      for (const [from, to] of order) {
        const { requester, rounds } = await reconcile(nodes[from].r, nodes[to].r);
        dropped += total(rounds, 'dropped');
        if (total(rounds, 'dropped') > 0) assert.equal(requester, nodes.c.r, 'only the stale node drops');
        for (const n of [nodes.a, nodes.b]) assert.equal(n.r.origins.set.get('x'), undefined, `${n.name} resurrected x (${order.join(' ')})`);
      }
      assert.equal(dropped, 2);
      for (const n of [nodes.a, nodes.b, nodes.c]) checkReconciled(n);
      assert.equal(new Set([nodes.a, nodes.b, nodes.c].map((n) => roots(n.r))).size, 1);
      orders++;
    }
    assert.equal(orders, 720);
  });

  test('a newer write of x made while the exchange is under way is not dropped', async () => {
    const { a, c } = await away();
    // C (stale, requester) re-adds x after A's step-2 reply left A and before C processes it.
    const send = async (p: Buffer) => {
      const { reply } = answer(a.r, p);
      if (p[1] === 2) c.r.origins.add('x', spec('http://readded.example/'));
      return reply;
    };
    const res = await exchange(c.r, send);
    assert.equal(res.dropped, 1, 'only the verdict of x');
    assert.equal(c.r.origins.set.value('x')?.url, 'http://readded.example/', 'the requester dropped a newer record');
    assert.equal(a.r.origins.set.value('x')?.url, 'http://readded.example/', 'and pushed it');
    assert.equal(c.r.health.set.get('x'), undefined);
  });

  test('what it drops is judged by the syncedAt it was stale at, even if an exchange it answers meanwhile makes it current', async () => {
    const { wall, a, c, cSyncedAt } = await away();
    // Two new nodes that synced with each other (a history that starts after C left, so C joins
    // them, current, when it answers them); D does so while C's exchange with A is under way.
    const [d, e] = [node(4, wall, 'D'), node(5, wall, 'E')];
    await sync(d.r, e.r);
    const send = async (p: Buffer) => {
      const { reply } = answer(a.r, p);
      if (p[1] === 2) {
        wall.now += 1000; // C's own writes are older than now
        await sync(d.r, c.r);
        assert.ok(c.r.syncedAt > cSyncedAt, 'C is current by now');
      }
      return reply;
    };
    const res = await exchange(c.r, send);
    assert.equal(res.dropped, 2, 'x and its verdict, and none of what C wrote after it left');
    for (const n of [a, c]) checkReconciled(n);
    assert.deepEqual(c.r.currency, a.r.currency, 'reconciled with A');
  });

  test('a fresh node that first copies the stale node inherits its staleness; meeting a current node then drops x there, never on the current node', async () => {
    for (const [dFirst, dSecond] of [[true, true], [true, false], [false, true], [false, false]]) {
      const { wall, a, c, cCurrency } = await away();
      const d = node(4, wall, 'D');
      assert.deepEqual(d.r.currency, NEVER_SYNCED);
      const first = dFirst ? await reconcile(d.r, c.r) : await reconcile(c.r, d.r);
      assert.equal(first.requester, dFirst ? d.r : c.r, 'a stale node is not stale next to a fresh one: no reversal');
      assert.equal(first.rounds.length, 1);
      assert.equal(total(first.rounds, 'dropped'), 0);
      assert.ok(d.r.origins.set.value('x'), 'the fresh node copies everything the stale one holds');
      assert.deepEqual(dump(d.r), dump(c.r));
      assert.deepEqual(d.r.currency, inherited(cCurrency), `and inherits its staleness, not its history (D initiated: ${dFirst})`);
      assert.deepEqual(c.r.currency, cCurrency, 'the stale node stays stale');
      assert.equal(d.r.staleNextTo(a.r.currency), true);
      assert.deepEqual(reload(d, 4, wall).r.currency, inherited(cCurrency), 'the inherited currency is logged at once');

      const second = dSecond ? await reconcile(d.r, a.r) : await reconcile(a.r, d.r);
      assert.equal(second.requester, d.r, 'D reconciles as the requester whoever initiates');
      assert.equal(total(second.rounds, 'dropped'), 2);
      for (const n of [a, d]) checkReconciled(n);
      assert.deepEqual(d.r.currency, a.r.currency);
      // C itself meets A later: the same outcome, and all three agree.
      const third = await reconcile(a.r, c.r);
      assert.equal(third.requester, c.r);
      checkReconciled(c);
      assert.equal(new Set([a, c, d].map((n) => roots(n.r))).size, 1, `D initiated: ${dFirst}, ${dSecond}`);
    }
  });

  test('a fresh node copying the stale node is stale from the first record it takes: a current node exchanging with it meanwhile gets nothing stale', async () => {
    const { wall, a, c, cCurrency } = await away();
    const d = node(4, wall, 'D');
    // D (fresh) copies C; between C's records arriving and the end of that exchange, A runs a whole
    // exchange with D (another of D's peers picked it meanwhile).
    let meanwhile: ExchangeResult[] = [];
    const send = async (p: Buffer) => {
      if (p[1] === 3) meanwhile = await sync(a.r, d.r);
      return answer(c.r, p).reply;
    };
    await exchange(d.r, send);
    assert.ok(d.r.origins.set.value('x'), 'D copied x');
    assert.deepEqual(d.r.currency, inherited(cCurrency));
    assert.deepEqual(c.r.currency, cCurrency);
    assert.equal(meanwhile[0]?.reversed, true, 'D, stale already, turned A round');
    assert.equal(a.r.origins.set.get('x'), undefined, 'A took the stale x from D');
    const { requester } = await reconcile(a.r, d.r);
    assert.equal(requester, d.r);
    checkReconciled(a);
    checkReconciled(d);
  });

  test('a stale node is not made current by a push from a current node it did not reconcile with', async () => {
    const { wall, a, c, cCurrency } = await away();
    const d = node(4, wall, 'D');
    // A starts an exchange with D while D is still fresh (no reversal); before A's push arrives, D
    // copies the stale C (and its staleness).
    const send = async (p: Buffer) => {
      if (p[1] === 3) await sync(d.r, c.r);
      return answer(d.r, p).reply;
    };
    await exchange(a.r, send);
    assert.ok(d.r.origins.set.value('x'));
    assert.deepEqual(d.r.currency, inherited(cCurrency), 'the push of a current node lifted D to current');
    const { requester } = await reconcile(a.r, d.r);
    assert.equal(requester, d.r, 'D reconciles as the stale side');
    checkReconciled(a);
    checkReconciled(d);
  });

  test('a node that turns stale while answering a current node (it copied the stale node meanwhile) sends it none of its records', async () => {
    const { wall, a, c, cCurrency } = await away();
    // A holds a record in x's leaf, so that the leaf differs between A and D whatever D holds.
    a.r.origins.add(sameLeafAs('x'), spec('http://twin.example/'));
    const d = node(4, wall, 'D');
    // A's exchange with D (fresh at step 1); before D answers step 2, C pushes its records to D.
    const { send, reconcileWith } = counted(d.r);
    const hooked = async (p: Buffer) => {
      if (p[1] === 2) await sync(c.r, d.r);
      return send(p);
    };
    const res = await exchange(a.r, hooked);
    assert.deepEqual(d.r.currency, inherited(cCurrency), 'D inherited C\'s staleness');
    assert.equal(a.r.origins.set.get('x'), undefined, 'D sent A the stale x');
    assert.equal(a.r.health.set.get('x'), undefined);
    assert.equal(res.received, 0);
    assert.equal(res.more, true, 'A is told to run another round');
    assert.deepEqual(reconcileWith, [null, null, null]);
    // Its next round finds D stale: reversed, and D reconciles.
    const { requester, rounds } = await reconcile(a.r, d.r);
    assert.equal(requester, d.r);
    assert.equal(total(rounds, 'dropped'), 2);
    checkReconciled(a);
    checkReconciled(d);
  });

  test('a node that turns stale while it runs an exchange with a current node (it copied the stale node meanwhile) holds back its old records', async () => {
    const { wall, a, c, cCurrency } = await away();
    a.r.origins.add(sameLeafAs('x'), spec('http://twin.example/'));
    const d = node(4, wall, 'D');
    // D's exchange with A (D fresh at step 1); after A's step-2 reply and before D reads it, C
    // pushes its records to D.
    const send = async (p: Buffer) => {
      const { reply } = answer(a.r, p);
      if (p[1] === 2) await sync(c.r, d.r);
      return reply;
    };
    const res = await exchange(d.r, send);
    assert.deepEqual(d.r.currency, inherited(cCurrency), 'D inherited C\'s staleness, and the exchange with A did not lift it');
    assert.equal(a.r.origins.set.get('x'), undefined, 'D pushed the stale x to A');
    assert.equal(res.dropped, 0, 'D was not stale when the exchange began: it drops nothing');
    assert.equal(res.more, true, 'D runs another round');
    assert.ok(d.r.origins.set.value('x'), 'held back, not dropped');
    const { requester, rounds } = await reconcile(d.r, a.r);
    assert.equal(requester, d.r);
    assert.equal(total(rounds, 'dropped'), 2);
    checkReconciled(a);
    checkReconciled(d);
  });
});

describe('anti-entropy: nothing is dropped between current replicas (old origins are kept)', () => {
  /** A and B, a cluster in sync, holding `count` origins (and verdicts) added 30 days ago. */
  async function oldCluster(wall: Wall, count: number) {
    const a = node(1, wall, 'A');
    const b = node(2, wall, 'B');
    loadOld(a, 'o', count, wall);
    await sync(b.r, a.r);
    assert.equal(a.r.syncedAt, wall.now);
    wall.now += HOUR;
    return { a, b };
  }

  test('a fresh node copies 1,000 30-day-old origins and their verdicts from a current cluster; nobody drops any', async () => {
    for (const newNodeInitiates of [true, false]) {
      const wall = new Wall();
      const { a } = await oldCluster(wall, 1000);
      const d = node(3, wall, 'D');
      const { requester, rounds } = newNodeInitiates ? await reconcile(d.r, a.r) : await reconcile(a.r, d.r);
      assert.equal(requester, newNodeInitiates ? d.r : a.r);
      assert.ok(rounds.length > 1, 'the copy takes several rounds (more than MAX_TOPS_PER_ROUND buckets differ)');
      assert.equal(total(rounds, 'dropped'), 0);
      assert.equal(a.r.origins.set.size, 1000, `A lost origins (new node initiated: ${newNodeInitiates})`);
      assert.equal(a.r.health.set.size, 1000, `A lost verdicts (new node initiated: ${newNodeInitiates})`);
      assert.equal(d.r.origins.set.size, 1000, `D got ${d.r.origins.set.size} origins (new node initiated: ${newNodeInitiates})`);
      assert.equal(d.r.health.set.size, 1000);
      assert.equal(roots(a.r), roots(d.r));
      assert.deepEqual(d.r.currency, a.r.currency, 'a fresh node that copied a current one is current, with its history');
    }
  });

  test('two fresh nodes that exchange with each other first, then meet a cluster with 30-day-old origins, get everything and drop nothing', async () => {
    for (const [dInitiates, eInitiates] of [[true, true], [false, false], [true, false], [false, true]]) {
      const wall = new Wall();
      const { a, b } = await oldCluster(wall, 50);
      const [d, e] = [node(3, wall, 'D'), node(4, wall, 'E')];
      // Both new nodes already got the same fresh delta by gossip.
      const fresh = originEntry('fresh', { wall: wall.now, counter: 0, node: nodeId(1) });
      for (const n of [a, d, e]) n.r.origins.merge(fresh);
      const first = await reconcile(d.r, e.r); // equal roots: both synced as of now
      assert.deepEqual(first.rounds, [{ received: 0, sent: 0, dropped: 0, more: false, reversed: false }]);
      assert.deepEqual(d.r.currency, { syncedAt: wall.now, since: wall.now });
      assert.deepEqual(e.r.currency, { syncedAt: wall.now, since: wall.now });
      wall.now += 1000;
      const withD = dInitiates ? await reconcile(d.r, a.r) : await reconcile(a.r, d.r);
      const withE = eInitiates ? await reconcile(e.r, b.r) : await reconcile(b.r, e.r);
      assert.equal(total(withD.rounds, 'dropped') + total(withE.rounds, 'dropped'), 0);
      for (const n of [a, b, d, e]) {
        assert.equal(n.r.origins.set.size, 51, `${n.name} holds ${n.r.origins.set.size} of 51 origins`);
        assert.equal(n.r.health.set.size, 50);
        assert.equal(n.r.currency.since, a.r.currency.since, `${n.name} has the cluster's (earlier) history`);
      }
      assert.equal(new Set([a, b, d, e].map((n) => roots(n.r))).size, 1);
    }
  });

  test('a fresh node that took a write before its first sync is not stale and drops nothing', async () => {
    for (const newNodeInitiates of [true, false]) {
      const wall = new Wall();
      const { a } = await oldCluster(wall, 50);
      const d = node(3, wall, 'D');
      d.r.origins.add('mine', spec('http://mine.example/'));
      d.r.origins.merge(originEntry('gossiped', { wall: wall.now - 5, counter: 0, node: nodeId(2) }));
      assert.deepEqual(d.r.currency, NEVER_SYNCED);
      assert.equal(d.r.staleNextTo(a.r.currency), false);
      assert.equal(d.r.staleNextTo(NEVER_SYNCED), false);
      const { rounds } = newNodeInitiates ? await reconcile(d.r, a.r) : await reconcile(a.r, d.r);
      assert.equal(total(rounds, 'dropped'), 0);
      for (const n of [a, d]) {
        assert.equal(n.r.origins.set.size, 52, `${n.name} (new node initiated: ${newNodeInitiates})`);
        assert.ok(n.r.origins.set.value('mine') && n.r.origins.set.value('gossiped') && n.r.origins.set.value('o0'));
      }
      assert.equal(d.r.syncedAt, wall.now);
    }
  });

  test('two independent clusters (both current) with old origins merge into the union; nothing dropped', async () => {
    const wall = new Wall();
    const [a, b, c, d] = [node(1, wall, 'A'), node(2, wall, 'B'), node(3, wall, 'C'), node(4, wall, 'D')];
    loadOld(a, 'first-', 300, wall, 30 * DAY, nodeId(8));
    loadOld(c, 'second-', 300, wall, 60 * DAY, nodeId(9));
    // One element both clusters hold, written differently: the later write wins everywhere.
    a.r.origins.merge(originEntry('shared', { wall: wall.now - 20 * DAY, counter: 0, node: nodeId(8) }, 'http://first.example/'), false);
    c.r.origins.merge(originEntry('shared', { wall: wall.now - 10 * DAY, counter: 0, node: nodeId(9) }, 'http://second.example/'), false);
    // A removal inside the grace period on one side, of an element the other never had.
    a.r.origins.add('gone', spec('http://gone.example/'));
    wall.now += 10;
    a.r.origins.remove('gone');
    await sync(b.r, a.r);
    const firstSince = wall.now;
    wall.now += HOUR;
    await sync(d.r, c.r);
    wall.now += DAY;
    await sync(a.r, b.r);
    await sync(c.r, d.r);
    assert.equal(c.r.currency.since, firstSince + HOUR, 'the second cluster\'s history starts later');
    const expected = joined(a.r, c.r);
    wall.now += HOUR;
    // CLUSTER MEET: every pair exchanges, in both directions.
    let dropped = 0;
    for (const [x, y] of [[a, c], [d, b], [b, c], [d, a], [c, a], [b, d]] as const) {
      const { requester, rounds } = await reconcile(x.r, y.r);
      assert.equal(requester, x.r);
      dropped += total(rounds, 'dropped');
    }
    assert.equal(dropped, 0);
    for (const n of [a, b, c, d]) {
      assert.deepEqual(dump(n.r), expected, `${n.name} holds the union`);
      assert.equal(n.r.origins.set.size, 601);
      assert.equal(n.r.origins.set.value('shared')?.url, 'http://second.example/');
      assert.equal(n.r.origins.set.get('gone')?.removed, true);
      assert.deepEqual(n.r.currency, { syncedAt: wall.now, since: firstSince }, `${n.name}: current, with the earlier history`);
    }
  });
});

describe('anti-entropy: a lone survivor alone longer than the grace period, and new nodes (nothing is dropped)', () => {
  /**
   * C: the last node of a cluster whose history began 40 days ago, alone for the last 10 days,
   * holding `count` origins (and verdicts) added 30 days ago, and one it added while alone.
   */
  function survivor(wall: Wall, count: number): Node {
    const c = withCurrency(3, wall, { syncedAt: wall.now - 10 * DAY, since: wall.now - 40 * DAY }, 'C');
    loadOld(c, 'o', count, wall);
    c.r.origins.add('alone', spec('http://alone.example/'));
    return c;
  }

  test('two fresh nodes that synced only with each other, then the survivor: nothing dropped, the union everywhere, whichever side initiates', async () => {
    for (const [cInitiates, eMeets] of [[true, 'C'], [false, 'D'], [true, 'D'], [false, 'C']] as const) {
      const wall = new Wall();
      const c = survivor(wall, 50);
      const [d, e] = [node(4, wall, 'D'), node(5, wall, 'E')];
      d.r.origins.add('from-d', spec('http://d.example/'));
      wall.now += 1000;
      await reconcile(d.r, e.r);
      const history = wall.now;
      assert.deepEqual(d.r.currency, { syncedAt: history, since: history }, 'two fresh nodes: current, with a history from now');
      assert.deepEqual(e.r.currency, d.r.currency);
      assert.equal(c.r.staleNextTo(d.r.currency), false, 'a history that starts after C was last in sync checks nothing');
      wall.now += 1000;
      const first = cInitiates ? await reconcile(c.r, d.r) : await reconcile(d.r, c.r);
      assert.equal(first.requester, cInitiates ? c.r : d.r, 'no reversal');
      assert.ok(first.rounds.length > 1, 'several rounds');
      assert.equal(total(first.rounds, 'dropped'), 0, `C initiated: ${cInitiates}`);
      assert.deepEqual(c.r.currency, { syncedAt: wall.now, since: history }, 'C joins them: current, with their history');
      assert.deepEqual(d.r.currency, { syncedAt: wall.now, since: history }, 'D (with history) stays current');
      wall.now += 1000;
      const second = await reconcile(e.r, eMeets === 'C' ? c.r : d.r);
      assert.equal(total(second.rounds, 'dropped'), 0);
      for (const n of [c, d, e]) {
        assert.equal(n.r.origins.set.size, 52, `${n.name} holds ${n.r.origins.set.size} of 52 origins`);
        assert.equal(n.r.health.set.size, 50);
        assert.ok(n.r.origins.set.value('alone') && n.r.origins.set.value('from-d') && n.r.origins.set.value('o49'));
        assert.equal(n.r.currency.since, history);
      }
      assert.equal(new Set([c, d, e].map((n) => roots(n.r))).size, 1);
      assert.ok(isCurrentNow(e, wall));
    }
  });

  test('fresh nodes that copy the survivor first inherit its staleness, then carry on with it as a current cluster; nothing dropped', async () => {
    for (const dInitiates of [true, false]) {
      const wall = new Wall();
      const c = survivor(wall, 8); // small enough to be copied in one round
      const cCurrency = c.r.currency;
      const [d, e] = [node(4, wall, 'D'), node(5, wall, 'E')];
      const first = dInitiates ? await reconcile(d.r, c.r) : await reconcile(c.r, d.r);
      assert.equal(first.rounds.length, 1);
      assert.deepEqual(d.r.currency, inherited(cCurrency), 'D inherits the survivor\'s staleness (not its history)');
      await reconcile(e.r, d.r);
      assert.deepEqual(e.r.currency, inherited(cCurrency), 'so does E, copying D');
      // Two stale replicas (a cluster that was down as a whole, as far as they can tell) pick up
      // where they stopped: current; copies without history start one now.
      wall.now += 1000;
      const both = await reconcile(d.r, e.r);
      assert.equal(total(both.rounds, 'dropped'), 0);
      const history = wall.now;
      for (const n of [d, e]) assert.deepEqual(n.r.currency, { syncedAt: history, since: history });
      // Their history starts after the survivor was last in sync: it joins them, checked by nobody.
      assert.equal(c.r.staleNextTo(d.r.currency), false);
      wall.now += 1000;
      const last = await reconcile(d.r, c.r);
      assert.equal(last.requester, d.r);
      assert.equal(total(last.rounds, 'dropped'), 0);
      assert.deepEqual(c.r.currency, { syncedAt: wall.now, since: history });
      for (const n of [c, d, e]) {
        assert.equal(n.r.origins.set.size, 9);
        assert.equal(n.r.health.set.size, 8);
        assert.ok(isCurrentNow(n, wall), `${n.name} is current`);
      }
      assert.equal(new Set([c, d, e].map((n) => roots(n.r))).size, 1);
    }
  });

  test('property: a survivor too large for one round and two new nodes, exchanging single rounds in any order, lose nothing', async () => {
    // When a copy took the stale node's history too, one round C -> D (a partial copy) and the next
    // C -> D made D current with C's history (both stale -> current) though partial, and C, still
    // stale, then reconciled against it and dropped for good whatever D had not copied yet.
    const pairs = [['C', 'D'], ['D', 'C'], ['C', 'E'], ['E', 'C'], ['D', 'E'], ['E', 'D']] as const;
    let runsWithTransientDrops = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...pairs), { minLength: 1, maxLength: 10 }), fc.boolean(), async (order, meetFirst) => {
        const wall = new Wall();
        const c = survivor(wall, 120);
        const nodes = { C: c, D: node(4, wall, 'D'), E: node(5, wall, 'E') };
        if (meetFirst) await reconcile(nodes.D.r, nodes.E.r);
        let dropped = 0;
        for (const [from, to] of order) {
          wall.now += 1000;
          // One round, as one period of the replicators does it when its chain is cut short.
          const res = await exchange(nodes[from].r, via(nodes[to].r));
          dropped += res.dropped;
          if (res.reversed) dropped += (await exchange(nodes[to].r, via(nodes[from].r))).dropped;
        }
        // Then everyone syncs fully with everyone.
        for (const [from, to] of [...pairs, ...pairs]) {
          wall.now += 1000;
          dropped += total((await reconcile(nodes[from].r, nodes[to].r)).rounds, 'dropped');
        }
        for (const n of Object.values(nodes)) {
          assert.equal(n.r.origins.set.size, 121, `${n.name} holds ${n.r.origins.set.size} of 121 (${order.map((p) => p.join('>')).join(' ')})`);
          assert.equal(n.r.health.set.size, 120);
        }
        if (dropped > 0) runsWithTransientDrops++;
      }),
      { seed: 0x1055, numRuns: 150 },
    );
    // Drops of records another replica still holds (a responder partway through a copy counts as
    // current): they come back, but clients see them removed and added again. See the known limits.
    assert.ok(runsWithTransientDrops < 150);
  });

  test('the three then protect removals again: one of them away longer than the grace period drops what they removed meanwhile', async () => {
    const wall = new Wall();
    const c = survivor(wall, 20);
    const [d, e] = [node(4, wall, 'D'), node(5, wall, 'E')];
    await reconcile(d.r, e.r);
    wall.now += 1000;
    await reconcile(c.r, d.r);
    await reconcile(e.r, c.r);
    assert.equal(new Set([c, d, e].map((n) => roots(n.r))).size, 1);
    // E goes away; C and D remove o0, keep syncing, collect its tombstone.
    wall.now += HOUR;
    assert.equal(c.r.origins.remove('o0'), true);
    assert.equal(c.r.health.remove('o0'), true);
    await reconcile(d.r, c.r);
    for (let day = 0; day < 8; day++) {
      wall.now += DAY;
      await reconcile(day % 2 ? c.r : d.r, day % 2 ? d.r : c.r);
    }
    assert.equal(c.r.collectGarbage() + d.r.collectGarbage(), 4);
    // E comes back: stale next to D and C, it drops o0 whichever side initiates.
    assert.equal(e.r.staleNextTo(d.r.currency), true);
    const back = await reconcile(d.r, e.r);
    assert.equal(back.requester, e.r);
    assert.equal(total(back.rounds, 'dropped'), 2, 'o0 and its verdict');
    for (const n of [c, d, e]) {
      assert.equal(n.r.origins.set.get('o0'), undefined, `${n.name} holds o0`);
      assert.equal(n.r.health.set.get('o0'), undefined);
      assert.equal(n.r.origins.set.size, 20, 'o1..o19 and "alone"');
    }
  });
});

/** Whether a replica is current (synced within the grace period, or never) at the wall's time. */
function isCurrentNow(n: Node, wall: Wall): boolean {
  return n.r.syncedAt === 0 || wall.now - n.r.syncedAt <= GRACE;
}

describe('anti-entropy: a whole cluster down longer than the grace period', () => {
  test('its nodes pick up where they stopped: current again, with their history; nothing dropped, nothing lost', async () => {
    const wall = new Wall();
    const [a, b, c] = [node(1, wall, 'A'), node(2, wall, 'B'), node(3, wall, 'C')];
    loadOld(a, 'o', 40, wall);
    a.r.origins.add('x', spec('http://x.example/'));
    await reconcile(b.r, a.r);
    await reconcile(c.r, a.r);
    const since = a.r.currency.since;
    wall.now += HOUR;
    assert.equal(a.r.origins.remove('x'), true);
    await reconcile(a.r, b.r);
    await reconcile(c.r, b.r);
    const before = dump(a.r);
    // All three off for 30 days, restarted from their logs: all stale.
    wall.now += 30 * DAY;
    const [a2, b2, c2] = [reload(a, 1, wall), reload(b, 2, wall), reload(c, 3, wall)];
    for (const n of [a2, b2, c2]) assert.ok(!isCurrentNow(n, wall));
    for (const [x, y] of [[a2, b2], [b2, c2], [c2, a2]] as const) {
      assert.equal(x.r.staleNextTo(y.r.currency), false, 'a stale peer is no reference');
    }
    const first = await reconcile(a2.r, b2.r);
    assert.equal(total(first.rounds, 'dropped'), 0);
    for (const n of [a2, b2]) assert.deepEqual(n.r.currency, { syncedAt: wall.now, since });
    // C meets them later: stale next to them (their history is unbroken back to before it left).
    wall.now += 1000;
    assert.equal(c2.r.staleNextTo(a2.r.currency), true);
    const second = await reconcile(a2.r, c2.r);
    assert.equal(second.requester, c2.r);
    assert.equal(total(second.rounds, 'dropped'), 0, 'it held nothing they lack');
    for (const n of [a2, b2, c2]) {
      assert.deepEqual(dump(n.r), before, `${n.name} lost or resurrected something`);
      assert.ok(isCurrentNow(n, wall));
    }
  });
});

describe('Replica: currency and the staleness rule', () => {
  test('staleNextTo() and synced() apply currency.ts with the replica\'s wall clock and grace period', () => {
    const wall = new Wall();
    const r = withCurrency(1, wall, { syncedAt: T0 - GRACE, since: T0 - 20 * DAY }).r;
    const peer = { syncedAt: T0, since: T0 - 30 * DAY };
    assert.equal(r.staleNextTo(peer), false, 'synced exactly a grace period ago: still current');
    wall.now += 1;
    assert.equal(r.staleNextTo(peer), true, 'a millisecond later: stale');
    assert.equal(r.staleNextTo({ syncedAt: T0, since: T0 - GRACE + 1 }), false, 'not next to a peer whose history starts after');
    assert.equal(r.staleNextTo({ syncedAt: T0, since: 0 }), false, 'nor next to one without history');
    r.synced(peer, true);
    assert.deepEqual(r.currency, { syncedAt: wall.now, since: peer.since });
    // The grace period is the replica's own.
    const short = node(2, wall, 'short', 60_000);
    short.r.load([meta({ syncedAt: wall.now - 60_001, since: wall.now - DAY })]);
    assert.equal(short.r.staleNextTo({ syncedAt: wall.now, since: wall.now - DAY }), true);
  });

  test('taking(): a replica without history inherits a stale peer\'s staleness (its syncedAt, not its history) at once, and logs it; one with history, or next to a current peer, does not', () => {
    const wall = new Wall();
    const stale = { syncedAt: T0 - 10 * DAY, since: T0 - 40 * DAY };
    const fresh = node(1, wall);
    fresh.r.taking({ syncedAt: T0, since: T0 - DAY });
    assert.deepEqual(fresh.r.currency, NEVER_SYNCED, 'a current peer: nothing to inherit');
    fresh.r.taking(stale);
    assert.deepEqual(fresh.r.currency, { syncedAt: stale.syncedAt, since: 0 });
    assert.deepEqual(reload(fresh, 1, wall).r.currency, { syncedAt: stale.syncedAt, since: 0 });
    const withHistory = withCurrency(2, wall, { syncedAt: T0 - HOUR, since: T0 - DAY });
    withHistory.r.taking(stale);
    assert.deepEqual(withHistory.r.currency, { syncedAt: T0 - HOUR, since: T0 - DAY });
  });

  test('the currency is persisted (syncedAt throttled: once a minute, or a tenth of a shorter grace; a new since at once), and reloaded from the log and a snapshot', async () => {
    const wall = new Wall();
    const a = node(1, wall, 'A');
    const b = node(2, wall, 'B');
    assert.deepEqual(a.r.currency, NEVER_SYNCED);
    await sync(a.r, b.r);
    assert.deepEqual(a.r.currency, { syncedAt: T0, since: T0 });
    assert.deepEqual(reload(a, 1, wall).r.currency, { syncedAt: T0, since: T0 }, 'the first currency is logged at once');
    const metas = () => kinds(a.disk).filter((k) => k === 2).length;
    assert.equal(metas(), 1);
    wall.now += 30_000;
    await sync(a.r, b.r);
    assert.equal(a.r.syncedAt, T0 + 30_000);
    assert.equal(metas(), 1, 'not logged again within a minute');
    assert.deepEqual(reload(a, 1, wall).r.currency, { syncedAt: T0, since: T0 }, 'a reload finds the older value');
    wall.now += 30_000;
    await sync(a.r, b.r);
    assert.equal(metas(), 2);
    assert.deepEqual(reload(a, 1, wall).r.currency, { syncedAt: T0 + 60_000, since: T0 });
    // A change of history is logged at once: A meets a current node whose history is older.
    wall.now += 1000;
    const old = withCurrency(3, wall, { syncedAt: wall.now - HOUR, since: T0 - 5 * DAY });
    await sync(a.r, old.r);
    assert.equal(metas(), 3);
    assert.deepEqual(reload(a, 1, wall).r.currency, { syncedAt: T0 + 61_000, since: T0 - 5 * DAY });
    // A snapshot carries the exact value.
    wall.now += 1000;
    await sync(a.r, b.r);
    const snap = node(1, wall);
    snap.r.load([...a.r.snapshot()].flat());
    assert.deepEqual(snap.r.currency, { syncedAt: T0 + 62_000, since: T0 - 5 * DAY });
    // With a grace period of 60 s (the shortest allowed) it is logged every 6 s: a cluster restarted at
    // once must not come back stale because of the lag.
    const s = node(3, wall, 'S', 60_000);
    const t = node(4, wall, 'T', 60_000);
    await sync(s.r, t.r);
    for (let i = 0; i < 10; i++) {
      wall.now += 1000;
      await sync(s.r, t.r);
    }
    assert.equal(kinds(s.disk).filter((k) => k === 2).length, 2, 'at 0 s and 6 s');
    const back = node(3, wall, 'S again', 60_000);
    back.r.load(s.disk);
    assert.ok(s.r.syncedAt - back.r.syncedAt <= 6000);
  });

  test('a reload takes the last META record, the order the log was written in (a currency can move back: a fresh node inheriting a stale one)', () => {
    const wall = new Wall();
    const n = node(1, wall);
    n.r.load([meta({ syncedAt: T0 - 5, since: T0 - 9 }), meta({ syncedAt: T0 - 50, since: T0 - 60 }), meta({ syncedAt: T0 - 7, since: T0 - 8 })]);
    assert.deepEqual(n.r.currency, { syncedAt: T0 - 7, since: T0 - 8 });
    // META records of earlier formats (a seeded flag; a lone syncedAt) are unreadable: skipped.
    const legacy = node(2, wall);
    const w = new ByteWriter();
    w.u8(2);
    w.u48(T0);
    assert.equal(legacy.r.load([Buffer.from([2, 1]), w.done()]), 2);
    assert.deepEqual(legacy.r.currency, NEVER_SYNCED);
  });
});

describe('anti-entropy: known limits of the rule', () => {
  test('two nodes away together that meet each other before the cluster pick up where they stopped, and bring back what the cluster removed (as a partition that outlived the grace period does)', async () => {
    const { wall, a, c, cSyncedAt } = await away();
    // E was in the cluster with C and went away with it (same state, a little later).
    const e = node(5, wall, 'E');
    for (const x of c.r.origins.set.entries()) if (x.stamp.wall < cSyncedAt) e.r.origins.merge(x, false);
    for (const x of c.r.health.set.entries()) if (x.stamp.wall < cSyncedAt) e.r.health.merge(x, false);
    e.r.load([meta({ syncedAt: cSyncedAt + 10, since: c.r.currency.since })]);
    const met = await reconcile(e.r, c.r);
    assert.equal(total(met.rounds, 'dropped'), 0);
    for (const n of [c, e]) assert.deepEqual(n.r.currency, { syncedAt: wall.now, since: cSyncedAt }, 'both stale: current, with the earlier history');
    assert.equal(c.r.staleNextTo(a.r.currency), false);
    const { rounds } = await reconcile(a.r, c.r);
    assert.equal(total(rounds, 'dropped'), 0);
    assert.ok(a.r.origins.set.value('x'), 'x is back on A');
  });

  test('a fresh node that copied the stale node carries on with it after one more exchange between them (both stale), before either meets the cluster', async () => {
    const { wall, a, c, cCurrency } = await away();
    const d = node(4, wall, 'D');
    await reconcile(d.r, c.r);
    assert.deepEqual(d.r.currency, inherited(cCurrency));
    wall.now += 1000;
    await reconcile(c.r, d.r);
    assert.deepEqual(c.r.currency, { syncedAt: wall.now, since: cCurrency.since }, 'C: current, with its history');
    assert.deepEqual(d.r.currency, { syncedAt: wall.now, since: wall.now }, 'D: current, its own history from now');
    for (const n of [c, d]) assert.equal(n.r.staleNextTo(a.r.currency), false, `${n.name} is no longer reconciled by the cluster`);
    const { rounds } = await reconcile(a.r, c.r);
    assert.equal(total(rounds, 'dropped'), 0);
    assert.ok(a.r.origins.set.value('x'), 'x is back on A');
  });

  test(
    'a node away longer than the grace period drops nothing the cluster still holds, even next to a new node partway through its copy',
    {
      todo:
        'anti-entropy.ts answer(): a responder takes the currency of the requester at every push ("as far as it can see"), ' +
        'so a new node copying a current node over several rounds is current, with its history, after the first: a stale ' +
        'node reconciling against it then drops what it has not copied yet. Nothing is lost for good (the cluster still ' +
        'holds those records and they come back), but heck:origins announces them removed, then added again',
    },
    async () => {
      const wall = new Wall();
      const [a, g] = [node(1, wall, 'A'), node(7, wall, 'G')];
      loadOld(a, 'o', 200, wall);
      await reconcile(g.r, a.r);
      // G goes away for 10 days; the cluster (A) goes on.
      wall.now += 10 * DAY;
      a.r.load([meta({ syncedAt: wall.now, since: a.r.currency.since })]);
      // A new node F: A runs the first round of its copy to F (of several).
      const f = node(6, wall, 'F');
      const first = await exchange(a.r, via(f.r));
      assert.ok(first.more && f.r.origins.set.size < 200);
      const { rounds } = await reconcile(g.r, f.r);
      assert.equal(total(rounds, 'dropped'), 0, `G dropped ${total(rounds, 'dropped')} records A still holds`);
    },
  );

  test(
    'a fresh node that copies a stale node too large for one round inherits its staleness, as after a one-round copy',
    {
      todo:
        'anti-entropy.ts: the rounds of one copy after the first are exchanges between two stale replicas (the copy already ' +
        'inherited the staleness), so both become current (afterExchange: both stale -> now) mid-copy, and the stale records ' +
        'reach the cluster unchecked (nothing is lost: the same as a later exchange between them, see above); "fresh copies ' +
        'stale -> inherits" holds only for copies that take one round (up to MAX_TOPS_PER_ROUND differing top buckets per set)',
    },
    async () => {
      for (const dInitiates of [true, false]) {
        const wall = new Wall();
        const c = withCurrency(3, wall, { syncedAt: wall.now - 10 * DAY, since: wall.now - 40 * DAY }, 'C');
        loadOld(c, 'o', 200, wall);
        const cCurrency = c.r.currency;
        const d = node(4, wall, 'D');
        const { rounds } = dInitiates ? await reconcile(d.r, c.r) : await reconcile(c.r, d.r);
        assert.ok(rounds.length > 1);
        assert.equal(d.r.origins.set.size, 200);
        assert.deepEqual(d.r.currency, inherited(cCurrency), `D initiated: ${dInitiates}`);
        assert.deepEqual(c.r.currency, cCurrency);
      }
    },
  );
});

describe('Replica: local writes', () => {
  test('a local write beats the record it replaces even when that record was stamped beyond maxClockAhead', () => {
    const wall = new Wall();
    const a = node(1, wall);
    // A peer with a clock 10 minutes ahead: merged, but our clock does not adopt its time.
    const future = originEntry('x', { wall: T0 + 600_000, counter: 0, node: nodeId(2) });
    assert.equal(a.r.origins.merge(future), 'applied');
    assert.ok(a.r.hlc.now().wall < future.stamp.wall);
    let changes = 0;
    a.r.origins.onChange(() => changes++);
    assert.equal(a.r.origins.remove('x'), true);
    assert.equal(a.r.origins.set.value('x'), undefined, 'the remove took effect');
    a.r.origins.add('x', spec('http://again.example/'));
    assert.equal(a.r.origins.set.value('x')?.url, 'http://again.example/', 'the re-add took effect');
    assert.equal(changes, 2);
    // And the log replays to the same state.
    const again = node(1, wall);
    again.r.load(a.disk);
    assert.deepEqual(dump(again.r), dump(a.r));
  });
});

describe('anti-entropy: hostile input', () => {
  test('answer() throws DecodeError, and only that, on garbage', () => {
    const wall = new Wall();
    const a = node(1, wall);
    a.r.origins.add('x', spec('http://x.example/'));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(rnd() * 64);
      let p: Buffer = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      if (i % 3 === 0) {
        // A valid header (version, step, node id, currency), then a random body.
        const w = new ByteWriter();
        w.u8(1);
        w.u8(1 + (i % 4));
        w.id(nodeId(7));
        w.u48(Math.floor(rnd() * T0));
        w.u48(Math.floor(rnd() * T0));
        w.bytes(p);
        p = w.done();
      }
      try {
        answer(a.r, p);
      } catch (e) {
        assert.ok(e instanceof DecodeError, `threw ${String(e)} on ${p.toString('hex')}`);
      }
    }
    assert.ok(a.r.origins.set.value('x'));
  });

  test('exchange() rejects on a malformed reply', async () => {
    const wall = new Wall();
    const a = node(1, wall);
    a.r.origins.add('x', spec('http://x.example/'));
    await assert.rejects(exchange(a.r, async () => Buffer.from([9, 9, 9])), DecodeError);
    await assert.rejects(exchange(a.r, async () => Buffer.alloc(0)), DecodeError);
    await assert.rejects(exchange(a.r, async () => Buffer.from([0, 0, 0])), DecodeError);
  });
});
