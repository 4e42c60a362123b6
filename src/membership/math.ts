/**
 * Scaling formulas of SWIM + Lifeguard as memberlist computes them (util.go, state.go,
 * suspicion.go). Pure functions of their arguments; all durations are milliseconds.
 * N is the estimated number of nodes in the cluster, this node included.
 */

/**
 * Minimum suspicion timeout (memberlist `suspicionTimeout`):
 * `SuspicionMult × max(1, log10(max(1, N))) × ProbeInterval`.
 * The timeout grows with the log of the cluster size because gossip needs about log(N) rounds to
 * reach everyone, and the suspect deserves the chance to hear the rumour and refute it.
 * memberlist truncates the node factor to three decimals; we keep full precision (ms are
 * fractional on our clock), so e.g. N = 50 gives 6795.9 ms where memberlist has 6792 ms.
 */
export function suspicionMinMs(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return suspicionMult * nodeScale * probeIntervalMs;
}

/**
 * Independent confirmations wanted before the suspicion timeout reaches its minimum
 * (memberlist state.go `suspectNode`): `SuspicionMult − 2`, or 0 when `N − 2` is smaller than
 * that, since a tiny cluster cannot supply that many independent witnesses. Never negative
 * (a multiplier below 2 would otherwise give a meaningless negative count).
 */
export function confirmationsWanted(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  if (n - 2 < k) return 0;
  return Math.max(0, k);
}

/**
 * Lifeguard's shrinking suspicion timeout, measured from when the suspicion started
 * (memberlist `remainingSuspicionTime` before subtracting the elapsed time):
 * `k < 1 ? min : max(min, floor(max − log(c + 1) / log(k + 1) × (max − min)))`.
 * c = 0 gives max; each independent confirmation pulls it down logarithmically, reaching min
 * at c = k. Floored to whole milliseconds like memberlist.
 */
export function suspicionTimeoutMs(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/**
 * How many times a broadcast is piggybacked before it is dropped (memberlist `retransmitLimit`):
 * `RetransmitMult × ceil(log10(N + 1))`, enough rounds for an epidemic to reach all N nodes
 * with high probability.
 */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** Cluster size up to which the push-pull interval is not scaled (memberlist `pushPullScaleThreshold`). */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/**
 * Push-pull (full state sync) interval (memberlist `pushPullScale`): unchanged for N ≤ 32, else
 * `base × (ceil(log2(N) − log2(32)) + 1)`, i.e. one more multiple per doubling past 32, so the
 * cluster-wide TCP sync load grows only logarithmically.
 */
export function pushPullIntervalMs(baseMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return baseMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return baseMs * multiplier;
}
