import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { globMatch } from '../../../src/server/glob.js';

/**
 * util.c stringmatchlen_impl from Redis 7.0.15, transliterated line by line as a reference model.
 * Patterns are sds strings, so reading past the end yields NUL (0). Only ASCII is fed to it below:
 * Redis compares `char`s, which are signed on x86, so ranges with bytes >= 0x80 differ by platform.
 */
function redisStringMatch(pattern: string, subject: string, nocase: boolean): boolean {
  const skipLongerMatches = { value: false };
  return matchImpl(pattern, 0, pattern.length, subject, 0, subject.length, nocase, skipLongerMatches);
}

function matchImpl(
  pat: string,
  pi: number,
  patternLen: number,
  str: string,
  si: number,
  stringLen: number,
  nocase: boolean,
  skip: { value: boolean },
): boolean {
  const p = (k: number) => (pi + k < pat.length ? pat.charCodeAt(pi + k) : 0);
  const s = (k: number) => (si + k < str.length ? str.charCodeAt(si + k) : 0);
  const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);
  while (patternLen && stringLen) {
    const c0 = p(0);
    if (c0 === 0x2a /* * */) {
      while (patternLen && p(1) === 0x2a) {
        pi++;
        patternLen--;
      }
      if (patternLen === 1) return true;
      while (stringLen) {
        if (matchImpl(pat, pi + 1, patternLen - 1, str, si, stringLen, nocase, skip)) return true;
        if (skip.value) return false;
        si++;
        stringLen--;
      }
      skip.value = true;
      return false;
    } else if (c0 === 0x3f /* ? */) {
      si++;
      stringLen--;
    } else if (c0 === 0x5b /* [ */) {
      pi++;
      patternLen--;
      const not = p(0) === 0x5e;
      if (not) {
        pi++;
        patternLen--;
      }
      let match = false;
      for (;;) {
        if (p(0) === 0x5c && patternLen >= 2) {
          pi++;
          patternLen--;
          if (p(0) === s(0)) match = true;
        } else if (p(0) === 0x5d) {
          break;
        } else if (patternLen === 0) {
          pi--;
          patternLen++;
          break;
        } else if (patternLen >= 3 && p(1) === 0x2d) {
          let start = p(0);
          let end = p(2);
          let c = s(0);
          if (start > end) [start, end] = [end, start];
          if (nocase) {
            start = lower(start);
            end = lower(end);
            c = lower(c);
          }
          pi += 2;
          patternLen -= 2;
          if (c >= start && c <= end) match = true;
        } else if (!nocase ? p(0) === s(0) : lower(p(0)) === lower(s(0))) {
          match = true;
        }
        pi++;
        patternLen--;
      }
      if (not) match = !match;
      if (!match) return false;
      si++;
      stringLen--;
    } else {
      if (c0 === 0x5c && patternLen >= 2) {
        pi++;
        patternLen--;
      }
      if (!nocase ? p(0) !== s(0) : lower(p(0)) !== lower(s(0))) return false;
      si++;
      stringLen--;
    }
    pi++;
    patternLen--;
    if (stringLen === 0) {
      while (p(0) === 0x2a) {
        pi++;
        patternLen--;
      }
      break;
    }
  }
  return patternLen === 0 && stringLen === 0;
}

type Case = [pattern: string, subject: string, expected: boolean];

function table(name: string, cases: Case[], nocase = false): void {
  describe(name, () => {
    for (const [pattern, subject, expected] of cases) {
      test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(subject)}`, () => {
        assert.equal(globMatch(pattern, subject, nocase), expected);
        assert.equal(redisStringMatch(pattern, subject, nocase), expected, 'reference model agrees');
      });
    }
  });
}

table('globMatch: literals', [
  ['hello', 'hello', true],
  ['hello', 'hell', false],
  ['hello', 'helloo', false],
  ['hello', 'Hello', false],
  ['', '', true],
  ['', 'a', false],
  ['a', '', false],
  ['a\xffb', 'a\xffb', true],
]);

table('globMatch: * and ?', [
  ['*', 'a', true],
  ['*', 'anything at all', true],
  ['h*llo', 'hllo', true],
  ['h*llo', 'heeeello', true],
  ['h*llo', 'hello!', false],
  ['*llo', 'hello', true],
  ['he*', 'he', true],
  ['a*', 'a', true],
  ['**a**', 'a', true],
  ['*a*b*c*', 'xxaxxbxxcxx', true],
  ['*a*b*c*', 'xxaxxcxxbxx', false],
  ['a*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
  ['h?llo', 'hello', true],
  ['h?llo', 'hallo', true],
  ['h?llo', 'hllo', false],
  ['?', '', false],
  ['??', 'a', false],
  ['*?', 'a', true],
  ['?*', 'ab', true],
  ['news.*', 'news.art', true],
  ['news.*', 'new.art', false],
]);

table('globMatch: character classes', [
  ['h[ae]llo', 'hello', true],
  ['h[ae]llo', 'hallo', true],
  ['h[ae]llo', 'hillo', false],
  ['h[^e]llo', 'hallo', true],
  ['h[^e]llo', 'hbllo', true],
  ['h[^e]llo', 'hello', false],
  ['h[a-b]llo', 'hallo', true],
  ['h[a-b]llo', 'hbllo', true],
  ['h[a-b]llo', 'hcllo', false],
  ['[a-z]', 'm', true],
  ['[a-z]', 'M', false],
  ['[^a-z]', 'M', true],
  ['[0-9]x', '5x', true],
  // A reversed range is swapped, not empty.
  ['[z-a]', 'm', true],
  ['[z-a]', 'A', false],
  ['[a-cx-z]', 'y', true],
  ['[a-cx-z]', 'm', false],
  ['[\\]]', ']', true],
  ['[\\-]', '-', true],
  ['[\\^a]', '^', true],
  ['[a\\-z]', 'b', false],
  ['[a\\-z]', '-', true],
  ['[-a]', '-', true],
  // "[a-]": the range runs from 'a' to the ']' (swapped: ']'..'a'), and the class is unterminated.
  ['[a-]', '_', true],
  ['[a-]', '-', false],
  // "[]" is an empty class: nothing matches it.
  ['[]a', ']a', false],
  ['[]a', 'a', false],
  // "[^]" is the complement of the empty class: any one character.
  ['[^]', 'x', true],
  ['[^]x', ']x', true],
]);

table('globMatch: escapes and unterminated classes', [
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'axb', false],
  ['\\?', '?', true],
  ['\\?', 'a', false],
  ['\\[a]', '[a]', true],
  ['\\\\', '\\', true],
  ['\\a', 'a', true],
  // A trailing backslash is a literal backslash.
  ['a\\', 'a\\', true],
  ['\\', '\\', true],
  // An unterminated class ends with the pattern.
  ['[abc', 'a', true],
  ['[abc', 'c', true],
  ['[abc', 'd', false],
  ['x[ab', 'xb', true],
  ['x[ab', 'xba', false],
  ['[', '[', false],
  ['[', 'a', false],
  ['[^', 'a', true],
  ['[^a', 'a', false],
  ['[^a', 'b', true],
]);

table(
  'globMatch: nocase (CONFIG GET, COMMAND LIST)',
  [
    ['HELLO', 'hello', true],
    ['hello', 'HeLLo', true],
    ['h?LLO', 'Hello', true],
    ['*MAXMEMORY*', 'maxmemory-policy', true],
    ['[A-Z]', 'q', true],
    ['[a-z]', 'Q', true],
    ['h[E]llo', 'hello', true],
    ['h[^E]llo', 'hello', false],
    ['a\\B', 'ab', true],
    ['hello', 'help', false],
  ],
  true,
);

describe('globMatch: Redis 7.0 edge cases (checked against redis-server 7.0.15)', () => {
  // stringmatchlen loops `while (patternLen && stringLen)`, so an empty subject matches only the
  // empty pattern. Live: PSUBSCRIBE *, then PUBLISH "" hi -> ":0" (not delivered); KEYS ** does not
  // list the key "" (KEYS * does, through its allkeys shortcut, not through stringmatchlen).
  test('"*" does not match the empty string', () => {
    assert.equal(redisStringMatch('*', '', false), false);
    assert.equal(globMatch('*', ''), false);
  });

  test('"**" does not match the empty string', () => {
    assert.equal(redisStringMatch('**', '', false), false);
    assert.equal(globMatch('**', ''), false);
  });

  // Inside a class an escaped character is compared without tolower(), even with nocase.
  // Live: CONFIG GET [\M]axmemory-policy -> *0 (empty), while CONFIG GET [M]axmemory-policy matches.
  test('nocase: an escaped character inside a class is still case-sensitive', () => {
    assert.equal(redisStringMatch('[\\A]', 'a', true), false);
    assert.equal(globMatch('[\\A]', 'a', true), false);
    assert.equal(globMatch('[\\a]', 'a', true), true);
  });

  // A range is swapped first, then its ends are lowered: [Z-a] becomes 'z'..'a', an empty range.
  // Live: CONFIG GET [Z-a]axmemory-policy -> *0.
  test('nocase: a mixed-case range is lowered after the swap ([Z-a] matches nothing)', () => {
    assert.equal(redisStringMatch('[Z-a]', 'm', true), false);
    assert.equal(globMatch('[Z-a]', 'm', true), false);
  });

  // tolower() in the C locale (Redis only sets LC_COLLATE) folds A-Z only.
  test('nocase folds ASCII letters only, not latin1 letters', () => {
    assert.equal(globMatch('\xc9', '\xe9', true), false);
    assert.equal(globMatch('caf\xc9', 'CAF\xe9', true), false);
  });
});

describe('globMatch: properties', () => {
  const plainChar = fc.constantFrom(...'abcXYZ019-_.:|/ \xe9\xff'.split(''));
  const plain = fc.string({ unit: plainChar, maxLength: 12 });

  test('property: a pattern without special characters matches only itself', () => {
    fc.assert(
      fc.property(plain, plain, (pattern, other) => {
        assert.equal(globMatch(pattern, pattern), true);
        assert.equal(globMatch(pattern, other), pattern === other);
      }),
      { seed: 31, numRuns: 300 },
    );
  });

  test('property: a pattern without special characters matches itself as a prefix plus * only', () => {
    fc.assert(
      fc.property(plain, plain, (prefix, rest) => {
        fc.pre(prefix.length + rest.length > 0);
        assert.equal(globMatch(prefix + '*', prefix + rest), true);
        assert.equal(globMatch('*' + rest, prefix + rest), true);
      }),
      { seed: 32, numRuns: 200 },
    );
  });

  const special = fc.constantFrom(...'ab*?[]^-\\z'.split(''));
  const subjectChar = fc.constantFrom(...'abz-]\\^*['.split(''));

  test('property: agrees with Redis stringmatchlen on random patterns (non-empty subjects)', () => {
    fc.assert(
      fc.property(fc.string({ unit: special, maxLength: 10 }), fc.string({ unit: subjectChar, minLength: 1, maxLength: 8 }), (pattern, subject) => {
        assert.equal(globMatch(pattern, subject), redisStringMatch(pattern, subject, false));
      }),
      { seed: 33, numRuns: 1000 },
    );
  });

  test('property: with nocase, agrees with Redis outside character classes', () => {
    const nocaseSpecial = fc.constantFrom(...'aAbB*?\\zZ'.split(''));
    const nocaseSubject = fc.constantFrom(...'aAbBzZ*?\\'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: nocaseSpecial, maxLength: 10 }), fc.string({ unit: nocaseSubject, minLength: 1, maxLength: 8 }), (pattern, subject) => {
        assert.equal(globMatch(pattern, subject, true), redisStringMatch(pattern, subject, true));
      }),
      { seed: 34, numRuns: 500 },
    );
  });
});
