import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { suspicionTimeoutMs } from '../../../src/membership/math.js';
import { Suspicion } from '../../../src/membership/suspicion.js';
import { VirtualClock } from '../../../src/runtime/virtual-clock.js';

const SEED = 0x5b5;

/** A suspicion on a virtual clock that records when (and with how many confirmations) it fired. */
function setup(k: number, minMs = 2000, maxMs = 30_000, start = 0) {
  const clock = new VirtualClock();
  clock.advance(start);
  const fired: Array<{ at: number; confirmations: number }> = [];
  const s = new Suspicion({
    accuser: 'accuser',
    k,
    minMs,
    maxMs,
    clock,
    onTimeout: (confirmations) => fired.push({ at: clock.now(), confirmations }),
  });
  return { clock, fired, s };
}

describe('Suspicion', () => {
  test('fires at max when nobody confirms', () => {
    const { clock, fired } = setup(3);
    clock.advance(29_999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [{ at: 30_000, confirmations: 0 }]);
  });

  test('measures from its creation time, not the clock origin', () => {
    const { clock, fired } = setup(3, 2000, 30_000, 5000);
    clock.advance(29_999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [{ at: 35_000, confirmations: 0 }]);
  });

  test('with k = 0 fires at min and takes no confirmations', () => {
    const { clock, fired, s } = setup(0);
    assert.equal(s.confirm('b'), false);
    clock.advance(1999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [{ at: 2000, confirmations: 0 }]);
  });

  test('worked example: c=1 at 2 s leaves 14 s', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(2000);
    assert.equal(s.confirm('b'), true);
    clock.advance(13_999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [{ at: 16_000, confirmations: 1 }]);
  });

  test('worked example: c=2 at 3 s leaves 4.81 s', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(2000);
    s.confirm('b');
    clock.advance(1000);
    assert.equal(s.confirm('c'), true);
    clock.advance(4809);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [{ at: 7810, confirmations: 2 }]);
  });

  test('worked example: c=3 at 4 s is already past, so it fires on the next tick', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(2000);
    s.confirm('b');
    clock.advance(1000);
    s.confirm('c');
    clock.advance(1000);
    assert.equal(s.confirm('d'), true);
    assert.deepEqual(fired, [], 'not re-entrantly inside confirm()');
    clock.advance(0);
    assert.deepEqual(fired, [{ at: 4000, confirmations: 3 }]);
  });

  test('a late confirmation whose new timeout has passed fires at once', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(20_000); // c=1 would have meant 16 s
    assert.equal(s.confirm('b'), true);
    clock.advance(0);
    assert.deepEqual(fired, [{ at: 20_000, confirmations: 1 }]);
  });

  test('counts each sender once', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(2000);
    assert.equal(s.confirm('b'), true);
    clock.advance(1000);
    assert.equal(s.confirm('b'), false);
    assert.equal(s.confirmations, 1);
    clock.advance(13_000);
    assert.deepEqual(fired, [{ at: 16_000, confirmations: 1 }], 'the repeat did not shorten the timer');
  });

  test("ignores the accuser's own message gossiped back", () => {
    const { clock, fired, s } = setup(3);
    assert.equal(s.confirm('accuser'), false);
    assert.equal(s.confirmations, 0);
    clock.advance(30_000);
    assert.deepEqual(fired, [{ at: 30_000, confirmations: 0 }]);
  });

  test('stops counting after k confirmations', () => {
    const { clock, fired, s } = setup(2, 2000, 30_000);
    assert.equal(s.confirm('b'), true);
    assert.equal(s.confirm('c'), true);
    assert.equal(s.confirm('d'), false);
    assert.equal(s.confirmations, 2);
    clock.advance(2000);
    assert.deepEqual(fired, [{ at: 2000, confirmations: 2 }]);
  });

  test('never fires after cancel, and leaves no timer behind', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(2000);
    s.confirm('b');
    s.cancel();
    s.cancel(); // idempotent
    assert.equal(s.confirm('c'), false);
    assert.equal(clock.pending(), 0);
    clock.advance(100_000);
    assert.deepEqual(fired, []);
  });

  test('cancel after a past-due confirmation but before the tick suppresses it', () => {
    const { clock, fired, s } = setup(1);
    clock.advance(5000);
    s.confirm('b'); // k=1: timeout is min, long past
    s.cancel();
    clock.advance(0);
    assert.deepEqual(fired, []);
  });

  test('fires exactly once, and ignores confirmations afterwards', () => {
    const { clock, fired, s } = setup(3);
    clock.advance(1000);
    s.confirm('b'); // reschedules; the original max timer must be gone
    clock.advance(100_000);
    assert.equal(fired.length, 1);
    assert.equal(s.confirm('c'), false);
    clock.advance(100_000);
    assert.equal(fired.length, 1);
    assert.equal(clock.pending(), 0);
  });

  test('rejects nonsensical bounds', () => {
    const clock = new VirtualClock();
    const base = { accuser: 'a', clock, onTimeout: () => {} };
    assert.throws(() => new Suspicion({ ...base, k: 2, minMs: 5000, maxMs: 1000 }), RangeError);
    assert.throws(() => new Suspicion({ ...base, k: 2, minMs: -1, maxMs: 1000 }), RangeError);
    assert.throws(() => new Suspicion({ ...base, k: 2, minMs: 0, maxMs: Infinity }), RangeError);
    assert.throws(() => new Suspicion({ ...base, k: 1.5, minMs: 0, maxMs: 1000 }), RangeError);
  });

  test('fires once, between min and max, when the latest confirmation allows (property)', () => {
    const step = fc.record({ wait: fc.integer({ min: 0, max: 8000 }), from: fc.constantFrom('accuser', 'b', 'c', 'd', 'e', 'f') });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.array(step, { maxLength: 12 }),
        (k, minMs, span, steps) => {
          const maxMs = minMs + span;
          const { clock, fired, s } = setup(k, minMs, maxMs);
          // Model: when the timer should fire given the confirmations so far.
          const seen = new Set<string>(['accuser']);
          let count = 0;
          let due = k < 1 ? minMs : maxMs;
          for (const { wait, from } of steps) {
            clock.advance(wait);
            if (fired.length > 0) break;
            const fresh = count < k && !seen.has(from);
            assert.equal(s.confirm(from), fresh);
            if (fresh) {
              seen.add(from);
              count++;
              due = Math.max(clock.now(), suspicionTimeoutMs(count, k, minMs, maxMs));
            }
          }
          clock.advance(maxMs + 1);
          assert.equal(fired.length, 1);
          assert.equal(fired[0]!.confirmations, count);
          assert.equal(fired[0]!.at, due);
          assert.ok(fired[0]!.at >= minMs);
          assert.ok(fired[0]!.at <= maxMs || count > 0, 'only a late confirmation can fire after max');
        },
      ),
      { seed: SEED, numRuns: 300, includeErrorInReport: true },
    );
  });
});
