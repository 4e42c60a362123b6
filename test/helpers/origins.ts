/**
 * Helpers for the origin tests (HECK.* commands, heck:origins, the state log): reading HECK.GET
 * replies in either protocol, RESP-encoding bulk input, starting an in-process node on a data
 * directory of the caller's, and walking the frames of a state log file.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../../src/config.js';
import { startNode, type RunningNode } from '../../src/node.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { FRAME_HEAD_BYTES, HEADER_BYTES } from '../../src/store/record-file.js';
import { ErrorReply, Push, RespClient, SimpleString, type Reply } from './resp-client.js';

/** Every field HECK.GET and HECK.ALL carry per origin (DESIGN.md section 2, plus the spec's own). */
export const ORIGIN_FIELDS = [
  'id', 'url', 'status', 'owner', 'checked_by', 'last_check', 'last_change', 'latency_ms', 'reason',
  'age_ms', 'interval', 'timeout', 'rise', 'fall', 'expect', 'method', 'headers',
] as const;

/** Fields whose value is an integer reply. */
export const INTEGER_FIELDS = ['last_check', 'last_change', 'latency_ms', 'age_ms', 'interval', 'timeout', 'rise', 'fall'] as const;

export type OriginView = Map<string, Reply>;

/**
 * One origin as a name -> value map, from a RESP2 flat field/value array or a RESP3 map. Fails if
 * the reply is neither, or if a field name repeats.
 */
export function originView(reply: Reply): OriginView {
  if (reply instanceof Map) {
    const out: OriginView = new Map();
    for (const [k, v] of reply) {
      assert.equal(typeof k, 'string', 'field names are strings');
      out.set(k as string, v);
    }
    return out;
  }
  assert.ok(Array.isArray(reply), `an origin is a flat array (RESP2) or a map (RESP3): ${describeReply(reply)}`);
  assert.equal(reply.length % 2, 0, 'field/value pairs');
  const out: OriginView = new Map();
  for (let i = 0; i < reply.length; i += 2) {
    const k: Reply | undefined = reply[i];
    assert.equal(typeof k, 'string', `field name at ${i} is a bulk string`);
    assert.ok(!out.has(k as string), `field ${String(k)} appears once`);
    out.set(k as string, reply[i + 1]!);
  }
  return out;
}

/** Checks that an origin carries every field, with integers where integers belong. */
export function assertOriginShape(view: OriginView, id: string): void {
  for (const f of ORIGIN_FIELDS) assert.ok(view.has(f), `${id}: field ${f} present (has ${[...view.keys()].join(' ')})`);
  for (const f of INTEGER_FIELDS) assert.equal(typeof view.get(f), 'number', `${id}: ${f} is an integer reply`);
  for (const f of ['id', 'url', 'status', 'owner', 'checked_by', 'reason', 'expect', 'method']) {
    assert.equal(typeof view.get(f), 'string', `${id}: ${f} is a bulk string`);
  }
  assert.ok(Array.isArray(view.get('headers')), `${id}: headers is an array`);
  assert.equal(view.get('id'), id);
  assert.ok(['up', 'down', 'unknown'].includes(view.get('status') as string), `${id}: status ${String(view.get('status'))}`);
}

/** Ids of a HECK.ALL reply, in reply order. */
export function idsOf(all: Reply): string[] {
  assert.ok(Array.isArray(all), `HECK.ALL is an array: ${describeReply(all)}`);
  return all.map((o) => originView(o).get('id') as string);
}

export function describeReply(r: Reply): string {
  if (r instanceof ErrorReply) return `-${r.message}`;
  if (r instanceof SimpleString) return `+${r.value}`;
  if (r instanceof Push) return `>${r.items.length}`;
  if (r instanceof Map) return `%${r.size}`;
  if (Array.isArray(r)) return `*${r.length}`;
  if (Buffer.isBuffer(r)) return `buffer(${r.length})`;
  return JSON.stringify(typeof r === 'bigint' ? String(r) : r) ?? String(r);
}

export const OK = new SimpleString('OK');

/** A request as a RESP array of bulk strings (binary-safe, utf8). */
export function encodeCommand(...args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Reads n replies from a client (after a pipelined write). */
export async function readReplies(c: RespClient, n: number): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < n; i++) out.push(await c.read());
  return out;
}

/** `key:value` lines of CLUSTER INFO / INFO. */
export function infoMap(text: Reply): Map<string, string> {
  assert.equal(typeof text, 'string', `an INFO text: ${describeReply(text)}`);
  const fields = new Map<string, string>();
  for (const line of (text as string).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** CLUSTER INFO's origin fields. */
export async function originsInfo(c: RespClient): Promise<{ count: number; digest: string }> {
  const info = infoMap(await c.call('CLUSTER', 'INFO'));
  const count = info.get('cluster_origins');
  const digest = info.get('cluster_origins_digest');
  assert.ok(count !== undefined && digest !== undefined, 'CLUSTER INFO has cluster_origins and cluster_origins_digest');
  return { count: Number(count), digest };
}

/** An in-process node on a data directory the caller owns (kept when it stops: restart on it). */
export async function startNodeOnDir(dir: string, overrides: Partial<Config> = {}): Promise<RunningNode> {
  // The data layer under test: nothing probes the made-up hosts of its origins.
  const config: Config = { ...defaultConfig(), port: 0, busPort: 0, dir, probing: false, ...overrides };
  return startNode(config, { logger: silentLogger });
}

/** The state log files of a data directory, oldest first. */
export function logFiles(dir: string): string[] {
  const stateDir = join(dir, 'state');
  return readdirSync(stateDir).filter((n) => /^log-\d+\.bin$/.test(n)).sort().map((n) => join(stateDir, n));
}

/** Frame boundaries of a log file (record-file.ts: 8-byte header, then length u32 + crc u32 + payload). */
export function logFrames(data: Buffer): { start: number; end: number }[] {
  assert.equal(data.subarray(0, 4).toString('latin1'), 'HECK', 'a state file header');
  const frames: { start: number; end: number }[] = [];
  let at = HEADER_BYTES;
  while (at + FRAME_HEAD_BYTES <= data.length) {
    const end = at + FRAME_HEAD_BYTES + data.readUInt32BE(at);
    if (end > data.length) break;
    frames.push({ start: at, end });
    at = end;
  }
  return frames;
}

