import { compareStamps, Hlc, type Stamp } from '../crdt/hlc.js';
import { LwwSet, type Entry, type MergeResult } from '../crdt/lww-set.js';
import { addEntry, entryBytes, jsonCodec, readEntry, removeEntry, validId, writeEntry, type ValueCodec } from '../crdt/records.js';
import { healthFromJson, type HealthRecord } from '../probe/health.js';
import { specFromJson, type OriginSpec } from '../probe/spec.js';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';
import { afterExchange, inherited, isCurrent, NEVER_SYNCED, staleNextTo, type Currency } from './currency.js';

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
const SYNCED_AT_PERSIST_MS = 60_000;

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

  /** A local add (or replace) of an element. The value must not be changed afterwards. */
  add(id: string, value: V): Entry<V> {
    return this.writeLocal(id, value);
  }

  /** A local remove: a tombstone, if the element is present; false if it was not. */
  remove(id: string): boolean {
    if (this.set.value(id) === undefined) return false;
    this.writeLocal(id, null);
    return true;
  }

  /** A record from a peer, or from disk at startup (`persist` false). */
  merge(entry: Entry<V>, persist = true): MergeResult {
    this.replica.hlc.observe(entry.stamp);
    const before = this.set.get(entry.id);
    const result = this.set.merge(entry);
    if (result !== 'applied') return result;
    if (persist) this.replica.persistEntry(this.tag, entry);
    for (const l of this.listeners) l(entry, before, 'remote');
    return result;
  }

  /**
   * Forgets an element this stale node held but the cluster removed while it was away (see
   * docs/replication.md), durably: replaying the log must not bring it back. Listeners see it as
   * a removal.
   */
  drop(id: string): void {
    const before = this.set.get(id);
    if (!before) return;
    this.set.drop(id);
    this.replica.persistDrop(this.tag, id);
    const gone = removeEntry<V>(id, before.stamp);
    for (const l of this.listeners) l(gone, before, 'remote');
  }

  /** A local write: an add of `value`, or a remove when it is null. */
  private writeLocal(id: string, value: V | null): Entry<V> {
    const before = this.set.get(id);
    let stamp = this.replica.hlc.now();
    // A local write follows the record it replaces, even one stamped by a peer whose clock ran
    // more than maxClockAheadMs ahead (merged, but not adopted by our clock): otherwise the write
    // would be persisted, announced and spread, yet lose to it everywhere.
    if (before && compareStamps(stamp, before.stamp) <= 0) stamp = stampAfter(before.stamp, stamp.node);
    const entry = value === null ? removeEntry<V>(id, stamp) : addEntry(id, stamp, value, this.codec);
    this.set.merge(entry);
    this.replica.persistEntry(this.tag, entry);
    for (const l of this.listeners) l(entry, before, 'local');
    return entry;
  }
}

/**
 * The node's replicated state: the origin list and the verdicts, their clock, and `syncedAt`: the
 * wall time up to which this replica is known to hold what the cluster holds (0 = never synced).
 * A node whose syncedAt is older than the tombstone grace period has been away long enough for the
 * cluster to have forgotten removals it missed; see docs/replication.md.
 */
export class Replica {
  readonly hlc: Hlc;
  readonly origins: ReplicatedSet<OriginSpec>;
  readonly health: ReplicatedSet<HealthRecord>;
  private currencyNow: Currency = NEVER_SYNCED;
  private persistedSyncedAt = 0;

  constructor(private readonly options: ReplicaOptions) {
    this.hlc = new Hlc(options.wallNow, options.nodeId, options.maxClockAheadMs);
    this.origins = new ReplicatedSet('origins', jsonCodec(specFromJson), this);
    this.health = new ReplicatedSet('health', jsonCodec(healthFromJson), this);
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get syncedAt(): number {
    return this.currencyNow.syncedAt;
  }

  get currency(): Currency {
    return this.currencyNow;
  }

  sets(): ReplicatedSet<unknown>[] {
    return [this.origins, this.health] as ReplicatedSet<unknown>[];
  }

  byTag(tag: number): ReplicatedSet<unknown> | undefined {
    return this.sets().find((s) => s.tag === tag);
  }

  /** Whether this replica must reconcile against the peer (drop what the cluster removed meanwhile). */
  staleNextTo(peer: Currency): boolean {
    return staleNextTo(this.currencyNow, peer, this.options.wallNow(), this.options.tombstoneGraceMs);
  }

  /** A completed exchange with a peer; `reconciled` when this replica was stale next to it. */
  synced(peer: Currency, reconciled: boolean): void {
    this.setCurrency(afterExchange(this.currencyNow, peer, reconciled, this.options.wallNow(), this.options.tombstoneGraceMs));
  }

  /**
   * About to take a stale peer's records: a replica without history becomes as stale as the peer
   * from the first record on, not only once the exchange completes (meanwhile a current node
   * exchanging with us would take those records from a replica that looks current).
   */
  taking(peer: Currency): void {
    const now = this.options.wallNow();
    if (this.currencyNow.since === 0 && !isCurrent(peer, now, this.options.tombstoneGraceMs)) this.setCurrency(inherited(peer));
  }

  private setCurrency(next: Currency): void {
    const changedSince = next.since !== this.currencyNow.since;
    this.currencyNow = next;
    // syncedAt is persisted at most once a minute (a tenth of the grace period if shorter): an
    // older value only makes a stale node drop less, but one lagging by most of a short grace
    // period would make every node of a cluster restarted at once stale.
    const every = Math.min(SYNCED_AT_PERSIST_MS, this.options.tombstoneGraceMs / 10);
    if (changedSince || next.syncedAt - this.persistedSyncedAt >= every || this.persistedSyncedAt === 0) {
      this.persistedSyncedAt = next.syncedAt;
      this.options.persist(encodeMeta(next));
    }
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
          this.currencyNow = { syncedAt: r.u48(), since: r.u48() };
          this.persistedSyncedAt = this.currencyNow.syncedAt;
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

  /**
   * Everything needed to rebuild this state, as payloads for a compacted snapshot, in chunks a
   * consumer can take one per turn of the event loop (records changed meanwhile come out as they
   * are then, which the log written since holds too).
   */
  *snapshotChunks(chunkSize = 2000): Generator<Buffer[]> {
    let chunk: Buffer[] = [encodeMeta(this.currencyNow)];
    for (const s of this.sets()) {
      for (const e of s.set.entries()) {
        chunk.push(encodeRecord(s.tag, e));
        if (chunk.length < chunkSize) continue;
        yield chunk;
        chunk = [];
      }
    }
    yield chunk;
  }

  /** The same payloads in one array. */
  snapshot(): Buffer[] {
    return [...this.snapshotChunks()].flat();
  }
}

function encodeRecord(tag: SetTag, entry: Entry<unknown>): Buffer {
  const w = new ByteWriter(2 + entryBytes(entry));
  w.u8(RECORD);
  w.u8(tag);
  writeEntry(w, entry);
  return w.done();
}

/** The smallest stamp of this node after `s`. */
function stampAfter(s: Stamp, node: string): Stamp {
  return s.counter < 2 ** 32 - 1 ? { wall: s.wall, counter: s.counter + 1, node } : { wall: s.wall + 1, counter: 0, node };
}

function encodeMeta(c: Currency): Buffer {
  const w = new ByteWriter();
  w.u8(META);
  w.u48(c.syncedAt);
  w.u48(c.since);
  return w.done();
}
