import { retransmitLimit } from './math.js';

export interface Broadcast {
  /** Broadcasts with the same key are about the same thing; a newer one replaces the queued one. */
  key?: string;
  message: Buffer;
  /** Called once when the broadcast leaves the queue: sent often enough, replaced, or dropped. */
  onDone?: () => void;
}

export interface BroadcastQueueOptions {
  retransmitMult: number;
  /** Current estimate of the cluster size; read on every take() so the limit follows the cluster. */
  numNodes: () => number;
  /** Bound on queued broadcasts; beyond it the most-sent (then oldest) are dropped. */
  maxQueued?: number;
}

interface Entry {
  readonly id: number;
  readonly key: string | undefined;
  readonly message: Buffer;
  /** message.length, cached: take() reads it for every entry it scans. */
  readonly size: number;
  readonly onDone: (() => void) | undefined;
  transmits: number;
  live: boolean;
  /** Sequence number of the last take() that returned it. */
  takenIn: number;
}

/** Fewest transmits first; among equals the newest first, as fresh news matters most. */
function byPriority(a: Entry, b: Entry): number {
  return a.transmits - b.transmits || b.id - a.id;
}

/** Runs every callback even if one throws, then rethrows the first error. */
function runAll(fns: Array<() => void>): void {
  let failure: { error: unknown } | undefined;
  for (const fn of fns) {
    try {
      fn();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/**
 * Broadcasts waiting to be piggybacked on outgoing packets, each sent a bounded number of times
 * (memberlist TransmitLimitedQueue, queue.go). Every broadcast is sent at least once, even when
 * the retransmit limit is 0 (as in memberlist).
 *
 * Cost, with n queued: queue() is O(1) amortized, also when the queue is full; take() is O(n)
 * (one scan plus one in-place merge pass, no sort and no per-call copy of the queue), whatever
 * the history of calls.
 * Replaced, dropped and finished entries are only marked dead and swept out later, so nothing
 * is ever spliced out of the middle of an array.
 */
export class BroadcastQueue {
  private readonly retransmitMult: number;
  private readonly numNodes: () => number;
  private readonly maxQueued: number;
  /** Entries that have been through take(), in priority order; may hold dead ones. */
  private ordered: Entry[] = [];
  /**
   * Entries queued since the last take(), oldest first. All have 0 transmits and are newer
   * than anything in `ordered`, so in priority order they come first, newest first.
   */
  private fresh: Entry[] = [];
  /** fresh[0 .. freshStart) are known to be dead (dropped oldest-first on overflow). */
  private freshStart = 0;
  private readonly byKey = new Map<string, Entry>();
  private live = 0;
  private nextId = 0;
  private takes = 0;

  constructor(opts: BroadcastQueueOptions) {
    const maxQueued = opts.maxQueued ?? 4096;
    if (!Number.isInteger(opts.retransmitMult) || opts.retransmitMult < 0) {
      throw new RangeError(`retransmitMult must be a non-negative integer, got ${opts.retransmitMult}`);
    }
    if (!Number.isInteger(maxQueued) || maxQueued < 1) {
      throw new RangeError(`maxQueued must be a positive integer, got ${maxQueued}`);
    }
    this.retransmitMult = opts.retransmitMult;
    this.numNodes = opts.numNodes;
    this.maxQueued = maxQueued;
  }

  /** Number of broadcasts queued. */
  get length(): number {
    return this.live;
  }

  queue(b: Broadcast): void {
    const finished: Array<() => void> = [];
    if (b.key !== undefined) {
      const old = this.byKey.get(b.key);
      if (old) this.retire(old, finished);
    }
    const entry: Entry = { id: this.nextId++, key: b.key, message: b.message, size: b.message.length, onDone: b.onDone, transmits: 0, live: true, takenIn: 0 };
    this.fresh.push(entry);
    this.live++;
    if (b.key !== undefined) this.byKey.set(b.key, entry);

    while (this.live > this.maxQueued) this.retire(this.lowestPriority(), finished);
    // Many replacements without a take() leave dead entries behind; keep memory proportional.
    if (this.ordered.length + this.fresh.length - this.freshStart > 2 * this.live + 64) this.normalize();
    runAll(finished);
  }

  /**
   * Takes the highest-priority broadcasts whose total cost (message length + overheadPerMessage
   * each) fits in limitBytes, skipping any that do not fit. Each taken broadcast counts one
   * transmit; those that reach the retransmit limit leave the queue. A broadcast is returned at
   * most once per call.
   */
  take(overheadPerMessage: number, limitBytes: number): Buffer[] {
    if (!(overheadPerMessage >= 0) || !(limitBytes >= 0)) {
      throw new RangeError(`overhead and limit must be non-negative, got ${overheadPerMessage} and ${limitBytes}`);
    }
    if (this.live === 0) return [];
    const n = this.numNodes();
    // A nonsensical estimate must not let a broadcast live forever: treat it as an empty cluster.
    const limit = retransmitLimit(this.retransmitMult, Number.isFinite(n) && n > 0 ? n : 0);

    this.foldFresh();
    const all = this.ordered;
    const seq = ++this.takes;
    const out: Buffer[] = [];
    const finished: Array<() => void> = [];
    const bumped: Entry[] = [];
    let free = limitBytes;
    for (const e of all) {
      if (free < overheadPerMessage) break; // nothing else can fit
      if (!e.live) continue;
      const cost = e.size + overheadPerMessage;
      if (cost > free) continue;
      free -= cost;
      out.push(e.message);
      e.transmits++;
      e.takenIn = seq;
      if (e.transmits >= limit) this.retire(e, finished);
      else bumped.push(e);
    }
    if (out.length > 0) this.reorder(seq, bumped);
    runAll(finished);
    return out;
  }

  private retire(e: Entry, finished: Array<() => void>): void {
    e.live = false;
    this.live--;
    if (e.key !== undefined && this.byKey.get(e.key) === e) this.byKey.delete(e.key);
    // Deferred so a callback that queues again sees a consistent queue.
    if (e.onDone) finished.push(e.onDone);
  }

  /** The entry to drop on overflow: most transmits, then oldest. Only called with live > 0. */
  private lowestPriority(): Entry {
    // Dead entries at the tail of `ordered` can simply be popped: nothing reads them.
    while (this.ordered.length > 0 && !this.ordered[this.ordered.length - 1]!.live) this.ordered.pop();
    const last = this.ordered[this.ordered.length - 1];
    if (last) return last;
    while (!this.fresh[this.freshStart]!.live) this.freshStart++;
    return this.fresh[this.freshStart]!;
  }

  /**
   * Restores priority order after a take, in place and in one pass: the untouched entries keep
   * their relative order and the `bumped` ones (taken in call `seq`, now one transmit up, still
   * in order among themselves) are merged back in; dead entries are dropped on the way. Writes
   * never overtake reads, because a bumped entry only sorts after the slot it was taken from.
   */
  private reorder(seq: number, bumped: Entry[]): void {
    const all = this.ordered;
    let w = 0;
    let j = 0;
    for (let r = 0; r < all.length; r++) {
      const x = all[r]!;
      if (!x.live || x.takenIn === seq) continue;
      while (j < bumped.length && byPriority(bumped[j]!, x) < 0) all[w++] = bumped[j++]!;
      all[w++] = x;
    }
    while (j < bumped.length) all[w++] = bumped[j++]!;
    all.length = w;
  }

  /** Moves the entries queued since the last take to the front of `ordered`, newest first. */
  private foldFresh(): void {
    if (this.freshStart >= this.fresh.length) return;
    const front: Entry[] = [];
    for (let i = this.fresh.length - 1; i >= this.freshStart; i--) {
      const e = this.fresh[i]!;
      if (e.live) front.push(e);
    }
    this.ordered = front.concat(this.ordered);
    this.fresh = [];
    this.freshStart = 0;
  }

  /** Folds `fresh` into `ordered` and drops dead entries, leaving only live ones in priority order. */
  private normalize(): void {
    const next: Entry[] = [];
    for (let i = this.fresh.length - 1; i >= this.freshStart; i--) {
      const e = this.fresh[i]!;
      if (e.live) next.push(e);
    }
    for (const e of this.ordered) if (e.live) next.push(e);
    this.ordered = next;
    this.fresh = [];
    this.freshStart = 0;
  }
}
