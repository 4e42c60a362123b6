import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_ID_PATTERN } from '../runtime/bytes.js';
import type { Random } from '../runtime/random.js';
import { writeFileAtomic } from './files.js';

const FILE = 'node-id';

export class IdentityError extends Error {
  override name = 'IdentityError';
}

/**
 * The node's 40-hex id: created once, on first start, and kept in the data directory, so a
 * restarted node is the same member. A file that holds anything else stops the node with a clear
 * error rather than silently becoming a new member.
 */
export function loadOrCreateNodeId(dir: string, random: Random): string {
  const path = join(dir, FILE);
  if (existsSync(path)) {
    const id = readFileSync(path, 'utf8').trim();
    if (!NODE_ID_PATTERN.test(id)) throw new IdentityError(`${path} does not hold a node id (40 lowercase hex digits)`);
    return id;
  }
  const id = random.bytes(20).toString('hex');
  writeFileAtomic(path, id + '\n');
  return id;
}
