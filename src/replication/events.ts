import type { Entry } from '../crdt/lww-set.js';
import type { HealthRecord } from '../probe/health.js';
import type { OriginSpec } from '../probe/spec.js';

/** Where every node announces the origin additions, changes and removals it learns. */
export const ORIGINS_CHANNEL = 'heck:origins';
/** Where every node announces each status transition it learns. */
export const EVENTS_CHANNEL = 'heck:events';

/**
 * The `heck:origins` message for a change of the origin set, or null when readers see no change
 * (a tombstone replacing a tombstone). `at` is the change's stamp time, equal on every node.
 */
export function originEvent(after: Entry<OriginSpec>, before: Entry<OriginSpec> | undefined): string | null {
  const was = before !== undefined && !before.removed;
  if (after.removed) return was ? JSON.stringify({ op: 'remove', id: after.id, at: after.stamp.wall }) : null;
  return JSON.stringify({ op: was ? 'update' : 'add', id: after.id, url: after.value!.url, at: after.stamp.wall });
}

/**
 * The `heck:events` message for a verdict change, or null when the status did not change (new
 * detail only, or the verdict of a removed origin going away).
 */
export function statusEvent(after: Entry<HealthRecord>, before: Entry<HealthRecord> | undefined): string | null {
  if (after.removed) return null;
  const record = after.value!;
  const previous = before && !before.removed ? before.value!.status : 'unknown';
  if (record.status === previous) return null;
  return JSON.stringify({ id: after.id, status: record.status, previous, at: record.lastChange, reason: record.reason, checked_by: record.checkedBy });
}
