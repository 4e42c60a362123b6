import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Clock, TimerHandle } from '../../../src/runtime/clock.js';
import { SeededRandom, type Random } from '../../../src/runtime/random.js';
import { VirtualClock } from '../../../src/runtime/virtual-clock.js';
import { ProbeScheduler } from '../../../src/probe/scheduler.js';

const SEED = 0x5c4ed;

/**
 * A VirtualClock that counts its pending timers and can stall: a VirtualClock fires every timer at
 * its due time, however far it is advanced, so a blocked event loop is played by moving `now`
 * forward while no timer runs.
 */
class TestClock implements Clock {
  readonly inner = new VirtualClock();
  private skew = 0;
  pendingTimers = 0;
  maxPendingTimers = 0;
  intervalsSet = 0;

  now(): number {
    return this.inner.now() + this.skew;
  }

  wallNow(): number {
    return this.inner.wallNow() + this.skew;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    let done = false;
    const finish = () => {
      done = true;
      this.pendingTimers--;
    };
    this.maxPendingTimers = Math.max(this.maxPendingTimers, ++this.pendingTimers);
    const handle = this.inner.setTimeout(() => {
      finish();
      fn();
    }, delayMs);
    return {
      cancel: () => {
        if (done) return;
        finish();
        handle.cancel();
      },
    };
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    this.intervalsSet++;
    return this.inner.setInterval(fn, periodMs);
  }

  advance(ms: number): void {
    this.inner.advance(ms);
  }

  stall(ms: number): void {
    this.skew += ms;
  }
}

/** Every draw the same: origins added together are due together. */
const fixedRandom = (v: number): Random => ({ next: () => v, int: (n) => Math.floor(v * n), bytes: (n) => Buffer.alloc(n) });

/** A started scheduler on a TestClock that records when each origin was probed. */
function setup(random: Random = new SeededRandom(SEED)) {
  const clock = new TestClock();
  const scheduler = new ProbeScheduler(clock, random);
  const probes = new Map<string, number[]>();
  scheduler.onDue((id) => {
    const times = probes.get(id) ?? [];
    times.push(clock.now());
    probes.set(id, times);
  });
  scheduler.start();
  const count = (id: string) => probes.get(id)?.length ?? 0;
  return { clock, scheduler, probes, count };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `origin-${i}`);
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

function assertOneTimer(clock: TestClock): void {
  assert.ok(clock.maxPendingTimers <= 1, `${clock.maxPendingTimers} timers pending at once`);
  assert.equal(clock.intervalsSet, 0);
}

describe('ProbeScheduler first probes', () => {
  test('1,000 first probes fall within one interval, spread evenly', () => {
    const interval = 5000;
    const { clock, scheduler, probes } = setup();
    for (const id of ids(1000)) scheduler.add(id, interval);
    assert.equal(scheduler.size, 1000);
    clock.advance(interval - 0.001);
    assert.equal(probes.size, 1000);
    const buckets = new Array<number>(interval / 100).fill(0);
    for (const [t] of probes.values()) buckets[Math.floor(t! / 100)]!++;
    const mean = 1000 / buckets.length;
    assert.ok(Math.max(...buckets) <= 3 * mean, `fullest 100 ms bucket: ${Math.max(...buckets)}, mean ${mean}`);
    assertOneTimer(clock);
  });

  test('nothing is probed before start, nor after stop', () => {
    const clock = new TestClock();
    const scheduler = new ProbeScheduler(clock, new SeededRandom(SEED));
    let fired = 0;
    scheduler.onDue(() => fired++);
    scheduler.add('a', 1000);
    clock.advance(5000);
    assert.equal(fired, 0);
    assert.equal(clock.pendingTimers, 0);
    scheduler.start();
    clock.advance(0);
    assert.equal(fired, 1, 'a probe that fell due while stopped fires once at start');
    clock.advance(3000);
    const before = fired;
    scheduler.stop();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(5000);
    assert.equal(fired, before);
  });
});

describe('ProbeScheduler later probes', () => {
  test('consecutive probes of an origin are interval ± 10% apart, and do vary', () => {
    const interval = 1000;
    const { clock, scheduler, probes } = setup();
    for (const id of ids(200)) scheduler.add(id, interval);
    clock.advance(50 * interval);
    const all = [...probes.values()].flatMap(gaps);
    assert.ok(all.length > 9000);
    const [min, max] = [Math.min(...all), Math.max(...all)];
    assert.ok(min >= 0.9 * interval && max <= 1.1 * interval, `gaps ${min}..${max}`);
    assert.ok(min < 0.95 * interval && max > 1.05 * interval, `jitter too narrow: ${min}..${max}`);
    assertOneTimer(clock);
  });

  test('over 1,000 intervals every origin gets 1,000 probes, ±1 (no drift)', () => {
    const interval = 1000;
    const { clock, scheduler, count } = setup();
    for (const id of ids(200)) scheduler.add(id, interval);
    clock.advance(1000 * interval);
    for (const id of ids(200)) assert.ok(Math.abs(count(id) - 1000) <= 1, `${id}: ${count(id)} probes`);
    assertOneTimer(clock);
  });

  test('a slow handler does not delay the schedule: times follow the clock, not the handler', () => {
    const { clock, scheduler, probes } = setup();
    scheduler.add('a', 1000);
    scheduler.onDue((id) => {
      probes.set(id, [...(probes.get(id) ?? []), clock.now()]);
      clock.stall(300);
    });
    clock.advance(100_000);
    // Scheduling from the handler's end would give one probe per 1,300 ms.
    const [n, expected] = [probes.get('a')!.length, clock.now() / 1000];
    assert.ok(Math.abs(n - expected) <= 1, `${n} probes in ${expected} intervals`);
  });
});

describe('ProbeScheduler remove and update', () => {
  test('remove stops probes at once and leaves no timer behind', () => {
    const { clock, scheduler, count } = setup();
    scheduler.add('a', 1000);
    scheduler.add('b', 1000);
    clock.advance(3500);
    const seen = count('a');
    assert.equal(scheduler.remove('a'), true);
    assert.equal(scheduler.remove('a'), false);
    clock.advance(10_000);
    assert.equal(count('a'), seen);
    assert.ok(count('b') >= 12);
    scheduler.remove('b');
    assert.equal(scheduler.size, 0);
    assert.equal(clock.pendingTimers, 0);
    assertOneTimer(clock);
  });

  test('an origin removed by the handler of one due at the same instant is not probed', () => {
    const { clock, scheduler, probes } = setup(fixedRandom(0.5));
    scheduler.add('a', 1000);
    scheduler.add('b', 1000);
    scheduler.onDue((id) => {
      probes.set(id, [clock.now()]);
      scheduler.remove('b');
    });
    clock.advance(5000);
    assert.deepEqual([...probes.keys()], ['a']);
  });

  test('a longer interval applies from the pending probe on', () => {
    const { clock, scheduler, probes } = setup();
    scheduler.add('a', 1000);
    clock.advance(5000);
    const last = probes.get('a')!.at(-1)!;
    assert.equal(scheduler.update('a', 3000), true);
    clock.advance(30_000);
    const after = probes.get('a')!.filter((t) => t >= last);
    const [first, ...rest] = gaps(after);
    assert.ok(first! >= 900 && first! <= 1100, `pending probe moved: ${first}`);
    assert.ok(rest.length >= 8);
    for (const g of rest) assert.ok(g >= 2700 && g <= 3300, `gap ${g}`);
  });

  test('a shorter interval pulls a far-off probe in to within one new interval', () => {
    const { clock, scheduler, probes } = setup();
    scheduler.add('a', 60_000);
    clock.advance(60_000);
    const updatedAt = clock.now();
    scheduler.update('a', 1000);
    clock.advance(10_000);
    const after = probes.get('a')!.filter((t) => t > updatedAt);
    assert.ok(after[0]! - updatedAt < 1000, `next probe ${after[0]! - updatedAt} ms after the update`);
    for (const g of gaps(after)) assert.ok(g >= 900 && g <= 1100, `gap ${g}`);
    assert.equal(scheduler.update('nope', 1000), false);
    assertOneTimer(clock);
  });

  test('an update to the same interval changes nothing, even repeated every step', () => {
    const interval = 1000;
    const { clock, scheduler, count } = setup();
    for (const id of ids(200)) scheduler.add(id, interval);
    for (let t = 0; t < 100 * interval; t += 100) {
      clock.advance(100);
      for (const id of ids(200)) scheduler.update(id, interval);
    }
    for (const id of ids(200)) assert.ok(Math.abs(count(id) - 100) <= 1, `${id}: ${count(id)} probes in 100 intervals`);
  });

  test('adding an id again starts it over instead of scheduling it twice', () => {
    const { clock, scheduler, count } = setup();
    scheduler.add('a', 1000);
    scheduler.add('a', 1000);
    assert.equal(scheduler.size, 1);
    clock.advance(10_000);
    assert.ok(count('a') >= 9 && count('a') <= 11, `${count('a')} probes`);
  });

  test('intervals must be positive', () => {
    const { scheduler } = setup();
    assert.throws(() => scheduler.add('a', 0), RangeError);
    assert.throws(() => scheduler.add('a', Number.NaN), RangeError);
  });
});

describe('ProbeScheduler stalls and timers', () => {
  test('a stall of 10 intervals gives one catch-up probe per origin, not ten, and keeps phases', () => {
    const interval = 1000;
    const { clock, scheduler, probes } = setup();
    for (const id of ids(500)) scheduler.add(id, interval);
    clock.advance(5 * interval);
    clock.stall(10 * interval);
    const stallEnd = clock.now();
    clock.advance(2 * interval);
    const caughtUp = [...probes.values()].map((times) => times.filter((t) => t >= stallEnd));
    const burst = caughtUp[0]![0]!;
    const next: number[] = [];
    for (const times of caughtUp) {
      assert.equal(times[0], burst, 'every overdue origin fires once, together');
      assert.ok(times[1]! - burst >= 0.45 * interval, `second probe ${times[1]! - burst} ms after the catch-up`);
      next.push(times[1]!);
    }
    assert.ok(Math.max(...next) - Math.min(...next) > 0.8 * interval, 'origins came back in lockstep');
    assertOneTimer(clock);
  });

  test('one clock timer at most, whatever the churn', () => {
    const { clock, scheduler } = setup();
    const random = new SeededRandom(SEED + 1);
    for (let step = 0; step < 5000; step++) {
      const id = `origin-${random.int(300)}`;
      const op = random.int(4);
      if (op === 0) scheduler.remove(id);
      else if (op === 1) scheduler.update(id, 500 + random.int(5000));
      else scheduler.add(id, 500 + random.int(5000));
      clock.advance(random.int(50));
      assert.equal(clock.pendingTimers, scheduler.size > 0 ? 1 : 0);
    }
    assertOneTimer(clock);
  });

  test('under random adds and removes, every origin fires on its own schedule and a removed one never', () => {
    const { clock, scheduler } = setup();
    const random = new SeededRandom(SEED + 2);
    /** Per scheduled id: its interval, and when it was added or last fired. */
    const live = new Map<string, { interval: number; since: number; fired: boolean }>();
    let fired = 0;
    scheduler.onDue((id) => {
      const s = live.get(id);
      assert.ok(s, `${id} fired while not scheduled`);
      const gap = clock.now() - s.since;
      // First probe within one interval of the add; later ones interval ± JITTER/2 on the grid.
      if (s.fired) assert.ok(gap >= 0.9 * s.interval && gap <= 1.1 * s.interval, `${id}: ${gap} ms after its last probe (interval ${s.interval})`);
      else assert.ok(gap < s.interval, `${id}: first probe ${gap} ms after its add (interval ${s.interval})`);
      live.set(id, { interval: s.interval, since: clock.now(), fired: true });
      fired++;
    });
    for (let step = 0; step < 20_000; step++) {
      const id = `origin-${random.int(500)}`;
      if (random.int(3) === 0) {
        scheduler.remove(id);
        live.delete(id);
      } else if (!live.has(id)) {
        const interval = 200 + random.int(2000);
        scheduler.add(id, interval);
        live.set(id, { interval, since: clock.now(), fired: false });
      }
      clock.advance(random.int(5));
    }
    assert.equal(scheduler.size, live.size);
    assert.ok(fired > 10_000, `${fired} probes`);
  });

  test('100,000 origins over 3 intervals', (t) => {
    const interval = 5000;
    const { clock, scheduler, probes } = setup();
    const started = performance.now();
    for (const id of ids(100_000)) scheduler.add(id, interval);
    const added = performance.now();
    clock.advance(3 * interval);
    const done = performance.now();
    let total = 0;
    for (const times of probes.values()) {
      total += times.length;
      assert.ok(times.length >= 2 && times.length <= 4);
    }
    assert.equal(probes.size, 100_000);
    assertOneTimer(clock);
    t.diagnostic(`add 100k: ${(added - started).toFixed(0)} ms; ${total} probes in 3 intervals: ${(done - added).toFixed(0)} ms`);
  });
});
