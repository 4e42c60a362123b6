import type { Entry } from '../crdt/lww-set.js';
import type { OriginSpec } from '../probe/spec.js';

/** Where every node announces the origin additions, changes and removals it learns. */
export const ORIGINS_CHANNEL = 'heck:origins';

/**
 * The `heck:origins` message for a change of the origin set, or null when readers see no change
 * (a tombstone replacing a tombstone). `at` is the change's stamp time, equal on every node.
 */
export function originEvent(after: Entry<OriginSpec>, before: Entry<OriginSpec> | undefined): string | null {
  const was = before !== undefined && !before.removed;
  if (after.removed) return was ? JSON.stringify({ op: 'remove', id: after.id, at: after.stamp.wall }) : null;
  return JSON.stringify({ op: was ? 'update' : 'add', id: after.id, url: after.value!.url, at: after.stamp.wall });
}
