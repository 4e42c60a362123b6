import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseIntArg, parseRedisInt } from '../../../src/resp/integer.js';

// Expected values follow util.c string2ll (Redis 7.0.15) and its own unit tests (test_string2ll).
describe('parseIntArg: accepted', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['1', 1],
    ['-1', -1],
    ['99', 99],
    ['-99', -99],
    ['10', 10],
    ['2147483647', 2147483647],
    ['2147483648', 2147483648],
    ['-2147483648', -2147483648],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-9007199254740991', -Number.MAX_SAFE_INTEGER],
  ];
  for (const [text, value] of cases) {
    test(`"${text}" -> ${value}`, () => assert.equal(parseIntArg(text), value));
  }

  // All of 9223372036854775800..9223372036854775807 and -9223372036854775808..-9223372036854775800
  // are valid long longs; string2ll accepts them.
  test('"9223372036854775800" and "-9223372036854775800" (near the limits) are accepted', () => {
    assert.notEqual(parseIntArg('9223372036854775800'), null);
    assert.notEqual(parseIntArg('-9223372036854775800'), null);
  });

  // LLONG_MIN: 20 characters, the longest valid input. -2^63 is exact as a double.
  test('"-9223372036854775808" (LLONG_MIN) is accepted as -2^63', () => {
    assert.equal(parseIntArg('-9223372036854775808'), -(2 ** 63));
  });

  test('"9223372036854775807" (LLONG_MAX) is accepted', () => {
    const v = parseIntArg('9223372036854775807');
    assert.notEqual(v, null);
    // Not exact above 2^53, as documented: within a few ulps of 2^63.
    assert.ok(Math.abs(v! - 2 ** 63) <= 2 ** 63 * 1e-15, String(v));
  });
});

describe('parseIntArg: rejected', () => {
  const cases: [string, string][] = [
    ['empty', ''],
    ['only a minus', '-'],
    ['minus zero', '-0'],
    ['leading zero', '01'],
    ['leading zeros', '007'],
    ['negative with leading zero', '-01'],
    ['plus sign', '+1'],
    ['leading space', ' 1'],
    ['trailing space', '1 '],
    ['decimal point', '1.0'],
    ['exponent', '1e3'],
    ['hex', '0x10'],
    ['letters', 'abc'],
    ['digits then letters', '12abc'],
    ['double minus', '--1'],
    ['minus in the middle', '1-1'],
    ['NUL after digits', '1\x00'],
    ['full-width digit', '\uff11'],
    ['20 digits, over LLONG_MAX', '12345678901234567890'],
    ['ULLONG_MAX', '18446744073709551615'],
    ['21 characters', '-12345678901234567890'],
    ['far over', '99999999999999999999999'],
  ];
  for (const [name, text] of cases) {
    test(`${name}: ${JSON.stringify(text)}`, () => assert.equal(parseIntArg(text), null));
  }

  // string2ll rejects anything past LLONG_MAX / below LLONG_MIN. Checked on redis-server 7.0.15:
  // SELECT 9223372036854775808 -> "-ERR value is not an integer or out of range".
  test('"9223372036854775808" (LLONG_MAX + 1) is rejected', () => {
    assert.equal(parseIntArg('9223372036854775808'), null);
  });

  test('"9223372036854775900" (just past LLONG_MAX) is rejected', () => {
    assert.equal(parseIntArg('9223372036854775900'), null);
  });

  test('"-9223372036854775809" (LLONG_MIN - 1) is rejected', () => {
    assert.equal(parseIntArg('-9223372036854775809'), null);
  });
});

describe('parseRedisInt over part of a buffer', () => {
  test('reads only between start and end', () => {
    const buf = Buffer.from('*123\r\n$-45\r\n');
    assert.equal(parseRedisInt(buf, 1, 4), 123);
    assert.equal(parseRedisInt(buf, 7, 10), -45);
    assert.equal(parseRedisInt(buf, 1, 5), null); // includes the CR
    assert.equal(parseRedisInt(buf, 4, 4), null); // empty
  });

  test('parseIntArg takes a Buffer as well as a string', () => {
    assert.equal(parseIntArg(Buffer.from('-42')), -42);
    assert.equal(parseIntArg(Buffer.from('4 2')), null);
  });
});

describe('properties', () => {
  test('property: every safe integer round-trips through its decimal text', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        assert.equal(parseIntArg(String(n)), n);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  test('property: a leading zero, a plus sign or surrounding blanks make it invalid', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom('0', '+', ' ', '\t', '-0'), fc.boolean(), (n, bad, front) => {
        const text = front ? bad + String(n) : String(n) + (bad === '0' || bad === '-0' ? ' ' : bad);
        assert.equal(parseIntArg(text), null, text);
      }),
      { seed: 12, numRuns: 200 },
    );
  });

  test('property: agrees with BigInt parsing inside the signed 64-bit range', () => {
    const MIN = -(2n ** 63n);
    const MAX = 2n ** 63n - 1n;
    const arb = fc.oneof(
      fc.bigInt({ min: MIN, max: MAX }),
      fc.bigInt({ min: MAX - 100_000n, max: MAX }),
      fc.bigInt({ min: MIN, max: MIN + 100_000n }),
    );
    fc.assert(
      fc.property(arb, (n) => {
        const v = parseIntArg(n.toString());
        assert.notEqual(v, null, `${n} is in range`);
        // Exact up to 2^53; beyond that, documented to be within a few ulps.
        const want = Number(n);
        if (Number.isSafeInteger(want)) assert.equal(v, want);
        else assert.ok(Math.abs(v! - want) <= Math.abs(want) * 1e-15, `${n}: ${v}`);
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  test('property: 20 or more digits (at least 10^19) are rejected, with or without a sign', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 10n ** 19n, max: 10n ** 30n }), fc.boolean(), (n, neg) => {
        assert.equal(parseIntArg((neg ? '-' : '') + n.toString()), null);
      }),
      { seed: 14, numRuns: 200 },
    );
  });
});
