import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Awareness } from '../../../src/membership/awareness.js';

const SEED = 0xa3a;

describe('Awareness', () => {
  test('starts healthy and does not scale', () => {
    const a = new Awareness(8);
    assert.equal(a.score, 0);
    assert.equal(a.scale(1000), 1000);
  });

  test('clamps at 0', () => {
    const a = new Awareness(8);
    assert.equal(a.apply(-1), 0);
    a.apply(3);
    assert.equal(a.apply(-5), 0);
    assert.equal(a.score, 0);
  });

  test('clamps at max − 1', () => {
    const a = new Awareness(8);
    assert.equal(a.apply(6), 6);
    assert.equal(a.apply(1), 7);
    assert.equal(a.apply(1), 7);
    assert.equal(a.apply(100), 7);
    assert.equal(a.apply(-1), 6, 'recovers one step at a time from the clamp');
  });

  test('scales by score + 1', () => {
    const a = new Awareness(8);
    const table: Array<[delta: number, score: number, scaled: number]> = [
      [1, 1, 2000], [2, 3, 4000], [4, 7, 8000], [1, 7, 8000], [-7, 0, 1000],
    ];
    for (const [delta, score, scaled] of table) {
      a.apply(delta);
      assert.equal(a.score, score);
      assert.equal(a.scale(1000), scaled);
    }
    a.apply(2);
    assert.equal(a.scale(500), 1500);
  });

  test('a multiplier of 1 disables it', () => {
    const a = new Awareness(1);
    assert.equal(a.apply(5), 0);
    assert.equal(a.scale(1000), 1000);
  });

  test('rejects a bad multiplier or delta', () => {
    assert.throws(() => new Awareness(0), RangeError);
    assert.throws(() => new Awareness(2.5), RangeError);
    assert.throws(() => new Awareness(Number.NaN), RangeError);
    assert.throws(() => new Awareness(8).apply(0.5), RangeError);
    assert.throws(() => new Awareness(8).apply(Number.NaN), RangeError);
  });

  test('score is the running sum clamped at every step, and scaling stays bounded (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.integer({ min: -10, max: 10 })), (max, deltas) => {
        const a = new Awareness(max);
        let model = 0;
        for (const d of deltas) {
          model = Math.min(max - 1, Math.max(0, model + d));
          assert.equal(a.apply(d), model);
          assert.ok(a.score >= 0 && a.score <= max - 1);
          assert.equal(a.scale(100), 100 * (model + 1));
          assert.ok(a.scale(100) <= 100 * max);
        }
      }),
      { seed: SEED, includeErrorInReport: true },
    );
  });
});
