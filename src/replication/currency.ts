/**
 * How current a replica is, for the tombstone rule (docs/replication.md). `syncedAt`: the wall
 * time up to which it is known to hold what the cluster holds. `since`: from when that knowledge
 * runs without a gap (it has held the cluster's state continuously since then). 0 = unknown: a
 * replica that never exchanged with a peer. Pure functions, so the rule is table-tested.
 */
export interface Currency {
  syncedAt: number;
  since: number;
}

export const NEVER_SYNCED: Currency = { syncedAt: 0, since: 0 };

/** Synced within the grace period, or never (then it holds nothing the cluster could have forgotten). */
export function isCurrent(c: Currency, now: number, graceMs: number): boolean {
  return c.syncedAt === 0 || now - c.syncedAt <= graceMs;
}

/**
 * Whether `self` must reconcile against `peer`, dropping its records from before its syncedAt that
 * the peer lacks: self was last in sync longer ago than the grace period, and the peer is current
 * and has held the cluster's state continuously since before then. Only such a peer can tell a
 * removal self missed from a record it never had (two new nodes cannot; they hold no history).
 */
export function staleNextTo(self: Currency, peer: Currency, now: number, graceMs: number): boolean {
  return (
    !isCurrent(self, now, graceMs) &&
    isCurrent(peer, now, graceMs) &&
    peer.syncedAt > self.syncedAt &&
    peer.since > 0 &&
    peer.since <= self.syncedAt
  );
}

/**
 * The currency of a replica without history that copies a stale one: as stale as it, and still
 * without history of its own. Not the peer's `since`: a copy (perhaps a partial one, a copy takes
 * several rounds) that claimed the peer's history could later be taken for a reference by the
 * peer itself, which would drop what the copy does not hold yet.
 */
export function inherited(peer: Currency): Currency {
  return { syncedAt: peer.syncedAt, since: 0 };
}

/** Self's currency after it took a peer's records in a complete exchange. */
export function afterExchange(self: Currency, peer: Currency, reconciled: boolean, now: number, graceMs: number): Currency {
  const selfCurrent = isCurrent(self, now, graceMs);
  const peerCurrent = isCurrent(peer, now, graceMs);
  if (reconciled) return { syncedAt: now, since: peer.since };
  if (selfCurrent && !peerCurrent) {
    // A replica without history that copies a stale one is as stale as it (a current peer with
    // history reconciles both later); one with history took records nobody could check.
    return self.since === 0 ? inherited(peer) : { syncedAt: now, since: self.since };
  }
  if (!selfCurrent && peerCurrent) {
    // Next to a peer without history, which inherits us instead; next to one whose history
    // starts too late to check us, we join it: current, with its history (ours has a gap). Next
    // to one that could have checked us but did not (we became stale during the exchange), we
    // stay as we are: it reconciles us later.
    return peer.since === 0 || peer.since <= self.syncedAt ? self : { syncedAt: now, since: peer.since };
  }
  // Both current, or both stale (a cluster that was down as a whole longer than the grace period
  // picks up where it stopped). A stale replica without history (a copy) starts its own history
  // now rather than take the peer's, as inherited() does not.
  if (!selfCurrent && self.since === 0) return { syncedAt: now, since: now };
  return { syncedAt: now, since: earliestKnown(self.since, peer.since) || now };
}

function earliestKnown(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}
