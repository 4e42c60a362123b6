/**
 * memberlist's DefaultLANConfig figures for a cluster of N, computed from its own formulas
 * (REFERENCE.md 4.1 and 4.2: util.go, suspicion.go, state.go), not measured. Written out here
 * rather than imported from src/membership/math.ts on purpose: these are memberlist's numbers
 * (with its 3-decimal truncation of the node scale), and must not move when Heck's code does.
 */

/** memberlist DefaultLANConfig (config.go). */
export const MEMBERLIST_LAN = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  pushPullIntervalMs: 30_000,
} as const;

/**
 * Assumed wire sizes for the bandwidth estimate (go-msgpack encodes structs as maps with field
 * names): ping {SeqNo, Node, SourceAddr, SourcePort, SourceNode} with ~10-character names, ack
 * {SeqNo, Payload}, and one pushNodeState {Name, Addr, Port, Meta, Incarnation, State, Vsn}.
 * IP/UDP/TCP headers excluded, as in the simulator's counters.
 */
export const ASSUMED_BYTES = { ping: 90, ack: 25, pushPullRecord: 85 } as const;

/** SWIM (DSN 2002): expected protocol periods from a crash to its first detection, e/(e-1). */
export const SWIM_FIRST_DETECTION_PERIODS = Math.E / (Math.E - 1);

export interface Derived {
  n: number;
  suspicionMinMs: number;
  suspicionMaxMs: number;
  k: number;
  /** Suspicion timeout once one independent confirmation is in (k = 0: fixed at min). */
  afterOneConfirmationMs: number;
  retransmitLimit: number;
  pushPullIntervalMs: number;
  /** Expected time from the crash to the first suspicion somewhere: e/(e-1) probe intervals. */
  firstSuspectMs: number;
  /** Epidemic rounds to reach all N (Pittel: log_{1+g} N + ln N / g) times the gossip interval. */
  disseminationMs: number;
  /** Best case: k confirmations arrive within min, so every timer fires at min. */
  detectBestMs: number;
  /** Only one confirmation arrives in time. */
  detectOneConfirmationMs: number;
  /** No confirmation: every timer runs to max. */
  detectNoConfirmationMs: number;
  /** A join: push-pull with the seed, then the seed's alive message spreads by gossip. */
  joinMs: number;
  /** Sent bytes per node per second in steady state (estimate, see ASSUMED_BYTES). */
  bytesPerSecond: number;
  bytesProbePerSecond: number;
  bytesPushPullPerSecond: number;
}

/** memberlist `suspicionTimeout`: the node scale is truncated to three decimals. */
function suspicionMin(n: number): number {
  const scale = Math.max(1, Math.log10(Math.max(1, n)));
  return MEMBERLIST_LAN.suspicionMult * (Math.floor(scale * 1000) / 1000) * MEMBERLIST_LAN.probeIntervalMs;
}

function confirmations(n: number): number {
  const k = MEMBERLIST_LAN.suspicionMult - 2;
  return n - 2 < k ? 0 : k;
}

function remaining(c: number, k: number, min: number, max: number): number {
  if (k < 1) return min;
  return Math.max(min, Math.floor(max - (Math.log(c + 1) / Math.log(k + 1)) * (max - min)));
}

function pushPull(n: number): number {
  if (n <= 32) return MEMBERLIST_LAN.pushPullIntervalMs;
  return MEMBERLIST_LAN.pushPullIntervalMs * (Math.ceil(Math.log2(n) - Math.log2(32)) + 1);
}

export function derive(n: number): Derived {
  const min = suspicionMin(n);
  const max = min * MEMBERLIST_LAN.suspicionMaxTimeoutMult;
  const k = confirmations(n);
  const g = MEMBERLIST_LAN.gossipNodes;
  const rounds = Math.log(n) / Math.log(1 + g) + Math.log(n) / g;
  const disseminationMs = rounds * MEMBERLIST_LAN.gossipIntervalMs;
  const firstSuspectMs = SWIM_FIRST_DETECTION_PERIODS * MEMBERLIST_LAN.probeIntervalMs;
  const afterOne = remaining(1, k, min, max);
  const interval = pushPull(n);
  const probe = ((ASSUMED_BYTES.ping + ASSUMED_BYTES.ack) * 1000) / MEMBERLIST_LAN.probeIntervalMs;
  // Each node starts one push-pull per interval and, on average, answers one: its state twice.
  const pp = (2 * n * ASSUMED_BYTES.pushPullRecord * 1000) / interval;
  return {
    n,
    suspicionMinMs: min,
    suspicionMaxMs: max,
    k,
    afterOneConfirmationMs: afterOne,
    retransmitLimit: MEMBERLIST_LAN.retransmitMult * Math.ceil(Math.log10(n + 1)),
    pushPullIntervalMs: interval,
    firstSuspectMs,
    disseminationMs,
    detectBestMs: firstSuspectMs + min + disseminationMs,
    detectOneConfirmationMs: firstSuspectMs + afterOne + disseminationMs,
    detectNoConfirmationMs: firstSuspectMs + max + disseminationMs,
    joinMs: disseminationMs,
    bytesPerSecond: probe + pp,
    bytesProbePerSecond: probe,
    bytesPushPullPerSecond: pp,
  };
}
