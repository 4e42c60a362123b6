/**
 * Prober self-health (DESIGN.md 5). Unrelated origins rarely fail together; a node whose own
 * probes suddenly fail for most of the origins it owns is more likely cut off itself (its uplink,
 * its resolver, a full connection table) than watching them all die. It then suspects itself:
 * the engine stops condemning origins on its own word and asks another node for a second opinion
 * (docs/probing.md).
 *
 * "Suddenly" means failures of origins that are not already down: an origin that has been down
 * for an hour says nothing about this node. The node enters suspicion when at least `minFailing`
 * such origins, and at least `enterRatio` of the owned origins not down, failed their latest
 * probe; it leaves when fewer than `minFailing` or less than `exitRatio` of them fail (a band,
 * so it does not flap at the edge).
 */
export interface SelfCheckOptions {
  minFailing: number;
  enterRatio: number;
  exitRatio: number;
}

export const SELF_CHECK_DEFAULTS: SelfCheckOptions = { minFailing: 5, enterRatio: 0.5, exitRatio: 0.25 };

export class SelfCheck {
  /** Owned origins not down, by id: whether this node's latest probe of each failed. */
  private readonly latest = new Map<string, boolean>();
  private failing = 0;
  private suspecting = false;

  constructor(
    private readonly options: SelfCheckOptions = SELF_CHECK_DEFAULTS,
    private readonly onChange: (suspect: boolean, failing: number, watched: number) => void = () => {},
  ) {}

  get suspect(): boolean {
    return this.suspecting;
  }

  /** One probe result of this node's own; `down` = the origin's verdict before this probe. */
  observe(id: string, ok: boolean, down: boolean): void {
    if (down) this.drop(id);
    else this.set(id, !ok);
    this.reconsider();
  }

  /** The origin is no longer this node's to probe, or was removed. */
  forget(id: string): void {
    this.drop(id);
    this.reconsider();
  }

  private drop(id: string): void {
    if (this.latest.get(id) === true) this.failing--;
    this.latest.delete(id);
  }

  private set(id: string, failed: boolean): void {
    const before = this.latest.get(id);
    if (before === failed) return;
    if (before === true) this.failing--;
    if (failed) this.failing++;
    this.latest.set(id, failed);
  }

  private reconsider(): void {
    const { minFailing, enterRatio, exitRatio } = this.options;
    const watched = this.latest.size;
    const next = this.suspecting
      ? this.failing >= minFailing && this.failing >= exitRatio * watched
      : this.failing >= minFailing && this.failing >= enterRatio * watched;
    if (next === this.suspecting) return;
    this.suspecting = next;
    this.onChange(next, this.failing, watched);
  }
}
