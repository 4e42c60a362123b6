import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../runtime/logger.js';
import type { Address } from '../transport/transport.js';
import { writeFileAtomic } from './files.js';

const FILE = 'peers.json';
/** More than any cluster we expect; a damaged file cannot make us dial the world. */
const MAX_PEERS = 10_000;

export interface KnownPeer {
  id: string;
  host: string;
  busPort: number;
}

/** Bus addresses of the peers this node knew, so a restarted node rejoins by itself. */
export function loadPeers(dir: string, logger: Logger): Address[] {
  const path = join(dir, FILE);
  if (!existsSync(path)) return [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!Array.isArray(parsed)) throw new Error('not a list');
    return parsed
      .slice(0, MAX_PEERS)
      .filter((p): p is KnownPeer => typeof p?.host === 'string' && Number.isInteger(p?.busPort) && p.busPort > 0 && p.busPort < 65536)
      .map((p) => ({ host: p.host, port: p.busPort }));
  } catch (e) {
    // Losing the peer list costs a manual CLUSTER MEET, not data: start without it.
    logger.warn('peers_file_unreadable', { path, error: (e as Error).message });
    return [];
  }
}

export function savePeers(dir: string, peers: KnownPeer[]): void {
  writeFileAtomic(join(dir, FILE), JSON.stringify(peers.slice(0, MAX_PEERS)) + '\n');
}
