/**
 * Lifeguard local health (memberlist awareness.go). A node that misses acks and nacks or has to
 * refute suspicions is probably the slow one itself, so it raises its score and stretches its
 * own probe interval instead of accusing healthy peers.
 */
export class Awareness {
  private readonly max: number;
  private current = 0;

  /** `maxMultiplier` is the most a timeout is ever scaled by (memberlist AwarenessMaxMultiplier). */
  constructor(maxMultiplier: number) {
    if (!Number.isInteger(maxMultiplier) || maxMultiplier < 1) {
      throw new RangeError(`maxMultiplier must be a positive integer, got ${maxMultiplier}`);
    }
    this.max = maxMultiplier;
  }

  /** Health score in [0, maxMultiplier − 1]; 0 is healthy. */
  get score(): number {
    return this.current;
  }

  /** Adds `delta` (negative for good news) and clamps; returns the new score. */
  apply(delta: number): number {
    if (!Number.isInteger(delta)) throw new RangeError(`delta must be an integer, got ${delta}`);
    this.current = Math.min(this.max - 1, Math.max(0, this.current + delta));
    return this.current;
  }

  /** Scales a timeout or interval by the local health: `timeoutMs × (score + 1)`. */
  scale(timeoutMs: number): number {
    return timeoutMs * (this.current + 1);
  }
}
