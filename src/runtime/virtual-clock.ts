import type { Clock, TimerHandle } from './clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  periodMs: number;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. Timers due at the same instant fire in the order they
 * were set, so a run is a pure function of its inputs (and its seed).
 */
export class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers: Timer[] = [];

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
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Advances time by `ms`, firing every timer that falls due on the way, in time order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.popDue(end);
      if (!next) break;
      this.time = Math.max(this.time, next.at);
      if (next.periodMs > 0) {
        next.at += next.periodMs;
        next.seq = this.seq++;
        this.timers.push(next);
      }
      next.fn();
    }
    this.time = end;
  }

  private add(fn: () => void, delayMs: number, periodMs: number): TimerHandle {
    const timer: Timer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, periodMs, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  private popDue(end: number): Timer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let best = -1;
    for (let i = 0; i < this.timers.length; i++) {
      const t = this.timers[i]!;
      if (t.at > end) continue;
      const b = best < 0 ? undefined : this.timers[best]!;
      if (!b || t.at < b.at || (t.at === b.at && t.seq < b.seq)) best = i;
    }
    if (best < 0) return undefined;
    return this.timers.splice(best, 1)[0];
  }
}
