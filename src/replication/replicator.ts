import type { Profile } from '../config.js';
import type { Entry } from '../crdt/lww-set.js';
import { entryBytes, readEntry, writeEntry } from '../crdt/records.js';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Random } from '../runtime/random.js';
import type { Address } from '../transport/transport.js';
import { answer, exchange } from './anti-entropy.js';
import type { Replica, ReplicatedSet } from './replica.js';

/** The membership user channel replication speaks on (deltas as broadcasts, exchanges as requests). */
export const REPLICATION_CHANNEL = 1;
const DELTA_VERSION = 1;
/** Rounds one anti-entropy run may chain when a peer differs in more buckets than a round carries. */
const MAX_ROUNDS = 64;

/** What replication needs from membership: gossip, streams, and who is alive. */
export interface ReplicationBus {
  broadcastUser(channel: number, payload: Buffer, key?: string): boolean;
  onUser(channel: number, handler: (payload: Buffer, from: Address) => void): void;
  requestUser(memberId: string, channel: number, payload: Buffer): Promise<Buffer>;
  onUserRequest(channel: number, handler: (payload: Buffer, from: Address) => Promise<Buffer>): void;
  /** Ids of the other members believed alive. */
  alivePeers(): string[];
  /** Whether any other member is alive or suspect (cheap: asked on every change). */
  hasLivePeers(): boolean;
}

export interface ReplicationTimers {
  antiEntropyIntervalMs: number;
  /** How often tombstones past the grace period are collected. */
  gcIntervalMs: number;
}

export const REPLICATION_PROFILES: Record<Profile, ReplicationTimers> = {
  lan: { antiEntropyIntervalMs: 1_000, gcIntervalMs: 60_000 },
  local: { antiEntropyIntervalMs: 500, gcIntervalMs: 10_000 },
};

export interface ReplicatorDeps {
  replica: Replica;
  bus: ReplicationBus;
  clock: Clock;
  random: Random;
  logger: Logger;
  timers: ReplicationTimers;
}

export interface ReplicationStats {
  deltasSent: number;
  deltasReceived: number;
  deltasApplied: number;
  /** Changes too large for a packet, left to anti-entropy. */
  deltasTooLarge: number;
  exchanges: number;
  exchangesFailed: number;
  exchangesAnswered: number;
  exchangeBytesOut: number;
  exchangeBytesIn: number;
  recordsRepaired: number;
  /** Own records dropped because the cluster removed them while this node was away. */
  recordsDropped: number;
  tombstonesCollected: number;
}

/**
 * Spreads the replica: every change this node makes, or learns first by gossip, goes out at once
 * as a delta on the membership gossip; every antiEntropyIntervalMs a digest exchange with one
 * random live peer repairs whatever gossip missed (loss, partitions, restarts).
 */
export class Replicator {
  readonly stats: ReplicationStats = {
    deltasSent: 0, deltasReceived: 0, deltasApplied: 0, deltasTooLarge: 0, exchanges: 0, exchangesFailed: 0,
    exchangesAnswered: 0, exchangeBytesOut: 0, exchangeBytesIn: 0, recordsRepaired: 0, recordsDropped: 0, tombstonesCollected: 0,
  };
  private readonly loops = new Map<string, TimerHandle>();
  private exchanging = false;
  private running = false;

  constructor(private readonly deps: ReplicatorDeps) {
    const { replica, bus } = deps;
    for (const set of replica.sets()) {
      set.onChange((entry, _before, source) => {
        if (source === 'local') this.spread(set, entry);
      });
    }
    bus.onUser(REPLICATION_CHANNEL, (payload) => this.receiveDelta(payload));
    bus.onUserRequest(REPLICATION_CHANNEL, async (payload) => {
      const { reply, reconcileWith } = answer(replica, payload);
      this.stats.exchangesAnswered++;
      this.stats.exchangeBytesIn += payload.length;
      this.stats.exchangeBytesOut += reply.length;
      // We are stale next to that peer: reconcile with it ourselves, as the side that may drop.
      if (reconcileWith) deps.clock.setTimeout(() => void (this.running && this.antiEntropy(reconcileWith)), 0);
      return reply;
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const { random, timers } = this.deps;
    this.loop('anti-entropy', random.int(timers.antiEntropyIntervalMs) + 1, timers.antiEntropyIntervalMs, () => void this.antiEntropy());
    this.loop('gc', timers.gcIntervalMs, timers.gcIntervalMs, () => {
      this.stats.tombstonesCollected += this.deps.replica.collectGarbage();
    });
  }

  stop(): void {
    this.running = false;
    for (const t of this.loops.values()) t.cancel();
    this.loops.clear();
  }

  /**
   * One anti-entropy run with a random live peer (or the given one), chaining rounds while the
   * peer differs in more buckets than a round carries. Resolves false if it could not complete.
   */
  async antiEntropy(peer?: string): Promise<boolean> {
    if (this.exchanging) return false;
    const peers = this.deps.bus.alivePeers();
    const target = peer ?? peers[this.deps.random.int(peers.length)];
    if (target === undefined) return false;
    this.exchanging = true;
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        this.stats.exchanges++;
        const result = await exchange(this.deps.replica, (payload) => this.request(target, payload));
        this.stats.recordsRepaired += result.received;
        this.stats.recordsDropped += result.dropped;
        // Chain rounds only while they move something: buckets that cannot be repaired (records
        // one side cannot read, from a newer version) must not cost a burst every period.
        if (!result.more || result.received + result.sent + result.dropped === 0) break;
      }
      return true;
    } catch (e) {
      this.stats.exchangesFailed++;
      this.deps.logger.debug('anti_entropy_failed', { peer: target, error: String((e as Error).message ?? e) });
      return false;
    } finally {
      this.exchanging = false;
    }
  }

  private async request(peer: string, payload: Buffer): Promise<Buffer> {
    this.stats.exchangeBytesOut += payload.length;
    const reply = await this.deps.bus.requestUser(peer, REPLICATION_CHANNEL, payload);
    this.stats.exchangeBytesIn += reply.length;
    return reply;
  }

  private spread(set: ReplicatedSet<unknown>, entry: Entry<unknown>): void {
    // Nobody to tell: a peer that comes later gets it from anti-entropy.
    if (!this.deps.bus.hasLivePeers()) return;
    const w = new ByteWriter(2 + entryBytes(entry));
    w.u8(DELTA_VERSION);
    w.u8(set.tag);
    writeEntry(w, entry);
    // Keyed by element: a newer change to it replaces the queued one.
    if (this.deps.bus.broadcastUser(REPLICATION_CHANNEL, w.done(), `${set.tag}:${entry.id}`)) this.stats.deltasSent++;
    else this.stats.deltasTooLarge++;
  }

  /** A delta from gossip: merged, and passed on when it was news here (gossip's infection step). */
  private receiveDelta(payload: Buffer): void {
    this.stats.deltasReceived++;
    try {
      const r = new ByteReader(payload);
      if (r.u8() !== DELTA_VERSION) return;
      const set = this.deps.replica.byTag(r.u8());
      const entry = set && readEntry(r, set.codec);
      if (!set || !entry) return;
      if (set.merge(entry) !== 'applied') return;
      this.stats.deltasApplied++;
      this.spread(set, entry);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
  }

  private loop(name: string, firstMs: number, periodMs: number, fn: () => void): void {
    const run = () => {
      if (!this.running) return;
      fn();
      this.loops.set(name, this.deps.clock.setTimeout(run, periodMs));
    };
    this.loops.set(name, this.deps.clock.setTimeout(run, firstMs));
  }
}
