/**
 * Time seam. Everything above the composition root reads time and sets timers through a Clock,
 * so protocol and timer logic can run on a virtual clock in tests, deterministically.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (fractional) since an arbitrary origin. */
  now(): number;
  /** Wall-clock unix milliseconds. */
  wallNow(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  setInterval(fn: () => void, periodMs: number): TimerHandle;
}

/** The real clock: performance.now() and Node's timers. Timers never keep the process alive. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    const t = setInterval(fn, periodMs);
    t.unref();
    return { cancel: () => clearInterval(t) };
  }
}
