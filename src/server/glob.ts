/**
 * Glob matching as Redis' stringmatchlen does it (PSUBSCRIBE, CONFIG GET, COMMAND LIST, ...):
 * `*`, `?`, `[abc]`, `[^a-z]`, and `\x` for a literal x. Strings are compared as latin1, so any bytes
 * match exactly; `nocase` folds ASCII letters only. Like Redis, an empty subject matches only an
 * empty pattern. Iterative star backtracking keeps the cost at O(pattern x subject) at worst.
 */
export function globMatch(pattern: string, subject: string, nocase = false): boolean {
  if (subject.length === 0) return pattern.length === 0;
  const fold = nocase ? foldAscii : same;
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (p < pattern.length) {
      const c = pattern.charCodeAt(p);
      if (c === STAR) {
        while (pattern.charCodeAt(p + 1) === STAR) p++;
        starP = p++;
        starS = s;
        continue;
      }
      if (c === QUESTION) {
        p++;
        s++;
        continue;
      }
      if (c === OPEN) {
        const end = matchClass(pattern, p, subject.charCodeAt(s), nocase);
        if (end > 0) {
          p = end;
          s++;
          continue;
        }
      } else {
        let lit = c;
        let next = p + 1;
        if (c === BACKSLASH && p + 1 < pattern.length) {
          lit = pattern.charCodeAt(p + 1);
          next = p + 2;
        }
        if (fold(lit) === fold(subject.charCodeAt(s))) {
          p = next;
          s++;
          continue;
        }
      }
    }
    if (starP < 0) return false;
    p = starP + 1;
    s = ++starS;
  }
  while (pattern.charCodeAt(p) === STAR) p++;
  return p === pattern.length;
}

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const DASH = 0x2d;

const same = (c: number) => c;
const foldAscii = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/**
 * Matches `ch` against the class starting at pattern[p] === '['; the index after it, or -1.
 * Follows Redis to the letter: an escaped character is compared without folding, and a range's
 * ends are swapped before they are folded.
 */
function matchClass(pattern: string, p: number, ch: number, nocase: boolean): number {
  let i = p + 1;
  const not = pattern.charCodeAt(i) === CARET;
  if (not) i++;
  let match = false;
  for (;;) {
    if (i >= pattern.length) {
      i--; // unterminated: like Redis, the class ends with the pattern
      break;
    }
    const c = pattern.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < pattern.length) {
      i++;
      if (pattern.charCodeAt(i) === ch) match = true;
    } else if (c === CLOSE) {
      break;
    } else if (pattern.charCodeAt(i + 1) === DASH && i + 2 < pattern.length) {
      let lo = c;
      let hi = pattern.charCodeAt(i + 2);
      if (lo > hi) [lo, hi] = [hi, lo];
      let x = ch;
      if (nocase) {
        lo = foldAscii(lo);
        hi = foldAscii(hi);
        x = foldAscii(x);
      }
      if (x >= lo && x <= hi) match = true;
      i += 2;
    } else if (nocase ? foldAscii(c) === foldAscii(ch) : c === ch) {
      match = true;
    }
    i++;
  }
  if (not) match = !match;
  return match ? i + 1 : -1;
}
