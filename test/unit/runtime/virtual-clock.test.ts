import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { VirtualClock } from '../../../src/runtime/virtual-clock.js';

describe('VirtualClock', () => {
  test('starts at 0 and only moves when advanced', () => {
    const clock = new VirtualClock();
    assert.equal(clock.now(), 0);
    clock.advance(250);
    assert.equal(clock.now(), 250);
    clock.advance(0.5);
    assert.equal(clock.now(), 250.5);
  });

  test('timers fire in time order, not in the order they were set', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('c'), 300);
    clock.setTimeout(() => fired.push('a'), 100);
    clock.setTimeout(() => fired.push('b'), 200);
    clock.advance(1000);
    assert.deepEqual(fired, ['a', 'b', 'c']);
  });

  test('timers due at the same time fire in the order they were set', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    for (let i = 0; i < 10; i++) clock.setTimeout(() => fired.push(i), 50);
    clock.advance(50);
    assert.deepEqual(fired, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('a timer fires exactly at its due time, not before', () => {
    const clock = new VirtualClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 100);
    clock.advance(99);
    assert.equal(fired, 0);
    clock.advance(1);
    assert.equal(fired, 1);
    clock.advance(1000);
    assert.equal(fired, 1, 'a timeout fires once');
  });

  test('now() inside a callback is the timer due time; after advance() it is the target', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 30);
    clock.setTimeout(() => seen.push(clock.now()), 70);
    clock.advance(100);
    assert.deepEqual(seen, [30, 70]);
    assert.equal(clock.now(), 100);
  });

  test('delays count from the time the timer is set', () => {
    const clock = new VirtualClock();
    clock.advance(1000);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), 5);
    clock.advance(10);
    assert.deepEqual(seen, [1005]);
  });

  test('a negative delay counts as 0', () => {
    const clock = new VirtualClock();
    clock.advance(10);
    const seen: number[] = [];
    clock.setTimeout(() => seen.push(clock.now()), -50);
    clock.advance(0);
    assert.deepEqual(seen, [10]);
  });

  test('a timer set from a callback fires in the same advance when due within it', () => {
    const clock = new VirtualClock();
    const seen: [string, number][] = [];
    clock.setTimeout(() => {
      seen.push(['outer', clock.now()]);
      clock.setTimeout(() => seen.push(['inner', clock.now()]), 0);
      clock.setTimeout(() => seen.push(['later', clock.now()]), 20);
      clock.setTimeout(() => seen.push(['beyond', clock.now()]), 500);
    }, 10);
    clock.advance(100);
    assert.deepEqual(seen, [
      ['outer', 10],
      ['inner', 10],
      ['later', 30],
    ]);
    clock.advance(500);
    assert.deepEqual(seen.at(-1), ['beyond', 510]);
  });

  test('a zero-delay timer set from a callback runs after timers already due at that instant', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('first');
      clock.setTimeout(() => fired.push('new'), 0);
    }, 10);
    clock.setTimeout(() => fired.push('second'), 10);
    clock.advance(10);
    assert.deepEqual(fired, ['first', 'second', 'new']);
  });

  test('intervals repeat every period', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setInterval(() => seen.push(clock.now()), 10);
    clock.advance(35);
    assert.deepEqual(seen, [10, 20, 30]);
    clock.advance(5);
    assert.deepEqual(seen, [10, 20, 30, 40]);
  });

  test('an interval of 0 repeats every 1 ms instead of looping forever', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setInterval(() => seen.push(clock.now()), 0);
    clock.advance(3);
    assert.deepEqual(seen, [0, 1, 2, 3]);
  });

  test('intervals and timeouts interleave in time order', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setInterval(() => fired.push(`i${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`t${clock.now()}`), 15);
    clock.setTimeout(() => fired.push(`u${clock.now()}`), 20);
    clock.advance(30);
    // At 20 they tie. The interval's next run was scheduled when it fired at 10, after the
    // timeout was set at 0, so the timeout goes first.
    assert.deepEqual(fired, ['i10', 't15', 'u20', 'i20', 'i30']);
  });

  test('cancel() before the due time: the timer never fires', () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.setTimeout(() => fired++, 10);
    assert.equal(clock.pending(), 1);
    t.cancel();
    assert.equal(clock.pending(), 0);
    clock.advance(100);
    assert.equal(fired, 0);
  });

  test('cancel() after firing and a second cancel() are harmless', () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.setTimeout(() => fired++, 10);
    clock.advance(10);
    t.cancel();
    t.cancel();
    clock.advance(100);
    assert.equal(fired, 1);
  });

  test('an interval can cancel itself from its callback', () => {
    const clock = new VirtualClock();
    let count = 0;
    const h = clock.setInterval(() => {
      if (++count === 3) h.cancel();
    }, 5);
    clock.advance(100);
    assert.equal(count, 3);
    assert.equal(clock.pending(), 0);
  });

  test('a callback can cancel another timer due at the same time', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    let b: { cancel(): void } | null = null;
    clock.setTimeout(() => {
      fired.push('a');
      b!.cancel();
    }, 10);
    b = clock.setTimeout(() => fired.push('b'), 10);
    clock.advance(10);
    assert.deepEqual(fired, ['a']);
  });

  test('pending() counts live timers; an interval stays pending', () => {
    const clock = new VirtualClock();
    clock.setTimeout(() => {}, 10);
    clock.setTimeout(() => {}, 20);
    clock.setInterval(() => {}, 5);
    assert.equal(clock.pending(), 3);
    clock.advance(15);
    assert.equal(clock.pending(), 2);
    clock.advance(100);
    assert.equal(clock.pending(), 1);
  });

  test('wallNow follows now() from the wall origin, in whole milliseconds', () => {
    const clock = new VirtualClock();
    assert.equal(clock.wallNow(), 1_700_000_000_000);
    clock.advance(1234.7);
    assert.equal(clock.wallNow(), 1_700_000_001_234);
    const other = new VirtualClock(5_000);
    other.advance(10);
    assert.equal(other.wallNow(), 5_010);
  });

  test('property: any set of timeouts fires sorted by (due time, set order), each once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 5 }), (delays, steps) => {
        const clock = new VirtualClock();
        const fired: [number, number][] = [];
        delays.forEach((d, i) => clock.setTimeout(() => fired.push([clock.now(), i]), d));
        for (const s of steps) clock.advance(s);
        const end = steps.reduce((a, b) => a + b, 0);
        const expected = delays
          .map((d, i) => [d, i] as [number, number])
          .filter(([d]) => d <= end)
          .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(fired, expected);
      }),
      { seed: 41, numRuns: 200 },
    );
  });
});
