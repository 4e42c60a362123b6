/**
 * Glob matching as Redis' stringmatchlen does it (PSUBSCRIBE, CONFIG GET, COMMAND LIST, ...):
 * `*`, `?`, `[abc]`, `[^a-z]`, and `\x` for a literal x. Strings are compared as latin1, so any bytes
 * match exactly. Iterative star backtracking keeps the cost at O(pattern x subject) at worst.
 */
export function globMatch(pattern: string, subject: string, nocase = false): boolean {
  if (nocase) {
    pattern = pattern.toLowerCase();
    subject = subject.toLowerCase();
  }
  let p = 0;
  let s = 0;
  let starP = -1;
  let starS = 0;
  while (s < subject.length) {
    if (p < pattern.length) {
      const c = pattern[p]!;
      if (c === '*') {
        while (pattern[p + 1] === '*') p++;
        starP = p++;
        starS = s;
        continue;
      }
      if (c === '?') {
        p++;
        s++;
        continue;
      }
      if (c === '[') {
        const end = matchClass(pattern, p, subject[s]!);
        if (end > 0) {
          p = end;
          s++;
          continue;
        }
      } else {
        let lit = c;
        let next = p + 1;
        if (c === '\\' && p + 1 < pattern.length) {
          lit = pattern[p + 1]!;
          next = p + 2;
        }
        if (lit === subject[s]) {
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
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Matches `ch` against the class starting at pattern[p] === '['; the index after it, or -1. */
function matchClass(pattern: string, p: number, ch: string): number {
  let i = p + 1;
  const not = pattern[i] === '^';
  if (not) i++;
  let match = false;
  for (;;) {
    if (i >= pattern.length) {
      i--; // unterminated: like Redis, the class ends with the pattern
      break;
    }
    const c = pattern[i]!;
    if (c === ']') break;
    if (c === '\\' && i + 1 < pattern.length) {
      i++;
      if (pattern[i] === ch) match = true;
    } else if (pattern[i + 1] === '-' && i + 2 < pattern.length) {
      let lo = c;
      let hi = pattern[i + 2]!;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (ch >= lo && ch <= hi) match = true;
      i += 2;
    } else if (c === ch) {
      match = true;
    }
    i++;
  }
  if (not) match = !match;
  return match ? i + 1 : -1;
}
