import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Random } from '../runtime/random.js';

/**
 * Consecutive probes of an origin are interval ± JITTER·interval apart. Each probe sits at its own
 * point of a fixed grid (first probe + k·interval), moved by a fresh uniform offset in
 * ±JITTER/2·interval. Offsets do not add up, so origins never march in lockstep yet never drift
 * either: after n intervals an origin has had n probes, ±1.
 */
export const JITTER = 0.1;

/** Rows the columns start with; they double when full. */
const MIN_CAPACITY = 64;

/**
 * When each owned origin is probed next. One binary min-heap of the origins by due time, each
 * origin knowing its own place in it, and a single clock timer armed for the earliest: 100,000
 * origins cost one timer, not 100,000, and a removed or moved origin is taken out or moved within
 * the heap, leaving nothing behind (no stale copies to sift past, hold or collect).
 *
 * - The first probe is at a uniformly random offset in [0, interval) after `add`, spread over one
 *   interval so a batch of new origins is not probed all at once (a shorter spread on request).
 * - Later probes follow the origin's grid (see JITTER), measured from scheduled times, not from when
 *   the handler ran, so handler latency does not make the schedule drift.
 * - Never in the past: a probe that comes late (the loop stalled, or the scheduler was stopped)
 *   fires once, and the next one skips to the first grid point at least half an interval ahead.
 *   No burst of catch-up probes, and origins stalled together keep their phases rather than coming
 *   back in lockstep.
 *
 * Each origin is a row (its slot) of typed columns rather than an object: an object and its two
 * boxed times cost ~105 bytes of V8 heap an origin, a row 48 bytes, 40 of them outside the heap.
 * Rows are kept dense: removing one moves the last into its place.
 *
 * The handler runs inside the clock's timer and must not throw.
 */
export class ProbeScheduler {
  private readonly slots = new Map<string, number>();
  /** Origins scheduled: rows 0 .. count - 1, and heap places 0 .. count - 1. */
  private count = 0;
  private ids: string[] = [];
  private intervals = new Float64Array(MIN_CAPACITY);
  /** Grid point of the pending probe; `due` is it plus the jitter offset. */
  private base = new Float64Array(MIN_CAPACITY);
  private due = new Float64Array(MIN_CAPACITY);
  /** Tie-break: origins due at the same time fire in the order they were (re)scheduled. */
  private seqs = new Float64Array(MIN_CAPACITY);
  /** The heap, as slots; and each slot's place in it. */
  private heap = new Int32Array(MIN_CAPACITY);
  private pos = new Int32Array(MIN_CAPACITY);
  private seq = 0;
  private handler: (id: string) => void = () => {};
  private running = false;
  private timer: TimerHandle | null = null;
  private armedAt = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  get size(): number {
    return this.count;
  }

  onDue(fn: (id: string) => void): void {
    this.handler = fn;
  }

  /**
   * Adding an id already scheduled starts it over, as a new origin. Its first probe is spread over
   * `spreadMs` (default: one interval); an origin overdue elsewhere can ask for less.
   */
  add(id: string, intervalMs: number, spreadMs = intervalMs): void {
    checkInterval(intervalMs);
    this.remove(id);
    if (this.count === this.heap.length) this.grow();
    const slot = this.count++;
    this.slots.set(id, slot);
    this.ids[slot] = id;
    this.intervals[slot] = intervalMs;
    this.heap[slot] = slot;
    this.pos[slot] = slot;
    this.spread(slot, Math.min(spreadMs, intervalMs));
  }

  /** False if the id was not scheduled. Its pending probe will not fire. */
  remove(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    this.slots.delete(id);
    const last = --this.count;
    // Out of the heap: the heap's last slot takes its place.
    const moved = this.heap[last]!;
    if (moved !== slot) {
      this.heap[this.pos[slot]!] = moved;
      this.pos[moved] = this.pos[slot]!;
      this.reposition(moved);
    }
    // Out of the rows: the last row takes its slot.
    if (slot !== last) {
      const lastId = this.ids[last]!;
      this.ids[slot] = lastId;
      this.intervals[slot] = this.intervals[last]!;
      this.base[slot] = this.base[last]!;
      this.due[slot] = this.due[last]!;
      this.seqs[slot] = this.seqs[last]!;
      this.pos[slot] = this.pos[last]!;
      this.heap[this.pos[slot]!] = slot;
      this.slots.set(lastId, slot);
    }
    this.ids.pop();
    this.arm();
    return true;
  }

  /**
   * The new period applies from the pending probe on. That probe keeps its time unless it is more
   * than a new interval away; then it is pulled in and spread over one new interval, as for a new
   * origin, so shortening a long interval takes effect at once. False if the id was not scheduled.
   */
  update(id: string, intervalMs: number): boolean {
    checkInterval(intervalMs);
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    // Same interval: nothing to do (a reschedule would add a probe to this interval).
    if (this.intervals[slot] === intervalMs) return true;
    this.intervals[slot] = intervalMs;
    // Pulled in only when the pending probe lies beyond the new interval and its jitter.
    if (this.due[slot]! - this.clock.now() > intervalMs * (1 + JITTER)) this.spread(slot, intervalMs);
    return true;
  }

  start(): void {
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.arm();
  }

  /** Schedules the slot's next probe uniformly in [now, now + spreadMs), off-grid. */
  private spread(slot: number, spreadMs: number): void {
    this.base[slot] = this.due[slot] = this.clock.now() + this.random.next() * spreadMs;
    this.seqs[slot] = this.seq++;
    this.reposition(slot);
    this.arm();
  }

  private fire(): void {
    this.timer = null;
    const now = this.clock.now();
    while (this.count > 0) {
      const top = this.heap[0]!;
      if (this.due[top]! > now) break;
      // Rescheduled before the handler runs, so the handler can remove or update the origin.
      this.advance(top, now);
      this.seqs[top] = this.seq++;
      this.siftDown(top);
      this.handler(this.ids[top]!);
    }
    this.arm();
  }

  /** Moves the slot to its next grid point, skipping those less than half an interval ahead. */
  private advance(slot: number, now: number): void {
    const interval = this.intervals[slot]!;
    let base = this.base[slot]! + interval;
    const earliest = now + interval / 2;
    if (base < earliest) base += Math.ceil((earliest - base) / interval) * interval;
    this.base[slot] = base;
    this.due[slot] = base + (this.random.next() - 0.5) * JITTER * interval;
  }

  /** Keeps exactly one timer pending while running, for the earliest due time. */
  private arm(): void {
    const topDue = this.count > 0 ? this.due[this.heap[0]!]! : null;
    if (this.running && topDue !== null && this.timer && this.armedAt === topDue) return;
    this.timer?.cancel();
    this.timer = null;
    if (!this.running || topDue === null) return;
    this.armedAt = topDue;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, topDue - this.clock.now()));
  }

  private grow(): void {
    const capacity = this.heap.length * 2;
    const wider = <T extends Float64Array | Int32Array>(a: T, make: new (n: number) => T): T => {
      const b = new make(capacity);
      b.set(a);
      return b;
    };
    this.intervals = wider(this.intervals, Float64Array);
    this.base = wider(this.base, Float64Array);
    this.due = wider(this.due, Float64Array);
    this.seqs = wider(this.seqs, Float64Array);
    this.heap = wider(this.heap, Int32Array);
    this.pos = wider(this.pos, Int32Array);
  }

  /** Whether slot a's probe comes before slot b's. */
  private before(a: number, b: number): boolean {
    const da = this.due[a]!;
    const db = this.due[b]!;
    return da < db || (da === db && this.seqs[a]! < this.seqs[b]!);
  }

  /** Restores the heap order around a slot whose due time changed (either way). */
  private reposition(slot: number): void {
    const pos = this.pos[slot];
    this.siftUp(slot);
    if (this.pos[slot] === pos) this.siftDown(slot);
  }

  private siftUp(slot: number): void {
    const { heap, pos } = this;
    let i = pos[slot]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.before(slot, parent)) break;
      heap[i] = parent;
      pos[parent] = i;
      i = p;
    }
    heap[i] = slot;
    pos[slot] = i;
  }

  private siftDown(slot: number): void {
    const { heap, pos } = this;
    const n = this.count;
    let i = pos[slot]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && this.before(heap[l + 1]!, heap[l]!) ? l + 1 : l;
      const child = heap[c]!;
      if (!this.before(child, slot)) break;
      heap[i] = child;
      pos[child] = i;
      i = c;
    }
    heap[i] = slot;
    pos[slot] = i;
  }
}

function checkInterval(intervalMs: number): void {
  if (!(intervalMs > 0 && Number.isFinite(intervalMs))) throw new RangeError(`interval must be positive: ${intervalMs}`);
}
