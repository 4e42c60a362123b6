import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';
import { MAX_STAMP_WALL, type Stamp } from './hlc.js';
import type { Entry } from './lww-set.js';

/**
 * One record of an LWW set as it travels on the bus and sits on disk (format version 1):
 * `[u16 id length][id, UTF-8][u48 wall][u32 counter][20-byte node][u8 flags: 1 = remove]
 * [u32 value length][value]`. Values are the set's own encoding (JSON for origins and verdicts).
 */
export interface ValueCodec<V> {
  encode(value: V): Buffer;
  /** null when the bytes are not a valid value (a hostile or broken peer): the record is dropped. */
  decode(bytes: Buffer): V | null;
}

export const MAX_ID_BYTES = 256;
/** Values larger than this are refused, on the bus and from commands alike. */
export const MAX_VALUE_BYTES = 64 * 1024;
// ignoreBOM: a leading U+FEFF is kept (and refused as whitespace), not stripped, which would read
// the bytes of '\uFEFFweb-1' as the id 'web-1' and the bytes of a lone BOM as the empty id.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes writeEntry() writes for a record, so a writer can be sized exactly. */
export function entryBytes(e: Entry<unknown>): number {
  return 2 + Buffer.byteLength(e.id, 'utf8') + 6 + 4 + 20 + 1 + 4 + e.bytes.length;
}

export function writeEntry(w: ByteWriter, e: Entry<unknown>): void {
  const s = e.stamp; // an AddEntry makes it on each read
  w.str16(e.id);
  w.u48(s.wall);
  w.u32(s.counter);
  w.id(s.node);
  w.u8(e.removed ? 1 : 0);
  w.u32(e.bytes.length);
  w.bytes(e.bytes);
}

/**
 * Reads one record. Framing errors throw DecodeError (the whole input is dropped); a record that
 * is well framed but not valid (bad id, bad value) reads as null and is skipped alone.
 */
export function readEntry<V>(r: ByteReader, codec: ValueCodec<V>): Entry<V> | null {
  const idBytes = r.bytes(r.u16());
  const wall = r.u48();
  const counter = r.u32();
  const node = internNode(r.id());
  const flags = r.u8();
  const len = r.u32();
  if (len > MAX_VALUE_BYTES) throw new DecodeError();
  const bytes = r.bytes(len);
  const id = validId(idBytes);
  if (id === null || flags > 1 || wall > MAX_STAMP_WALL) return null;
  const stamp = { wall, counter, node };
  if (flags === 1) return len === 0 ? removeEntry(id, stamp) : null;
  const value = codec.decode(bytes);
  if (value === null) return null;
  const again = codec.encode(value);
  if (!again.equals(bytes)) return new AddEntry(id, stamp, value, ownCopy(bytes));
  const entry = new AddEntry(id, stamp, value, codec);
  remember(entry, again);
  return entry;
}

/** A local add: its bytes are the codec's encoding of the value, made when asked for. */
export function addEntry<V>(id: string, stamp: Stamp, value: V, codec: ValueCodec<V>): Entry<V> {
  return new AddEntry(id, stamp, value, codec);
}

export function removeEntry<V>(id: string, stamp: Stamp): Entry<V> {
  return { id, stamp, removed: true, value: null, bytes: NO_BYTES };
}

/** A remove's value bytes: none (shared: a Buffer costs ~350 bytes of heap however short). */
const NO_BYTES: Buffer = Buffer.alloc(0);

/**
 * An add as held in memory: the decoded value, plus its bytes only when the codec would not give
 * them back byte for byte (a newer peer's fields, another key order). Otherwise they are encoded
 * again when asked for (on the wire, on disk, in a tie-break): held, they would cost a Buffer per
 * record, most of the memory of 100,000 origins and their verdicts. A value must not be changed
 * once it is in a record.
 */
class AddEntry<V> implements Entry<V> {
  // The stamp's fields are held here and the stamp made when asked for: an object of its own
  // would cost each record 32 bytes more.
  private readonly wall: number;
  private readonly counter: number;
  private readonly node: string;

  constructor(
    readonly id: string,
    stamp: Stamp,
    readonly value: V,
    private readonly source: ValueCodec<V> | Buffer,
  ) {
    this.wall = stamp.wall;
    this.counter = stamp.counter;
    this.node = stamp.node;
  }

  get stamp(): Stamp {
    return { wall: this.wall, counter: this.counter, node: this.node };
  }

  /** On the prototype, not in each of the 200,000 records of 100,000 origins. */
  get removed(): false {
    return false;
  }

  get bytes(): Buffer {
    if (Buffer.isBuffer(this.source)) return this.source;
    // A record is often written twice in a row (sized, then written; persisted, then spread).
    if (lastEncoded !== this) remember(this, this.source.encode(this.value));
    return lastBytes;
  }
}

let lastEncoded: Entry<unknown> | null = null;
let lastBytes: Buffer = NO_BYTES;

function remember(entry: Entry<unknown>, bytes: Buffer): void {
  lastEncoded = entry;
  lastBytes = bytes;
}

/**
 * Stamps read from the bus and the disk share their node id strings: a cluster has a few nodes,
 * and a fresh 40-character string per record would cost 56 bytes each. Bounded, as ids come from
 * peers.
 */
const nodeIds = new Map<string, string>();
const MAX_NODE_IDS = 1024;

function internNode(node: string): string {
  const known = nodeIds.get(node);
  if (known !== undefined) return known;
  if (nodeIds.size >= MAX_NODE_IDS) nodeIds.clear();
  nodeIds.set(node, node);
  return node;
}

/** Element ids: 1 to 256 bytes of UTF-8, no whitespace or control characters. */
export function validId(bytes: Buffer): string | null {
  if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) return null;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return null;
  }
  return /[\s\p{Cc}]/u.test(text) ? null : text;
}

/** Values as JSON, checked by `parse` (which returns null for anything it does not accept). */
export function jsonCodec<V>(parse: (value: unknown) => V | null): ValueCodec<V> {
  return {
    encode: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
    decode(bytes) {
      try {
        return parse(JSON.parse(bytes.toString('utf8')));
      } catch {
        return null;
      }
    },
  };
}

/**
 * Value bytes kept with a record in a buffer of their own: a slice of a received packet (or of
 * Node's shared 8 KiB pool) would keep the whole of it alive as long as the record.
 */
function ownCopy(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(out);
  return out;
}
