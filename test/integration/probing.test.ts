/**
 * Probing across three real `heck-server` processes on 127.0.0.1 (DESIGN.md sections 4 and 5):
 * 300 origins on an HTTP farm of the test's own, each probed about once per interval by exactly
 * one node (its owner, by the User-Agent); every node agrees on the owners; failing origins go
 * down everywhere and recover, with exactly one heck:events message per transition on every node.
 * How long that takes is printed, not asserted (the deadlines are hang guards); the chaos
 * harness (bench/cluster) measures it against its targets.
 *
 * Synchronisation: every wait polls replies with a deadline; the only fixed waits are the 5 s
 * counting window itself and a short settle after the last event to catch duplicates. Every
 * process started here is killed by pid in after().
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { startNodeProcess, type NodeProcess } from '../helpers/process.js';
import { describeReply, idsOf, infoMap, OK, readReplies } from '../helpers/origins.js';
import { RespClient, type Reply } from '../helpers/resp-client.js';

const ORIGINS = 300;
const FAILING = 20;
const INTERVAL_MS = 1000;
const FALL = 3;
/** Under the interval, and long enough that a busy CI machine does not turn stalls into failures. */
const TIMEOUT_MS = 900;
const WINDOW_MS = 5000;
const POLL_MS = 100;
/** Hang guards, not targets: how fast verdicts spread is measured by `make bench-probing`. */
const DEADLINE_MS = 30_000;
const T = { timeout: 60_000 };

interface Node {
  name: string;
  proc: NodeProcess;
  client: RespClient;
}

const children: ChildProcess[] = [];
const clients: RespClient[] = [];
const dirs: string[] = [];
const nodes: Node[] = [];

// ---- the origin farm -----------------------------------------------------------------------------

const probes = new Map<string, number>();
/** Per path, the node id prefixes (from the User-Agent) that probed it since the last reset. */
const probers = new Map<string, Set<string>>();
const failing = new Set<string>();
let farm: Server;
let farmPort = 0;

const ids = Array.from({ length: ORIGINS }, (_, i) => `probe-${String(i).padStart(3, '0')}`);
const failingIds = ids.filter((_, i) => i % (ORIGINS / FAILING) === 0);
const pathOf = (id: string) => `/${id}`;

function startFarm(): Promise<void> {
  farm = createServer((req, res) => {
    const path = req.url ?? '/';
    probes.set(path, (probes.get(path) ?? 0) + 1);
    const node = /\(node ([0-9a-f]+)\)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '?';
    probers.set(path, (probers.get(path) ?? new Set()).add(node));
    const status = failing.has(path) ? 503 : 200;
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
  return new Promise((resolve) => farm.listen(0, '127.0.0.1', () => {
    farmPort = (farm.address() as AddressInfo).port;
    resolve();
  }));
}

// ---- helpers -------------------------------------------------------------------------------------

async function open(port: number): Promise<RespClient> {
  const c = await RespClient.open(port);
  clients.push(c);
  return c;
}

async function startNode(name: string): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'heck-probing-'));
  dirs.push(dir);
  const proc = await startNodeProcess(['--profile', 'local', '--bind', '127.0.0.1'], {}, { dir, onSpawn: (child) => children.push(child) });
  return { name, proc, client: await open(proc.port) };
}

/** Polls until check returns true or the deadline passes; a string is the state seen. */
async function until(check: () => Promise<true | string>, what: string, deadlineMs: number): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const r = await check();
    if (r === true) return Date.now() - started;
    last = r;
    if (Date.now() - started > deadlineMs) assert.fail(`not within ${deadlineMs} ms: ${what}; last seen: ${last}`);
    await pause(POLL_MS);
  }
}

async function statusIds(n: Node, status: 'up' | 'down'): Promise<string[]> {
  return idsOf(await n.client.call('HECK.ALL', 'STATUS', status.toUpperCase()));
}

/** Every node shows exactly `expected` among the origins with that status (all of them for `up`). */
function everywhere(status: 'up' | 'down', expected: string[]): () => Promise<true | string> {
  const want = [...expected].sort().join();
  return async () => {
    const seen = await Promise.all(nodes.map((n) => statusIds(n, status)));
    return seen.every((s) => s.join() === want) ? true : seen.map((s, k) => `${nodes[k]!.name}:${s.length} ${status}`).join(' ');
  };
}

interface StatusEvent {
  id: string;
  status: string;
  previous: string;
  at: number;
  reason: string;
  checked_by: string;
}

/** A heck:events subscriber on one node, collecting every message. */
async function subscribe(n: Node): Promise<StatusEvent[]> {
  const c = await open(n.proc.port);
  c.send('SUBSCRIBE', 'heck:events');
  const ack = await c.read();
  assert.ok(Array.isArray(ack) && ack[0] === 'subscribe', `subscribe ack: ${describeReply(ack)}`);
  const events: StatusEvent[] = [];
  void (async () => {
    for (;;) {
      let m: Reply;
      try {
        m = await c.read();
      } catch {
        return; // closed
      }
      if (Array.isArray(m) && m[0] === 'message' && m[1] === 'heck:events') events.push(JSON.parse(String(m[2])) as StatusEvent);
    }
  })();
  return events;
}

function checkEvents(name: string, events: StatusEvent[], status: 'up' | 'down', previous: string, owners: Map<string, string>): void {
  const mine = events.filter((e) => e.status === status);
  const perId = new Map<string, number>();
  for (const e of mine) perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
  for (const id of failingIds) assert.equal(perId.get(id), 1, `${name}: exactly one ${status} event for ${id} (got ${perId.get(id) ?? 0})`);
  assert.equal(mine.length, FAILING, `${name}: ${status} events only for the failing origins: ${mine.map((e) => e.id).join(' ')}`);
  for (const e of mine) {
    assert.deepEqual(Object.keys(e).sort(), ['at', 'checked_by', 'id', 'previous', 'reason', 'status']);
    assert.equal(e.previous, previous, `${name}: ${e.id} previous`);
    assert.equal(typeof e.at, 'number');
    assert.ok(e.at > 0);
    assert.equal(e.reason, status === 'down' ? 'status 503' : 'ok', `${name}: ${e.id} reason`);
    assert.equal(e.checked_by, owners.get(e.id), `${name}: ${e.id} checked by its owner`);
  }
}

const snapshot = () => new Map(probes);

// ---- the cluster ---------------------------------------------------------------------------------

describe('probing on a three-node cluster', { timeout: 90_000 }, () => {
  /** Origin id -> owner node id, as every node agrees. */
  const owners = new Map<string, string>();

  before(async () => {
    await startFarm();
    for (const name of ['n1', 'n2', 'n3']) nodes.push(await startNode(name));
    const [a, b, c] = nodes as [Node, Node, Node];
    for (const [x, y] of [[a, b], [a, c], [b, c]] as const) {
      assert.deepEqual(await x.client.call('CLUSTER', 'MEET', '127.0.0.1', String(y.proc.port), String(y.proc.busPort)), OK);
    }
    await until(async () => {
      const alive = await Promise.all(nodes.map(async (n) => infoMap(await n.client.call('CLUSTER', 'INFO')).get('cluster_alive_nodes')));
      return alive.every((s) => s === '3') ? true : `alive ${alive.join(' ')}`;
    }, 'three nodes see each other alive', 15_000);
  });

  after(async () => {
    for (const c of clients) c.close();
    const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = live.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of live) process.kill(c.pid!, 'SIGKILL');
    const safety = new AbortController();
    await Promise.race([Promise.all(exits), pause(10_000, undefined, { signal: safety.signal }).catch(() => undefined)]);
    safety.abort();
    if (farm) {
      const closed = new Promise<void>((resolve) => farm.close(() => resolve()));
      farm.closeAllConnections();
      await closed;
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test(`${ORIGINS} origins come up on every node, one owner each, agreed everywhere`, T, async () => {
    const n1 = nodes[0]!;
    const t0 = Date.now();
    for (const id of ids) {
      n1.client.send('HECK.ADDORIGIN', id, `http://127.0.0.1:${farmPort}${pathOf(id)}`, 'INTERVAL', String(INTERVAL_MS), 'TIMEOUT', String(TIMEOUT_MS));
    }
    const replies = await readReplies(n1.client, ids.length);
    assert.ok(replies.every((r) => describeReply(r) === '+OK'), `every add acknowledged: ${replies.map(describeReply).join(' ').slice(0, 200)}`);
    const took = await until(everywhere('up', ids), `all ${ORIGINS} up on every node`, DEADLINE_MS);
    console.log(`all ${ORIGINS} origins up on all 3 nodes ${took} ms after the adds were acknowledged (${Date.now() - t0} ms after sending)`);

    // HECK.OWNER names the same node on every node.
    const views = await Promise.all(nodes.map(async (n) => {
      for (const id of ids) n.client.send('HECK.OWNER', id);
      return readReplies(n.client, ids.length);
    }));
    const memberIds = new Set(nodes.map((n) => n.proc.id));
    ids.forEach((id, i) => {
      const first = views[0]![i]!;
      assert.ok(Array.isArray(first) && first.length === 1, `${id}: one owner: ${describeReply(first)}`);
      const owner = String(first[0]);
      assert.ok(memberIds.has(owner), `${id}: owner ${owner} is a member`);
      for (const [k, v] of views.entries()) assert.deepEqual(v[i], first, `${id}: ${nodes[k]!.name} names the same owner`);
      owners.set(id, owner);
    });
    // cluster_origins_owned adds up to every origin once.
    const owned = await Promise.all(nodes.map(async (n) => Number(infoMap(await n.client.call('CLUSTER', 'INFO')).get('cluster_origins_owned'))));
    console.log(`cluster_origins_owned per node: ${owned.join(' ')}`);
    assert.equal(owned.reduce((a, b) => a + b, 0), ORIGINS, `owned ${owned.join('+')}`);
    for (const [k, n] of nodes.entries()) {
      const expected = ids.filter((id) => owners.get(id) === n.proc.id).length;
      assert.equal(owned[k], expected, `${n.name} owns what HECK.OWNER says`);
    }
  });

  test(`each origin is probed about once per interval (${WINDOW_MS} ms window), by its owner only`, T, async () => {
    const start = snapshot();
    probers.clear();
    const began = performance.now();
    await pause(WINDOW_MS);
    const end = snapshot();
    // The window as it really lasted: a busy machine stretches a pause.
    const intervals = (performance.now() - began) / INTERVAL_MS;
    for (const id of ids) {
      assert.deepEqual([...(probers.get(pathOf(id)) ?? [])], [owners.get(id)!.slice(0, 12)], `${id}: probed by its owner alone`);
    }
    const perOrigin = ids.map((id) => (end.get(pathOf(id)) ?? 0) - (start.get(pathOf(id)) ?? 0));
    const total = perOrigin.reduce((a, b) => a + b, 0);
    const rate = total / ORIGINS / intervals;
    const max = Math.max(...perOrigin);
    const min = Math.min(...perOrigin);
    console.log(`probes in ${intervals.toFixed(2)} intervals: ${total}; ${rate.toFixed(3)} probes per origin per interval; per origin min ${min} max ${max}`);
    // The farm shares this process: on a busy machine requests queue behind a stall and are counted
    // in a burst, so the window's edges blur by a stall's worth. Double probing (2.0) or a lost
    // schedule (0.5) still shows; the bench holds the figure to 1.00 +/- 0.02 on a quiet machine.
    assert.ok(rate <= 1.25 && rate >= 0.75, `probes per origin per interval ${rate.toFixed(3)} within 0.75-1.25`);
    assert.ok(max <= Math.ceil(intervals * 1.05) + 1, `no origin probed more than once per interval: max ${max} in ${intervals.toFixed(2)}`);
  });

  const subscribers: { name: string; events: StatusEvent[] }[] = [];

  test(`${FAILING} failing origins go down on every node, one event each`, T, async () => {
    for (const n of nodes) subscribers.push({ name: n.name, events: await subscribe(n) });
    for (const id of failingIds) failing.add(pathOf(id));
    const took = await until(everywhere('down', failingIds), `${FAILING} down on every node`, DEADLINE_MS);
    console.log(`${FAILING} origins down on all 3 nodes ${took} ms after they started failing (fall x interval = ${FALL * INTERVAL_MS} ms)`);
    await until(async () => {
      const counts = subscribers.map((s) => s.events.filter((e) => e.status === 'down').length);
      return counts.every((c) => c >= FAILING) ? true : `down events ${counts.join(' ')}`;
    }, 'down events on every node', DEADLINE_MS);
    await pause(1500); // duplicates, if any, would come from anti-entropy (every 500 ms)
    for (const s of subscribers) checkEvents(s.name, s.events, 'down', 'up', owners);
    // The others stayed up.
    const upIds = ids.filter((id) => !failingIds.includes(id));
    assert.equal(await everywhere('up', upIds)(), true);
  });

  test('they recover: up on every node again, one up event each', T, async () => {
    assert.equal(subscribers.length, nodes.length, 'subscribers from the previous test');
    failing.clear();
    const took = await until(everywhere('up', ids), `all ${ORIGINS} up again on every node`, DEADLINE_MS);
    console.log(`${FAILING} origins up again on all 3 nodes ${took} ms after they recovered`);
    await until(async () => {
      const counts = subscribers.map((s) => s.events.filter((e) => e.status === 'up').length);
      return counts.every((c) => c >= FAILING) ? true : `up events ${counts.join(' ')}`;
    }, 'up events on every node', DEADLINE_MS);
    await pause(1500);
    for (const s of subscribers) {
      checkEvents(s.name, s.events, 'up', 'down', owners);
      assert.equal(s.events.length, 2 * FAILING, `${s.name}: no other events: ${s.events.length}`);
    }
  });
});
