import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Random } from '../runtime/random.js';

/**
 * Consecutive probes of an origin are interval ± JITTER·interval apart. Each probe sits at its own
 * point of a fixed grid (first probe + k·interval), moved by a fresh uniform offset in
 * ±JITTER/2·interval. Offsets do not add up, so origins never march in lockstep yet never drift
 * either: after n intervals an origin has had n probes, ±1.
 */
export const JITTER = 0.1;

interface Entry {
  readonly id: string;
  intervalMs: number;
  /** Grid point of the pending probe; `due` is it plus the jitter offset. */
  base: number;
  due: number;
  /** Tie-break: entries due at the same time fire in the order they were (re)scheduled. */
  seq: number;
  /** Index of the entry in the heap. */
  pos: number;
}

const before = (a: Entry, b: Entry) => a.due < b.due || (a.due === b.due && a.seq < b.seq);

/**
 * When each owned origin is probed next. One binary min-heap of the origins by due time, each
 * entry knowing its own place in it, and a single clock timer armed for the earliest: 100,000
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
 * The handler runs inside the clock's timer and must not throw.
 */
export class ProbeScheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly heap: Entry[] = [];
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
    return this.entries.size;
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
    const entry: Entry = { id, intervalMs, base: 0, due: 0, seq: 0, pos: this.heap.length };
    this.entries.set(id, entry);
    this.heap.push(entry);
    this.spread(entry, Math.min(spreadMs, intervalMs));
  }

  /** False if the id was not scheduled. Its pending probe will not fire. */
  remove(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    const last = this.heap.pop()!;
    if (last !== entry) {
      this.heap[entry.pos] = last;
      last.pos = entry.pos;
      this.reposition(last);
    }
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
    const entry = this.entries.get(id);
    if (!entry) return false;
    // Same interval: nothing to do (a reschedule would add a probe to this interval).
    if (entry.intervalMs === intervalMs) return true;
    entry.intervalMs = intervalMs;
    // Pulled in only when the pending probe lies beyond the new interval and its jitter.
    if (entry.due - this.clock.now() > intervalMs * (1 + JITTER)) this.spread(entry);
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

  /** Schedules the entry's next probe uniformly in [now, now + spreadMs), off-grid. */
  private spread(entry: Entry, spreadMs = entry.intervalMs): void {
    entry.base = entry.due = this.clock.now() + this.random.next() * spreadMs;
    entry.seq = this.seq++;
    this.reposition(entry);
    this.arm();
  }

  private fire(): void {
    this.timer = null;
    const now = this.clock.now();
    for (;;) {
      const top = this.heap[0];
      if (!top || top.due > now) break;
      // Rescheduled before the handler runs, so the handler can remove or update the origin.
      this.advance(top, now);
      top.seq = this.seq++;
      this.siftDown(top);
      this.handler(top.id);
    }
    this.arm();
  }

  /** Moves the entry to its next grid point, skipping those less than half an interval ahead. */
  private advance(entry: Entry, now: number): void {
    const interval = entry.intervalMs;
    let base = entry.base + interval;
    const earliest = now + interval / 2;
    if (base < earliest) base += Math.ceil((earliest - base) / interval) * interval;
    entry.base = base;
    entry.due = base + (this.random.next() - 0.5) * JITTER * interval;
  }

  /** Keeps exactly one timer pending while running, for the earliest due time. */
  private arm(): void {
    const top = this.heap[0];
    if (this.running && top && this.timer && this.armedAt === top.due) return;
    this.timer?.cancel();
    this.timer = null;
    if (!this.running || !top) return;
    this.armedAt = top.due;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, top.due - this.clock.now()));
  }

  /** Restores the heap order around an entry whose due time changed (either way). */
  private reposition(entry: Entry): void {
    const pos = entry.pos;
    this.siftUp(entry);
    if (entry.pos === pos) this.siftDown(entry);
  }

  private siftUp(entry: Entry): void {
    const heap = this.heap;
    let i = entry.pos;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!before(entry, parent)) break;
      heap[i] = parent;
      parent.pos = i;
      i = p;
    }
    heap[i] = entry;
    entry.pos = i;
  }

  private siftDown(entry: Entry): void {
    const heap = this.heap;
    const n = heap.length;
    let i = entry.pos;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && before(heap[l + 1]!, heap[l]!) ? l + 1 : l;
      const child = heap[c]!;
      if (!before(child, entry)) break;
      heap[i] = child;
      child.pos = i;
      i = c;
    }
    heap[i] = entry;
    entry.pos = i;
  }
}

function checkInterval(intervalMs: number): void {
  if (!(intervalMs > 0 && Number.isFinite(intervalMs))) throw new RangeError(`interval must be positive: ${intervalMs}`);
}
