/**
 * xxHash64 with seed 0: the one hash that places origins on nodes. Every node of every version
 * must compute the same value for the same id, so it is fixed forever (golden vectors in tests).
 * A 64-bit value is kept as two unsigned 32-bit halves: 32-bit arithmetic on plain numbers is more
 * than ten times faster than BigInt here, and XOR and comparison stay cheap for the callers.
 */
export type Hash64 = [hi: number, lo: number];

/** xxHash64 of a string's UTF-8 bytes. */
export function hash64(text: string): Hash64 {
  const len = utf8(text);
  return xxh64(scratch, len);
}

/** xxHash64 of bytes. */
export function hash64Bytes(bytes: Uint8Array): Hash64 {
  return xxh64(bytes, bytes.length);
}

/**
 * High half of the 64-bit product (ah, al) * (bh, bl) mod 2^64, as a signed 32-bit value; the low
 * half is Math.imul(al, bl). al * bl is taken in 16-bit pieces, each partial product exact in a
 * double: in a chain of multiplications that is about three times faster than correcting the
 * rounded double product.
 */
export function mulHi(ah: number, al: number, bh: number, bl: number): number {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const mid = a1 * b0, mid2 = a0 * b1;
  const carry = ((a0 * b0) >>> 16) + (mid & 0xffff) + (mid2 & 0xffff);
  return (Math.imul(ah, bl) + Math.imul(al, bh) + a1 * b1 + (mid >>> 16) + (mid2 >>> 16) + (carry >>> 16)) | 0;
}

function xxh64(b: Uint8Array, len: number): Hash64 {
  let p = 0;
  if (len >= 32) {
    // Four accumulators over 32-byte stripes: v1 = P1 + P2, v2 = P2, v3 = 0, v4 = -P1 (mod 2^64).
    let v1h = 0x60ea27ee, v1l = 0xadc0b5d6 | 0;
    let v2h = P2H, v2l = P2L;
    let v3h = 0, v3l = 0;
    let v4h = 0x61c8864e, v4l = 0x7a143579;
    for (const end = len - 32; p <= end; p += 32) {
      round(v1h, v1l, u32(b, p + 4), u32(b, p));
      v1h = r.h; v1l = r.l;
      round(v2h, v2l, u32(b, p + 12), u32(b, p + 8));
      v2h = r.h; v2l = r.l;
      round(v3h, v3l, u32(b, p + 20), u32(b, p + 16));
      v3h = r.h; v3l = r.l;
      round(v4h, v4l, u32(b, p + 28), u32(b, p + 24));
      v4h = r.h; v4l = r.l;
    }
    // h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18), then each v merged in.
    add(rotlHi(v1h, v1l, 1), rotlLo(v1h, v1l, 1), rotlHi(v2h, v2l, 7), rotlLo(v2h, v2l, 7));
    add(r.h, r.l, rotlHi(v3h, v3l, 12), rotlLo(v3h, v3l, 12));
    add(r.h, r.l, rotlHi(v4h, v4l, 18), rotlLo(v4h, v4l, 18));
    mergeRound(r.h, r.l, v1h, v1l);
    mergeRound(r.h, r.l, v2h, v2l);
    mergeRound(r.h, r.l, v3h, v3l);
    mergeRound(r.h, r.l, v4h, v4l);
  } else {
    r.h = P5H;
    r.l = P5L;
  }
  // h += len (lengths stay far below 2^53, so the high half is len / 2^32).
  add(r.h, r.l, Math.floor(len / 0x100000000), len | 0);
  for (; p + 8 <= len; p += 8) {
    // h = rotl(h ^ round(0, lane), 27) * P1 + P4
    const hh = r.h, hl = r.l;
    round(0, 0, u32(b, p + 4), u32(b, p));
    const xh = hh ^ r.h, xl = hl ^ r.l;
    mul(rotlHi(xh, xl, 27), rotlLo(xh, xl, 27), P1H, P1L);
    add(r.h, r.l, P4H, P4L);
  }
  if (p + 4 <= len) {
    // h = rotl(h ^ (word * P1), 23) * P2 + P3
    const w = u32(b, p);
    const xh = r.h ^ mulHi(0, w, P1H, P1L), xl = r.l ^ Math.imul(w, P1L);
    mul(rotlHi(xh, xl, 23), rotlLo(xh, xl, 23), P2H, P2L);
    add(r.h, r.l, P3H, P3L);
    p += 4;
  }
  for (; p < len; p++) {
    // h = rotl(h ^ (byte * P5), 11) * P1
    const xh = r.h ^ mulHi(0, b[p]!, P5H, P5L), xl = r.l ^ Math.imul(b[p]!, P5L);
    mul(rotlHi(xh, xl, 11), rotlLo(xh, xl, 11), P1H, P1L);
  }
  // Avalanche: h ^= h >>> 33; h *= P2; h ^= h >>> 29; h *= P3; h ^= h >>> 32.
  mul(r.h, r.l ^ (r.h >>> 1), P2H, P2L);
  mul(r.h ^ (r.h >>> 29), r.l ^ ((r.l >>> 29) | (r.h << 3)), P3H, P3L);
  return [r.h >>> 0, (r.l ^ r.h) >>> 0];
}

const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0;

/**
 * Result register of the 64-bit helpers below: returning two numbers through one reused object
 * keeps the loops free of allocation (and, unlike module-level lets, of hole checks). It holds
 * signed 32-bit values, which V8 stores unboxed; only the public results are unsigned. Each helper
 * reads its arguments before it writes the register.
 */
const r = { h: 0, l: 0 };

function mul(ah: number, al: number, bh: number, bl: number): void {
  r.h = mulHi(ah, al, bh, bl);
  r.l = Math.imul(al, bl);
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  r.h = (ah + bh + (lo > 0xffffffff ? 1 : 0)) | 0;
  r.l = lo | 0;
}

/** Rotations left by 0 < by < 32. */
const rotlHi = (h: number, l: number, by: number) => (h << by) | (l >>> (32 - by));
const rotlLo = (h: number, l: number, by: number) => (l << by) | (h >>> (32 - by));

/** acc = rotl(acc + lane * P2, 31) * P1 */
function round(acch: number, accl: number, laneh: number, lanel: number): void {
  add(acch, accl, mulHi(laneh, lanel, P2H, P2L), Math.imul(lanel, P2L));
  const h = r.h, l = r.l;
  mul(rotlHi(h, l, 31), rotlLo(h, l, 31), P1H, P1L);
}

/** h = (h ^ round(0, v)) * P1 + P4 */
function mergeRound(hh: number, hl: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  mul(hh ^ r.h, hl ^ r.l, P1H, P1L);
  add(r.h, r.l, P4H, P4L);
}

/** Little-endian 32-bit word at p, signed. */
const u32 = (b: Uint8Array, p: number) => b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);

/** Where hash64 puts a string's UTF-8 bytes: reused, grown for long strings. */
let scratch = new Uint8Array(1024);
const encoder = new TextEncoder();

/** Writes text's UTF-8 into scratch and returns its length; ASCII, most ids, is copied by hand. */
function utf8(text: string): number {
  const n = text.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(n * 3);
  const out = scratch;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return encoder.encodeInto(text, out).written;
    out[i] = c;
  }
  return n;
}
