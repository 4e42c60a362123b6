import { Hlc } from '../crdt/hlc.js';
import { LwwSet, type Entry, type MergeResult } from '../crdt/lww-set.js';
import { jsonCodec, readEntry, writeEntry, type ValueCodec } from '../crdt/records.js';
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

  private writeLocal(entry: Entry<V>): Entry<V> {
    const before = this.set.get(entry.id);
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

function encodeMeta(seeded: boolean): Buffer {
  return Buffer.from([META, seeded ? 1 : 0]);
}
