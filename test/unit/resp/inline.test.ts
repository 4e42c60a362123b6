import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { splitInline } from '../../../src/resp/inline.js';

const split = (line: string): string[] | null => {
  const out = splitInline(Buffer.from(line, 'latin1'));
  return out === null ? null : out.map((b) => b.toString('latin1'));
};

// Expected values follow sds.c sdssplitargs (Redis 7.0.15); the quoting cases were also checked
// against a live redis-server 7.0.15 (RPUSH of the inline words, then LRANGE).
describe('splitInline: words and blanks', () => {
  const cases: [string, string, string[]][] = [
    ['empty line', '', []],
    ['only blanks', ' \t \v\f ', []],
    ['one word', 'PING', ['PING']],
    ['several words, runs of spaces', 'SET  key   value', ['SET', 'key', 'value']],
    ['leading and trailing blanks', '   GET k   ', ['GET', 'k']],
    ['tab separates words', 'a\tb', ['a', 'b']],
    ['CR separates words', 'a\rb', ['a', 'b']],
    ['LF separates words', 'a\nb', ['a', 'b']],
    // sdssplitargs skips any isspace() between words, but only ' ', \n, \r, \t, \0 end a word.
    ['\\v and \\f are skipped between words', 'a \v\f b', ['a', 'b']],
    ['\\v inside a word does not split it', 'a\vb', ['a\vb']],
    ['\\f inside a word does not split it', 'a\fb', ['a\fb']],
    ['\\v before the first word is skipped', '\vPING', ['PING']],
    ['high bytes are ordinary word bytes', '\xff\xa0\x80 x', ['\xff\xa0\x80', 'x']],
    ['a backslash outside quotes is literal', 'a\\nb \\x41', ['a\\nb', '\\x41']],
    ['a quote in the middle of a word starts a quoted part', 'foo"bar"', ['foobar']],
    ['single-quoted part in the middle of a word', "foo'bar' x", ['foobar', 'x']],
  ];
  for (const [name, line, expected] of cases) test(name, () => assert.deepEqual(split(line), expected));
});

describe('splitInline: double quotes', () => {
  const cases: [string, string, string[]][] = [
    ['spaces kept inside', '"a b  c"', ['a b  c']],
    ['empty quoted word', '"" x ""', ['', 'x', '']],
    ['\\n', '"a\\nb"', ['a\nb']],
    ['\\r', '"a\\rb"', ['a\rb']],
    ['\\t', '"a\\tb"', ['a\tb']],
    ['\\b', '"a\\bb"', ['a\bb']],
    ['\\a', '"a\\ab"', ['a\x07b']],
    ['\\"', '"say \\"hi\\""', ['say "hi"']],
    ['\\\\', '"back\\\\slash"', ['back\\slash']],
    ['\\ before any other byte gives that byte', '"\\q\\z\\\'"', ["qz'"]],
    ['\\xHH lowercase', '"\\x41\\x7a"', ['Az']],
    ['\\xHH uppercase and mixed case', '"\\xFF\\xaB\\x0A"', ['\xff\xab\n']],
    ['\\x00 gives a NUL byte', '"a\\x00b"', ['a\x00b']],
    ['\\x with one hex digit is just an escaped x', '"\\x4g"', ['x4g']],
    ['\\x with no hex digits', '"\\xzz"', ['xzz']],
    ['\\x at the end of the quote', '"ab\\x"', ['abx']],
    ['single quote inside double quotes is literal', `"it's"`, ["it's"]],
    ['closing quote followed by tab', '"a"\tb', ['a', 'b']],
    ['closing quote followed by \\v (isspace)', '"a"\vb', ['a', 'b']],
    ['closing quote at the end of the line', 'x "a"', ['x', 'a']],
    ['CR and LF inside quotes are kept', '"a\rb\nc"', ['a\rb\nc']],
  ];
  for (const [name, line, expected] of cases) test(name, () => assert.deepEqual(split(line), expected));
});

describe("splitInline: single quotes", () => {
  const cases: [string, string, string[]][] = [
    ['spaces kept inside', "'a b'", ['a b']],
    ["\\' is a quote", "'it\\'s'", ["it's"]],
    ['other escapes are literal', "'a\\nb\\x41\\\\ x'", ['a\\nb\\x41\\\\ x']],
    ['double quote inside single quotes is literal', `'say "hi"'`, ['say "hi"']],
    ['empty single-quoted word', "''", ['']],
  ];
  for (const [name, line, expected] of cases) test(name, () => assert.deepEqual(split(line), expected));
});

describe('splitInline: unbalanced quotes -> null', () => {
  const cases: [string, string][] = [
    ['unterminated double quote', '"abc'],
    ['unterminated single quote', "'abc"],
    ['closing double quote followed by a letter', '"foo"bar'],
    ['closing single quote followed by a letter', "'foo'bar"],
    ['closing quote followed by another quote', '"""test-key"""'],
    ['escaped closing quote leaves it open', '"abc\\"'],
    ["escaped single quote leaves it open", "'abc\\'"],
    ['backslash as the last byte inside quotes', '"abc\\'],
    ['NUL inside double quotes ends the line inside the quote', '"ab\x00cd"'],
    ['NUL inside single quotes', "'ab\x00cd'"],
    ['unbalanced quote after valid words', 'SET k "v'],
  ];
  for (const [name, line] of cases) test(name, () => assert.equal(split(line), null));
});

describe('splitInline: NUL ends the line', () => {
  const cases: [string, string, string[]][] = [
    ['NUL in a word ends it and the line', 'ab\x00cd ef', ['ab']],
    ['NUL after a word', 'GET k\x00 junk', ['GET', 'k']],
    ['NUL first', '\x00GET k', []],
    ['NUL after a closing quote ends the line', '"a"\x00"b', ['a']],
  ];
  for (const [name, line, expected] of cases) test(name, () => assert.deepEqual(split(line), expected));
});

test('property: words of safe bytes joined by blanks split back into the same words', () => {
  const safe = fc.constantFrom(...'abcXYZ019-_.:*$@[]{}\x80\xff'.split(''));
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: safe, minLength: 1, maxLength: 8 }), { maxLength: 8 }),
      fc.array(fc.constantFrom(' ', '\t', '  ', ' \t'), { minLength: 8, maxLength: 8 }),
      (words, seps) => {
        const line = words.map((w, i) => (i ? seps[i] : '') + w).join('');
        assert.deepEqual(split(line), words);
      },
    ),
    { seed: 7, numRuns: 200 },
  );
});

test('property: any bytes survive double quotes with \\xHH escapes', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 16 }), { minLength: 1, maxLength: 5 }), (args) => {
      const line = args.map((a) => '"' + [...a].map((b) => '\\x' + b.toString(16).padStart(2, '0')).join('') + '"').join(' ');
      const out = splitInline(Buffer.from(line, 'latin1'));
      assert.ok(out !== null);
      assert.deepEqual(out.map((b) => [...b]), args.map((a) => [...a]));
    }),
    { seed: 8, numRuns: 200 },
  );
});
