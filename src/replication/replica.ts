import { Hlc, type Stamp } from '../crdt/hlc.js';
import { beats, LwwSet, type Entry, type MergeResult } from '../crdt/lww-set.js';
import { jsonCodec, readEntry, validId, writeEntry, type ValueCodec } from '../crdt/records.js';
import { healthFromJson, type HealthRecord } from '../probe/health.js';
import { specFromJson, type OriginSpec } from '../probe/spec.js';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';

/** Set numbers on the bus and on disk; append-only. */
export const SET_TAGS = { origins: 1, health: 2 } as const;
export type SetTag = (typeof SET_TAGS)[keyof typeof SET_TAGS];

export type ChangeSource = 'local' | 'remote';
export type ChangeListener<V> = (after: Entry<V>, before: Entry<V> | undefined, source: ChangeSource) => void;

export interface ReplicaOptions {
  nodeId: string;
  wallNow: () => number;
  /** Tombstones older than this are dropped (see docs/replication.md for what that implies). */
  tombstoneGraceMs: number;
  /** A peer's stamp this far ahead of our wall clock is merged but does not move our clock. */
  maxClockAheadMs: number;
  /** Where every applied change goes (the durable log); payloads are opaque to it. */
  persist(payload: Buffer): void;
}

/** Log payload kinds (format version 1). */
const RECORD = 1;
const META = 2;
/** `[3][u8 set tag][u16 id length][id]`: an element forgotten by the tombstone rule (drop()). */
const DROP = 3;

/**
 * One LWW set as the node uses it: local writes stamped by the node's clock, remote records merged,
 * every applied change persisted and announced to listeners (events, replication).
 */
export class ReplicatedSet<V> {
  readonly set = new LwwSet<V>();
  private readonly listeners: ChangeListener<V>[] = [];

  constructor(
    readonly name: keyof typeof SET_TAGS,
    readonly codec: ValueCodec<V>,
    private readonly replica: Replica,
  ) {}

  get tag(): SetTag {
    return SET_TAGS[this.name];
  }

  onChange(listener: ChangeListener<V>): void {
    this.listeners.push(listener);
  }

  /** A local add (or replace) of an element. */
  add(id: string, value: V): Entry<V> {
    return this.writeLocal({ id, stamp: this.replica.hlc.now(), removed: false, value, bytes: this.codec.encode(value) });
  }

  /** A local remove: a tombstone, if the element is present; false if it was not. */
  remove(id: string): boolean {
    if (this.set.value(id) === undefined) return false;
    this.writeLocal({ id, stamp: this.replica.hlc.now(), removed: true, value: null, bytes: Buffer.alloc(0) });
    return true;
  }

  /** A record from a peer, or from disk at startup (`persist` false). */
  merge(entry: Entry<V>, persist = true): MergeResult {
    this.replica.hlc.observe(entry.stamp);
    const before = this.set.get(entry.id);
    const result = this.set.merge(entry, persist ? this.replica.refuseUnknownBefore() : -Infinity);
    if (result !== 'applied') return result;
    if (persist) this.replica.persistEntry(this.tag, entry);
    for (const l of this.listeners) l(entry, before, 'remote');
    return result;
  }

  /**
   * Forgets everything held about an element because a peer refused its record (the tombstone
   * rule), durably: replaying the log must not bring it back.
   */
  drop(id: string): void {
    if (!this.set.get(id)) return;
    this.set.drop(id);
    this.replica.persistDrop(this.tag, id);
  }

  private writeLocal(entry: Entry<V>): Entry<V> {
    const before = this.set.get(entry.id);
    // A local write follows the record it replaces, even one stamped by a peer whose clock ran
    // more than maxClockAheadMs ahead (merged, but not adopted by our clock): otherwise the write
    // would be persisted, announced and spread, yet lose to it everywhere.
    if (before && !beats(entry, before)) entry = { ...entry, stamp: stampAfter(before.stamp, entry.stamp.node) };
    this.set.merge(entry);
    this.replica.persistEntry(this.tag, entry);
    for (const l of this.listeners) l(entry, before, 'local');
    return entry;
  }
}

/**
 * The node's replicated state: the origin list and the verdicts, their clock, and whether this
 * node has ever synchronised with a peer (a node that has not accepts old records it lacks; see
 * the tombstone rule in docs/replication.md).
 */
export class Replica {
  readonly hlc: Hlc;
  readonly origins: ReplicatedSet<OriginSpec>;
  readonly health: ReplicatedSet<HealthRecord>;
  private seededFlag = false;

  constructor(private readonly options: ReplicaOptions) {
    this.hlc = new Hlc(options.wallNow, options.nodeId, options.maxClockAheadMs);
    this.origins = new ReplicatedSet('origins', jsonCodec(specFromJson), this);
    this.health = new ReplicatedSet('health', jsonCodec(healthFromJson), this);
  }

  get seeded(): boolean {
    return this.seededFlag;
  }

  sets(): ReplicatedSet<unknown>[] {
    return [this.origins, this.health] as ReplicatedSet<unknown>[];
  }

  byTag(tag: number): ReplicatedSet<unknown> | undefined {
    return this.sets().find((s) => s.tag === tag);
  }

  /** After the first successful exchange with a peer, the tombstone rule applies to this node too. */
  markSeeded(): void {
    if (this.seededFlag) return;
    this.seededFlag = true;
    this.options.persist(encodeMeta(true));
  }

  /** Records older than this, of elements we hold nothing about, are refused (never resurrected). */
  refuseUnknownBefore(): number {
    return this.seededFlag ? this.options.wallNow() - this.options.tombstoneGraceMs : -Infinity;
  }

  /** Drops tombstones past the grace period; returns how many. */
  collectGarbage(): number {
    const before = this.options.wallNow() - this.options.tombstoneGraceMs;
    return this.sets().reduce((n, s) => n + s.set.collect(before), 0);
  }

  persistEntry(tag: SetTag, entry: Entry<unknown>): void {
    this.options.persist(encodeRecord(tag, entry));
  }

  persistDrop(tag: SetTag, id: string): void {
    const w = new ByteWriter();
    const b = Buffer.from(id, 'utf8');
    w.u8(DROP);
    w.u8(tag);
    w.u16(b.length);
    w.bytes(b);
    this.options.persist(w.done());
  }

  /** Replays persisted payloads (startup). Returns how many were unreadable and skipped. */
  load(payloads: Iterable<Buffer>): number {
    let skipped = 0;
    for (const p of payloads) {
      try {
        const r = new ByteReader(p);
        const kind = r.u8();
        if (kind === META) {
          if (r.u8() === 1) this.seededFlag = true;
          continue;
        }
        if (kind === DROP) {
          const set = this.byTag(r.u8());
          const id = validId(r.bytes(r.u16()));
          if (!set || id === null) skipped++;
          else set.set.drop(id);
          continue;
        }
        const set = kind === RECORD ? this.byTag(r.u8()) : undefined;
        const entry = set && readEntry(r, set.codec);
        if (!set || !entry) skipped++;
        else set.merge(entry, false);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        skipped++;
      }
    }
    return skipped;
  }

  /** Everything needed to rebuild this state: the payloads of a compacted snapshot. */
  snapshot(): Buffer[] {
    const out: Buffer[] = [encodeMeta(this.seededFlag)];
    for (const s of this.sets()) {
      for (const e of s.set.entries()) out.push(encodeRecord(s.tag, e));
    }
    return out;
  }
}

function encodeRecord(tag: SetTag, entry: Entry<unknown>): Buffer {
  const w = new ByteWriter();
  w.u8(RECORD);
  w.u8(tag);
  writeEntry(w, entry);
  return w.done();
}

/** The smallest stamp of this node after `s`. */
function stampAfter(s: Stamp, node: string): Stamp {
  return s.counter < 2 ** 32 - 1 ? { wall: s.wall, counter: s.counter + 1, node } : { wall: s.wall + 1, counter: 0, node };
}

function encodeMeta(seeded: boolean): Buffer {
  return Buffer.from([META, seeded ? 1 : 0]);
}
