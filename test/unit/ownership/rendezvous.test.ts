import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hash64, type Hash64 } from '../../../src/ownership/hash.js';
import { OwnershipTable, owners, rank, score } from '../../../src/ownership/rendezvous.js';

const hex = ([hi, lo]: Hash64) => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
const big = ([hi, lo]: Hash64) => (BigInt(hi) << 32n) | BigInt(lo);

/** murmur3's fmix64, straight from its definition. */
function fmix64(k: bigint): bigint {
  const mask = (1n << 64n) - 1n;
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & mask;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & mask;
  return k ^ (k >> 33n);
}

/** Node ids as the cluster makes them (40 hex digits): SHA-1 of node-a … node-e. */
const A = '0702c1cc60ff9e1331c47331a36ddd5d994ea38a';
const B = '893a227aaca1e12a5fa1c0201c0e38b8f3b1536b';
const C = '1ab9f16eafea8cce18a8abf188e9376c94c4c0cd';
const D = '13a52578de340bb946011c7255926eaec4c5c4d6';
const E = 'c74cad16cc5fcd3b4884624cb9afc82438f0dd8b';
const NODES = [A, B, C, D, E];
const letter = (id: string) => 'ABCDE'[NODES.indexOf(id)];

/** Origin id, score on node A, rank over A–E. Pinned forever: they decide who probes what. */
const GOLDEN: [string, string, string][] = [
  ['api', 'ece7eb549e7e4235', 'ACBDE'],
  ['www.example.com', 'e5b5f881fd4c9ceb', 'BAEDC'],
  ['origin-1', 'c5d31a7f5d5875e3', 'CBAED'],
  ['origin-2', '69edd7e7232d0943', 'CDABE'],
  ['cdn-eu-west-1', 'dab1cd518f6994cf', 'EABDC'],
  ['shop.example.com:443', 'ef007a4920a95261', 'ACBDE'],
  ['payments/v2/health', '44f405481a4a7483', 'EBCDA'],
  ['München-dc', '23d686c5ae817946', 'BDACE'],
  ['東京-edge-01', 'fa6b5fbdb5933c97', 'ABDEC'],
  ['status.example.org-very-long-origin-id-that-spans-stripes-0001', 'f23a74939b10a23e', 'AEDCB'],
];

describe('score', () => {
  test('is fmix64 of the XOR of the two hashes', () => {
    assert.equal(hex(score([0, 0], [0, 0])), '0000000000000000');
    assert.equal(hex(score([0, 0], [0, 1])), 'b456bcfc34c2cb2c');
    const edges: Hash64[] = [[0, 1], [0xffffffff, 0xffffffff], [0x80000000, 0], [0, 0x80000000], [0x7fffffff, 0xffffffff]];
    const hashes = [...edges, ...Array.from({ length: 200 }, (_, i) => hash64(`id-${i}`))];
    for (const o of hashes) {
      for (const n of hashes.slice(0, 20)) assert.equal(big(score(o, n)), fmix64(big(o) ^ big(n)));
    }
  });

  test('golden scores', () => {
    for (const [origin, want] of GOLDEN) assert.equal(hex(score(hash64(origin), hash64(A))), want, origin);
  });
});

describe('rank and owners', () => {
  test('golden ranks', () => {
    for (const [origin, , want] of GOLDEN) assert.equal(rank(origin, NODES).map(letter).join(''), want, origin);
  });

  test('rank orders by score, highest first, compared as unsigned 64-bit', () => {
    for (const [origin] of GOLDEN) {
      const scores = rank(origin, NODES).map((id) => big(score(hash64(origin), hash64(id))));
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]! > scores[i]!, origin);
    }
  });

  test('owners is the prefix of rank; duplicates count once', () => {
    assert.deepEqual(owners('api', NODES, 2), [A, C]);
    assert.deepEqual(owners('api', [E, A, C, A, E], 2), [A, C]);
    assert.deepEqual(rank('api', [E, E, E]), [E]);
    assert.deepEqual(owners('api', NODES, 9), rank('api', NODES));
    assert.deepEqual(owners('api', NODES, 0), []);
    assert.deepEqual(owners('api', NODES, -1), []);
    assert.deepEqual(rank('api', []), []);
  });
});

describe('OwnershipTable', () => {
  const table = new OwnershipTable([E, D, C, B, A]);
  const origins = GOLDEN.map(([origin]) => origin);

  test('holds the distinct nodes in sorted order', () => {
    assert.deepEqual(new OwnershipTable([E, A, E, C]).nodes, [A, C, E]);
  });

  test('owner, owners and rank agree with the golden ranks', () => {
    for (const [origin, , want] of GOLDEN) {
      assert.equal(letter(table.owner(origin)!), want[0]);
      assert.equal(table.owners(origin, 3).map(letter).join(''), want.slice(0, 3));
      assert.equal(table.rank(origin).map(letter).join(''), want);
    }
  });

  test('with no nodes, no origin has an owner', () => {
    const empty = new OwnershipTable([]);
    assert.equal(empty.owner('api'), null);
    assert.deepEqual(empty.owners('api', 3), []);
    assert.deepEqual(empty.ownedBy(A, origins), []);
  });

  test('ownersOf maps each origin to its first k owners', () => {
    const map = table.ownersOf(origins, 2);
    assert.equal(map.size, origins.length);
    for (const [origin, , want] of GOLDEN) assert.equal(map.get(origin)!.map(letter).join(''), want.slice(0, 2));
  });

  test('ownedBy: each origin under exactly k nodes; unknown nodes own nothing', () => {
    for (const k of [1, 2, 5]) {
      const held = NODES.flatMap((id) => table.ownedBy(id, origins, k));
      assert.equal(held.length, origins.length * k);
      for (const origin of origins) assert.equal(held.filter((o) => o === origin).length, k);
    }
    const byA = GOLDEN.filter(([, , r]) => r[0] === 'A').map(([origin]) => origin);
    assert.deepEqual(table.ownedBy(A, origins), byA);
    assert.deepEqual(table.ownedBy('no-such-node', origins), []);
  });

  test('diff reports the origins whose first owner changed, with both owners', () => {
    // Without A, A's origins go to their second choice; nothing else moves.
    const withoutA = OwnershipTable.diff(NODES, [B, C, D, E], origins);
    const wantA = GOLDEN.filter(([, , r]) => r[0] === 'A').map(([origin, , r]) => ({
      origin,
      from: A,
      to: NODES['ABCDE'.indexOf(r[1]!)]!,
    }));
    assert.deepEqual(withoutA, wantA);
    // Adding A back is the same moves the other way.
    assert.deepEqual(
      OwnershipTable.diff([B, C, D, E], NODES, origins),
      wantA.map(({ origin, from, to }) => ({ origin, from: to, to: from })),
    );
    assert.deepEqual(OwnershipTable.diff(NODES, [...NODES].reverse(), origins), []);
    assert.deepEqual(OwnershipTable.diff([], [A], ['api']), [{ origin: 'api', from: null, to: A }]);
    assert.deepEqual(OwnershipTable.diff([A], [], ['api']), [{ origin: 'api', from: A, to: null }]);
    // Replacing every node at once.
    assert.deepEqual(
      OwnershipTable.diff([A, B], [C, D], ['api', 'origin-2']),
      [{ origin: 'api', from: A, to: C }, { origin: 'origin-2', from: A, to: C }],
    );
  });
});
