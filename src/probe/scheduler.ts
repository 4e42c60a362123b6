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
  /** Bumped when the entry's heap node goes stale (removed, or moved to a new due time). */
  gen: number;
}

interface Node {
  at: number;
  /** Tie-break: nodes due at the same time fire in the order they were queued. */
  seq: number;
  entry: Entry;
  gen: number;
}

const before = (a: Node, b: Node) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/**
 * When each owned origin is probed next. One binary min-heap of due times and a single clock timer
 * armed for the earliest, so 100,000 origins cost one timer, not 100,000. Removing or moving an
 * origin leaves its old heap node behind, marked stale by a generation number, and dropped when it
 * reaches the top (or when stale nodes outnumber live ones, in one O(n) rebuild).
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
  private heap: Node[] = [];
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
    const entry: Entry = { id, intervalMs, base: 0, due: 0, gen: 0 };
    this.entries.set(id, entry);
    this.spread(entry, Math.min(spreadMs, intervalMs));
  }

  /** False if the id was not scheduled. Its pending probe will not fire. */
  remove(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    entry.gen++;
    this.compactIfSparse();
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
    if (entry.due - this.clock.now() > intervalMs * (1 + JITTER)) {
      entry.gen++;
      this.compactIfSparse();
      this.spread(entry);
    }
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
    this.push(entry);
    this.arm();
  }

  private fire(): void {
    this.timer = null;
    const now = this.clock.now();
    for (;;) {
      this.dropStaleTop();
      const top = this.heap[0];
      if (!top || top.at > now) break;
      this.removeTop();
      const entry = top.entry;
      // Queued before the handler runs, so the handler can remove or update the origin.
      this.advance(entry, now);
      this.push(entry);
      this.handler(entry.id);
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

  /** Keeps exactly one timer pending while running, for the earliest live due time. */
  private arm(): void {
    this.dropStaleTop();
    const top = this.heap[0];
    if (this.running && top && this.timer && this.armedAt === top.at) return;
    this.timer?.cancel();
    this.timer = null;
    if (!this.running || !top) return;
    this.armedAt = top.at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, top.at - this.clock.now()));
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push({ at: entry.due, seq: this.seq++, entry, gen: entry.gen });
    this.siftUp(heap.length - 1);
  }

  private dropStaleTop(): void {
    while (this.heap.length > 0 && this.heap[0]!.gen !== this.heap[0]!.entry.gen) this.removeTop();
  }

  private removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
  }

  /** Every entry has exactly one live node, so the rest of the heap is stale. */
  private compactIfSparse(): void {
    if (this.heap.length <= 64 || this.heap.length <= 2 * this.entries.size) return;
    this.heap = this.heap.filter((n) => n.gen === n.entry.gen);
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const node = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(node, heap[p]!)) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = node;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const node = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && before(heap[l + 1]!, heap[l]!) ? l + 1 : l;
      if (!before(heap[c]!, node)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = node;
  }
}

function checkInterval(intervalMs: number): void {
  if (!(intervalMs > 0 && Number.isFinite(intervalMs))) throw new RangeError(`interval must be positive: ${intervalMs}`);
}
