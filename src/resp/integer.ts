/**
 * Redis' string2ll: an optional '-', then digits with no leading zero (except "0" itself), no '+',
 * no spaces, within signed 64 bits. Used for protocol lengths and for integer arguments, so both
 * reject exactly what Redis rejects. Returns null when the text is not such an integer.
 * Values beyond 2^53 lose precision, which no caller of ours can notice (all limits are far below).
 */
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

export function parseRedisInt(buf: Buffer, start: number, end: number): number | null {
  const len = end - start;
  if (len === 0 || len > 20) return null;
  let i = start;
  let negative = false;
  if (buf[i] === 0x2d /* - */) {
    negative = true;
    i++;
    if (i === end) return null;
  }
  const first = buf[i]!;
  if (first === 0x30 /* 0 */) return len === 1 ? 0 : null;
  if (first < 0x31 || first > 0x39) return null;
  let value = 0;
  for (; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  // Near 2^63 a double cannot tell the limit apart: decide exactly.
  if (value >= 9.2e18) {
    const exact = BigInt(buf.toString('latin1', start, end));
    if (exact > INT64_MAX || exact < INT64_MIN) return null;
    return Number(exact);
  }
  return negative ? -value : value;
}

/** parseRedisInt over a whole argument (Buffer or string). */
export function parseIntArg(arg: Buffer | string): number | null {
  const buf = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
  return parseRedisInt(buf, 0, buf.length);
}
