import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  confirmationsWanted,
  pushPullIntervalMs,
  retransmitLimit,
  suspicionMinMs,
  suspicionTimeoutMs,
} from '../../../src/membership/math.js';

const SEED = 0x5e1f;
/** memberlist DefaultLANConfig values these formulas are fed. */
const LAN = { probeIntervalMs: 1000, suspicionMult: 4, suspicionMaxTimeoutMult: 6, retransmitMult: 4, pushPullMs: 30_000 };

/** Seconds rounded to one decimal, the precision REFERENCE.md's tables are written in. */
const s1 = (ms: number) => Math.round(ms / 100) / 10;

describe('derived LAN table (REFERENCE.md 4.2)', () => {
  const rows: Array<{ n: number; min: number; max: number; k: number; after1: number | null; retransmits: number; pushPull: number }> = [
    { n: 3, min: 4, max: 24, k: 0, after1: 4, retransmits: 4, pushPull: 30 },
    { n: 10, min: 4, max: 24, k: 2, after1: 11.4, retransmits: 8, pushPull: 30 },
    { n: 50, min: 6.8, max: 40.8, k: 2, after1: 19.3, retransmits: 8, pushPull: 60 },
    { n: 100, min: 8, max: 48, k: 2, after1: 22.8, retransmits: 12, pushPull: 90 },
    { n: 1000, min: 12, max: 72, k: 2, after1: null, retransmits: 16, pushPull: 180 },
  ];
  for (const row of rows) {
    test(`N = ${row.n}`, () => {
      const min = suspicionMinMs(LAN.suspicionMult, row.n, LAN.probeIntervalMs);
      const max = LAN.suspicionMaxTimeoutMult * min;
      const k = confirmationsWanted(LAN.suspicionMult, row.n);
      assert.equal(s1(min), row.min, 'min');
      assert.equal(s1(max), row.max, 'max');
      assert.equal(k, row.k, 'k');
      const after1 = suspicionTimeoutMs(1, k, min, max);
      if (row.after1 !== null) assert.equal(s1(after1), row.after1, 'after 1 confirmation');
      assert.ok(after1 >= min && after1 <= max);
      assert.equal(retransmitLimit(LAN.retransmitMult, row.n), row.retransmits, 'retransmits');
      assert.equal(pushPullIntervalMs(LAN.pushPullMs, row.n), row.pushPull * 1000, 'push-pull');
    });
  }
});

describe('suspicionMinMs', () => {
  test('node factor max(1, log10(max(1, N)))', () => {
    const cases: Array<[number, number]> = [
      [0, 1], [1, 1], [5, 1], [10, 1], [50, 1.699], [100, 2], [500, 2.699], [1000, 3],
    ];
    for (const [n, factor] of cases) {
      assert.equal(Math.round(suspicionMinMs(1, n, 1000)) / 1000, factor, `N = ${n}`);
    }
  });

  test('scales linearly with the multiplier and the probe interval', () => {
    assert.equal(suspicionMinMs(4, 10, 1000), 4000);
    assert.equal(suspicionMinMs(3, 10, 200), 600);
    assert.equal(suspicionMinMs(6, 100, 5000), 60_000);
  });

  test('never decreases as the cluster grows (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 100_000 }), (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        return suspicionMinMs(4, lo, 1000) <= suspicionMinMs(4, hi, 1000);
      }),
      { seed: SEED, includeErrorInReport: true },
    );
  });
});

describe('confirmationsWanted', () => {
  test('mult − 2, or 0 when N − 2 is smaller', () => {
    const cases: Array<[mult: number, n: number, k: number]> = [
      [4, 0, 0], [4, 1, 0], [4, 2, 0], [4, 3, 0], [4, 4, 2], [4, 10, 2], [4, 1000, 2],
      [6, 5, 0], [6, 6, 4], [3, 2, 0], [3, 3, 1], [2, 100, 0], [1, 100, 0], [0, 100, 0],
    ];
    for (const [mult, n, k] of cases) assert.equal(confirmationsWanted(mult, n), k, `mult ${mult}, N ${n}`);
  });
});

describe('suspicionTimeoutMs', () => {
  const min = 2000;
  const max = 30_000;

  test('worked example: min 2 s, max 30 s, k 3', () => {
    assert.equal(suspicionTimeoutMs(0, 3, min, max), 30_000); // c=0: the full 30 s
    assert.equal(suspicionTimeoutMs(1, 3, min, max) - 2000, 14_000); // c=1 at 2 s: 14 s left
    assert.equal(suspicionTimeoutMs(2, 3, min, max) - 3000, 4810); // c=2 at 3 s: 4.81 s left
    assert.equal(suspicionTimeoutMs(3, 3, min, max) - 4000, -2000); // c=3 at 4 s: past, fire
  });

  test('k < 1 pins the timeout at min', () => {
    for (const c of [0, 1, 5]) {
      assert.equal(suspicionTimeoutMs(c, 0, min, max), min);
      assert.equal(suspicionTimeoutMs(c, -1, min, max), min);
    }
  });

  test('floors to whole milliseconds and never goes under min', () => {
    assert.equal(suspicionTimeoutMs(2, 3, min, max), 7810); // 7810.4 floored
    assert.equal(suspicionTimeoutMs(3, 3, min, max), min);
    assert.equal(suspicionTimeoutMs(10, 3, min, max), min); // more than k confirmations
  });

  test('starts at max, ends at min, never increases (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 500_000 }),
        (k, lo, span) => {
          const hi = lo + span;
          assert.equal(suspicionTimeoutMs(0, k, lo, hi), hi);
          assert.equal(suspicionTimeoutMs(k, k, lo, hi), lo);
          let prev = hi;
          for (let c = 0; c <= k + 2; c++) {
            const t = suspicionTimeoutMs(c, k, lo, hi);
            assert.ok(t >= lo && t <= hi && t <= prev, `c=${c}: ${t}`);
            assert.ok(Number.isInteger(t));
            prev = t;
          }
        },
      ),
      { seed: SEED, includeErrorInReport: true },
    );
  });
});

describe('retransmitLimit', () => {
  test('mult × ceil(log10(N + 1))', () => {
    const cases: Array<[mult: number, n: number, limit: number]> = [
      [3, 0, 0], [3, 1, 3], [3, 9, 3], [3, 10, 6], [3, 99, 6], [3, 100, 9],
      [4, 1, 4], [4, 3, 4], [4, 10, 8], [4, 50, 8], [4, 100, 12], [4, 999, 12], [4, 1000, 16], [0, 50, 0],
    ];
    for (const [mult, n, limit] of cases) assert.equal(retransmitLimit(mult, n), limit, `mult ${mult}, N ${n}`);
  });

  test('never decreases as the cluster grows (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (n) => retransmitLimit(4, n) <= retransmitLimit(4, n + 1)),
      { seed: SEED, includeErrorInReport: true },
    );
  });
});

describe('pushPullIntervalMs', () => {
  test('unchanged up to 32, one more multiple per doubling past it', () => {
    const cases: Array<[n: number, mult: number]> = [
      [0, 1], [1, 1], [32, 1], [33, 2], [64, 2], [65, 3], [128, 3], [129, 4], [256, 4], [1000, 6], [1024, 6], [1025, 7],
    ];
    for (const [n, mult] of cases) assert.equal(pushPullIntervalMs(30_000, n), 30_000 * mult, `N = ${n}`);
  });

  test('a whole multiple of the base that never decreases (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
        const a = pushPullIntervalMs(1000, n);
        return Number.isInteger(a / 1000) && a >= 1000 && a <= pushPullIntervalMs(1000, n + 1);
      }),
      { seed: SEED, includeErrorInReport: true },
    );
  });
});
