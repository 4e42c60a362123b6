import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CryptoRandom, SeededRandom, type Random } from '../../../src/runtime/random.js';

function draw(r: Random): unknown[] {
  return [r.next(), r.int(1000), r.bytes(8).toString('hex'), r.next(), r.int(7), r.bytes(3).toString('hex')];
}

describe('SeededRandom', () => {
  test('the same seed gives the same sequence', () => {
    for (const seed of [0, 1, 42, 0xffffffff, 123456789]) {
      assert.deepEqual(draw(new SeededRandom(seed)), draw(new SeededRandom(seed)), `seed ${seed}`);
    }
  });

  test('different seeds give different sequences', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 100; seed++) seen.add(JSON.stringify(draw(new SeededRandom(seed))));
    assert.equal(seen.size, 100);
  });

  test('the seed is taken as an unsigned 32-bit integer', () => {
    assert.deepEqual(draw(new SeededRandom(2 ** 32 + 5)), draw(new SeededRandom(5)));
    assert.deepEqual(draw(new SeededRandom(-1)), draw(new SeededRandom(0xffffffff)));
  });

  test('successive values are not all equal', () => {
    const r = new SeededRandom(7);
    const values = new Set(Array.from({ length: 100 }, () => r.next()));
    assert.ok(values.size > 95);
  });

  test('next() is in [0, 1)', () => {
    const r = new SeededRandom(3);
    for (let i = 0; i < 10_000; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1, String(x));
    }
  });

  test('int(n) is an integer in [0, n) and reaches every value for small n', () => {
    const r = new SeededRandom(9);
    for (const n of [1, 2, 6, 10]) {
      const hits = new Set<number>();
      for (let i = 0; i < 2000; i++) {
        const k = r.int(n);
        assert.ok(Number.isInteger(k) && k >= 0 && k < n, `${k} for n=${n}`);
        hits.add(k);
      }
      assert.equal(hits.size, n, `all of 0..${n - 1} drawn`);
    }
  });

  test('int(n) is roughly uniform', () => {
    const r = new SeededRandom(11);
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 40_000; i++) counts[r.int(4)]!++;
    for (const c of counts) assert.ok(c > 9000 && c < 11000, `counts ${counts.join(',')}`);
  });

  test('bytes(n) has length n, bytes(0) is empty', () => {
    const r = new SeededRandom(13);
    for (const n of [0, 1, 7, 40, 1000]) assert.equal(r.bytes(n).length, n);
  });

  test('bytes() uses the whole byte range', () => {
    const seen = new Set(new SeededRandom(17).bytes(10_000));
    assert.equal(seen.size, 256);
  });

  test('property: for any seed and n, int(n) stays in range and replays identically', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 1_000_000 }), (seed, n) => {
        const a = new SeededRandom(seed);
        const b = new SeededRandom(seed);
        for (let i = 0; i < 20; i++) {
          const k = a.int(n);
          assert.ok(k >= 0 && k < n);
          assert.equal(b.int(n), k);
        }
      }),
      { seed: 51, numRuns: 200 },
    );
  });
});

describe('CryptoRandom', () => {
  test('next(), int(n) and bytes(n) keep their ranges and lengths', () => {
    const r = new CryptoRandom();
    for (let i = 0; i < 200; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1);
      const k = r.int(5);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 5);
    }
    assert.equal(r.bytes(0).length, 0);
    assert.equal(r.bytes(33).length, 33);
  });

  test('across pool refills, next() stays uniform and never repeats a run', () => {
    const r = new CryptoRandom();
    const buckets = new Array(10).fill(0);
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const x = r.next();
      buckets[Math.floor(x * 10)]++;
      seen.add(x);
    }
    // 10,000 draws over 10 buckets: each holds 1,000 +- 5 sigma (sigma = 30).
    for (const b of buckets) assert.ok(b > 850 && b < 1150, `bucket ${b}`);
    assert.ok(seen.size > 9_990, `${seen.size} distinct of 10,000`);
  });
});
