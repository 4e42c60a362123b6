/**
 * Record files of the state store, format version 1 (a disk format: change it only with a new
 * version number and a reader for the old one).
 *
 *   file    = header frame* trailer?          the trailer ends every snapshot, never a log
 *   header  = "HECK" kind(1) version(3)       kind "L" (log) or "S" (snapshot), version u24 BE = 1
 *   frame   = length(u32 BE) lengthcrc(u32 BE) crc(u32 BE) payload(length bytes)
 *   trailer = 0xFFFFFFFF lengthcrc(u32 BE) crc(u32 BE) count(u32 BE)
 *
 * A payload is at most 64 MiB, so the trailer's length field (0xFFFFFFFF) is never a payload's. The
 * crc is zlib's crc32 of the length field followed by the payload (for the trailer: by the count,
 * the number of frames before it). Covering the length field means a frame of zeros never checks
 * (crc32 of an empty payload alone would be 0), so zeros left by a crash are never read as data.
 * lengthcrc is the crc32 of the length field alone: a damaged length is caught before it is used,
 * so it can never pass for a last frame cut short (a torn tail) and cut acknowledged frames away.
 */

import { crc32 } from 'node:zlib';

export const HEADER_BYTES = 8;
export const FRAME_HEAD_BYTES = 12;
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
const FORMAT_VERSION = 1;
const TRAILER_MARK = 0xffffffff;

export type FileKind = 'L' | 'S';

export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError';
  readonly code = 'STORE_CORRUPT';
}

export function fileHeader(kind: FileKind): Buffer {
  const header = Buffer.from(`HECK${kind}\0\0\0`, 'latin1');
  header.writeUIntBE(FORMAT_VERSION, 5, 3);
  return header;
}

/** One frame as buffers for writev: its head, then the payload itself (not copied). */
export function frame(payload: Buffer): Buffer[] {
  return [frameHead(payload.length, payload), payload];
}

export function snapshotTrailer(count: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(count);
  return Buffer.concat([frameHead(TRAILER_MARK, body), body]);
}

function frameHead(lengthField: number, body: Buffer): Buffer {
  // Every byte is written below: a slice of Node's shared pool, not a memory block of its own per
  // record (one malloc per health write, kept until a full GC once promoted).
  const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES);
  head.writeUInt32BE(lengthField, 0);
  head.writeUInt32BE(crc32(head.subarray(0, 4)), 4);
  head.writeUInt32BE(checksum(head, body), 8);
  return head;
}

function checksum(head: Buffer, body: Buffer): number {
  const crc = crc32(head.subarray(0, 4));
  // Node's crc32 returns 0, not `crc`, for an empty view whose ArrayBuffer has no memory behind it.
  return body.length > 0 ? crc32(body, crc) : crc;
}

export interface RecordFile {
  /** Views into the file's buffer, in file order. */
  payloads: Buffer[];
  /** Where the good data ends: the file's length, unless a torn tail follows. */
  end: number;
}

/**
 * Reads a whole record file. With `tornTailAllowed` (the newest log only), what an interrupted,
 * unacknowledged append leaves at the end is cut off through `end` rather than thrown: a last
 * frame cut short, a frame that fails a checksum and is followed by nothing or only zeros (pages
 * of the write that never reached the disk), or zeros up to the end. Any other damage throws
 * StoreCorruptError.
 */
export function readRecordFile(data: Buffer, path: string, kind: FileKind, tornTailAllowed: boolean): RecordFile {
  const expected = fileHeader(kind);
  if (!data.subarray(0, HEADER_BYTES).equals(expected)) {
    const found = data.subarray(0, HEADER_BYTES).toString('hex') || 'nothing';
    throw corrupt(path, 0, `the header should be ${expected.toString('hex')} (HECK, ${kind}, format ${FORMAT_VERSION}) but is ${found}`);
  }
  const payloads: Buffer[] = [];
  let at = HEADER_BYTES;
  const zerosFrom = (offset: number): boolean => data.subarray(offset).every((b) => b === 0);
  const damaged = (what: string, tornIfLast: boolean): RecordFile => {
    if (tornTailAllowed && (tornIfLast || zerosFrom(at))) return { payloads, end: at };
    throw corrupt(path, at, what);
  };
  while (at < data.length) {
    if (data.length - at < FRAME_HEAD_BYTES) return damaged('a frame header is cut short', true);
    const length = data.readUInt32BE(at);
    // Torn if only zeros follow the lengthcrc field: a write whose pages stopped inside this head.
    if (crc32(data.subarray(at, at + 4)) !== data.readUInt32BE(at + 4)) return damaged('a frame length fails its checksum', zerosFrom(at + 8));
    const isTrailer = kind === 'S' && length === TRAILER_MARK;
    const end = at + FRAME_HEAD_BYTES + (isTrailer ? 4 : length);
    if (end > data.length) return damaged(`a frame of ${length} bytes runs past the end of the file`, true);
    if (!isTrailer && length > MAX_PAYLOAD_BYTES) return damaged(`a frame declares ${length} bytes, over the ${MAX_PAYLOAD_BYTES}-byte cap`, false);
    const head = data.subarray(at, at + FRAME_HEAD_BYTES);
    const body = data.subarray(at + FRAME_HEAD_BYTES, end);
    if (checksum(head, body) !== head.readUInt32BE(8)) return damaged('a frame fails its checksum', zerosFrom(end));
    if (isTrailer) {
      const count = body.readUInt32BE(0);
      if (count !== payloads.length) throw corrupt(path, at, `the trailer counts ${count} frames, the file holds ${payloads.length}`);
      if (end !== data.length) throw corrupt(path, end, 'data follows the trailer');
      return { payloads, end };
    }
    payloads.push(body);
    at = end;
  }
  if (kind === 'S') throw corrupt(path, at, 'the snapshot ends without its trailer');
  return { payloads, end: at };
}

function corrupt(path: string, offset: number, what: string): StoreCorruptError {
  return new StoreCorruptError(
    `${path}: ${what} (at byte ${offset}). Move the file aside and restart: the node will fetch the state from its peers.`,
  );
}
