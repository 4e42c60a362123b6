import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../../src/crdt/lww-set.js';
import { jsonCodec, MAX_ID_BYTES, MAX_VALUE_BYTES, readEntry, validId, writeEntry, type ValueCodec } from '../../../src/crdt/records.js';
import { healthFromJson, UNKNOWN_HEALTH } from '../../../src/probe/health.js';
import { SPEC_DEFAULTS, specFromJson, type OriginSpec } from '../../../src/probe/spec.js';
import { ByteReader, ByteWriter, DecodeError } from '../../../src/runtime/bytes.js';

const NODE = '0123456789abcdef0123456789abcdef01234567';
const specCodec = jsonCodec(specFromJson);
const healthCodec = jsonCodec(healthFromJson);
const spec = (url: string): OriginSpec => ({ ...SPEC_DEFAULTS, headers: [], url });

function encode(e: Entry<unknown>): Buffer {
  const w = new ByteWriter();
  writeEntry(w, e);
  return w.done();
}

function decode<V>(buf: Buffer, codec: ValueCodec<V>): Entry<V> | null {
  return readEntry(new ByteReader(buf), codec);
}

/** A record framed by hand, so that any field can be made invalid. */
function frame(f: { id?: Buffer; wall?: number; counter?: number; node?: Buffer; flags?: number; value?: Buffer }): Buffer {
  const id = f.id ?? Buffer.from('web-1');
  const value = f.value ?? Buffer.alloc(0);
  const b = Buffer.alloc(2 + id.length + 6 + 4 + 20 + 1 + 4 + value.length);
  let o = b.writeUInt16BE(id.length, 0);
  o += id.copy(b, o);
  o = b.writeUIntBE(f.wall ?? 1_700_000_000_000, o, 6);
  o = b.writeUInt32BE(f.counter ?? 0, o);
  o += (f.node ?? Buffer.from(NODE, 'hex')).copy(b, o);
  o = b.writeUInt8(f.flags ?? 0, o);
  o = b.writeUInt32BE(value.length, o);
  value.copy(b, o);
  return b;
}

const addEntry = (id: string, value: OriginSpec, wall = 1_700_000_000_123, counter = 7): Entry<OriginSpec> => ({
  id, stamp: { wall, counter, node: NODE }, removed: false, value, bytes: specCodec.encode(value),
});
const removeEntry = (id: string, wall = 1_700_000_000_123, counter = 7): Entry<OriginSpec> => ({
  id, stamp: { wall, counter, node: NODE }, removed: true, value: null, bytes: Buffer.alloc(0),
});

/** What a record says, whatever object holds it (a read add encodes its bytes when asked). */
const fields = (e: Entry<unknown>) => ({ id: e.id, stamp: e.stamp, removed: e.removed, value: e.value, bytes: [...e.bytes] });

/** Calls fn; passes if it returns normally or throws DecodeError, fails on anything else. */
function onlyDecodeError(fn: () => unknown): 'ok' | 'decode-error' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof DecodeError) return 'decode-error';
    throw e;
  }
}

describe('records: round trip', () => {
  test('an add and a remove encode and decode to the same record', () => {
    for (const e of [addEntry('web-1', spec('http://127.0.0.1:8080/')), removeEntry('web-2'), addEntry('ünïcode-ид', spec('https://example.com/x'), 0, 0)]) {
      const buf = encode(e);
      const r = new ByteReader(buf);
      const back = readEntry(r, specCodec);
      assert.equal(r.remaining(), 0, 'the whole record is consumed');
      assert.ok(back);
      assert.equal(back.id, e.id);
      assert.deepEqual(back.stamp, e.stamp);
      assert.equal(back.removed, e.removed);
      assert.deepEqual(back.bytes, e.bytes);
      assert.deepEqual(encode(back), buf, 're-encodes byte for byte');
      if (!e.removed) assert.deepEqual(back.value, specFromJson(JSON.parse(e.bytes.toString())));
    }
  });

  test('value bytes the codec would not give back are kept byte for byte (a newer peer, another key order)', () => {
    const base = spec('http://127.0.0.1:8080/');
    for (const text of [JSON.stringify({ ...base, future: { x: 1 } }), JSON.stringify(Object.fromEntries(Object.entries(base).reverse()))]) {
      const buf = frame({ value: Buffer.from(text) });
      const back = decode(buf, specCodec)!;
      assert.deepEqual(back.value, base);
      assert.equal(back.bytes.toString(), text);
      assert.deepEqual(encode(back), buf, 'passed on as received');
    }
  });

  test('the layout is [u16 id len][id][u48 wall][u32 counter][20-byte node][u8 flags][u32 len][value]', () => {
    const e = removeEntry('ab', 0x010203040506, 0x0a0b0c0d);
    assert.equal(encode(e).toString('hex'), '0002' + '6162' + '010203040506' + '0a0b0c0d' + NODE + '01' + '00000000');
  });

  test('records follow each other in one buffer', () => {
    const w = new ByteWriter();
    const es = [addEntry('a', spec('http://a.example/')), removeEntry('b'), addEntry('c', spec('http://c.example/'))];
    for (const e of es) writeEntry(w, e);
    const r = new ByteReader(w.done());
    assert.deepEqual(es.map(() => readEntry(r, specCodec)!.id), ['a', 'b', 'c']);
    assert.equal(r.remaining(), 0);
  });

  test('property: random valid records round trip', () => {
    const idArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => validId(Buffer.from(s)) === s);
    fc.assert(
      fc.property(
        idArb,
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.uint8Array({ minLength: 20, maxLength: 20 }),
        fc.boolean(),
        fc.constantFrom('ok', 'timeout', 'status 503'),
        (id, wall, counter, node, removed, reason) => {
          const value = { ...UNKNOWN_HEALTH, status: 'up' as const, reason };
          const e: Entry<unknown> = {
            id, stamp: { wall, counter, node: Buffer.from(node).toString('hex') }, removed,
            value: removed ? null : value, bytes: removed ? Buffer.alloc(0) : healthCodec.encode(value),
          };
          const back = decode(encode(e), healthCodec);
          assert.ok(back);
          assert.deepEqual(fields(back), fields(e));
        },
      ),
      { seed: 0x5ec0, numRuns: 500 },
    );
  });
});

describe('records: hostile input', () => {
  test('truncation at every length throws DecodeError and nothing else', () => {
    for (const e of [addEntry('web-1', spec('http://127.0.0.1:8080/')), removeEntry('gone')]) {
      const buf = encode(e);
      for (let n = 0; n < buf.length; n++) {
        assert.throws(() => decode(buf.subarray(0, n), specCodec), DecodeError, `prefix of ${n} of ${buf.length} bytes`);
      }
      assert.ok(decode(buf, specCodec));
    }
  });

  test('a value length over MAX_VALUE_BYTES is a framing error (not read)', () => {
    const buf = frame({ value: Buffer.alloc(0) });
    buf.writeUInt32BE(MAX_VALUE_BYTES + 1, buf.length - 4);
    assert.throws(() => decode(Buffer.concat([buf, Buffer.alloc(MAX_VALUE_BYTES + 1)]), specCodec), DecodeError);
    // At the limit it is read (and then judged by the codec).
    const json = Buffer.from(JSON.stringify('x'.repeat(MAX_VALUE_BYTES - 2)));
    assert.equal(json.length, MAX_VALUE_BYTES);
    assert.equal(decode(frame({ value: json }), specCodec), null);
  });

  test('10,000 random buffers never throw anything but DecodeError', () => {
    const rnd = mulberry32(0xbadc0de);
    const outcomes = { ok: 0, 'decode-error': 0 };
    for (let i = 0; i < 10_000; i++) {
      const buf = Buffer.alloc(Math.floor(rnd() * 80));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
      outcomes[onlyDecodeError(() => decode(buf, specCodec))]++;
    }
    assert.equal(outcomes.ok + outcomes['decode-error'], 10_000);
  });

  test('10,000 well-framed records with random fields read as a record or null, never throw', () => {
    const rnd = mulberry32(0xfeed);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const values = [
      Buffer.from(JSON.stringify(spec('http://127.0.0.1:8080/'))),
      Buffer.from('{'),
      Buffer.from('null'),
      Buffer.from('{"url":"http://x/","__proto__":{"a":1}}'),
      Buffer.from(JSON.stringify({ ...spec('http://127.0.0.1/'), rise: -1 })),
      Buffer.from(JSON.stringify({ ...spec('http://127.0.0.1/'), extra: 1 })),
    ];
    let records = 0;
    for (let i = 0; i < 10_000; i++) {
      const buf = frame({
        id: rnd() < 0.5 ? Buffer.from(`o${i}`) : bytes(Math.floor(rnd() * 10)),
        wall: Math.floor(rnd() * 2 ** 48),
        counter: Math.floor(rnd() * 2 ** 32),
        node: bytes(20),
        flags: pick([0, 0, 1, 1, 2, 255]),
        value: rnd() < 0.2 ? Buffer.alloc(0) : rnd() < 0.5 ? pick(values) : bytes(Math.floor(rnd() * 30)),
      });
      const r = new ByteReader(buf);
      const e = readEntry(r, specCodec);
      assert.equal(r.remaining(), 0, 'a well-framed record is always consumed whole');
      if (e) {
        records++;
        assert.equal(validId(Buffer.from(e.id)), e.id);
        assert.deepEqual(encode(e), buf, 'what is accepted re-encodes to the same bytes');
      }
    }
    assert.ok(records > 100, `${records} records were valid`);
  });

  test('invalid ids read as null (the record alone is skipped)', () => {
    const bad = [
      Buffer.alloc(0),
      Buffer.alloc(MAX_ID_BYTES + 1, 'a'),
      Buffer.from([0xff, 0xfe]), // not UTF-8
      Buffer.from([0xc3]), // truncated UTF-8
      Buffer.from('a b'),
      Buffer.from('a\tb'),
      Buffer.from('a\u0000b'),
      Buffer.from('a\u007fb'),
      Buffer.from('a\u00a0b'), // no-break space
      Buffer.from('a\u2028b'), // line separator
      Buffer.from('\ufeffweb-1'), // a byte-order mark is not silently stripped (would alias 'web-1')
      Buffer.from('\ufeff'), // ... nor read as the empty id
      Buffer.from('web\ufeff1'),
    ];
    for (const id of bad) {
      assert.equal(validId(id), null, `id bytes ${id.toString('hex')}`);
      const r = new ByteReader(frame({ id, flags: 1 }));
      assert.equal(readEntry(r, specCodec), null, `record with id ${id.toString('hex')}`);
      assert.equal(r.remaining(), 0);
    }
    assert.equal(validId(Buffer.alloc(MAX_ID_BYTES, 'a')), 'a'.repeat(MAX_ID_BYTES));
    assert.equal(validId(Buffer.from('ünï-ид-😀')), 'ünï-ид-😀');
  });

  test('bad flags read as null', () => {
    for (const flags of [2, 3, 128, 255]) assert.equal(decode(frame({ flags }), specCodec), null);
    assert.ok(decode(frame({ flags: 1 }), specCodec));
  });

  test('a remove carrying a value reads as null', () => {
    assert.equal(decode(frame({ flags: 1, value: Buffer.from('{}') }), specCodec), null);
  });

  test('bad JSON values, and JSON the parser refuses, read as null', () => {
    const bad = ['', '{', 'nul', '"str"', '42', 'null', '[]', '{}', '\xff\xfe', JSON.stringify({ ...spec('ftp://x/') }),
      JSON.stringify({ ...spec('http://127.0.0.1/'), intervalMs: 'x' })];
    for (const v of bad) assert.equal(decode(frame({ value: Buffer.from(v, 'latin1') }), specCodec), null, JSON.stringify(v));
    assert.equal(decode(frame({ value: Buffer.from('{"status":"sideways"}') }), healthCodec), null);
    assert.ok(decode(frame({ value: Buffer.from(JSON.stringify(UNKNOWN_HEALTH)) }), healthCodec));
  });

  test('the decoded value buffer is a copy, not a view of the input', () => {
    const buf = frame({ value: Buffer.from(JSON.stringify(spec('http://127.0.0.1:8080/'))) });
    const e = decode(buf, specCodec)!;
    const before = Buffer.from(e.bytes);
    buf.fill(0);
    assert.deepEqual(e.bytes, before);
  });
});

/** Small deterministic PRNG for fuzzing loops. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
