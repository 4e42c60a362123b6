/**
 * Realistic origins for the replication bench: HECK.ADDORIGIN argument lists (as a client sends
 * them) and the specs Heck builds from them through its own parser, so the simulator, the
 * anti-entropy figures and the real processes all carry the same kind of records.
 */
import { parseAddOrigin, type OriginSpec } from '../../src/probe/spec.js';
import type { SeededRandom } from '../../src/runtime/random.js';

const INTERVALS = [1000, 2000, 5000, 5000, 10_000];
const PATHS = ['/healthz', '/health', '/status', '/ping', '/api/v1/health'];

/**
 * HECK.ADDORIGIN arguments after the command name: id, url, then options. About half the origins
 * carry headers (a Host and a bearer token), some an EXPECT list or METHOD HEAD, as a real fleet's would.
 */
export function originArgs(id: string, rnd: SeededRandom): string[] {
  const ip = `10.${rnd.int(256)}.${rnd.int(256)}.${1 + rnd.int(254)}`;
  const port = [80, 8080, 8443, 9000][rnd.int(4)]!;
  const url = `http://${ip}:${port}${PATHS[rnd.int(PATHS.length)]}`;
  const args = [id, url, 'INTERVAL', String(INTERVALS[rnd.int(INTERVALS.length)])];
  if (rnd.int(3) === 0) args.push('EXPECT', '200,204');
  if (rnd.int(5) === 0) args.push('METHOD', 'HEAD');
  if (rnd.int(2) === 0) {
    args.push('HEADER', 'Host', `svc-${rnd.int(5000)}.internal.example.com`);
    args.push('HEADER', 'Authorization', `Bearer ${rnd.bytes(16).toString('hex')}`);
  }
  return args;
}

/** The spec Heck stores for those arguments (parsed exactly as HECK.ADDORIGIN parses them). */
export function specOf(args: string[]): { id: string; spec: OriginSpec } {
  return parseAddOrigin(['HECK.ADDORIGIN', ...args].map((a) => Buffer.from(a)));
}

export function realisticOrigin(id: string, rnd: SeededRandom): { id: string; spec: OriginSpec } {
  return specOf(originArgs(id, rnd));
}
