import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Stamp } from '../../../src/crdt/hlc.js';
import { leafOf, LEAVES_PER_TOP, type Entry } from '../../../src/crdt/lww-set.js';
import { UNKNOWN_HEALTH, type HealthRecord } from '../../../src/probe/health.js';
import { SPEC_DEFAULTS, type OriginSpec } from '../../../src/probe/spec.js';
import { answer, exchange, MAX_TOPS_PER_ROUND, type ExchangeResult } from '../../../src/replication/anti-entropy.js';
import { Replica } from '../../../src/replication/replica.js';
import { DecodeError } from '../../../src/runtime/bytes.js';

const DAY = 86_400_000;
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

function node(n: number, wall: Wall, name = `n${n}`): Node {
  const disk: Buffer[] = [];
  const r = new Replica({
    nodeId: nodeId(n),
    wallNow: () => wall.now,
    tombstoneGraceMs: GRACE,
    maxClockAheadMs: 60_000,
    persist: (p) => disk.push(p),
  });
  return { r, disk, name };
}

/** The requester's send(): the other replica answers in-process. */
const via = (responder: Replica) => async (p: Buffer) => answer(responder, p);

/** Like via(), counting the bytes each way. */
function counted(responder: Replica) {
  const bytes = { out: 0, in: 0, messages: 0 };
  const send = async (p: Buffer) => {
    bytes.out += p.length;
    bytes.messages++;
    const reply = answer(responder, p);
    bytes.in += reply.length;
    return reply;
  };
  return { bytes, send };
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

const key = (e: Entry<unknown>) =>
  `${e.id}|${e.stamp.wall}.${e.stamp.counter}.${e.stamp.node}|${e.removed ? 'R' : 'A'}|${e.bytes.toString('hex')}`;

/** Every record of both sets, sorted: replicas that agree dump equal. */
function dump(r: Replica) {
  return {
    origins: [...r.origins.set.entries()].map(key).sort(),
    health: [...r.health.set.entries()].map(key).sort(),
  };
}

function roots(r: Replica): string {
  return `${r.origins.set.root().join(':')}/${r.health.set.root().join(':')}`;
}

function originEntry(id: string, stamp: Stamp, url = `http://${id}.example/`): Entry<OriginSpec> {
  const value = spec(url);
  return { id, stamp, removed: false, value, bytes: Buffer.from(JSON.stringify(value)) };
}

describe('anti-entropy: repairs', () => {
  /** Runs `check` for a fresh scenario with each side initiating. */
  async function bothWays(setup: (a: Node, b: Node, wall: Wall) => void, check: (a: Node, b: Node) => void) {
    for (const aInitiates of [true, false]) {
      const wall = new Wall();
      const a = node(1, wall, 'A');
      const b = node(2, wall, 'B');
      setup(a, b, wall);
      if (aInitiates) await sync(a.r, b.r);
      else await sync(b.r, a.r);
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

  test('in sync: one small request and reply, nothing sent, both marked seeded', async () => {
    const wall = new Wall();
    const a = node(1, wall);
    const b = node(2, wall);
    for (let i = 0; i < 100; i++) a.r.origins.add(`o${i}`, spec(`http://o${i}.example/`));
    await sync(b.r, a.r);
    const { bytes, send } = counted(a.r);
    const res = await exchange(b.r, send);
    assert.deepEqual(res, { received: 0, sent: 0, more: false });
    assert.equal(bytes.messages, 1);
    assert.ok(bytes.out + bytes.in < 64, `${bytes.out} + ${bytes.in} bytes`);
    assert.equal(a.r.seeded, true);
    assert.equal(b.r.seeded, true);
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
    assert.equal(rounds.reduce((n, r) => n + r.received, 0), 2000);
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

  test('property: random divergent replicas agree after syncing, whichever side initiates', async () => {
    const IDS = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const op = fc.record({
      id: fc.constantFrom(...IDS),
      kind: fc.constantFrom('add', 'add', 'remove', 'health', 'old-add', 'old-remove'),
      url: fc.constantFrom('http://a.example/', 'http://b.example/'),
      dt: fc.integer({ min: 0, max: 3 }),
    });
    type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

    /** Builds A and B: shared history, then each side's own ops; old-* are pre-existing records past the grace period. */
    function build(shared: Op[], onlyA: Op[], onlyB: Op[], seeded: boolean) {
      const wall = new Wall();
      const a = node(1, wall);
      const b = node(2, wall);
      const apply = (n: Node, o: Op, i: number) => {
        wall.now += o.dt;
        if (o.kind === 'add') n.r.origins.add(o.id, spec(o.url));
        else if (o.kind === 'remove') n.r.origins.remove(o.id);
        else if (o.kind === 'health') n.r.health.add(o.id, up(o.url));
        else {
          const stamp = { wall: T0 - 30 * DAY + i, counter: 0, node: n.r.hlc.node };
          const e = o.kind === 'old-add' ? originEntry(o.id, stamp, o.url) : { id: o.id, stamp, removed: true, value: null, bytes: Buffer.alloc(0) };
          n.r.origins.merge(e, false); // as loaded from disk: no tombstone rule
        }
      };
      shared.forEach((o, i) => apply(a, o, i));
      for (const e of a.r.origins.set.entries()) b.r.origins.merge(e, false);
      for (const e of a.r.health.set.entries()) b.r.health.merge(e, false);
      onlyA.forEach((o, i) => apply(a, o, 1000 + i));
      onlyB.forEach((o, i) => apply(b, o, 2000 + i));
      if (seeded) {
        a.r.markSeeded();
        b.r.markSeeded();
      }
      return [a, b] as const;
    }

    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 15 }),
        fc.array(op, { maxLength: 10 }),
        fc.array(op, { maxLength: 10 }),
        fc.boolean(),
        async (shared, onlyA, onlyB, seeded) => {
          const [a1, b1] = build(shared, onlyA, onlyB, seeded);
          await sync(a1.r, b1.r);
          const [a2, b2] = build(shared, onlyA, onlyB, seeded);
          await sync(b2.r, a2.r);
          assert.equal(roots(a1.r), roots(b1.r), 'A->B: roots agree');
          assert.equal(roots(a2.r), roots(b2.r), 'B->A: roots agree');
          assert.deepEqual(dump(a1.r), dump(b1.r));
          assert.deepEqual(dump(a1.r), dump(a2.r), 'the outcome does not depend on who initiated');
          // A second exchange finds nothing to do.
          assert.deepEqual(await exchange(a1.r, via(b1.r)), { received: 0, sent: 0, more: false });
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
    assert.equal(res.more, false);
    assert.equal(res.received, 3);
    assert.equal(res.sent, 7);
    assert.equal(roots(a.r), roots(b.r), 'one exchange repaired all 10');
    assert.deepEqual(dump(a.r), dump(b.r));
    const snapshotBytes = a.r.snapshot().reduce((n, p) => n + p.length, 0);
    const exchanged = bytes.out + bytes.in;
    const ratio = exchanged / snapshotBytes;
    console.log(
      `anti-entropy bytes (pure, 100,000 origins, 10 differences): sent ${bytes.out} + received ${bytes.in} = ${exchanged} bytes ` +
        `in ${bytes.messages} requests; snapshot ${snapshotBytes} bytes; ratio ${(ratio * 100).toFixed(3)}%`,
    );
    assert.ok(ratio < 0.01, `${exchanged} of ${snapshotBytes} bytes`);
  });
});

describe('anti-entropy: tombstone rule (no resurrection, no loss)', () => {
  /**
   * A, B, C seeded. x added everywhere; A removes x; B gets the tombstone, C is cut off. After the
   * grace period A and B collect the tombstone. C still holds add(x). y is old and live
   * everywhere; z is new on C only.
   */
  async function scenario() {
    const wall = new Wall();
    const [a, b, c] = [node(1, wall, 'A'), node(2, wall, 'B'), node(3, wall, 'C')];
    a.r.origins.add('x', spec('http://x.example/'));
    a.r.origins.add('y', spec('http://y.example/'));
    await sync(b.r, a.r);
    await sync(c.r, a.r);
    for (const n of [a, b, c]) n.r.markSeeded();
    wall.now += 3_600_000;
    assert.equal(a.r.origins.remove('x'), true);
    await sync(b.r, a.r);
    assert.equal(b.r.origins.set.get('x')?.removed, true);
    wall.now += GRACE + DAY;
    assert.equal(a.r.collectGarbage(), 1);
    assert.equal(b.r.collectGarbage(), 1);
    assert.equal(a.r.origins.set.get('x'), undefined);
    assert.ok(c.r.origins.set.value('x'), 'C still holds the add');
    c.r.origins.add('z', spec('http://z.example/'));
    return { wall, a, b, c };
  }

  test('exchanges in any order (all 720 orders of the 6 directed pairs) never resurrect x', async () => {
    const pairs = [['a', 'b'], ['b', 'a'], ['a', 'c'], ['c', 'a'], ['b', 'c'], ['c', 'b']] as const;
    const perms = <T>(xs: readonly T[]): T[][] =>
      xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    let orders = 0;
    for (const order of perms(pairs)) {
      const nodes = await scenario();
      for (const [from, to] of order) {
        await sync(nodes[from].r, nodes[to].r);
        for (const n of [nodes.a, nodes.b]) assert.equal(n.r.origins.set.get('x'), undefined, `${n.name} resurrected x (${order.join(' ')})`);
      }
      for (const n of [nodes.a, nodes.b, nodes.c]) {
        assert.equal(n.r.origins.set.get('x'), undefined, `${n.name} holds x after ${order.map((p) => p.join('>')).join(' ')}`);
        assert.ok(n.r.origins.set.value('y'), `${n.name} lost the old live y`);
        assert.ok(n.r.origins.set.value('z'), `${n.name} lacks the new z`);
      }
      assert.equal(new Set([nodes.a, nodes.b, nodes.c].map((n) => roots(n.r))).size, 1);
      orders++;
    }
    assert.equal(orders, 720);
  });

  test('the side that sent the refused record drops it, and the drop survives a restart from its log', async () => {
    const { wall, a, c } = await scenario();
    await sync(c.r, a.r);
    assert.equal(c.r.origins.set.get('x'), undefined, 'C dropped x when A refused it');
    const reloaded = node(3, wall, 'C again');
    assert.equal(reloaded.r.load(c.disk), 0);
    assert.equal(reloaded.r.origins.set.get('x'), undefined, 'replaying the log brought x back');
    assert.deepEqual(dump(reloaded.r), dump(c.r));
    assert.equal(reloaded.r.seeded, true);
  });

  test('the responder drops what the requester refused, durably too', async () => {
    const { wall, a, c } = await scenario();
    await sync(a.r, c.r);
    assert.equal(c.r.origins.set.get('x'), undefined);
    const reloaded = node(3, wall);
    reloaded.r.load(c.disk);
    assert.deepEqual(dump(reloaded.r), dump(c.r));
  });

  test('a refusal drops only the refused record, not a newer one that arrived during the exchange', async () => {
    // Responder side: C answers A's leaves with its stale x; before A's push (with "x refused")
    // arrives, C gets a fresh add of x (a user re-adds it). C must keep the fresh add.
    {
      const { wall, a, c } = await scenario();
      const send = async (p: Buffer) => {
        if (p[1] === 3) c.r.origins.add('x', spec('http://readded.example/'));
        return answer(c.r, p);
      };
      await exchange(a.r, send);
      assert.equal(c.r.origins.set.value('x')?.url, 'http://readded.example/', 'responder dropped a newer record');
      await sync(a.r, c.r);
      assert.equal(a.r.origins.set.value('x')?.url, 'http://readded.example/');
      void wall;
    }
    // Requester side: C pushes its stale x to A; before A's reply ("x refused") reaches C, C gets
    // a fresh add of x. C must keep it.
    {
      const { a, c } = await scenario();
      const send = async (p: Buffer) => {
        const reply = answer(a.r, p);
        if (p[1] === 3) c.r.origins.add('x', spec('http://readded.example/'));
        return reply;
      };
      await exchange(c.r, send);
      assert.equal(c.r.origins.set.value('x')?.url, 'http://readded.example/', 'requester dropped a newer record');
    }
  });

  test('a fresh unseeded replica that syncs with stale C first, then with A, ends without x', async () => {
    for (const [dFirst, dSecond] of [[true, true], [true, false], [false, true], [false, false]]) {
      const { wall, a, c } = await scenario();
      const d = node(4, wall, 'D');
      assert.equal(d.r.seeded, false);
      if (dFirst) await sync(d.r, c.r);
      else await sync(c.r, d.r);
      assert.ok(d.r.origins.set.value('x'), 'unseeded D accepts the old add from C');
      if (dSecond) await sync(d.r, a.r);
      else await sync(a.r, d.r);
      assert.equal(d.r.origins.set.get('x'), undefined, `D holds x (D initiated: ${dFirst}, ${dSecond})`);
      assert.equal(a.r.origins.set.get('x'), undefined, 'A resurrected x');
      assert.ok(d.r.origins.set.value('y') && d.r.origins.set.value('z'));
      assert.ok(a.r.origins.set.value('z'), 'A got the new z through D');
    }
  });

  test('an unseeded replica accepts old records: a new node copies 1,000 30-day-old origins, the sender drops nothing', async () => {
    for (const newNodeInitiates of [true, false]) {
      const wall = new Wall();
      const a = node(1, wall, 'A');
      for (let i = 0; i < 1000; i++) {
        a.r.origins.merge(originEntry(`o${i}`, { wall: T0 - 30 * DAY + i, counter: 0, node: nodeId(1) }), false);
        a.r.health.merge({ id: `o${i}`, stamp: { wall: T0 - 30 * DAY + i, counter: 1, node: nodeId(1) }, removed: false, value: up(), bytes: Buffer.from(JSON.stringify(up())) }, false);
      }
      a.r.markSeeded();
      const d = node(2, wall, 'D');
      const rounds = newNodeInitiates ? await sync(d.r, a.r) : await sync(a.r, d.r);
      assert.ok(rounds.length > 1, 'the copy takes several rounds (more than MAX_TOPS_PER_ROUND buckets differ)');
      assert.equal(a.r.origins.set.size, 1000, `A lost origins (new node initiated: ${newNodeInitiates})`);
      assert.equal(a.r.health.set.size, 1000, `A lost verdicts (new node initiated: ${newNodeInitiates})`);
      assert.equal(d.r.origins.set.size, 1000, `D got ${d.r.origins.set.size} origins (new node initiated: ${newNodeInitiates})`);
      assert.equal(d.r.health.set.size, 1000);
      assert.equal(roots(a.r), roots(d.r));
      // Once it holds what its peer holds, the new node is seeded (the next exchange settles it either way).
      await exchange(d.r, via(a.r));
      assert.equal(d.r.seeded, true);
    }
  });

  test(
    'two new nodes that sync with each other before with the cluster do not wipe its old origins',
    {
      todo:
        'anti-entropy.ts/replica.ts design gap: two unseeded nodes with equal roots (both empty, or holding the same fresh ' +
        'deltas) mark each other seeded, then refuse the old records of a real peer, which drops them. Needs the seeded ' +
        'flag on the wire (seeded only from a seeded peer) and a founding rule in node.ts',
    },
    async () => {
      const wall = new Wall();
      const a = node(1, wall, 'A');
      for (let i = 0; i < 50; i++) a.r.origins.merge(originEntry(`o${i}`, { wall: T0 - 30 * DAY + i, counter: 0, node: nodeId(1) }), false);
      a.r.markSeeded();
      const [d, e] = [node(2, wall, 'D'), node(3, wall, 'E')];
      // Both new nodes already got the same fresh delta by gossip (or nothing at all).
      const fresh = originEntry('fresh', { wall: wall.now, counter: 0, node: nodeId(1) });
      a.r.origins.merge(fresh);
      d.r.origins.merge(fresh);
      e.r.origins.merge(fresh);
      await sync(d.r, e.r); // equal roots: both now count as seeded
      await sync(d.r, a.r);
      assert.equal(a.r.origins.set.size, 51, `A kept ${a.r.origins.set.size} of 51 origins`);
      assert.equal(d.r.origins.set.size, 51);
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
      const p = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      if (i % 3 === 0 && len > 2) [p[0], p[1]] = [1, 1 + (i % 4)]; // valid header, random body
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
  });

});
