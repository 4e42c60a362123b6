import { compareStamps, type Stamp } from '../crdt/hlc.js';
import { LEAVES_PER_TOP, TOPS, type Entry } from '../crdt/lww-set.js';
import { readEntry, validId, writeEntry } from '../crdt/records.js';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';
import type { Replica, ReplicatedSet } from './replica.js';

/**
 * Digest anti-entropy between two replicas, three request/reply steps over the bus, each set on
 * its own (format version 1, every message starts `[u8 version][u8 step]`):
 * 1. roots: the requester sends each set's root digest; the responder answers, for the sets that
 *    differ, its 64 top-bucket digests.
 * 2. leaves: for (up to MAX_TOPS_PER_ROUND of) the top buckets that differ, the requester sends
 *    its 64 leaf digests; the responder answers with its records in every leaf that differs.
 * 3. push: the requester merges them, then sends the records of those leaves the responder lacks
 *    or holds older, plus the records it refused (id and stamp); the responder merges and answers
 *    with the records it refused. Each side drops what the other refused, unless it has meanwhile
 *    got a newer record of that element (see the tombstone rule, docs/replication.md).
 * Bytes grow with the number of differing leaves, not with the size of the sets; when nothing
 * differs an exchange is one small request and reply.
 */
const VERSION = 1;
const STEP_ROOTS = 1;
const STEP_LEAVES = 2;
const STEP_PUSH = 3;
/** Bounds one exchange's messages (a new node copies a large set over several rounds, not one). */
export const MAX_TOPS_PER_ROUND = 16;
/** Smallest encoded record, to bound counts read from the wire. */
const MIN_ENTRY_BYTES = 2 + 1 + 6 + 4 + 20 + 1 + 4;

export interface ExchangeResult {
  /** Records this side applied and the peer applied. */
  received: number;
  sent: number;
  /** Whether more differing buckets remain than one round carries. */
  more: boolean;
}

type Send = (payload: Buffer) => Promise<Buffer>;

/** Runs one exchange as the requester. Throws on a transport error or a malformed reply. */
export async function exchange(replica: Replica, send: Send): Promise<ExchangeResult> {
  const result: ExchangeResult = { received: 0, sent: 0, more: false };
  // Step 1: roots.
  const w1 = header(STEP_ROOTS);
  const sets = replica.sets();
  w1.u8(sets.length);
  for (const s of sets) {
    w1.u8(s.tag);
    writeDigest(w1, s.set.root());
  }
  const r1 = new ByteReader(await send(w1.done()));
  const differing: { set: ReplicatedSet<unknown>; tops: number[] }[] = [];
  for (let n = r1.u8(), i = 0; i < n; i++) {
    const set = setOf(replica, r1.u8());
    if (r1.u8() === 0) continue; // equal roots
    const tops = differingIndexes(set.set.tops(), readDigests(r1, TOPS));
    if (tops.length > MAX_TOPS_PER_ROUND) result.more = true;
    if (tops.length > 0) differing.push({ set, tops: nextTops(set, tops) });
  }
  if (differing.length === 0) {
    replica.markSeeded();
    return result;
  }

  // Step 2: leaf digests of the differing top buckets; their records of the differing leaves.
  const w2 = header(STEP_LEAVES);
  w2.u8(differing.length);
  for (const { set, tops } of differing) {
    w2.u8(set.tag);
    w2.u8(tops.length);
    for (const top of tops) {
      w2.u8(top);
      writeDigests(w2, set.set.leavesOf(top));
    }
  }
  const r2 = new ByteReader(await send(w2.done()));
  const w3 = header(STEP_PUSH);
  const sets2 = r2.u8();
  w3.u8(sets2);
  for (let i = 0; i < sets2; i++) {
    const set = setOf(replica, r2.u8());
    const toPush: Entry<unknown>[] = [];
    const refused: Entry<unknown>[] = [];
    for (let leaves = r2.u16(), j = 0; j < leaves; j++) {
      const leaf = r2.u16();
      const theirs = new Map<string, Entry<unknown>>();
      for (let count = r2.count(MIN_ENTRY_BYTES), k = 0; k < count; k++) {
        const e = readEntry(r2, set.codec);
        if (!e) continue;
        theirs.set(e.id, e);
        const outcome = set.merge(e);
        if (outcome === 'applied') result.received++;
        else if (outcome === 'refused') refused.push(e);
      }
      for (const mine of set.set.entriesInLeaf(leaf)) {
        const t = theirs.get(mine.id);
        if (!t || !sameRecord(t, mine)) toPush.push(mine);
      }
    }
    w3.u8(set.tag);
    writeEntries(w3, toPush);
    writeRefused(w3, refused);
    result.sent += toPush.length;
  }
  const r3 = new ByteReader(await send(w3.done()));
  for (let n = r3.u8(), i = 0; i < n; i++) {
    const set = setOf(replica, r3.u8());
    dropRefused(set, readRefused(r3));
  }
  // Seeded only once it holds everything the peer holds: after a round that left buckets for the
  // next one, the old records of those would be refused (and dropped by the peer).
  if (!result.more) replica.markSeeded();
  return result;
}

/** Answers one step of an exchange as the responder. Throws DecodeError on malformed input. */
export function answer(replica: Replica, payload: Buffer): Buffer {
  const r = new ByteReader(payload);
  if (r.u8() !== VERSION) throw new DecodeError();
  const step = r.u8();
  const w = new ByteWriter();
  const n = r.u8();
  w.u8(n);
  let allEqual = n > 0;
  for (let i = 0; i < n; i++) {
    const set = setOf(replica, r.u8());
    w.u8(set.tag);
    if (step === STEP_ROOTS) {
      const theirs = readDigests(r, 1);
      const root = set.set.root();
      const equal = root[0] === theirs[0] && root[1] === theirs[1];
      if (!equal) allEqual = false;
      w.u8(equal ? 0 : 1);
      if (!equal) writeDigests(w, set.set.tops());
    } else if (step === STEP_LEAVES) {
      const leaves: number[] = [];
      for (let tops = r.u8(), j = 0; j < tops; j++) {
        const top = r.u8();
        if (top >= TOPS) throw new DecodeError();
        const theirs = readDigests(r, LEAVES_PER_TOP);
        for (const k of differingIndexes(set.set.leavesOf(top), theirs)) leaves.push(top * LEAVES_PER_TOP + k);
      }
      w.u16(leaves.length);
      for (const leaf of leaves) {
        w.u16(leaf);
        writeEntries(w, set.set.entriesInLeaf(leaf));
      }
    } else if (step === STEP_PUSH) {
      const refused: Entry<unknown>[] = [];
      for (let count = r.count(MIN_ENTRY_BYTES), k = 0; k < count; k++) {
        const e = readEntry(r, set.codec);
        if (e && set.merge(e) === 'refused') refused.push(e);
      }
      dropRefused(set, readRefused(r));
      writeRefused(w, refused);
    } else {
      throw new DecodeError();
    }
  }
  // The responder cannot tell whether the requester will chain more rounds, so it counts as seeded
  // only when it holds exactly what a peer holds (not after a push, which may be one of several).
  if (step === STEP_ROOTS && allEqual) replica.markSeeded();
  return w.done();
}

/** Per set, the top bucket the next round starts from when more differ than one round carries. */
const cursors = new WeakMap<ReplicatedSet<unknown>, number>();

/**
 * The differing top buckets this round takes: up to MAX_TOPS_PER_ROUND, going round the tree from
 * where the last round stopped. Not always the first ones: a bucket that cannot be repaired (it
 * holds records one side cannot decode, from a newer version) would be taken again every round
 * and the buckets after it never.
 */
function nextTops(set: ReplicatedSet<unknown>, tops: number[]): number[] {
  if (tops.length <= MAX_TOPS_PER_ROUND) return tops;
  const cursor = cursors.get(set) ?? 0;
  const from = Math.max(0, tops.findIndex((t) => t >= cursor));
  const chosen = [...tops.slice(from), ...tops.slice(0, from)].slice(0, MAX_TOPS_PER_ROUND);
  cursors.set(set, (chosen[chosen.length - 1]! + 1) % TOPS);
  return chosen;
}

function header(step: number): ByteWriter {
  const w = new ByteWriter();
  w.u8(VERSION);
  w.u8(step);
  return w;
}

function setOf(replica: Replica, tag: number): ReplicatedSet<unknown> {
  const set = replica.byTag(tag);
  if (!set) throw new DecodeError();
  return set;
}

function writeDigest(w: ByteWriter, [hi, lo]: [number, number]): void {
  w.u32(hi);
  w.u32(lo);
}

function writeDigests(w: ByteWriter, digests: Uint32Array): void {
  for (const d of digests) w.u32(d);
}

/** Reads `count` digests (hi, lo pairs). */
function readDigests(r: ByteReader, count: number): Uint32Array {
  const out = new Uint32Array(count * 2);
  for (let i = 0; i < out.length; i++) out[i] = r.u32();
  return out;
}

function differingIndexes(ours: Uint32Array, theirs: Uint32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < ours.length; i += 2) if (ours[i] !== theirs[i] || ours[i + 1] !== theirs[i + 1]) out.push(i / 2);
  return out;
}

function writeEntries(w: ByteWriter, entries: Entry<unknown>[]): void {
  w.u32(entries.length);
  for (const e of entries) writeEntry(w, e);
}

/** Refused records as `[u32 count]([u16 id length][id][u48 wall][u32 counter][20-byte node])*`. */
function writeRefused(w: ByteWriter, entries: Entry<unknown>[]): void {
  w.u32(entries.length);
  for (const e of entries) {
    const b = Buffer.from(e.id, 'utf8');
    w.u16(b.length);
    w.bytes(b);
    w.u48(e.stamp.wall);
    w.u32(e.stamp.counter);
    w.id(e.stamp.node);
  }
}

function readRefused(r: ByteReader): { id: string; stamp: Stamp }[] {
  const out: { id: string; stamp: Stamp }[] = [];
  for (let n = r.count(2 + 1 + 6 + 4 + 20), i = 0; i < n; i++) {
    const id = validId(r.bytes(r.u16()));
    const stamp = { wall: r.u48(), counter: r.u32(), node: r.id() };
    if (id !== null) out.push({ id, stamp });
  }
  return out;
}

/**
 * Drops what the peer refused, but only the record it refused (or an older one): a newer record
 * of the element that arrived while the exchange was under way is not the peer's concern.
 */
function dropRefused(set: ReplicatedSet<unknown>, refused: { id: string; stamp: Stamp }[]): void {
  for (const { id, stamp } of refused) {
    const held = set.set.get(id);
    if (held && compareStamps(held.stamp, stamp) <= 0) set.drop(id);
  }
}

function sameRecord(a: Entry<unknown>, b: Entry<unknown>): boolean {
  return a.removed === b.removed && a.stamp.wall === b.stamp.wall && a.stamp.counter === b.stamp.counter && a.stamp.node === b.stamp.node;
}
