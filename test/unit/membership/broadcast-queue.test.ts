import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BroadcastQueue } from '../../../src/membership/broadcast-queue.js';
import { retransmitLimit } from '../../../src/membership/math.js';

const SEED = 0xb0a;
const BIG = 1 << 30;

const msg = (s: string) => Buffer.from(s);
const texts = (bufs: Buffer[]) => bufs.map((b) => b.toString());

function queueWith(n: number, retransmitMult = 4, maxQueued?: number) {
  const nodes = { n };
  const q = new BroadcastQueue({ retransmitMult, numNodes: () => nodes.n, ...(maxQueued === undefined ? {} : { maxQueued }) });
  return { q, nodes };
}

/** Takes one message at a time until the queue is empty; returns how often `text` came out. */
function drainCounting(q: BroadcastQueue, text: string): number {
  let count = 0;
  for (let i = 0; i < 1000 && q.length > 0; i++) count += texts(q.take(0, BIG)).filter((t) => t === text).length;
  assert.equal(q.length, 0, 'drained');
  return count;
}

describe('BroadcastQueue', () => {
  test('an empty queue gives nothing', () => {
    const { q } = queueWith(10);
    assert.equal(q.length, 0);
    assert.deepEqual(q.take(0, BIG), []);
  });

  test('sends each broadcast retransmitLimit(mult, N) times, then calls onDone once', () => {
    const cases: Array<[n: number, limit: number]> = [[1, 4], [3, 4], [9, 4], [10, 8], [50, 8], [99, 8], [100, 12], [1000, 16]];
    for (const [n, limit] of cases) {
      const { q } = queueWith(n);
      let done = 0;
      q.queue({ message: msg('x'), onDone: () => done++ });
      for (let i = 1; i < limit; i++) {
        assert.deepEqual(texts(q.take(0, BIG)), ['x'], `N=${n}, send ${i}`);
        assert.equal(done, 0);
      }
      assert.deepEqual(texts(q.take(0, BIG)), ['x']);
      assert.equal(done, 1, `N=${n}: finished after ${limit}`);
      assert.equal(q.length, 0);
      assert.deepEqual(q.take(0, BIG), []);
    }
  });

  test('the limit follows the current cluster size', () => {
    const { q, nodes } = queueWith(100); // limit 12
    q.queue({ message: msg('x') });
    for (let i = 0; i < 5; i++) q.take(0, BIG);
    nodes.n = 5; // limit 4, already exceeded: the next send is the last
    assert.deepEqual(texts(q.take(0, BIG)), ['x']);
    assert.equal(q.length, 0);
  });

  test('sends at least once even when the limit is 0', () => {
    for (const [n, mult] of [[0, 4], [10, 0], [Number.NaN, 4], [-3, 4], [Infinity, 4]] as const) {
      const { q } = queueWith(n, mult);
      q.queue({ message: msg('x') });
      assert.equal(drainCounting(q, 'x'), 1, `N=${n}, mult=${mult}`);
    }
  });

  test('a newer broadcast with the same key replaces the queued one', () => {
    const { q } = queueWith(10);
    const done: string[] = [];
    q.queue({ key: 'node-a', message: msg('a1'), onDone: () => done.push('a1') });
    q.queue({ key: 'node-b', message: msg('b1'), onDone: () => done.push('b1') });
    q.take(0, BIG); // a1 and b1 have one transmit each
    q.queue({ key: 'node-a', message: msg('a2'), onDone: () => done.push('a2') });
    assert.deepEqual(done, ['a1']);
    assert.equal(q.length, 2);
    assert.deepEqual(texts(q.take(0, BIG)), ['a2', 'b1'], 'the replacement starts afresh');
    assert.equal(drainCounting(q, 'a1'), 0);
    assert.deepEqual(done.sort(), ['a1', 'a2', 'b1']);
  });

  test('broadcasts without a key never replace each other', () => {
    const { q } = queueWith(10);
    q.queue({ message: msg('x') });
    q.queue({ message: msg('x') });
    assert.equal(q.length, 2);
    assert.deepEqual(texts(q.take(0, BIG)), ['x', 'x']);
  });

  test('a key can be used again after its broadcast finished', () => {
    const { q } = queueWith(1, 1); // limit 1
    let firstDone = 0;
    q.queue({ key: 'k', message: msg('one'), onDone: () => firstDone++ });
    assert.deepEqual(texts(q.take(0, BIG)), ['one']);
    q.queue({ key: 'k', message: msg('two') });
    assert.equal(firstDone, 1, 'not finished a second time');
    assert.deepEqual(texts(q.take(0, BIG)), ['two']);
  });

  test('newest first among equals, then fewest transmits first', () => {
    const { q } = queueWith(10); // limit 8
    for (const t of ['m1', 'm2', 'm3']) q.queue({ message: msg(t) });
    assert.deepEqual(texts(q.take(0, BIG)), ['m3', 'm2', 'm1']);
    q.queue({ message: msg('m4') });
    const one = 1 + 2; // room for exactly one 2-byte message with overhead 1
    assert.deepEqual(texts(q.take(1, one)), ['m4'], 'fewest transmits beats newest');
    assert.deepEqual(texts(q.take(1, one)), ['m4'], 'all at 1 transmit now: newest first');
    assert.deepEqual(texts(q.take(1, one)), ['m3']);
    assert.deepEqual(texts(q.take(1, one)), ['m2']);
    assert.deepEqual(texts(q.take(1, one)), ['m1']);
    assert.deepEqual(texts(q.take(0, BIG)), ['m4', 'm3', 'm2', 'm1'], 'all at 2 transmits: newest first');
  });

  test('a broadcast is returned at most once per take', () => {
    const { q } = queueWith(10);
    q.queue({ message: msg('only') });
    assert.deepEqual(texts(q.take(0, BIG)), ['only']);
  });

  test('respects the byte budget, counting the overhead of each message', () => {
    const { q } = queueWith(10);
    for (const t of ['aaa', 'bbb', 'ccc']) q.queue({ message: msg(t) });
    assert.deepEqual(texts(q.take(2, 10)), ['ccc', 'bbb'], 'two of 5 bytes each fit in 10');
    assert.deepEqual(texts(q.take(2, 9)), ['aaa'], 'fewest transmits first; only one fits in 9');
    assert.deepEqual(q.take(4, 6), [], 'nothing fits');
    assert.deepEqual(q.take(0, 0), []);
  });

  test('skips a broadcast that does not fit and packs smaller ones', () => {
    const { q } = queueWith(10);
    q.queue({ message: msg('s1') });
    q.queue({ message: Buffer.alloc(1000) });
    q.queue({ message: msg('s2') });
    assert.deepEqual(texts(q.take(1, 10)), ['s2', 's1']);
    assert.equal(q.take(1, 2000).map((b) => b.length).join(), '1000,2,2', 'the unsent big one now leads');
  });

  test('drops the most-sent, then oldest, beyond maxQueued', () => {
    const { q } = queueWith(10, 4, 2);
    const done: string[] = [];
    const add = (t: string) => q.queue({ message: msg(t), onDone: () => done.push(t) });
    add('a');
    add('b');
    assert.deepEqual(texts(q.take(0, 2)), ['b', 'a']);
    add('c'); // all of a and b have 1 transmit: the older, a, goes
    assert.deepEqual(done, ['a']);
    assert.equal(q.length, 2);
    add('d'); // b has 1 transmit, c none: b goes
    assert.deepEqual(done, ['a', 'b']);
    add('e'); // c and d both fresh: the older, c, goes
    assert.deepEqual(done, ['a', 'b', 'c']);
    assert.deepEqual(texts(q.take(0, BIG)), ['e', 'd']);
  });

  test('holds at most 4096 by default', () => {
    const { q } = queueWith(10);
    let dropped = 0;
    for (let i = 0; i < 5000; i++) q.queue({ message: msg(String(i)), onDone: () => dropped++ });
    assert.equal(q.length, 4096);
    assert.equal(dropped, 5000 - 4096);
    assert.equal(texts(q.take(0, BIG))[0], '4999');
  });

  test('an onDone that queues again sees a consistent queue', () => {
    const { q } = queueWith(1, 1); // limit 1
    q.queue({ key: 'k', message: msg('first'), onDone: () => q.queue({ key: 'k', message: msg('again') }) });
    assert.deepEqual(texts(q.take(0, BIG)), ['first']);
    assert.equal(q.length, 1);
    assert.deepEqual(texts(q.take(0, BIG)), ['again']);
    assert.equal(q.length, 0);
  });

  test('every onDone runs even if one throws; the first error is rethrown', () => {
    const { q } = queueWith(1, 1);
    const ran: string[] = [];
    q.queue({ message: msg('a'), onDone: () => { ran.push('a'); throw new Error('boom a'); } });
    q.queue({ message: msg('b'), onDone: () => { ran.push('b'); throw new Error('boom b'); } });
    assert.throws(() => q.take(0, BIG), /boom b/);
    assert.deepEqual(ran.sort(), ['a', 'b']);
    assert.equal(q.length, 0);
  });

  test('keeps memory bounded when one key is replaced many times without a take', () => {
    const { q } = queueWith(10);
    for (let i = 0; i < 100_000; i++) q.queue({ key: 'k', message: msg(String(i)) });
    assert.equal(q.length, 1);
    assert.deepEqual(texts(q.take(0, BIG)), ['99999']);
  });

  test('rejects bad options and arguments', () => {
    assert.throws(() => new BroadcastQueue({ retransmitMult: -1, numNodes: () => 1 }), RangeError);
    assert.throws(() => new BroadcastQueue({ retransmitMult: 1.5, numNodes: () => 1 }), RangeError);
    assert.throws(() => new BroadcastQueue({ retransmitMult: 4, numNodes: () => 1, maxQueued: 0 }), RangeError);
    const { q } = queueWith(10);
    assert.throws(() => q.take(-1, 100), RangeError);
    assert.throws(() => q.take(0, Number.NaN), RangeError);
  });

  test('never returns a broadcast more than its limit, stays bounded, keeps the budget (property)', () => {
    type Op =
      | { op: 'queue'; key: string | null; size: number }
      | { op: 'take'; overhead: number; limit: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('queue' as const), key: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e')), size: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ op: fc.constant('take' as const), overhead: fc.integer({ min: 0, max: 5 }), limit: fc.integer({ min: 0, max: 120 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(op, { maxLength: 200 }),
        (n, mult, maxQueued, ops) => {
          const { q } = queueWith(n, mult, maxQueued);
          const limit = retransmitLimit(mult, n);
          const sent = new Map<Buffer, number>();
          const finished = new Map<Buffer, number>();
          const all: Buffer[] = [];
          const take = (overhead: number, budget: number) => {
            const finishedBefore = new Set(finished.keys());
            const out = q.take(overhead, budget);
            assert.equal(new Set(out).size, out.length, 'distinct within one take');
            assert.ok(out.reduce((sum, b) => sum + b.length + overhead, 0) <= budget, 'budget');
            for (const b of out) {
              const c = (sent.get(b) ?? 0) + 1;
              sent.set(b, c);
              assert.ok(c <= Math.max(1, limit), `sent ${c} times, limit ${limit}`);
              assert.ok(!finishedBefore.has(b), 'sent after it finished');
            }
          };
          for (const o of ops) {
            if (o.op === 'queue') {
              const b = Buffer.alloc(o.size, all.length % 256);
              all.push(b);
              q.queue({ ...(o.key === null ? {} : { key: o.key }), message: b, onDone: () => finished.set(b, (finished.get(b) ?? 0) + 1) });
            } else {
              take(o.overhead, o.limit);
            }
            assert.ok(q.length <= maxQueued, 'bounded');
            assert.equal(q.length, all.length - finished.size, 'queued = added − finished');
          }
          while (q.length > 0) take(0, BIG);
          for (const b of all) assert.equal(finished.get(b), 1, 'onDone exactly once');
        },
      ),
      { seed: SEED, numRuns: 300, includeErrorInReport: true },
    );
  });

  test('behaves exactly like a naive sort-every-time model (property)', () => {
    interface M { id: number; key: string | null; message: Buffer; transmits: number }
    const prio = (a: M, b: M) => a.transmits - b.transmits || b.id - a.id;
    type Op = { op: 'queue'; key: string | null; size: number } | { op: 'take'; overhead: number; limit: number } | { op: 'nodes'; n: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ op: fc.constant('queue' as const), key: fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g')), size: fc.integer({ min: 0, max: 30 }) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('take' as const), overhead: fc.integer({ min: 0, max: 4 }), limit: fc.integer({ min: 0, max: 100 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('nodes' as const), n: fc.integer({ min: 0, max: 200 }) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 10 }), fc.array(op, { maxLength: 300 }), (mult, maxQueued, ops) => {
        const { q, nodes } = queueWith(10, mult, maxQueued);
        let model: M[] = [];
        let nextId = 0;
        const doneReal: number[] = [];
        const doneModel: number[] = [];
        const ids = new Map<Buffer, number>();
        for (const o of ops) {
          if (o.op === 'nodes') {
            nodes.n = o.n;
          } else if (o.op === 'queue') {
            const m: M = { id: nextId++, key: o.key, message: Buffer.alloc(o.size), transmits: 0 };
            ids.set(m.message, m.id);
            q.queue({ ...(o.key === null ? {} : { key: o.key }), message: m.message, onDone: () => doneReal.push(m.id) });
            const old = model.find((x) => x.key !== null && x.key === o.key);
            if (old) doneModel.push(old.id);
            model = model.filter((x) => x !== old);
            model.push(m);
            model.sort(prio);
            while (model.length > maxQueued) doneModel.push(model.pop()!.id);
          } else {
            const got = q.take(o.overhead, o.limit).map((b) => ids.get(b));
            const limit = retransmitLimit(mult, nodes.n);
            model.sort(prio);
            const want: number[] = [];
            const gone = new Set<M>();
            let free = o.limit;
            for (const m of model) {
              if (m.message.length + o.overhead > free) continue;
              free -= m.message.length + o.overhead;
              want.push(m.id);
              if (++m.transmits >= limit) {
                doneModel.push(m.id);
                gone.add(m);
              }
            }
            model = model.filter((m) => !gone.has(m));
            assert.deepEqual(got, want);
          }
          assert.equal(q.length, model.length);
          assert.deepEqual(doneReal, doneModel);
        }
      }),
      { seed: SEED, numRuns: 400, includeErrorInReport: true },
    );
  });
});
