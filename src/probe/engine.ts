import { OwnershipTable } from '../ownership/rendezvous.js';
import type { ReplicatedSet } from '../replication/replica.js';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Random } from '../runtime/random.js';
import { copyHealth, UNKNOWN_HEALTH, type HealthRecord } from './health.js';
import type { Prober } from './prober.js';
import { ProbeScheduler } from './scheduler.js';
import { SelfCheck, SELF_CHECK_DEFAULTS, type SelfCheckOptions } from './self-check.js';
import type { OriginSpec } from './spec.js';
import { applyProbe, applyProbeInPlace, type ProbeResult } from './verdict.js';

export interface ProbeEngineDeps {
  nodeId: string;
  origins: ReplicatedSet<OriginSpec>;
  health: ReplicatedSet<HealthRecord>;
  prober: Pick<Prober, 'probe'>;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Probes in flight at most; a probe due beyond it is skipped (counted), not queued. */
  maxInFlight: number;
  /**
   * How often the detail of probes that changed no status is written to the replicated record:
   * counters and reason at every flush, bare freshness (last check, latency) at every
   * FRESHNESS_FLUSHES-th. Bus traffic and log writes follow changes, not probes.
   */
  detailFlushMs: number;
  selfCheck?: SelfCheckOptions;
}

/** Asks another member to probe an origin once; null when it refused. */
export type AskPeer = (peerId: string, originId: string) => Promise<ProbeResult | null>;

export interface ProbeEngineStats {
  probes: number;
  failures: number;
  transitions: number;
  /** Due while maxInFlight probes were running. */
  skipped: number;
  /** Second opinions asked while suspecting itself, those that overruled this node, and verdicts held for want of one. */
  opinionsAsked: number;
  opinionsOverruled: number;
  verdictsHeld: number;
  /** Second opinions given to peers that suspect themselves. */
  opinionsGiven: number;
}

/**
 * Probes the origins this node owns: rendezvous ranking over the members believed alive picks
 * one owner per origin; the owner schedules it, probes it, and writes the verdict to the `health`
 * set. A status change is written (and so spread) at once; other detail every detailFlushMs. A
 * new owner continues from the replicated record, counters included.
 */
export class ProbeEngine {
  readonly stats: ProbeEngineStats = {
    probes: 0,
    failures: 0,
    transitions: 0,
    skipped: 0,
    opinionsAsked: 0,
    opinionsOverruled: 0,
    verdictsHeld: 0,
    opinionsGiven: 0,
  };
  /** How to reach a peer for a second opinion; unset on a node without a cluster bus. */
  askPeer: AskPeer | null = null;
  readonly selfCheck: SelfCheck;
  private opinionsInFlight = 0;
  private table: OwnershipTable;
  /** Members believed suspect (never this node): their origins get a stand-in prober. */
  private suspects = new Set<string>();
  private readonly scheduler: ProbeScheduler;
  /**
   * Records of probes that changed no status, not yet written. Each is this node's own until
   * written, so later probes update it in place. A record that differs from the written one in
   * freshness only (last check, latency), as most do on a steady node, is kept in `fresh` instead.
   */
  private readonly detail = new Map<string, HealthRecord>();
  private readonly fresh = new Map<string, Freshness>();
  /** Ids in `detail` whose record differs from the written one in more than freshness. */
  private readonly changed = new Set<string>();
  private flushes = 0;
  private inFlight = 0;
  private flushTimer: TimerHandle | null = null;
  private running = false;
  private readonly wallNow = () => this.deps.clock.wallNow();

  constructor(private readonly deps: ProbeEngineDeps) {
    this.table = new OwnershipTable([deps.nodeId]);
    this.scheduler = new ProbeScheduler(deps.clock, deps.random);
    this.scheduler.onDue((id) => void this.probe(id));
    this.selfCheck = new SelfCheck(deps.selfCheck ?? SELF_CHECK_DEFAULTS, (suspect, failing, watched) => {
      if (suspect) deps.logger.warn('prober_self_suspect', { failing, watched });
      else deps.logger.info('prober_self_trusted', { failing, watched });
    });
    // An origin this node only now learns of, added longer than an interval ago, was someone
    // else's until now (this node just joined): overdue, like one taken over.
    deps.origins.onChange((entry) => {
      const known = entry.value !== null && deps.clock.wallNow() - entry.stamp.wall > entry.value.intervalMs;
      this.reconsider(entry.id, known ? OVERDUE_SPREAD : 1);
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const e of this.deps.origins.set.entries()) if (!e.removed) this.reconsider(e.id);
    this.scheduler.start();
    const flush = () => {
      this.flushDetail();
      this.flushTimer = this.deps.clock.setTimeout(flush, this.deps.detailFlushMs);
    };
    this.flushTimer = this.deps.clock.setTimeout(flush, this.deps.detailFlushMs);
  }

  stop(): void {
    this.running = false;
    this.scheduler.stop();
    this.flushTimer?.cancel();
    this.flushes = FRESHNESS_FLUSHES - 1; // the last flush writes everything
    this.flushDetail();
  }

  /**
   * The members believed alive (this node included; suspects too, DESIGN.md 4): ownership
   * follows them. While an owner is suspect, the best-ranked member that is not suspect probes its
   * origins as well: a dead owner's origins are covered from the moment it is suspected rather
   * than from when it is declared dead, and a live suspect's are probed twice until it refutes.
   */
  setMembers(nodeIds: string[], suspects: string[] = []): void {
    const next = [...new Set([this.deps.nodeId, ...nodeIds])].sort();
    const suspected = suspects.filter((id) => id !== this.deps.nodeId).sort();
    if (next.join() === this.table.nodes.join() && suspected.join() === [...this.suspects].join()) return;
    if (next.join() !== this.table.nodes.join()) this.table = new OwnershipTable(next);
    this.suspects = new Set(suspected);
    // Every origin that becomes this node's here was probed by a member that is suspect, died or
    // left: unprobed since that member failed, overdue.
    for (const e of this.deps.origins.set.entries()) if (!e.removed) this.reconsider(e.id, OVERDUE_SPREAD);
  }

  /** Whether this node probes the origin: it owns it, or stands in for a suspect owner. */
  private probesHere(id: string): boolean {
    const owner = this.table.owner(id);
    if (owner === this.deps.nodeId) return true;
    if (owner === null || !this.suspects.has(owner)) return false;
    return this.table.owners(id, this.table.nodes.length).find((n) => !this.suspects.has(n)) === this.deps.nodeId;
  }

  /** Owner node ids of an origin, best first. */
  owners(id: string, k = 1): string[] {
    return this.table.owners(id, k);
  }

  /** Origins this node probes now. */
  get owned(): number {
    return this.scheduler.size;
  }

  /**
   * Schedules, reschedules or drops one origin after a change of it or of the members. A newly
   * scheduled origin's first probe is spread over `spread` of its interval: all of it for a new
   * origin, so a batch of them is no herd; OVERDUE_SPREAD for one someone else probed until now.
   */
  private reconsider(id: string, spread = 1): void {
    const spec = this.deps.origins.set.value(id);
    const mine = spec !== undefined && this.probesHere(id);
    if (!mine) {
      this.scheduler.remove(id);
      this.detail.delete(id);
      this.fresh.delete(id);
      this.changed.delete(id);
      this.selfCheck.forget(id);
    } else if (!this.scheduler.update(id, spec.intervalMs)) {
      this.scheduler.add(id, spec.intervalMs, spread * spec.intervalMs);
    }
  }

  private async probe(id: string): Promise<void> {
    const spec = this.deps.origins.set.value(id);
    if (!spec || !this.running) return;
    if (this.inFlight >= this.deps.maxInFlight) {
      this.stats.skipped++;
      return;
    }
    this.inFlight++;
    let result;
    try {
      result = await this.deps.prober.probe(spec, this.wallNow);
    } finally {
      this.inFlight--;
    }
    if (!this.stillMine(id, spec)) return;
    this.stats.probes++;
    if (!result.ok) this.stats.failures++;
    const before = this.current(id);
    this.selfCheck.observe(id, result.ok, before.status === 'down');
    let checkedBy = this.deps.nodeId;
    if (this.selfCheck.suspect && applyProbe(before, spec, result, checkedBy).transition?.to === 'down') {
      const opinion = await this.secondOpinion(id);
      if (opinion === 'held' || !this.stillMine(id, spec)) return;
      if (opinion !== 'alone') [result, checkedBy] = [opinion.result, opinion.by];
    }
    this.write(id, spec, result, checkedBy);
  }

  /** Removed, changed or handed over while a probe ran: its result is not ours to write. */
  private stillMine(id: string, spec: OriginSpec): boolean {
    return this.running && this.deps.origins.set.value(id) === spec && this.probesHere(id);
  }

  /**
   * The record this node continues from: its unwritten detail, else the replicated one. Freshness
   * aside (callers read its status and counters).
   */
  private current(id: string): HealthRecord {
    return this.detail.get(id) ?? this.fresh.get(id)?.base ?? this.deps.health.set.value(id) ?? UNKNOWN_HEALTH;
  }

  /**
   * While this node suspects itself, a result that would take an origin down is not written on its
   * word alone: the origin's next owner probes it once and its result counts instead (a real
   * outage is confirmed, a local one is not). With no peer to ask the node decides alone; when
   * the peer cannot answer, nothing is written and the next probe tries again.
   */
  private async secondOpinion(id: string): Promise<{ result: ProbeResult; by: string } | 'alone' | 'held'> {
    const peer = this.table.owners(id, 2)[1];
    if (peer === undefined || this.askPeer === null) return 'alone';
    if (this.opinionsInFlight >= MAX_OPINIONS_IN_FLIGHT) {
      this.stats.verdictsHeld++;
      return 'held';
    }
    this.opinionsInFlight++;
    this.stats.opinionsAsked++;
    try {
      const result = await this.askPeer(peer, id).catch(() => null);
      if (result === null) {
        this.stats.verdictsHeld++;
        return 'held';
      }
      if (result.ok) this.stats.opinionsOverruled++;
      return { result, by: peer };
    } finally {
      this.opinionsInFlight--;
    }
  }

  /** Applies one result: a status change is written at once, anything else waits for the flush. */
  private write(id: string, spec: OriginSpec, result: ProbeResult, checkedBy: string): void {
    const written = this.deps.health.set.value(id) ?? UNKNOWN_HEALTH;
    const fresh = this.fresh.get(id);
    const held = this.detail.get(id);
    const record = held ?? (fresh ? withFreshness(fresh) : copyHealth(written));
    const transition = applyProbeInPlace(record, spec, result, checkedBy);
    if (!transition) {
      if (!held) this.hold(id, record, written, fresh);
      if (!sameVerdict(record, written)) this.changed.add(id);
      return;
    }
    this.stats.transitions++;
    this.detail.delete(id);
    this.fresh.delete(id);
    this.changed.delete(id);
    this.deps.health.add(id, record);
    // An origin's first verdict is no news: a burst of new origins must not flood the log.
    const level = transition.from === 'unknown' ? 'debug' : 'info';
    this.deps.logger[level]('origin_status', { id, status: transition.to, previous: transition.from, reason: record.reason, checked_by: checkedBy });
  }

  /** Keeps a new unwritten record: as its freshness alone if that is all it changes of the written one. */
  private hold(id: string, record: HealthRecord, written: HealthRecord, fresh: Freshness | undefined): void {
    if ((fresh?.base ?? written) === written && sameButFreshness(record, written)) {
      if (fresh) {
        fresh.lastCheck = record.lastCheck;
        fresh.latencyMs = record.latencyMs;
      } else {
        this.fresh.set(id, { base: written, lastCheck: record.lastCheck, latencyMs: record.latencyMs });
      }
      return;
    }
    this.fresh.delete(id);
    this.detail.set(id, record);
  }

  /** The newest record of an origin this node probes, written or not (for its own readers). */
  latest(id: string): HealthRecord | undefined {
    const fresh = this.fresh.get(id);
    return this.detail.get(id) ?? (fresh && withFreshness(fresh));
  }

  private flushDetail(): void {
    const all = ++this.flushes % FRESHNESS_FLUSHES === 0;
    for (const id of all ? this.detail.keys() : this.changed) {
      const record = this.detail.get(id)!;
      this.detail.delete(id);
      if (this.deps.origins.set.value(id) !== undefined) this.deps.health.add(id, record);
    }
    this.changed.clear();
    if (!all) return;
    for (const [id, fresh] of this.fresh) {
      if (this.deps.origins.set.value(id) !== undefined) this.deps.health.add(id, withFreshness(fresh));
    }
    this.fresh.clear();
  }
}

/**
 * An unwritten record that is the written record `base` but for its freshness: 64 bytes of heap
 * against 120 for a whole record (100,000 steady origins hold one each).
 */
interface Freshness {
  readonly base: HealthRecord;
  lastCheck: number;
  latencyMs: number;
}

function withFreshness(f: Freshness): HealthRecord {
  const record = copyHealth(f.base);
  record.lastCheck = f.lastCheck;
  record.latencyMs = f.latencyMs;
  return record;
}

/** Second opinions one node waits for at once; beyond, verdicts are held until a later probe. */
const MAX_OPINIONS_IN_FLIGHT = 32;

/**
 * Share of an interval over which the first probes of origins someone else probed until now are
 * spread: they are overdue (their owner failed, or stopped when this node joined), and that
 * owner's schedule already spread them, so a quarter is no herd.
 */
const OVERDUE_SPREAD = 0.25;

/** Every this many detail flushes, records whose only news is freshness are written too. */
const FRESHNESS_FLUSHES = 6;

/** Same counters, reason and prober: what a new owner continues from has not changed. */
function sameVerdict(a: HealthRecord, b: HealthRecord): boolean {
  return a.successes === b.successes && a.failures === b.failures && a.reason === b.reason && a.checkedBy === b.checkedBy;
}

/** Equal but for the last check and latency. */
function sameButFreshness(a: HealthRecord, b: HealthRecord): boolean {
  return a.status === b.status && a.lastChange === b.lastChange && sameVerdict(a, b);
}
