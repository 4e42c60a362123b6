import { copyHealth, MAX_REASON_LENGTH, type HealthRecord, type Status } from './health.js';
import type { OriginSpec } from './spec.js';

/**
 * The rise/fall state machine that turns probe results into a verdict (HAProxy-like):
 *
 * - `unknown` (never decided): the first `rise` consecutive successes make it `up`, the first `fall`
 *   consecutive failures make it `down`. A new origin is not up before it has proved itself.
 * - `up`: `fall` consecutive failures make it `down`.
 * - `down`: `rise` consecutive successes make it `up`.
 *
 * A success resets the failure counter and a failure the success counter, so alternating results
 * never reach a threshold above 1 (no flapping). Each counter stops at its threshold: once reached,
 * more of the same changes nothing, so it never grows without bound.
 *
 * The function is pure over the record: a new owner continues from the replicated record exactly
 * where the old owner stopped, and a run split across owners ends where an uninterrupted one would.
 */
export type Thresholds = Pick<OriginSpec, 'rise' | 'fall'>;

export interface ProbeResult {
  ok: boolean;
  /** `ok`, `timeout`, `status 503`, ... */
  reason: string;
  latencyMs: number;
  /** Unix ms the probe completed. */
  at: number;
}

export interface Transition {
  from: Status;
  to: Status;
}

export function applyProbe(
  record: HealthRecord,
  spec: Thresholds,
  result: ProbeResult,
  checkedBy: string,
): { record: HealthRecord; transition: Transition | null } {
  const next = copyHealth(record);
  return { record: next, transition: applyProbeInPlace(next, spec, result, checkedBy) };
}

/**
 * applyProbe written over the record itself, for a record nobody else holds yet (the engine's
 * unwritten detail): a probe that changes no status then allocates no record. Returns the
 * transition, if any.
 */
export function applyProbeInPlace(record: HealthRecord, spec: Thresholds, result: ProbeResult, checkedBy: string): Transition | null {
  const successes = result.ok ? Math.min(record.successes + 1, spec.rise) : 0;
  const failures = result.ok ? 0 : Math.min(record.failures + 1, spec.fall);
  const from = record.status;
  const to: Status = successes >= spec.rise ? 'up' : failures >= spec.fall ? 'down' : from;
  record.status = to;
  record.successes = successes;
  record.failures = failures;
  record.lastCheck = result.at;
  if (to !== from) record.lastChange = result.at;
  // Whole, non-negative milliseconds, as healthFromJson wants them.
  record.latencyMs = Math.max(0, Math.round(result.latencyMs));
  record.reason = result.reason.slice(0, MAX_REASON_LENGTH);
  record.checkedBy = checkedBy;
  return to !== from ? { from, to } : null;
}
