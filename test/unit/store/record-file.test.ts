import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crc32 } from 'node:zlib';
import {
  fileHeader,
  frame,
  MAX_PAYLOAD_BYTES,
  readRecordFile,
  snapshotTrailer,
  StoreCorruptError,
  type FileKind,
} from '../../../src/store/record-file.js';

function file(kind: FileKind, payloads: Buffer[], trailer = kind === 'S'): Buffer {
  return Buffer.concat([fileHeader(kind), ...payloads.flatMap(frame), ...(trailer ? [snapshotTrailer(payloads.length)] : [])]);
}

const read = (data: Buffer, kind: FileKind = 'L', torn = false) => readRecordFile(data, '/d/state/x.bin', kind, torn);
const abc = ['alpha', 'bravo', 'charlie'].map((s) => Buffer.from(s));

describe('record files', () => {
  test('the header is HECK, the kind, then format 1 as three bytes', () => {
    assert.deepEqual([...fileHeader('L')], [...Buffer.from('HECKL'), 0, 0, 1]);
    assert.deepEqual([...fileHeader('S')], [...Buffer.from('HECKS'), 0, 0, 1]);
  });

  test('a frame is the length, crc32 of the length field and payload, then the payload', () => {
    const [head, body] = frame(Buffer.from('hello'));
    assert.equal(head!.readUInt32BE(0), 5);
    assert.equal(head!.readUInt32BE(4), crc32(Buffer.from('hello'), crc32(head!.subarray(0, 4))));
    assert.equal(body!.toString(), 'hello');
  });

  test('logs and snapshots read back their payloads, empty ones included', () => {
    const payloads = [...abc, Buffer.alloc(0), Buffer.from([0, 255, 0])];
    assert.deepEqual(read(file('L', payloads)).payloads, payloads);
    assert.deepEqual(read(file('S', payloads), 'S').payloads, payloads);
    assert.deepEqual(read(file('S', []), 'S').payloads, []);
  });

  test('an empty payload checks, even once its ArrayBuffer has been materialized', () => {
    const empty = Buffer.alloc(0);
    void empty.buffer; // after this, zlib.crc32(empty, crc) returns 0 rather than crc
    assert.deepEqual(read(file('L', [empty])).payloads, [Buffer.alloc(0)]);
    assert.deepEqual(read(file('S', [empty, empty]), 'S').payloads, [empty, empty]);
  });

  test('a frame of zeros never passes its checksum', () => {
    const data = Buffer.concat([fileHeader('L'), Buffer.alloc(8)]);
    assert.throws(() => read(data), StoreCorruptError);
    assert.deepEqual(read(file('L', [Buffer.alloc(0)])).payloads, [Buffer.alloc(0)]);
  });

  test('a torn tail ends the good data where it is allowed, and is corruption where it is not', () => {
    const whole = file('L', abc);
    const lastStart = whole.length - 8 - 'charlie'.length;
    const flipped = Buffer.from(whole);
    flipped[whole.length - 1]! ^= 1;
    const zeroed = Buffer.from(whole);
    zeroed.fill(0, lastStart + 10);
    for (const damaged of [whole.subarray(0, lastStart + 3), whole.subarray(0, whole.length - 1), flipped, zeroed, Buffer.concat([whole.subarray(0, lastStart), Buffer.alloc(100)])]) {
      assert.deepEqual(read(damaged, 'L', true), { payloads: abc.slice(0, 2), end: lastStart });
      assert.throws(() => read(damaged), (e: Error) => e instanceof StoreCorruptError && e.message.includes(`at byte ${lastStart}`));
    }
  });

  test('a checksum failure followed by more frames is corruption even in the newest log', () => {
    const data = file('L', abc);
    data[8 + 8 + 1]! ^= 0x40; // inside "alpha"
    assert.throws(() => read(data, 'L', true), /x\.bin: a frame fails its checksum \(at byte 8\)\. Move the file aside/);
  });

  test('a length over the cap is corruption when the file is long enough to hold it', () => {
    const data = Buffer.concat([fileHeader('L'), Buffer.alloc(8 + MAX_PAYLOAD_BYTES + 1)]);
    data.writeUInt32BE(MAX_PAYLOAD_BYTES + 1, 8);
    data[20] = 1; // not all zeros, or it would be a torn tail
    assert.throws(() => read(data, 'L', true), /over the 67108864-byte cap \(at byte 8\)/);
    assert.deepEqual(read(data.subarray(0, 100), 'L', true).end, 8); // runs past the end: torn
  });

  test('a header that is not HECK, this kind, format 1 is corruption', () => {
    const bad = [Buffer.from('HACKL\0\0\x01'), fileHeader('S'), Buffer.from('HECKL\0\0\x02'), Buffer.from('HEC')];
    for (const header of bad) {
      assert.throws(() => read(Buffer.concat([header, ...frame(abc[0]!)]), 'L', true), /the header should be 4845434b4c000001/);
    }
  });

  test('a snapshot must end with a trailer that counts its frames', () => {
    const whole = file('S', abc);
    const noTrailer = file('S', abc, false);
    const wrongCount = Buffer.concat([file('S', abc, false), snapshotTrailer(2)]);
    const afterTrailer = Buffer.concat([whole, ...frame(Buffer.from('x'))]);
    assert.throws(() => read(noTrailer, 'S'), /ends without its trailer \(at byte 49\)/);
    assert.throws(() => read(whole.subarray(0, whole.length - 1), 'S'), /runs past the end/);
    assert.throws(() => read(wrongCount, 'S'), /the trailer counts 2 frames, the file holds 3/);
    assert.throws(() => read(afterTrailer, 'S'), /data follows the trailer/);
  });
});
