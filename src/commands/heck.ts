import type { Entry } from '../crdt/lww-set.js';
import { STATUSES, UNKNOWN_HEALTH, type HealthRecord, type Status } from '../probe/health.js';
import { parseAddOrigin, validateOriginId, type OriginSpec } from '../probe/spec.js';
import type { ReplicatedSet } from '../replication/replica.js';
import type { ReplyWriter } from '../resp/writer.js';
import { errors } from './errors.js';
import type { Call, CommandSpec } from './table.js';

/** What the HECK.* commands need: the replicated sets, durability, time. */
export interface HeckDeps {
  origins: ReplicatedSet<OriginSpec>;
  health: ReplicatedSet<HealthRecord>;
  /** Resolves once every change made so far is on disk. */
  durable(): Promise<void>;
  /** Why writes are refused (the disk failed), or null when they are accepted. */
  writeError(): string | null;
  /** This node's newest verdict of an origin it probes, when not yet replicated (fresher). */
  latest(id: string): HealthRecord | undefined;
  /** Owner node ids of an origin, best first. */
  owners(id: string): string[];
  wallNow(): number;
}

/** One origin as HECK.GET and HECK.ALL show it. */
function writeOrigin(reply: ReplyWriter, id: string, spec: OriginSpec, h: HealthRecord, owner: string, now: number): void {
  const fields: [string, string | number][] = [
    ['id', id],
    ['url', spec.url],
    ['status', h.status],
    ['owner', owner],
    ['checked_by', h.checkedBy],
    ['last_check', h.lastCheck],
    ['last_change', h.lastChange],
    ['latency_ms', h.latencyMs],
    ['reason', h.reason],
    // -1: never checked (an age of 0 would read as "just now").
    ['age_ms', h.lastCheck > 0 ? Math.max(0, now - h.lastCheck) : -1],
    ['interval', spec.intervalMs],
    ['timeout', spec.timeoutMs],
    ['rise', spec.rise],
    ['fall', spec.fall],
    ['expect', spec.expect],
    ['method', spec.method],
  ];
  reply.map(fields.length + 1);
  for (const [name, value] of fields) {
    reply.bulk(name);
    if (typeof value === 'number') reply.integer(value);
    else reply.bulk(value);
  }
  reply.bulk('headers');
  reply.array(spec.headers.length * 2);
  for (const [name, value] of spec.headers) {
    reply.bulk(name);
    reply.bulk(value);
  }
}

export function heckCommands(deps: HeckDeps): CommandSpec[] {
  const health = (id: string) => deps.latest(id) ?? deps.health.set.value(id) ?? UNKNOWN_HEALTH;
  const show = (reply: ReplyWriter, id: string, spec: OriginSpec) =>
    writeOrigin(reply, id, spec, health(id), deps.owners(id)[0] ?? '', deps.wallNow());

  const checkWritable = () => {
    const why = deps.writeError();
    if (why !== null) throw errors.notWritable(why);
  };
  const acknowledgeWhenDurable = (call: Call) => call.client.holdRepliesUntil(deps.durable());

  return [
    {
      name: 'heck.addorigin',
      arity: -3,
      flags: ['write'],
      group: 'heck',
      summary: 'Adds an origin to probe, or replaces its spec (upsert). Replies once it is on disk.',
      since: '0.1.0',
      complexity: 'O(1)',
      args: [
        { name: 'id', type: 'key' },
        { name: 'url', type: 'string' },
        { name: 'interval', type: 'integer', token: 'INTERVAL', optional: true },
        { name: 'timeout', type: 'integer', token: 'TIMEOUT', optional: true },
        { name: 'rise', type: 'integer', token: 'RISE', optional: true },
        { name: 'fall', type: 'integer', token: 'FALL', optional: true },
        { name: 'codes', type: 'string', token: 'EXPECT', optional: true },
        { name: 'method', type: 'oneof', token: 'METHOD', optional: true, arguments: [
          { name: 'get', type: 'pure-token', token: 'GET' },
          { name: 'head', type: 'pure-token', token: 'HEAD' },
        ] },
        { name: 'header', type: 'block', token: 'HEADER', optional: true, multiple: true, arguments: [
          { name: 'name', type: 'string' },
          { name: 'value', type: 'string' },
        ] },
      ],
      handler(call) {
        checkWritable();
        const { id, spec } = parseAddOrigin(call.args);
        deps.origins.add(id, spec);
        call.reply.simple('OK');
        acknowledgeWhenDurable(call);
      },
    },
    {
      name: 'heck.removeorigin',
      arity: 2,
      flags: ['write'],
      group: 'heck',
      summary: 'Removes an origin (and its verdict) everywhere. Replies 1 if it existed, once on disk.',
      since: '0.1.0',
      complexity: 'O(1)',
      args: [{ name: 'id', type: 'key' }],
      handler(call) {
        checkWritable();
        const id = validateOriginId(call.args[1]!);
        const removed = deps.origins.remove(id);
        if (removed) deps.health.remove(id);
        call.reply.integer(removed ? 1 : 0);
        if (removed) acknowledgeWhenDurable(call);
      },
    },
    {
      name: 'heck.get',
      arity: 2,
      flags: ['readonly', 'fast'],
      group: 'heck',
      summary: 'Returns an origin with its verdict, or nil if it is unknown.',
      since: '0.1.0',
      complexity: 'O(1)',
      args: [{ name: 'id', type: 'key' }],
      handler({ args, reply }) {
        const id = validateOriginId(args[1]!);
        const spec = deps.origins.set.value(id);
        if (spec === undefined) return reply.null();
        show(reply, id, spec);
      },
    },
    {
      name: 'heck.owner',
      arity: 2,
      flags: ['readonly', 'fast'],
      group: 'heck',
      summary: 'Returns the node ids that own (probe) an origin, best first.',
      since: '0.1.0',
      complexity: 'O(N) where N is the number of live members',
      args: [{ name: 'id', type: 'key' }],
      handler({ args, reply }) {
        const id = validateOriginId(args[1]!);
        if (deps.origins.set.value(id) === undefined) throw errors.unknownOrigin(id);
        const owners = deps.owners(id);
        reply.array(owners.length);
        for (const o of owners) reply.bulk(o);
      },
    },
    {
      name: 'heck.all',
      arity: -1,
      flags: ['readonly'],
      group: 'heck',
      summary: 'Returns every origin with its verdict, sorted by id, optionally only those with one status.',
      since: '0.1.0',
      complexity: 'O(N log N) where N is the number of origins',
      args: [
        { name: 'status', type: 'oneof', token: 'STATUS', optional: true, arguments: STATUSES.map((s) => ({ name: s, type: 'pure-token' as const, token: s.toUpperCase() })) },
      ],
      handler({ args, reply }) {
        let only: Status | null = null;
        if (args.length === 3 && args[1]!.toString('latin1').toLowerCase() === 'status') {
          const s = args[2]!.toString('latin1').toLowerCase();
          if (!(STATUSES as readonly string[]).includes(s)) throw errors.badStatusFilter();
          only = s as Status;
        } else if (args.length !== 1) {
          throw errors.syntax();
        }
        const rows: Entry<OriginSpec>[] = [];
        for (const e of deps.origins.set.entries()) {
          if (!e.removed && (only === null || health(e.id).status === only)) rows.push(e);
        }
        rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        reply.array(rows.length);
        for (const e of rows) show(reply, e.id, e.value!);
      },
    },
  ];
}
