import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compareStamps, Hlc, MAX_STAMP_WALL, type Stamp } from '../../../src/crdt/hlc.js';

const NODE_A = 'a'.repeat(40);
const NODE_B = 'b'.repeat(40);
const MAX_COUNTER = 2 ** 32 - 1;
const T0 = 1_700_000_000_000;
const MAX_AHEAD = 60_000;

/** A wall clock the test sets by hand. */
function manualClock(start = T0) {
  const c = { now: start };
  return { c, wallNow: () => c.now };
}

const show = (s: Stamp) => `${s.wall}.${s.counter}.${s.node.slice(0, 4)}`;

describe('compareStamps', () => {
  test('orders by wall, then counter, then node id; equal only when all three are', () => {
    const s = (wall: number, counter: number, node: string): Stamp => ({ wall, counter, node });
    assert.equal(compareStamps(s(1, 9, NODE_B), s(2, 0, NODE_A)), -1);
    assert.equal(compareStamps(s(2, 0, NODE_A), s(1, 9, NODE_B)), 1);
    assert.equal(compareStamps(s(1, 1, NODE_A), s(1, 2, NODE_A)), -1);
    assert.equal(compareStamps(s(1, 1, NODE_A), s(1, 1, NODE_B)), -1);
    assert.equal(compareStamps(s(1, 1, NODE_B), s(1, 1, NODE_A)), 1);
    assert.equal(compareStamps(s(1, 1, NODE_A), s(1, 1, NODE_A)), 0);
    assert.equal(compareStamps(s(0, 0, NODE_A), s(0, 0, NODE_A)), 0);
  });
});

describe('Hlc', () => {
  test('follows the wall clock when it moves forward (counter resets to 0)', () => {
    const { c, wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    assert.deepEqual(hlc.now(), { wall: T0, counter: 0, node: NODE_A });
    c.now = T0 + 5.7; // fractions are floored
    assert.deepEqual(hlc.now(), { wall: T0 + 5, counter: 0, node: NODE_A });
  });

  test('strictly increasing when the wall clock stands still or jumps backwards', () => {
    const { c, wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    const a = hlc.now();
    const b = hlc.now(); // standing still
    c.now = T0 - 10_000; // jumped back 10 s
    const d = hlc.now();
    const e = hlc.now();
    c.now = T0 + 1; // forward again, past the high-water mark
    const f = hlc.now();
    assert.deepEqual([a, b, d, e, f].map(show), [
      `${T0}.0.aaaa`, `${T0}.1.aaaa`, `${T0}.2.aaaa`, `${T0}.3.aaaa`, `${T0 + 1}.0.aaaa`,
    ]);
  });

  test('property: stamps are strictly increasing whatever the wall clock does', () => {
    // Each step: the wall clock jumps back, stands still, or jumps forward; then a local event,
    // or a remote stamp is observed (within or beyond maxAhead).
    const step = fc.record({
      clock: fc.oneof(
        fc.integer({ min: -120_000, max: -1 }), // backwards
        fc.constant(0), // still
        fc.integer({ min: 1, max: 120_000 }), // forwards
        fc.double({ min: 0, max: 2, noNaN: true }), // sub-millisecond drift
      ),
      remote: fc.option(fc.record({ ahead: fc.integer({ min: -200_000, max: 200_000 }), counter: fc.nat({ max: 10 }) }), {
        freq: 3,
      }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 200 }), (steps) => {
        const { c, wallNow } = manualClock();
        const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
        let last: Stamp | null = null;
        let highestSeen: Stamp | null = null;
        for (const s of steps) {
          c.now += s.clock;
          if (s.remote) {
            const remote: Stamp = { wall: Math.floor(c.now) + s.remote.ahead, counter: s.remote.counter, node: NODE_B };
            const adopted = hlc.observe(remote);
            assert.equal(adopted, remote.wall <= c.now + MAX_AHEAD, 'adopted iff within maxAhead');
            if (adopted && (!highestSeen || compareStamps(remote, highestSeen) > 0)) highestSeen = remote;
          }
          const stamp = hlc.now();
          if (last) assert.ok(compareStamps(stamp, last) > 0, `${show(stamp)} after ${show(last)}`);
          if (highestSeen) assert.ok(compareStamps(stamp, highestSeen) > 0, `${show(stamp)} after observed ${show(highestSeen)}`);
          assert.ok(stamp.wall >= Math.floor(c.now), 'a stamp is never behind the wall clock');
          assert.ok(stamp.counter >= 0 && stamp.counter <= MAX_COUNTER);
          last = stamp;
        }
      }),
      { seed: 0x41c, numRuns: 300 },
    );
  });

  test('observe() of a remote stamp makes later local stamps greater', () => {
    const { wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    hlc.now();
    // Ahead of us by 30 s, with a counter: adopted.
    const remote: Stamp = { wall: T0 + 30_000, counter: 7, node: NODE_B };
    assert.equal(hlc.observe(remote), true);
    const next = hlc.now();
    assert.deepEqual(next, { wall: T0 + 30_000, counter: 8, node: NODE_A });
    assert.ok(compareStamps(next, remote) > 0);
    // Equal wall and counter but a greater node id: still ordered after it.
    const tie: Stamp = { wall: next.wall, counter: next.counter, node: 'f'.repeat(40) };
    assert.equal(hlc.observe(tie), true);
    assert.ok(compareStamps(hlc.now(), tie) > 0);
  });

  test('observe() of an older stamp changes nothing', () => {
    const { wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    hlc.now();
    assert.equal(hlc.observe({ wall: T0 - 50_000, counter: 99, node: NODE_B }), true);
    assert.deepEqual(hlc.now(), { wall: T0, counter: 1, node: NODE_A });
  });

  test('a remote stamp more than maxAheadMs ahead is not adopted; local stamps stay monotonic', () => {
    const { c, wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    const first = hlc.now();
    const future: Stamp = { wall: T0 + MAX_AHEAD + 1, counter: 0, node: NODE_B };
    assert.equal(hlc.observe(future), false);
    const second = hlc.now();
    assert.ok(compareStamps(second, first) > 0);
    assert.ok(second.wall < future.wall, 'the far-ahead wall time was not adopted');
    // Exactly maxAhead ahead is still accepted.
    const edge: Stamp = { wall: T0 + MAX_AHEAD, counter: 3, node: NODE_B };
    assert.equal(hlc.observe(edge), true);
    const third = hlc.now();
    assert.ok(compareStamps(third, edge) > 0);
    // The clock then goes backwards: stamps still increase.
    c.now = T0 - 1_000;
    const fourth = hlc.now();
    assert.ok(compareStamps(fourth, third) > 0);
  });

  test('our own stamps are always followed, however far ahead (a restart with the clock set back)', () => {
    // Before the restart the clock was 10 minutes ahead; the log holds stamps from then.
    const { wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    const own: Stamp = { wall: T0 + 600_000, counter: 4, node: NODE_A };
    assert.equal(hlc.observe(own), true);
    const next = hlc.now();
    assert.deepEqual(next, { wall: T0 + 600_000, counter: 5, node: NODE_A });
    // Another node's stamp that far ahead is still not adopted.
    assert.equal(hlc.observe({ wall: T0 + 1_200_000, counter: 0, node: NODE_B }), false);
    assert.ok(compareStamps(hlc.now(), next) > 0);
  });

  test('counter overflow borrows the next millisecond and stays monotonic', () => {
    const { c, wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    assert.equal(hlc.observe({ wall: T0, counter: MAX_COUNTER - 1, node: NODE_B }), true);
    const a = hlc.now();
    assert.deepEqual(a, { wall: T0, counter: MAX_COUNTER, node: NODE_A });
    const b = hlc.now(); // counter would overflow: next millisecond
    assert.deepEqual(b, { wall: T0 + 1, counter: 0, node: NODE_A });
    const d = hlc.now(); // wall clock still at T0: counting on from the borrowed millisecond
    assert.deepEqual(d, { wall: T0 + 1, counter: 1, node: NODE_A });
    c.now = T0 + 1; // wall catches up with the borrowed millisecond: not greater, so counter goes on
    assert.deepEqual(hlc.now(), { wall: T0 + 1, counter: 2, node: NODE_A });
    c.now = T0 + 2;
    assert.deepEqual(hlc.now(), { wall: T0 + 2, counter: 0, node: NODE_A });
    for (const s of [a, b, d]) assert.ok(s.counter <= MAX_COUNTER, 'counters fit the u32 wire field');
  });

  test('observing a stamp with a maxed-out counter also borrows the next millisecond', () => {
    const { wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    const remote: Stamp = { wall: T0 + 10, counter: MAX_COUNTER, node: NODE_B };
    assert.equal(hlc.observe(remote), true);
    const s = hlc.now();
    assert.deepEqual(s, { wall: T0 + 11, counter: 0, node: NODE_A });
    assert.ok(compareStamps(s, remote) > 0);
  });

  test('stamps fit the wire format (wall within 48 bits)', () => {
    const { wallNow } = manualClock();
    const hlc = new Hlc(wallNow, NODE_A, MAX_AHEAD);
    assert.ok(hlc.now().wall <= MAX_STAMP_WALL);
  });
});
