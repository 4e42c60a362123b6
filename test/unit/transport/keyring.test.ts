import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Keyring, SEAL_OVERHEAD, SEAL_VERSION } from '../../../src/transport/keyring.js';

const SEED = 0x6b65;
const key = (fill: number) => Buffer.alloc(32, fill);
const K1 = key(1);
const K2 = key(2);
const K3 = key(3);
const AAD = Buffer.from('heck-bus/v1 packet\0prod');
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

describe('Keyring construction', () => {
  test('needs at least one key, each exactly 32 bytes', () => {
    assert.throws(() => new Keyring([]), /at least one key/);
    assert.throws(() => new Keyring([Buffer.alloc(31)]), /32 bytes/);
    assert.throws(() => new Keyring([Buffer.alloc(33)]), /32 bytes/);
    assert.throws(() => new Keyring([K1, Buffer.alloc(16)]), /32 bytes/);
    assert.equal(new Keyring([K1]).size, 1);
    assert.equal(new Keyring([K1, K2, K1]).size, 2, 'duplicates collapse');
  });

  test('keeps its own copy of the keys', () => {
    const mutable = Buffer.from(K1);
    const ring = new Keyring([mutable]);
    const box = ring.seal(Buffer.from('x'), AAD);
    mutable.fill(9);
    assert.deepEqual(ring.open(box, AAD), Buffer.from('x'));
    assert.equal(new Keyring([key(9)]).open(box, AAD), null);
  });

  test('fromSetting reads --cluster-key (comma-separated, hex or base64, primary first)', () => {
    assert.equal(Keyring.fromSetting(''), null);
    assert.equal(Keyring.fromSetting('  '), null);
    const hex = K1.toString('hex');
    const b64 = K2.toString('base64');
    const ring = Keyring.fromSetting(`${hex}, ${b64}`);
    assert.ok(ring);
    assert.equal(ring.size, 2);
    // K1 is primary: K1 alone opens its boxes, and K2 boxes open too.
    const box = ring.seal(Buffer.from('hi'), AAD);
    assert.deepEqual(new Keyring([K1]).open(box, AAD), Buffer.from('hi'));
    assert.deepEqual(ring.open(new Keyring([K2]).seal(Buffer.from('yo'), AAD), AAD), Buffer.from('yo'));
    assert.throws(() => Keyring.fromSetting('nope'), /cluster key 1/);
    assert.throws(() => Keyring.fromSetting(`${hex},`), /cluster key 2/);
    assert.throws(() => Keyring.fromSetting(`${hex},abcd`), /cluster key 2/);
  });
});

describe('Keyring seal/open', () => {
  const ring = new Keyring([K1]);

  test('round trip, including empty and large plaintexts', () => {
    for (const plain of [Buffer.alloc(0), Buffer.from('ping'), randomBytes(1371), randomBytes(1 << 20)]) {
      const box = ring.seal(plain, AAD);
      assert.equal(box.length, plain.length + SEAL_OVERHEAD);
      assert.equal(box[0], SEAL_VERSION);
      assert.deepEqual(ring.open(box, AAD), plain);
    }
    assert.equal(SEAL_OVERHEAD, 29);
  });

  test('round trip (property), and the box never shows the plaintext', () => {
    fc.assert(
      fc.property(bytes(600), bytes(64), (plain, aad) => {
        const box = ring.seal(plain, aad);
        assert.deepEqual(ring.open(box, aad), plain);
      }),
      { seed: SEED, numRuns: 300 },
    );
    const plain = Buffer.from('a secret a secret a secret');
    assert.equal(ring.seal(plain, AAD).includes(plain), false);
  });

  test('fresh nonce each time: sealing the same message twice gives different boxes', () => {
    const plain = Buffer.from('same');
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(ring.seal(plain, AAD).toString('hex'));
    assert.equal(seen.size, 1000);
  });

  test('wrong key -> null', () => {
    const box = ring.seal(Buffer.from('hello'), AAD);
    assert.equal(new Keyring([K2]).open(box, AAD), null);
    assert.equal(new Keyring([K2, K3]).open(box, AAD), null);
  });

  test('wrong aad (another cluster, another kind of message) -> null', () => {
    const box = ring.seal(Buffer.from('hello'), AAD);
    assert.equal(ring.open(box, Buffer.from('heck-bus/v1 packet\0prod2')), null);
    assert.equal(ring.open(box, Buffer.from('heck-bus/v1 request\0prod')), null);
    assert.equal(ring.open(box, Buffer.alloc(0)), null);
  });

  test('flipping any single bit -> null (property)', () => {
    fc.assert(
      fc.property(bytes(200), fc.nat(), (plain, at) => {
        const box = ring.seal(plain, AAD);
        const bit = at % (box.length * 8);
        box[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(ring.open(box, AAD), null);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  test('flipping each bit of one box in turn -> null (exhaustive)', () => {
    const box = ring.seal(Buffer.from('alive node-3 incarnation 7'), AAD);
    for (let bit = 0; bit < box.length * 8; bit++) {
      const copy = Buffer.from(box);
      copy[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(ring.open(copy, AAD), null, `bit ${bit}`);
    }
  });

  test('truncated at every length, from either end, or extended -> null', () => {
    const box = ring.seal(randomBytes(100), AAD);
    for (let len = 0; len < box.length; len++) {
      assert.equal(ring.open(box.subarray(0, len), AAD), null, `first ${len} bytes`);
      assert.equal(ring.open(box.subarray(box.length - len), AAD), null, `last ${len} bytes`);
    }
    assert.equal(ring.open(Buffer.concat([box, Buffer.from([0])]), AAD), null);
  });

  test('unknown version byte -> null, for every other value', () => {
    const box = ring.seal(Buffer.from('hello'), AAD);
    for (let v = 0; v < 256; v++) {
      if (v === SEAL_VERSION) continue;
      const copy = Buffer.from(box);
      copy[0] = v;
      assert.equal(ring.open(copy, AAD), null, `version ${v}`);
    }
  });

  test('random bytes -> null (property), including ones that look like version 1', () => {
    const big = new Keyring([K1, K2, K3]);
    fc.assert(
      fc.property(bytes(1500), fc.boolean(), (junk, v1) => {
        if (v1 && junk.length > 0) junk[0] = SEAL_VERSION;
        assert.equal(big.open(junk, AAD), null);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  test('rotation: primary seals, every key of the ring opens', () => {
    const old = new Keyring([K1]);
    const both = new Keyring([K1, K2]);
    const rotated = new Keyring([K2, K1]);
    const fresh = new Keyring([K2]);
    const msg = Buffer.from('m');
    assert.deepEqual(old.open(both.seal(msg, AAD), AAD), msg, 'new ring still speaks K1');
    assert.deepEqual(both.open(rotated.seal(msg, AAD), AAD), msg, 'K2 boxes open on [K1, K2]');
    assert.deepEqual(rotated.open(old.seal(msg, AAD), AAD), msg, 'K1 boxes open on [K2, K1]');
    assert.equal(old.open(rotated.seal(msg, AAD), AAD), null, 'a node without K2 cannot read K2 boxes');
    assert.equal(fresh.open(old.seal(msg, AAD), AAD), null, 'K1 dropped: K1 boxes no longer open');
  });
});
