import { compareStamps } from '../crdt/hlc.js';
import { LEAVES_PER_TOP, TOPS, type Entry } from '../crdt/lww-set.js';
import { readEntry, writeEntry } from '../crdt/records.js';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';
import type { Currency } from './currency.js';
import type { Replica, ReplicatedSet } from './replica.js';

/**
 * Digest anti-entropy between two replicas, three request/reply steps over the bus, each set on
 * its own (format version 1; every request starts `[u8 version][u8 step][20-byte node id]
 * [u48 syncedAt][u48 since]`, so each side knows who the other is and how current it is, see
 * currency.ts):
 * 1. roots: the requester sends each set's root digest; the responder answers with its currency
 *    and, for the sets that differ, its 64 top-bucket digests. A responder that finds itself stale
 *    next to the requester (docs/replication.md) says so and the exchange stops: it reconciles
 *    as the requester instead, the only side that may drop records.
 * 2. leaves: for (up to MAX_TOPS_PER_ROUND of) the top buckets that differ, the requester sends
 *    its 64 leaf digests; the responder answers with its records in every leaf that differs (up
 *    to REPLY_BUDGET bytes; the rest waits for the next round).
 * 3. push: the requester merges them, then sends the records of those leaves the responder lacks
 *    or holds older; a stale requester instead drops its records from before its syncedAt that
 *    the responder no longer has (they were removed while it was away, tombstones collected).
 * Bytes grow with the number of differing leaves, not with the size of the sets; when nothing
 * differs an exchange is one small request and reply.
 */
const VERSION = 1;
const STEP_ROOTS = 1;
const STEP_LEAVES = 2;
const STEP_PUSH = 3;
/** Bounds one exchange's messages (a new node copies a large set over several rounds, not one). */
export const MAX_TOPS_PER_ROUND = 16;
/** A step-2 reply stops adding leaves past this size, far below the stream limit. */
const REPLY_BUDGET = 4 * 1024 * 1024;
/** Smallest encoded record, to bound counts read from the wire. */
const MIN_ENTRY_BYTES = 2 + 1 + 6 + 4 + 20 + 1 + 4;

export interface ExchangeResult {
  /** Records this side applied and the peer applied. */
  received: number;
  sent: number;
  /** Own records dropped as stale (removed elsewhere while this node was away). */
  dropped: number;
  /** Whether more differing buckets remain than one round carries. */
  more: boolean;
  /** The responder is stale next to us and will reconcile with us itself. */
  reversed: boolean;
}

type Send = (payload: Buffer) => Promise<Buffer>;

/** Runs one exchange round as the requester. Throws on a transport error or a malformed reply. */
export async function exchange(replica: Replica, send: Send): Promise<ExchangeResult> {
  const result: ExchangeResult = { received: 0, sent: 0, dropped: 0, more: false, reversed: false };
  // Step 1: roots.
  const w1 = header(replica, STEP_ROOTS);
  const sets = replica.sets();
  w1.u8(sets.length);
  for (const s of sets) {
    w1.u8(s.tag);
    writeDigest(w1, s.set.root());
  }
  const r1 = new ByteReader(await send(w1.done()));
  if (r1.u8() === 1) {
    result.reversed = true;
    return result;
  }
  const peerCurrency = readCurrency(r1);
  // The round is judged by both currencies as they are now (the peer's is its reply): ours may
  // change while we wait for replies (answers to other peers, taking() below).
  const mine = replica.currency;
  const stale = replica.staleNextTo(peerCurrency);
  const differing: { set: ReplicatedSet<unknown>; tops: number[] }[] = [];
  for (let n = r1.u8(), i = 0; i < n; i++) {
    const set = setOf(replica, r1.u8());
    if (r1.u8() === 0) continue; // equal roots
    const tops = differingIndexes(set.set.tops(), readDigests(r1, TOPS));
    if (tops.length > MAX_TOPS_PER_ROUND) result.more = true;
    if (tops.length > 0) differing.push({ set, tops: nextTops(set, tops) });
  }
  if (differing.length === 0) {
    replica.synced(peerCurrency, stale);
    return result;
  }

  // Taking a stale peer's records makes us as stale as it is, before the first of them is merged;
  // that is also the outcome of the round (a replica without history inherits the currency of
  // the stale one it copies), which synced() would no longer see: two stale replicas.
  replica.taking(peerCurrency);
  const inherited = replica.currency !== mine ? replica.currency : null;

  // Step 2: leaf digests of the differing top buckets; their records of the differing leaves.
  const w2 = header(replica, STEP_LEAVES, mine);
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
  if (r2.u8() === 1) result.more = true; // the reply was cut at its budget
  const w3 = header(replica, STEP_PUSH, mine);
  // Stale next to the peer now, not at step 1 (we took a stale node's records meanwhile): our
  // records from before our syncedAt that the peer lacks are held back for the next round, which
  // reconciles them (pushed, they could bring back what the cluster removed).
  const holdBefore = !stale && replica.staleNextTo(peerCurrency) ? replica.syncedAt : 0;
  const sets2 = r2.u8();
  w3.u8(sets2);
  for (let i = 0; i < sets2; i++) {
    const set = setOf(replica, r2.u8());
    const toPush: Entry<unknown>[] = [];
    for (let leaves = r2.u16(), j = 0; j < leaves; j++) {
      const leaf = r2.u16();
      const theirs = new Map<string, Entry<unknown>>();
      for (let count = r2.count(MIN_ENTRY_BYTES), k = 0; k < count; k++) {
        const e = readEntry(r2, set.codec);
        if (!e) continue;
        theirs.set(e.id, e);
        if (set.merge(e) === 'applied') result.received++;
      }
      for (const record of set.set.entriesInLeaf(leaf)) {
        const t = theirs.get(record.id);
        if (t && sameRecord(t, record)) continue;
        // Known to the cluster when we last synced, gone from it now: removed while we were away.
        const wall = record.stamp.wall;
        if (stale && !t && wall < mine.syncedAt) {
          set.drop(record.id);
          result.dropped++;
        } else if (!t && wall < holdBefore) {
          result.more = true;
        } else {
          toPush.push(record);
        }
      }
    }
    w3.u8(set.tag);
    writeEntries(w3, toPush);
    result.sent += toPush.length;
  }
  await send(w3.done());
  if (!result.more && replica.currency !== inherited) replica.synced(peerCurrency, stale);
  return result;
}

/** What a responder learned from one step, beyond its reply. */
export interface Answer {
  reply: Buffer;
  /** The requester's node id when we are stale next to it: reconcile with it as the requester. */
  reconcileWith: string | null;
}

/** Answers one step of an exchange as the responder. Throws DecodeError on malformed input. */
export function answer(replica: Replica, payload: Buffer): Answer {
  const r = new ByteReader(payload);
  if (r.u8() !== VERSION) throw new DecodeError();
  const step = r.u8();
  const peer = r.id();
  const peerCurrency = readCurrency(r);
  const w = new ByteWriter();
  if (step === STEP_ROOTS) {
    if (replica.staleNextTo(peerCurrency)) {
      w.u8(1);
      return { reply: w.done(), reconcileWith: peer };
    }
    w.u8(0);
    writeCurrency(w, replica.currency);
  } else if (step === STEP_LEAVES) {
    // Stale next to the requester now, not at step 1 (we took a stale node's records meanwhile):
    // no records, and "more", so that its next round finds us stale and we reconcile.
    if (replica.staleNextTo(peerCurrency)) return { reply: Buffer.from([1, 0]), reconcileWith: null };
    w.u8(0); // replaced by 1 below if the reply is cut at its budget
  }
  const n = r.u8();
  w.u8(n);
  let allEqual = true;
  let cut = false;
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
      const part = new ByteWriter();
      let sent = 0;
      for (const leaf of leaves) {
        if (w.length + part.length > REPLY_BUDGET) {
          cut = true;
          break;
        }
        part.u16(leaf);
        writeEntries(part, set.set.entriesInLeaf(leaf));
        sent++;
      }
      w.u16(sent);
      w.bytes(part.done());
    } else if (step === STEP_PUSH) {
      for (let count = r.count(MIN_ENTRY_BYTES), k = 0; k < count; k++) {
        const e = readEntry(r, set.codec);
        if (e) set.merge(e);
      }
    } else {
      throw new DecodeError();
    }
  }
  // The responder cannot tell whether the requester will chain more rounds; a push or equal roots
  // is as far as it can see.
  if ((step === STEP_ROOTS && allEqual) || step === STEP_PUSH) replica.synced(peerCurrency, false);
  const reply = w.done();
  if (cut) reply[0] = 1;
  return { reply, reconcileWith: null };
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

function header(replica: Replica, step: number, currency = replica.currency): ByteWriter {
  const w = new ByteWriter();
  w.u8(VERSION);
  w.u8(step);
  w.id(replica.nodeId);
  writeCurrency(w, currency);
  return w;
}

function writeCurrency(w: ByteWriter, c: Currency): void {
  w.u48(c.syncedAt);
  w.u48(c.since);
}

function readCurrency(r: ByteReader): Currency {
  return { syncedAt: r.u48(), since: r.u48() };
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

function sameRecord(a: Entry<unknown>, b: Entry<unknown>): boolean {
  return a.removed === b.removed && compareStamps(a.stamp, b.stamp) === 0;
}
