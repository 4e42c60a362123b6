import type { Clock, TimerHandle } from '../runtime/clock.js';
import { suspicionTimeoutMs } from './math.js';

export interface SuspicionOptions {
  /** The node whose suspect message started this; it cannot also confirm it. */
  accuser: string;
  /** Independent confirmations that drive the timeout down to minMs (see confirmationsWanted). */
  k: number;
  minMs: number;
  maxMs: number;
  clock: Clock;
  /** Called once when the timeout expires, with the confirmations counted by then. */
  onTimeout: (confirmations: number) => void;
}

/**
 * The Lifeguard suspicion timer for one suspected node (memberlist suspicion.go). It starts at
 * maxMs and shrinks towards minMs as distinct peers independently confirm the suspicion, so a
 * node suspected by many dies quickly while a lone (possibly overloaded) accuser has to wait.
 */
export class Suspicion {
  private readonly accuser: string;
  private readonly k: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly clock: Clock;
  private readonly onTimeout: (confirmations: number) => void;
  private readonly start: number;
  private readonly confirmedBy = new Set<string>();
  private timer: TimerHandle;
  private done = false;

  constructor(opts: SuspicionOptions) {
    if (!Number.isInteger(opts.k)) throw new RangeError(`k must be an integer, got ${opts.k}`);
    if (!(opts.minMs >= 0 && opts.minMs <= opts.maxMs && Number.isFinite(opts.maxMs))) {
      throw new RangeError(`need 0 <= minMs <= maxMs, got ${opts.minMs} and ${opts.maxMs}`);
    }
    this.accuser = opts.accuser;
    this.k = opts.k;
    this.minMs = opts.minMs;
    this.maxMs = opts.maxMs;
    this.clock = opts.clock;
    this.onTimeout = opts.onTimeout;
    this.start = this.clock.now();
    // With no confirmations to wait for, the timeout is fixed at the minimum.
    this.timer = this.clock.setTimeout(() => this.fire(), this.k < 1 ? this.minMs : this.maxMs);
  }

  /** Distinct confirmations counted so far (the accuser's own message not included). */
  get confirmations(): number {
    return this.confirmedBy.size;
  }

  /**
   * Records that `from` independently suspects the node too. Returns true only when this was
   * new information (the caller then re-gossips the suspect message); false for the accuser, a
   * repeat sender, once k confirmations are in, or after the timer fired or was cancelled.
   */
  confirm(from: string): boolean {
    if (this.done || this.confirmedBy.size >= this.k) return false;
    if (from === this.accuser || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);

    // The timeout is measured from the start, so only the part not yet elapsed is rescheduled.
    const timeout = suspicionTimeoutMs(this.confirmedBy.size, this.k, this.minMs, this.maxMs);
    const remaining = this.start + timeout - this.clock.now();
    this.timer.cancel();
    // Already past: fire on the next tick rather than re-entering the caller's stack.
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, remaining));
    return true;
  }

  /** Stops the timer for good (the node refuted or was declared otherwise); idempotent. */
  cancel(): void {
    this.done = true;
    this.timer.cancel();
  }

  private fire(): void {
    if (this.done) return;
    this.done = true;
    this.onTimeout(this.confirmedBy.size);
  }
}
