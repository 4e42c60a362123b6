import type { Membership } from '../membership/membership.js';
import type { Clock } from '../runtime/clock.js';
import type { ProbeEngine } from './engine.js';
import type { Prober } from './prober.js';
import { MAX_REASON_LENGTH } from './health.js';
import type { OriginSpec } from './spec.js';
import type { ProbeResult } from './verdict.js';

/**
 * How the probe engine meets the cluster: ownership follows the members believed alive, and
 * second opinions (docs/probing.md) travel as requests on their own membership user channel.
 */
export const PROBE_CHANNEL = 2;
const OPINION_VERSION = 1;
/** Second opinions a node gives at once; more are refused (the asker holds its verdict). */
const MAX_OPINIONS_IN_FLIGHT = 64;

export interface ProbingPeers {
  membership: Pick<Membership, 'list' | 'onChange' | 'requestUser' | 'onUserRequest'>;
  clock: Clock;
  engine: ProbeEngine;
  /** This node's origins (a peer names one by id) and its prober. */
  spec: (id: string) => OriginSpec | undefined;
  prober: Pick<Prober, 'probe'>;
  wallNow: () => number;
}

/** Wires the engine to membership: ownership, second opinions asked and given. */
export function connectProbing(peers: ProbingPeers): void {
  const { membership: m, clock, engine } = peers;
  // Suspects keep their origins (DESIGN.md 4); a burst of changes (a join) is one recomputation.
  let membersChanged = false;
  m.onChange(() => {
    if (membersChanged) return;
    membersChanged = true;
    clock.setTimeout(() => {
      membersChanged = false;
      const live = m.list().filter((x) => x.state === 'alive' || x.state === 'suspect');
      engine.setMembers(live.map((x) => x.id), live.filter((x) => x.state === 'suspect').map((x) => x.id));
    }, 0);
  });

  let giving = 0;
  m.onUserRequest(PROBE_CHANNEL, async (payload) => {
    const id = readOpinionRequest(payload);
    const spec = id === null ? undefined : peers.spec(id);
    if (spec === undefined || giving >= MAX_OPINIONS_IN_FLIGHT) return encodeJson({ v: OPINION_VERSION, refused: true });
    giving++;
    try {
      const result = await peers.prober.probe(spec, peers.wallNow);
      engine.stats.opinionsGiven++;
      return encodeJson({ v: OPINION_VERSION, ...result });
    } finally {
      giving--;
    }
  });
  engine.askPeer = async (peer, id) => readOpinion(await m.requestUser(peer, PROBE_CHANNEL, encodeJson({ v: OPINION_VERSION, id })));
}

const encodeJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function parse(payload: Buffer): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return typeof v === 'object' && v !== null && (v as { v?: unknown }).v === OPINION_VERSION ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function readOpinionRequest(payload: Buffer): string | null {
  const id = parse(payload)?.id;
  return typeof id === 'string' ? id : null;
}

/** A peer's probe result; null when it refused or answered something this version cannot read. */
export function readOpinion(payload: Buffer): ProbeResult | null {
  const r = parse(payload);
  if (!r || typeof r.ok !== 'boolean' || typeof r.reason !== 'string' || r.reason.length > MAX_REASON_LENGTH) return null;
  if (!Number.isFinite(r.latencyMs) || !Number.isFinite(r.at)) return null;
  return { ok: r.ok, reason: r.reason, latencyMs: Math.max(0, r.latencyMs as number), at: r.at as number };
}
