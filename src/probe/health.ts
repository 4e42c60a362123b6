/**
 * The replicated verdict of one origin: what HECK.GET shows and what a new owner continues from.
 * Replicated as JSON, so fields can be added later; a record from a peer is checked field by field.
 */
export type Status = 'up' | 'down' | 'unknown';
export const STATUSES: readonly Status[] = ['up', 'down', 'unknown'];

export interface HealthRecord {
  status: Status;
  /** Consecutive successes and failures so far, counting toward rise and fall. */
  successes: number;
  failures: number;
  /** Unix ms of the last probe and of the last status change; 0 = never. */
  lastCheck: number;
  lastChange: number;
  latencyMs: number;
  /** Why, in a few words: `ok`, `timeout`, `status 503`, ... */
  reason: string;
  /** Node id of the prober of the last check; '' = never checked. */
  checkedBy: string;
}

export const UNKNOWN_HEALTH: HealthRecord = {
  status: 'unknown',
  successes: 0,
  failures: 0,
  lastCheck: 0,
  lastChange: 0,
  latencyMs: 0,
  reason: '',
  checkedBy: '',
};

/** Longest `reason` a record may carry (peers refuse longer ones). */
export const MAX_REASON_LENGTH = 200;

const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

export function healthFromJson(v: unknown): HealthRecord | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (!STATUSES.includes(r.status as Status)) return null;
  if (![r.successes, r.failures, r.lastCheck, r.lastChange, r.latencyMs].every(count)) return null;
  if (!text(r.reason, MAX_REASON_LENGTH) || !text(r.checkedBy, 40)) return null;
  return copyHealth(r as unknown as HealthRecord);
}

/**
 * A record's fields in a new object, written as one literal so that all of them sit in the
 * object itself: a spread copy keeps only a few there and the rest in an array of its own, which
 * costs about 70 bytes more per record (100,000 origins hold one each, plus unwritten detail).
 */
export function copyHealth(r: HealthRecord): HealthRecord {
  return {
    status: r.status,
    successes: r.successes,
    failures: r.failures,
    lastCheck: r.lastCheck,
    lastChange: r.lastChange,
    latencyMs: r.latencyMs,
    reason: r.reason,
    checkedBy: r.checkedBy,
  };
}
