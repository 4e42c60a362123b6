import { hash64 } from '../ownership/hash.js';
import { compareStamps, type Stamp } from './hlc.js';

/**
 * A last-writer-wins element set in the manner of Roshi: every element has an add stamp or a
 * remove stamp, and the element is present when its newest add is newer than its newest remove.
 * Only the newest record of each element matters, so one record per element is kept (an add or a
 * tombstone), and one comparator decides local writes, gossip, anti-entropy and replay alike.
 * Merging is commutative, associative and idempotent: replicas that saw the same records in any
 * order, any number of times, hold the same state.
 */
export interface Entry<V> {
  readonly id: string;
  readonly stamp: Stamp;
  readonly removed: boolean;
  /** The value of an add; null for a remove. */
  readonly value: V | null;
  /**
   * The value as replicated and stored (empty for a remove): the last tie-break. Records made by
   * records.ts encode it when asked for rather than hold it (see AddEntry there).
   */
  readonly bytes: Buffer;
}

/**
 * Whether record a supersedes record b of the same element. Newer stamp wins; on equal stamps a
 * remove beats an add (Roshi's rule, in any arrival order); equal stamps and kinds can only be
 * the same write, but the value bytes still decide so that the order stays total.
 */
export function beats<V>(a: Entry<V>, b: Entry<V>): boolean {
  const c = compareStamps(a.stamp, b.stamp);
  if (c !== 0) return c > 0;
  if (a.removed !== b.removed) return a.removed;
  return Buffer.compare(a.bytes, b.bytes) > 0;
}

/** Shape of the digest tree: 64 top buckets of 64 leaves; an element's leaf comes from its id. */
export const TOPS = 64;
export const LEAVES_PER_TOP = 64;
export const LEAVES = TOPS * LEAVES_PER_TOP;

/** A digest is 64 bits kept as two 32-bit halves, so XOR stays in plain numbers. */
export type Digest = [number, number];

export type MergeResult = 'applied' | 'stale';

export class LwwSet<V> {
  /** One record per element; its leaf and hash are computed again when needed, not held. */
  private readonly held = new Map<string, Entry<V>>();
  /** XOR of the record hashes in each leaf: [hi, lo] at 2i, 2i + 1. */
  private readonly leaves = new Uint32Array(LEAVES * 2);
  /** The ids of each leaf, in arrays: ~15 bytes an id, where a Set per leaf costs ~30. */
  private readonly leafIds: (string[] | undefined)[] = new Array(LEAVES);
  private present = 0;
  private liveHi = 0;
  private liveLo = 0;

  /** Elements present (added and not removed since). */
  get size(): number {
    return this.present;
  }

  /** Records held, tombstones included. */
  get records(): number {
    return this.held.size;
  }

  get(id: string): Entry<V> | undefined {
    return this.held.get(id);
  }

  /** The element's value if it is present. */
  value(id: string): V | undefined {
    const e = this.held.get(id);
    return e && !e.removed ? e.value! : undefined;
  }

  entries(): IterableIterator<Entry<V>> {
    return this.held.values();
  }

  /** Merges one record: applied if it supersedes what is held (or nothing is), else stale. */
  merge(entry: Entry<V>): MergeResult {
    const old = this.held.get(entry.id);
    const leaf = old ? leafOf(entry.id) : this.index(entry.id);
    if (old) {
      if (!beats(entry, old)) return 'stale';
      this.account(old, leaf, -1);
    }
    this.held.set(entry.id, entry);
    this.account(entry, leaf, 1);
    return 'applied';
  }

  /** Drops tombstones stamped before `beforeWall`; returns how many. */
  collect(beforeWall: number): number {
    let dropped = 0;
    for (const e of this.held.values()) {
      if (!e.removed || e.stamp.wall >= beforeWall) continue;
      this.forget(e);
      dropped++;
    }
    return dropped;
  }

  /** Forgets everything held about an element (a stale node's record the cluster removed). */
  drop(id: string): void {
    const e = this.held.get(id);
    if (e) this.forget(e);
  }

  /** Digest of every record, tombstones included. */
  root(): Digest {
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < LEAVES * 2; i += 2) {
      hi ^= this.leaves[i]!;
      lo ^= this.leaves[i + 1]!;
    }
    return [hi >>> 0, lo >>> 0];
  }

  /** Digests of the 64 top buckets, as 128 numbers (hi, lo pairs). */
  tops(): Uint32Array {
    const out = new Uint32Array(TOPS * 2);
    for (let leaf = 0; leaf < LEAVES; leaf++) {
      const t = Math.floor(leaf / LEAVES_PER_TOP) * 2;
      out[t] ^= this.leaves[leaf * 2]!;
      out[t + 1] ^= this.leaves[leaf * 2 + 1]!;
    }
    return out;
  }

  /** Digests of one top bucket's 64 leaves. */
  leavesOf(top: number): Uint32Array {
    const start = top * LEAVES_PER_TOP * 2;
    return this.leaves.slice(start, start + LEAVES_PER_TOP * 2);
  }

  entriesInLeaf(leaf: number): Entry<V>[] {
    const ids = this.leafIds[leaf];
    return ids ? ids.map((id) => this.held.get(id)!) : [];
  }

  /** Digest of the present elements only: what readers see, equal on replicas that agree. */
  liveDigest(): string {
    return hex32(this.liveHi) + hex32(this.liveLo);
  }

  /** Files a new element under its leaf; returns the leaf. */
  private index(id: string): number {
    const leaf = leafOf(id);
    (this.leafIds[leaf] ??= []).push(id);
    return leaf;
  }

  private forget(e: Entry<V>): void {
    const leaf = leafOf(e.id);
    this.account(e, leaf, -1);
    this.held.delete(e.id);
    const ids = this.leafIds[leaf]!;
    ids.splice(ids.indexOf(e.id), 1);
  }

  /** Adds a record to the digests and the count of present elements (+1), or takes it out (-1). */
  private account(e: Entry<V>, leaf: number, sign: 1 | -1): void {
    const [hi, lo] = recordHash(e);
    this.leaves[leaf * 2] ^= hi;
    this.leaves[leaf * 2 + 1] ^= lo;
    if (e.removed) return;
    this.present += sign;
    this.liveHi = (this.liveHi ^ hi) >>> 0;
    this.liveLo = (this.liveLo ^ lo) >>> 0;
  }
}

/** The leaf of an element: fixed forever by its id (the top 12 bits of its xxHash64), as peers must agree. */
export function leafOf(id: string): number {
  return hash64(id)[0] >>> (32 - 12);
}

/**
 * A record's hash covers its id, stamp and kind, not its value: a stamp names one write, and a
 * newer version that adds fields to values must not make replicas disagree about equal records.
 */
function recordHash(e: Entry<unknown>): Digest {
  const s = e.stamp; // made on each read for most records (records.ts): read once
  const [hi, lo] = hash64(`${e.id}\0${s.wall}\0${s.counter}\0${s.node}\0${e.removed ? 1 : 0}`);
  return [hi >>> 0, lo >>> 0];
}

const hex32 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
