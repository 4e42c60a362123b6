import { hash64, mulHi, type Hash64 } from './hash.js';

/**
 * Rendezvous (highest-random-weight) hashing: every node scores every origin, and an origin's
 * owners are the k nodes with the highest scores. Removing a node moves only the origins it owned;
 * adding one moves only the origins that now score highest on it. Like the hash, the score is fixed
 * forever: nodes of different versions must agree on who probes what.
 *
 * score = fmix64(hash64(origin) XOR hash64(node)), murmur3's 64-bit finalizer. The XOR alone would
 * not do: it orders two nodes by the one highest bit where their hashes differ, so nodes would win
 * shares set by their places in a binary trie of the hashes, far from 1/n. fmix64 avalanches (each
 * input bit flips each output bit with probability about 1/2), so every pair of nodes is ordered
 * afresh for each origin; and it is a bijection, so an origin's scores on nodes with distinct
 * hashes are distinct. Scores compare as unsigned 64-bit integers, high half first; equal scores
 * (only from equal node hashes) go to the node id that sorts first.
 */
export function score(origin: Hash64, node: Hash64): Hash64 {
  // Through select, so that its fmix64 is the only one.
  const top = new Int32Array(3);
  select(Int32Array.of(node[0], node[1]), origin[0] | 0, origin[1] | 0, 1, top);
  return [(top[1]! ^ FLIP) >>> 0, (top[2]! ^ FLIP) >>> 0];
}

/** All distinct node ids, best first, for one origin. */
export function rank(originId: string, nodeIds: Iterable<string>): string[] {
  return new OwnershipTable(nodeIds).rank(originId);
}

/** The first k of rank(originId, nodeIds). */
export function owners(originId: string, nodeIds: Iterable<string>, k: number): string[] {
  return new OwnershipTable(nodeIds).owners(originId, k);
}

/** An origin whose first owner differs between two node sets; null where a set is empty. */
export interface OwnerChange {
  origin: string;
  from: string | null;
  to: string | null;
}

/** One node set with its hashes worked out once, for ranking many origins. */
export class OwnershipTable {
  /** Distinct ids in sorted order (UTF-16 code units, as `<`), so a lower index wins a tie. */
  readonly nodes: readonly string[];
  /** hash64 of nodes[i] at 2i (high half) and 2i + 1 (low half). */
  private readonly hashes: Int32Array;
  private readonly index = new Map<string, number>();
  /** select's output, reused across origins. */
  private readonly top: Int32Array;

  constructor(nodeIds: Iterable<string>) {
    this.nodes = [...new Set(nodeIds)].sort();
    this.hashes = new Int32Array(this.nodes.length * 2);
    this.top = new Int32Array(this.nodes.length * 3);
    this.nodes.forEach((id, i) => {
      this.hashes.set(hash64(id), 2 * i);
      this.index.set(id, i);
    });
  }

  /** The origin's first owner; null with no nodes. */
  owner(originId: string): string | null {
    return this.best(hash64(originId));
  }

  /** The origin's first k owners, best first (all nodes when there are no more than k). */
  owners(originId: string, k: number): string[] {
    const count = this.pick(originId, k);
    const out = new Array<string>(count);
    for (let j = 0; j < count; j++) out[j] = this.nodes[this.top[3 * j]!]!;
    return out;
  }

  /** Every node, best first. */
  rank(originId: string): string[] {
    return this.owners(originId, this.nodes.length);
  }

  /** The first k owners of each origin. */
  ownersOf(originIds: Iterable<string>, k: number): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const origin of originIds) out.set(origin, this.owners(origin, k));
    return out;
  }

  /** The origins among originIds that have nodeId among their first k owners. */
  ownedBy(nodeId: string, originIds: Iterable<string>, k = 1): string[] {
    const out: string[] = [];
    const node = this.index.get(nodeId);
    if (node === undefined) return out;
    for (const origin of originIds) {
      const count = this.pick(origin, k);
      for (let j = 0; j < count; j++) {
        if (this.top[3 * j] === node) {
          out.push(origin);
          break;
        }
      }
    }
    return out;
  }

  /**
   * The origins whose first owner differs between two node sets. An origin whose owner survives
   * can only move to an added node (that owner already beats every other survivor), so only the
   * added nodes are scored again; the other origins rank the new set in full.
   */
  static diff(previousNodes: Iterable<string>, nextNodes: Iterable<string>, originIds: Iterable<string>): OwnerChange[] {
    const prev = new OwnershipTable(previousNodes);
    const next = new OwnershipTable(nextNodes);
    const added = new OwnershipTable(next.nodes.filter((id) => !prev.index.has(id)));
    const changes: OwnerChange[] = [];
    for (const origin of originIds) {
      const h = hash64(origin);
      const from = prev.best(h);
      let to: string | null;
      if (from !== null && next.index.has(from)) {
        const rival = added.best(h);
        to = rival !== null && firstBeats(added.top, rival, prev.top, from) ? rival : from;
      } else {
        to = next.best(h);
      }
      if (to !== from) changes.push({ origin, from, to });
    }
    return changes;
  }

  /** Runs select for one origin into this.top; returns how many owners it holds. */
  private pick(originId: string, k: number): number {
    const n = Math.min(Math.trunc(k), this.nodes.length);
    if (!(n > 0)) return 0;
    const [hi, lo] = hash64(originId);
    return select(this.hashes, hi | 0, lo | 0, n, this.top);
  }

  /** The first owner for an origin hash, its score left in this.top; null with no nodes. */
  private best([hi, lo]: Hash64): string | null {
    return select(this.hashes, hi | 0, lo | 0, 1, this.top) === 0 ? null : this.nodes[this.top[0]!]!;
  }
}

/** Whether node a, first in select output aTop, outranks node b, first in bTop. */
function firstBeats(aTop: Int32Array, a: string, bTop: Int32Array, b: string): boolean {
  if (aTop[1] !== bTop[1]) return aTop[1]! > bTop[1]!;
  if (aTop[2] !== bTop[2]) return aTop[2]! > bTop[2]!;
  return a < b;
}

/**
 * Scores are kept with their sign bits flipped, so comparing the signed 32-bit halves compares
 * the scores as unsigned.
 */
const FLIP = 0x80000000 | 0;

const C1H = 0xff51afd7 | 0, C1L = 0xed558ccd | 0;
const C2H = 0xc4ceb9fe | 0, C2L = 0x1a85ec53 | 0;

/**
 * The k (at least 1) best nodes of `hashes` for the origin hash (oh, ol), best first, written to
 * top as (node index, flipped score high, flipped score low) triples; returns how many (k at
 * most). A later node must score strictly higher to pass an earlier one, so ties go to the lower
 * index. The one hot loop: fmix64 is written out here rather than called, as returning its two
 * halves from a helper costs about 15% of a ranking.
 */
function select(hashes: Int32Array, oh: number, ol: number, k: number, top: Int32Array): number {
  let count = 0;
  let lastHi = 0;
  let lastLo = 0;
  for (let i = 0; i < hashes.length; i += 2) {
    // fmix64: x ^= x >>> 33; x *= C1; x ^= x >>> 33; x *= C2; x ^= x >>> 33.
    const h0 = oh ^ hashes[i]!;
    const l0 = ol ^ hashes[i + 1]! ^ (h0 >>> 1);
    const h1 = mulHi(h0, l0, C1H, C1L);
    const l1 = Math.imul(l0, C1L) ^ (h1 >>> 1);
    const h2 = mulHi(h1, l1, C2H, C2L);
    const hi = h2 ^ FLIP;
    const lo = Math.imul(l1, C2L) ^ (h2 >>> 1) ^ FLIP;
    if (count === k && (hi < lastHi || (hi === lastHi && lo <= lastLo))) continue;
    // Insertion into the sorted top k; the last one falls off when it is full.
    let j = count < k ? count++ : k - 1;
    for (; j > 0; j--) {
      const p = 3 * (j - 1);
      if (hi < top[p + 1]! || (hi === top[p + 1]! && lo <= top[p + 2]!)) break;
      top[p + 3] = top[p]!;
      top[p + 4] = top[p + 1]!;
      top[p + 5] = top[p + 2]!;
    }
    top[3 * j] = i >> 1;
    top[3 * j + 1] = hi;
    top[3 * j + 2] = lo;
    if (count === k) {
      lastHi = top[3 * k - 2]!;
      lastLo = top[3 * k - 1]!;
    }
  }
  return count;
}
