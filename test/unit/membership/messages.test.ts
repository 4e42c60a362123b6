import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  COMPOUND_OVERHEAD,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  MAX_COMPOUND,
  MessageType,
  PACKET_OVERHEAD,
  PROTOCOL_VERSION,
  type MemberRecord,
  type Message,
  type NodeRef,
} from '../../../src/membership/messages.js';

const SEED = 0x5e11;

const idA = 'aa'.repeat(20);
const idB = 'bb'.repeat(20);
const idC = '0123456789abcdef0123456789abcdef01234567';
const ref = (id: string, host = '127.0.0.1', busPort = 17000): NodeRef => ({ id, host, busPort });

/** One of every message type, with fields that exercise every width (u8, u16, u32 maxima). */
const samples: Message[] = [
  { type: 'ping', seq: 0xfffffffe, targetId: idA, source: ref(idB, '10.1.2.3', 65535) },
  { type: 'indirectPing', seq: 7, target: ref(idA), source: ref(idB, '::1', 1), wantNack: true },
  { type: 'indirectPing', seq: 8, target: ref(idA), source: ref(idB), wantNack: false },
  { type: 'ack', seq: 0 },
  { type: 'nack', seq: 0xffffffff },
  { type: 'alive', incarnation: 42, node: ref(idC, '2001:db8::17', 16380), port: 6380 },
  { type: 'suspect', incarnation: 3, id: idA, from: idB },
  { type: 'dead', incarnation: 9, id: idA, from: idB },
  { type: 'dead', incarnation: 10, id: idA, from: idA }, // left
  { type: 'pushPull', join: true, members: [] },
  {
    type: 'pushPull',
    join: false,
    members: [
      { node: ref(idA), port: 6380, incarnation: 1, state: 'alive' },
      { node: ref(idB, '0.0.0.0', 1), port: 0, incarnation: 0xffffffff, state: 'suspect' },
      { node: ref(idC, 'fe80:0000:0000:0000:0202:b3ff:fe1e:8329'), port: 65535, incarnation: 5, state: 'dead' },
      { node: ref(idA, '::'), port: 1, incarnation: 6, state: 'left' },
    ],
  },
  { type: 'user', channel: 0, payload: Buffer.alloc(0) },
  { type: 'user', channel: 255, payload: Buffer.from([0, 1, 2, 0xff]) },
  { type: 'forget', id: idC, ttlMs: 60_000 },
];

const allTypes = Object.keys(MessageType).filter((t) => t !== 'compound').sort();

/** Plain data (Buffers as byte lists, ordinary prototypes), so deepEqual compares values only. */
function plain(m: Message | null): unknown {
  return JSON.parse(JSON.stringify(m)) as unknown;
}
const plainAll = (ms: Message[] | null) => ms?.map(plain) ?? null;

function hex(s: string): Buffer {
  return Buffer.from(s, 'hex');
}

describe('membership wire format: round trips', () => {
  test('the samples cover every message type', () => {
    assert.deepEqual([...new Set(samples.map((m) => m.type))].sort(), allTypes);
  });

  for (const m of samples) {
    test(`${m.type} survives encode/decode, alone and in a packet`, () => {
      const bytes = encodeMessage(m);
      assert.equal(bytes[0], MessageType[m.type], 'the first byte is the type number');
      assert.deepEqual(plain(decodeMessage(bytes)), plain(m));
      assert.deepEqual(plainAll(decodePacket(encodePacket([bytes]))), [plain(m)]);
    });
  }

  test('a compound packet carries every type, in order', () => {
    const packet = encodePacket(samples.map(encodeMessage));
    assert.equal(packet[0], PROTOCOL_VERSION);
    assert.equal(packet[1], MessageType.compound);
    assert.equal(packet[2], samples.length);
    assert.deepEqual(plainAll(decodePacket(packet)), samples.map(plain));
  });

  test('a compound packet of MAX_COMPOUND messages round-trips', () => {
    const ms: Message[] = Array.from({ length: MAX_COMPOUND }, (_, i) => ({ type: 'ack', seq: i }));
    const packet = encodePacket(ms.map(encodeMessage));
    assert.equal(packet.length, PACKET_OVERHEAD + MAX_COMPOUND * (5 + COMPOUND_OVERHEAD));
    assert.deepEqual(decodePacket(packet), ms);
  });

  test('property: any well-formed message round-trips, alone and in compounds', () => {
    const id = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => Buffer.from(b).toString('hex'));
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const u16 = fc.integer({ min: 0, max: 0xffff });
    // Hosts are IP literals (what nodes bind and advertise), bus ports non-zero.
    const host = fc.oneof(fc.ipV4(), fc.ipV6());
    const node = fc.record({ id, host, busPort: fc.integer({ min: 1, max: 0xffff }) });
    const state = fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const);
    const record: fc.Arbitrary<MemberRecord> = fc.record({ node, port: u16, incarnation: u32, state });
    const message: fc.Arbitrary<Message> = fc.oneof(
      fc.record({ type: fc.constant('ping' as const), seq: u32, targetId: id, source: node }),
      fc.record({ type: fc.constant('indirectPing' as const), seq: u32, target: node, source: node, wantNack: fc.boolean() }),
      fc.record({ type: fc.constant('ack' as const), seq: u32 }),
      fc.record({ type: fc.constant('nack' as const), seq: u32 }),
      fc.record({ type: fc.constant('alive' as const), incarnation: u32, node, port: u16 }),
      fc.record({ type: fc.constant('suspect' as const), incarnation: u32, id, from: id }),
      fc.record({ type: fc.constant('dead' as const), incarnation: u32, id, from: id }),
      fc.record({ type: fc.constant('pushPull' as const), join: fc.boolean(), members: fc.array(record, { maxLength: 20 }) }),
      fc.record({ type: fc.constant('user' as const), channel: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) }),
      fc.record({ type: fc.constant('forget' as const), id, ttlMs: u32 }),
    );
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 12 }), (ms) => {
        for (const m of ms) assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
        assert.deepEqual(plainAll(decodePacket(encodePacket(ms.map(encodeMessage)))), ms.map(plain));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe('membership wire format: golden bytes', () => {
  test('version byte and type numbers are fixed (append-only)', () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.deepEqual({ ...MessageType }, {
      ping: 0,
      indirectPing: 1,
      ack: 2,
      nack: 3,
      suspect: 4,
      alive: 5,
      dead: 6,
      pushPull: 7,
      compound: 8,
      user: 9,
      forget: 10,
    });
  });

  test('ping', () => {
    const packet = encodePacket([encodeMessage({ type: 'ping', seq: 0x01020304, targetId: idA, source: ref(idB, '127.0.0.1', 17000) })]);
    const expected = hex([
      '01', // version
      '00', // type: ping
      '01020304', // seq
      'aa'.repeat(20), // target id
      'bb'.repeat(20), // source id
      '09', // source host length
      Buffer.from('127.0.0.1').toString('hex'), // source host
      '4268', // source bus port 17000
    ].join(''));
    assert.equal(packet.toString('hex'), expected.toString('hex'));
    assert.equal(packet.length, 1 + 1 + 4 + 20 + 20 + 1 + 9 + 2);
  });

  test('alive', () => {
    const packet = encodePacket([encodeMessage({ type: 'alive', incarnation: 7, node: ref(idC, '10.0.0.1', 16380), port: 6380 })]);
    assert.equal(
      packet.toString('hex'),
      '01' + '05' + '00000007' + idC + '08' + Buffer.from('10.0.0.1').toString('hex') + '3ffc' + '18ec',
    );
  });

  test('compound of ack and nack', () => {
    const packet = encodePacket([encodeMessage({ type: 'ack', seq: 1 }), encodeMessage({ type: 'nack', seq: 2 })]);
    assert.equal(packet.toString('hex'), '01' + '08' + '02' + '0005' + '0200000001' + '0005' + '0300000002');
  });
});

describe('membership wire format: malformed input', () => {
  const compound = encodePacket(samples.map(encodeMessage));

  test('empty and one-byte packets are rejected', () => {
    assert.equal(decodePacket(Buffer.alloc(0)), null);
    assert.equal(decodePacket(Buffer.from([PROTOCOL_VERSION])), null);
    assert.equal(decodeMessage(Buffer.alloc(0)), null);
  });

  test('any other version byte is rejected', () => {
    const ping = encodePacket([encodeMessage(samples[0]!)]);
    for (let v = 0; v < 256; v++) {
      if (v === PROTOCOL_VERSION) continue;
      const p = Buffer.from(ping);
      p[0] = v;
      assert.equal(decodePacket(p), null, `version ${v}`);
      const c = Buffer.from(compound);
      c[0] = v;
      assert.equal(decodePacket(c), null, `version ${v} (compound)`);
    }
  });

  test('a compound packet truncated at every length is rejected', () => {
    assert.notEqual(decodePacket(compound), null);
    for (let len = 0; len < compound.length; len++) {
      assert.equal(decodePacket(compound.subarray(0, len)), null, `truncated to ${len} of ${compound.length}`);
    }
  });

  test('every single-message packet truncated at every length is rejected', () => {
    for (const m of samples) {
      const bytes = encodeMessage(m);
      const packet = encodePacket([bytes]);
      for (let len = 0; len < packet.length; len++) {
        assert.equal(decodePacket(packet.subarray(0, len)), null, `${m.type} packet truncated to ${len}`);
      }
      for (let len = 0; len < bytes.length; len++) {
        assert.equal(decodeMessage(bytes.subarray(0, len)), null, `${m.type} message truncated to ${len}`);
      }
    }
  });

  test('10,000 random buffers never throw', () => {
    // Half of them start like a real packet (version 1, a known type byte) to get past the first checks.
    const buffer = fc.oneof(
      fc.uint8Array({ maxLength: 1400 }),
      fc.tuple(fc.integer({ min: 0, max: 11 }), fc.uint8Array({ maxLength: 600 })).map(([type, rest]) => Uint8Array.from([PROTOCOL_VERSION, type, ...rest])),
    );
    let decoded = 0;
    fc.assert(
      fc.property(buffer, (bytes) => {
        const b = Buffer.from(bytes);
        const out = decodePacket(b);
        assert.ok(out === null || Array.isArray(out));
        if (out) decoded++;
        const one = decodeMessage(b);
        assert.ok(one === null || typeof one.type === 'string');
      }),
      { seed: SEED, numRuns: 10_000 },
    );
    assert.ok(decoded < 10_000, 'most random buffers are rejected');
  });

  test('random corruption of a valid compound packet never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: compound.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const c = Buffer.from(compound);
        c[at] = byte;
        const out = decodePacket(c);
        assert.ok(out === null || Array.isArray(out));
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  test('unknown message types inside a compound are skipped, known ones kept', () => {
    const unknown = [Buffer.from([MessageType.forget + 1, 1, 2, 3]), Buffer.from([200]), Buffer.from([255, ...Buffer.alloc(40)])];
    const known = [samples[0]!, samples[5]!, samples[3]!];
    const packet = encodePacket([unknown[0]!, encodeMessage(known[0]!), unknown[1]!, encodeMessage(known[1]!), unknown[2]!, encodeMessage(known[2]!)]);
    assert.deepEqual(plainAll(decodePacket(packet)), known.map(plain));
    // Only unknown parts: an empty list, not an error.
    assert.deepEqual(decodePacket(encodePacket(unknown)), []);
    // A lone message of unknown type: nothing to act on, not malformed.
    assert.deepEqual(decodePacket(encodePacket([unknown[0]!])), []);
    // A compound nested in a compound is not a thing: skipped.
    const nested = encodePacket([encodeMessage(known[0]!), encodeMessage(known[2]!)]).subarray(1);
    assert.deepEqual(plainAll(decodePacket(encodePacket([nested, encodeMessage(known[1]!)]))), [plain(known[1]!)]);
  });

  test('a compound part whose length runs past the packet is rejected', () => {
    const ack = encodeMessage({ type: 'ack', seq: 1 });
    const packet = encodePacket([ack, ack]);
    const lying = Buffer.from(packet);
    lying.writeUInt16BE(0xffff, 3); // first part claims 65535 bytes
    assert.equal(decodePacket(lying), null);
    const moreParts = Buffer.from(packet);
    moreParts[2] = 3; // claims three parts, holds two
    assert.equal(decodePacket(moreParts), null);
  });

  test('a pushPull claiming 2^32-1 members in a short buffer is rejected without allocating', () => {
    const body = Buffer.concat([Buffer.from([MessageType.pushPull, 0, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(64)]);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) {
      assert.equal(decodeMessage(body), null);
      assert.equal(decodePacket(Buffer.concat([Buffer.from([PROTOCOL_VERSION]), body])), null);
      assert.equal(decodePacket(encodePacket([body, encodeMessage({ type: 'ack', seq: 1 })])), null);
    }
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const grownBytes = process.memoryUsage().heapUsed - heapBefore;
    // Decoding even one record per claimed member would take seconds and gigabytes.
    assert.ok(grownBytes < 64 * 1024 * 1024, `heap grew by ${grownBytes} bytes`);
    assert.ok(elapsedMs < 5_000, `took ${elapsedMs} ms`);
  });

  test('a pushPull count is checked against the bytes present, exactly', () => {
    const record: MemberRecord = { node: ref(idA, '1.1.1.1'), port: 1, incarnation: 1, state: 'alive' };
    const two = encodeMessage({ type: 'pushPull', join: false, members: [record, record] });
    // A record: 20 id + 1 host length + 7 host + 2 bus port + 2 port + 4 incarnation + 1 state.
    assert.equal(two.length, 1 + 1 + 4 + 2 * 37);
    assert.equal((decodeMessage(two) as { members: unknown[] }).members.length, 2);
    const three = Buffer.from(two);
    three.writeUInt32BE(3, 2);
    assert.equal(decodeMessage(three), null);
    const badState = Buffer.from(two);
    badState[badState.length - 1] = 4; // state index 4 does not exist
    assert.equal(decodeMessage(badState), null);
  });

  test('a user message claiming a 4 GiB payload in a short buffer is rejected', () => {
    const body = Buffer.from([MessageType.user, 1, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert.equal(decodeMessage(body), null);
    assert.equal(decodePacket(Buffer.concat([Buffer.from([PROTOCOL_VERSION]), body])), null);
  });
});

describe('membership wire format: encoder limits', () => {
  // The compound header has a one-byte count and two-byte part lengths. An encoder that silently
  // wraps them produces a packet that decodes to something other than what was sent.
  test('more than MAX_COMPOUND messages are refused, not wrapped', () => {
    const acks = Array.from({ length: MAX_COMPOUND + 1 }, (_, i) => encodeMessage({ type: 'ack', seq: i }));
    let packet: Buffer | null = null;
    try {
      packet = encodePacket(acks);
    } catch {
      return; // refusing is fine
    }
    assert.equal(decodePacket(packet)?.length, acks.length, `${acks.length} messages encoded as a packet that decodes to ${decodePacket(packet)?.length}`);
  });

  test('a compound part longer than 65535 bytes is refused, not wrapped', () => {
    const big = encodeMessage({ type: 'user', channel: 1, payload: Buffer.alloc(70_000, 7) });
    const small = encodeMessage({ type: 'ack', seq: 1 });
    let packet: Buffer | null = null;
    try {
      packet = encodePacket([big, small]);
    } catch {
      return;
    }
    const out = decodePacket(packet);
    assert.equal(out?.length, 2, `decoded as ${out === null ? 'null' : `${out.length} messages`}`);
  });

  test('an invalid node id is refused', () => {
    assert.throws(() => encodeMessage({ type: 'suspect', incarnation: 1, id: 'not-an-id', from: idA }));
    assert.throws(() => encodeMessage({ type: 'forget', id: idA.toUpperCase(), ttlMs: 1 }));
  });
});
