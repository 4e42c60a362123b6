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
/** A frame's head: length, lengthcrc, crc (the disk format, so spelled out here rather than imported). */
const HEAD = 12;

describe('record files', () => {
  test('the header is HECK, the kind, then format 1 as three bytes', () => {
    assert.deepEqual([...fileHeader('L')], [...Buffer.from('HECKL'), 0, 0, 1]);
    assert.deepEqual([...fileHeader('S')], [...Buffer.from('HECKS'), 0, 0, 1]);
  });

  test('a frame is the length, crc32 of the length field, crc32 of the length field and payload, then the payload', () => {
    const [head, body] = frame(Buffer.from('hello'));
    assert.equal(head!.length, HEAD);
    assert.equal(head!.readUInt32BE(0), 5);
    assert.equal(head!.readUInt32BE(4), crc32(head!.subarray(0, 4)));
    assert.equal(head!.readUInt32BE(8), crc32(Buffer.from('hello'), crc32(head!.subarray(0, 4))));
    assert.equal(body!.toString(), 'hello');
    const trailer = snapshotTrailer(3);
    assert.deepEqual([...trailer.subarray(0, 4)], [0xff, 0xff, 0xff, 0xff]);
    assert.equal(trailer.readUInt32BE(4), crc32(trailer.subarray(0, 4)));
    assert.equal(trailer.readUInt32BE(8), crc32(trailer.subarray(12), crc32(trailer.subarray(0, 4))));
    assert.equal(trailer.readUInt32BE(12), 3);
    assert.equal(trailer.length, HEAD + 4);
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
    const data = Buffer.concat([fileHeader('L'), Buffer.alloc(HEAD)]);
    assert.throws(() => read(data), /a frame length fails its checksum \(at byte 8\)/);
    // Nor does an empty frame whose length checks but whose crc is zeros: the crc covers the length.
    data.writeUInt32BE(crc32(Buffer.alloc(4)), 8 + 4);
    assert.throws(() => read(data), /a frame fails its checksum \(at byte 8\)/);
    assert.deepEqual(read(file('L', [Buffer.alloc(0)])).payloads, [Buffer.alloc(0)]);
  });

  test('a torn tail ends the good data where it is allowed, and is corruption where it is not', () => {
    const whole = file('L', abc);
    const lastStart = whole.length - HEAD - 'charlie'.length;
    const flipped = Buffer.from(whole);
    flipped[whole.length - 1]! ^= 1;
    const zeroed = Buffer.from(whole);
    zeroed.fill(0, lastStart + 10);
    for (const damaged of [whole.subarray(0, lastStart + 3), whole.subarray(0, whole.length - 1), flipped, zeroed, Buffer.concat([whole.subarray(0, lastStart), Buffer.alloc(100)])]) {
      assert.deepEqual(read(damaged, 'L', true), { payloads: abc.slice(0, 2), end: lastStart });
      assert.throws(() => read(damaged), (e: Error) => e instanceof StoreCorruptError && e.message.includes(`at byte ${lastStart}`));
    }
  });

  test('a last frame cut at any length, or zeros from any point of it on, is a torn tail', () => {
    const whole = file('L', abc);
    const lastStart = whole.length - HEAD - 'charlie'.length;
    for (let cut = lastStart + 1; cut < whole.length; cut++) {
      const zeroed = Buffer.from(whole).fill(0, cut); // inside the length or lengthcrc too: the write stopped at a page boundary
      for (const damaged of [whole.subarray(0, cut), zeroed]) {
        assert.deepEqual(read(damaged, 'L', true), { payloads: abc.slice(0, 2), end: lastStart }, `from ${cut}`);
        assert.throws(() => read(damaged), (e: Error) => e instanceof StoreCorruptError && e.message.includes(`at byte ${lastStart}`));
      }
    }
  });

  test('a checksum failure followed by more frames is corruption even in the newest log', () => {
    const data = file('L', abc);
    data[8 + HEAD + 1]! ^= 0x40; // inside "alpha"
    assert.throws(() => read(data, 'L', true), /x\.bin: a frame fails its checksum \(at byte 8\)\. Move the file aside/);
  });

  test('any flipped bit in the length or lengthcrc of a middle frame is corruption, even in the newest log', () => {
    const whole = file('L', abc);
    const bravoAt = 8 + HEAD + 'alpha'.length;
    for (let bit = 0; bit < 64; bit++) {
      const data = Buffer.from(whole);
      data[bravoAt + (bit >> 3)]! ^= 1 << (bit & 7);
      assert.throws(
        () => read(data, 'L', true),
        (e: Error) => e instanceof StoreCorruptError && e.message.startsWith(`/d/state/x.bin: a frame length fails its checksum (at byte ${bravoAt}). Move the file aside`),
        `bit ${bit}`,
      );
    }
  });

  test('a flipped bit in the length (or lengthcrc) of the last frame is corruption, not a torn tail, even where it runs past the end', () => {
    const whole = file('L', abc);
    const lastStart = whole.length - HEAD - 'charlie'.length;
    let pastTheEnd = 0;
    for (let bit = 0; bit < 64; bit++) {
      const data = Buffer.from(whole);
      data[lastStart + (bit >> 3)]! ^= 1 << (bit & 7);
      if (bit < 32 && lastStart + HEAD + data.readUInt32BE(lastStart) > data.length) pastTheEnd++;
      assert.throws(
        () => read(data, 'L', true),
        (e: Error) => e instanceof StoreCorruptError && e.message.includes(`a frame length fails its checksum (at byte ${lastStart})`),
        `bit ${bit}`,
      );
    }
    assert.equal(pastTheEnd, 29, 'every flip but those of the three 1 bits of 7 makes the length run past the end');
  });

  test('a length over the cap is corruption when the file is long enough to hold it', () => {
    const data = Buffer.concat([fileHeader('L'), Buffer.alloc(HEAD + MAX_PAYLOAD_BYTES + 1)]);
    data.writeUInt32BE(MAX_PAYLOAD_BYTES + 1, 8);
    data.writeUInt32BE(crc32(data.subarray(8, 12)), 12); // a length that checks
    data[HEAD + 20] = 1; // not all zeros, or it would be a torn tail
    assert.throws(() => read(data, 'L', true), /over the 67108864-byte cap \(at byte 8\)/);
    assert.deepEqual(read(data.subarray(0, 100), 'L', true).end, 8); // runs past the end: torn
    data[8]! ^= 0x80; // a length that does not check: corruption before its size is looked at
    assert.throws(() => read(data.subarray(0, 100), 'L', true), /a frame length fails its checksum \(at byte 8\)/);
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
    assert.throws(() => read(noTrailer, 'S'), /ends without its trailer \(at byte 61\)/);
    assert.throws(() => read(whole.subarray(0, whole.length - 1), 'S'), /runs past the end/);
    const badMark = Buffer.from(whole);
    badMark[whole.length - 16 + 3]! ^= 1; // the trailer's 0xFFFFFFFF
    assert.throws(() => read(badMark, 'S'), /a frame length fails its checksum \(at byte 61\)/);
    assert.throws(() => read(wrongCount, 'S'), /the trailer counts 2 frames, the file holds 3/);
    assert.throws(() => read(afterTrailer, 'S'), /data follows the trailer/);
  });
});
