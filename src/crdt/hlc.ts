/**
 * Hybrid logical clock (Kulkarni et al.): stamps follow wall time when clocks behave, never go
 * backwards when they do not, and order every event after everything its node had seen. A stamp
 * is (wall ms, counter, node id); the node id makes stamps from different nodes distinct, so
 * two writes never tie unless they are the same write.
 */
export interface Stamp {
  /** Unix milliseconds (at least the issuing node's wall clock at the time). */
  wall: number;
  /** Orders stamps within one millisecond, and after a clock that went backwards. */
  counter: number;
  /** 40 hex digits: the node that issued it. */
  node: string;
}

export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

/** Largest wall time a stamp may carry on disk and on the wire (48 bits: the year 10889). */
export const MAX_STAMP_WALL = 2 ** 48 - 1;
const MAX_COUNTER = 2 ** 32 - 1;

export class Hlc {
  private wall = 0;
  private counter = 0;

  /**
   * @param maxAheadMs a remote stamp further ahead of our wall clock than this is merged but not
   *   adopted: one node with a clock set to next year must not drag every node's stamps there.
   */
  constructor(
    private readonly wallNow: () => number,
    readonly node: string,
    private readonly maxAheadMs: number,
  ) {}

  /** A stamp for a local event, greater than every stamp issued or observed before. */
  now(): Stamp {
    const wall = Math.floor(this.wallNow());
    if (wall > this.wall) {
      this.wall = wall;
      this.counter = 0;
    } else if (this.counter < MAX_COUNTER) {
      this.counter++;
    } else {
      this.wall++; // 4 billion events in one millisecond: borrow the next one
      this.counter = 0;
    }
    return { wall: this.wall, counter: this.counter, node: this.node };
  }

  /**
   * Moves past a stamp seen from elsewhere (a replicated record, a stamp loaded from disk). Our
   * own stamps are always followed: after a restart with a clock set back, new stamps must still
   * order after the ones we issued before.
   */
  observe(s: Stamp): boolean {
    if (s.node !== this.node && s.wall > this.wallNow() + this.maxAheadMs) return false;
    if (s.wall > this.wall || (s.wall === this.wall && s.counter > this.counter)) {
      this.wall = s.wall;
      this.counter = s.counter;
    }
    return true;
  }
}
