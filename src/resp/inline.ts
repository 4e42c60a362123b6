/**
 * Splits an inline command line the way Redis' sdssplitargs does: whitespace-separated words;
 * "double quotes" understand \n \r \t \b \a \xHH and \<any>; 'single quotes' understand only \';
 * a closing quote must be followed by whitespace or the end. A NUL byte ends the line, as in C.
 * Returns null for unbalanced quotes.
 */
export function splitInline(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  const n = line.length;
  let p = 0;
  const at = (i: number): number => (i < n ? line[i]! : 0);
  for (;;) {
    while (p < n && isSpace(line[p]!)) p++;
    if (p >= n || line[p] === 0) return args;
    // Most words have no quotes: take them as views of the line, without copying.
    const start = p;
    while (p < n && !endsPlainWord(line[p]!)) p++;
    if (p >= n || line[p] !== 0x22 && line[p] !== 0x27) {
      args.push(line.subarray(start, p));
      if (p < n && line[p] !== 0) p++;
      continue;
    }
    const bytes: number[] = [...line.subarray(start, p)];
    let inDouble = false;
    let inSingle = false;
    for (let done = false; !done; ) {
      const c = at(p);
      if (inDouble) {
        if (c === 0) return null;
        if (c === 0x5c /* \ */ && at(p + 1) === 0x78 /* x */ && isHex(at(p + 2)) && isHex(at(p + 3))) {
          bytes.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 0x5c && p + 1 < n && at(p + 1) !== 0) {
          p++;
          bytes.push(unescape(at(p)));
        } else if (c === 0x22 /* " */) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else {
          bytes.push(c);
        }
      } else if (inSingle) {
        if (c === 0) return null;
        if (c === 0x5c && at(p + 1) === 0x27 /* ' */) {
          p++;
          bytes.push(0x27);
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return null;
          done = true;
        } else {
          bytes.push(c);
        }
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0) {
        done = true;
      } else if (c === 0x22) {
        inDouble = true;
      } else if (c === 0x27) {
        inSingle = true;
      } else {
        bytes.push(c);
      }
      if (at(p) !== 0) p++;
    }
    args.push(Buffer.from(bytes));
  }
}

/** A word outside quotes ends at one of these; a quote switches to the quoted forms. */
function endsPlainWord(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0 || c === 0x22 || c === 0x27;
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function hexValue(c: number): number {
  if (c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x61 + 10;
}

function unescape(c: number): number {
  switch (c) {
    case 0x6e: return 0x0a; // n
    case 0x72: return 0x0d; // r
    case 0x74: return 0x09; // t
    case 0x62: return 0x08; // b
    case 0x61: return 0x07; // a
    default: return c;
  }
}
