import type { Clock, TimerHandle } from './clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  periodMs: number;
  cancelled: boolean;
  /** Whether the timer sits in the heap (set, or re-queued after firing, and not popped since). */
  queued: boolean;
}

/** Heap order: earlier due time first, then the order the timer was (re-)queued in. */
function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A clock that only moves when told to. Timers due at the same instant fire in the order they
 * were set, so a run is a pure function of its inputs (and its seed).
 *
 * Pending timers live in a binary min-heap ordered by (due time, sequence number): setting a timer
 * and firing the next one are O(log n). A cancelled timer stays in the heap, marked, and is
 * discarded when it reaches the top (lazy deletion); a live count keeps pending() O(1). When
 * cancelled timers outnumber live ones the heap is rebuilt without them, so memory stays
 * proportional to the live timers even when most timers are cancelled long before they are due.
 */
export class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private heap: Timer[] = [];
  /** Timers in the heap that are not cancelled. */
  private live = 0;

  constructor(private readonly wallOrigin = 1_700_000_000_000) {}

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wallOrigin + Math.floor(this.time);
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.add(fn, delayMs, 0);
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    return this.add(fn, periodMs, Math.max(1, periodMs));
  }

  /** Number of timers still pending. */
  pending(): number {
    return this.live;
  }

  /** Advances time by `ms`, firing every timer that falls due on the way, in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.popDue(end);
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      if (next.periodMs > 0) {
        // Re-queued before it runs (so it can cancel itself), behind everything set so far.
        next.at += next.periodMs;
        next.seq = this.seq++;
        this.push(next);
      }
      next.fn();
    }
    this.time = end;
  }

  private add(fn: () => void, delayMs: number, periodMs: number): TimerHandle {
    const timer: Timer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, periodMs, cancelled: false, queued: false };
    this.push(timer);
    return {
      cancel: () => {
        if (timer.cancelled) return;
        timer.cancelled = true;
        if (timer.queued) {
          this.live--;
          if (this.heap.length > 64 && this.heap.length > 2 * this.live) this.compact();
        }
      },
    };
  }

  private push(t: Timer): void {
    t.queued = true;
    this.live++;
    const heap = this.heap;
    heap.push(t);
    this.siftUp(heap.length - 1);
  }

  /** Removes and returns the first live timer due at or before `end`, dropping cancelled ones on the way. */
  private popDue(end: number): Timer | undefined {
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0]!;
      if (top.cancelled) {
        this.removeTop();
        top.queued = false;
        continue;
      }
      if (top.at > end) return undefined;
      this.removeTop();
      top.queued = false;
      this.live--;
      return top;
    }
    return undefined;
  }

  private removeTop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const t = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!before(t, parent)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = t;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const t = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(heap[r]!, heap[l]!)) c = r;
      if (!before(heap[c]!, t)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = t;
  }

  /** Drops every cancelled timer and restores the heap property bottom-up, in O(n). */
  private compact(): void {
    const kept: Timer[] = [];
    for (const t of this.heap) {
      if (t.cancelled) t.queued = false;
      else kept.push(t);
    }
    this.heap = kept;
    for (let i = (kept.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
}
