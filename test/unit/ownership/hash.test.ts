import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hash64, hash64Bytes, mulHi, type Hash64 } from '../../../src/ownership/hash.js';

const hex = ([hi, lo]: Hash64) => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');

/** xxHash's sanity buffer: byte i is the top byte of PRIME32 * PRIME64^i (mod 2^64). */
function sanityBuffer(len: number): Uint8Array {
  const out = new Uint8Array(len);
  let gen = 2654435761n;
  for (let i = 0; i < len; i++) {
    out[i] = Number(gen >> 56n);
    gen = (gen * 11400714785074694797n) & 0xffffffffffffffffn;
  }
  return out;
}

describe('hash64Bytes is xxHash64 with seed 0', () => {
  test("xxHash's own sanity vectors (xsum_sanity_check.c), also what xxhsum -H1 prints", () => {
    const buf = sanityBuffer(2367);
    const vectors: [number, string][] = [
      [0, 'ef46db3751d8e999'],
      [1, 'e934a84adb052768'],
      [4, '9136a0dca57457ee'],
      [14, '8282dcc4994e35c8'],
      [222, 'b641ae8cb691c174'],
      [2367, 'a82418ddec0ea581'],
    ];
    for (const [len, want] of vectors) assert.equal(hex(hash64Bytes(buf.subarray(0, len))), want, `length ${len}`);
  });

  test('100 and 1,000 byte inputs (values from xxhsum 0.8.1)', () => {
    const b100 = Uint8Array.from({ length: 100 }, (_, i) => i);
    const b1000 = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    assert.equal(hex(hash64Bytes(b100)), '6ac1e58032166597');
    assert.equal(hex(hash64Bytes(b1000)), 'f306f04aa88b54d3');
  });
});

describe('hash64', () => {
  test('the usual text vectors (values from xxhsum 0.8.1)', () => {
    const vectors: [string, string][] = [
      ['', 'ef46db3751d8e999'],
      ['a', 'd24ec4f1a98c6e5b'],
      ['abc', '44bc2cf5ad770999'],
      ['message digest', '066ed728fceeb3be'],
      ['abcdefghijklmnopqrstuvwxyz', 'cfe1f278fa89835c'],
      ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'aaa46907d3047814'],
      ['1234567890'.repeat(8), 'e04a477f19ee145d'],
    ];
    for (const [text, want] of vectors) assert.equal(hex(hash64(text)), want, JSON.stringify(text));
  });

  test('hashes UTF-8: non-ASCII text, long enough to outgrow the reused buffer (values from xxhsum 0.8.1)', () => {
    assert.equal(hex(hash64('héllo wörld — 日本語 🎉')), '069ac9011bd32c90');
    const long = 'é'.repeat(1000) + '😀';
    assert.equal(hex(hash64(long)), 'dbdbd2f42cd1d956');
    assert.deepEqual(hash64(long), hash64Bytes(Buffer.from(long)));
    // And an ASCII id after that still hashes only its own bytes.
    assert.equal(hex(hash64('abc')), '44bc2cf5ad770999');
  });

  test('origin-like ids: pinned forever, as they decide which node probes which origin', () => {
    const pinned: [string, string][] = [
      ['api', '4df3e8c51f5ff62f'],
      ['www.example.com', '774337343878322e'],
      ['origin-1', 'b695117ac3c09658'],
      ['origin-2', '316042f037c71485'],
      ['cdn-eu-west-1', '4b40841b08e2ddd5'],
      ['shop.example.com:443', '56e7b55e2b346efd'],
      ['payments/v2/health', '36f661661b375a6f'],
      ['München-dc', 'e024c12a8bd3fdee'],
      ['東京-edge-01', 'dd02661b99c202fd'],
      ['status.example.org-very-long-origin-id-that-spans-stripes-0001', '584f462b0a265cde'],
    ];
    for (const [id, want] of pinned) assert.equal(hex(hash64(id)), want, id);
  });

  test('halves are unsigned 32-bit integers', () => {
    for (const id of ['', 'a', 'api', 'origin-1', 'x'.repeat(100)]) {
      for (const half of hash64(id)) assert.ok(Number.isInteger(half) && half >= 0 && half < 2 ** 32, id);
    }
  });
});

describe('mulHi', () => {
  test('is the high half of the 64-bit product, also at the edges of 16 and 32 bits', () => {
    const edges = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x9e3779b1, 0x85ebca87];
    const mask = (1n << 64n) - 1n;
    for (const ah of edges) {
      for (const al of edges) {
        for (const bh of [0, 0xc2b2ae3d]) {
          for (const bl of edges) {
            const want = ((((BigInt(ah) << 32n) | BigInt(al)) * ((BigInt(bh) << 32n) | BigInt(bl))) & mask) >> 32n;
            assert.equal(mulHi(ah | 0, al | 0, bh | 0, bl | 0) >>> 0, Number(want), `${ah} ${al} ${bh} ${bl}`);
          }
        }
      }
    }
  });
});
