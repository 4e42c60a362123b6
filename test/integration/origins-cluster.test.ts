/**
 * Origins across real `heck-server` processes on 127.0.0.1 (DESIGN.md sections 2 and 6): an add
 * or remove on one node reaches every node, the origin digests agree, heck:origins announces a
 * replicated add once; a `redis-cli --pipe` bulk load; nothing acknowledged is lost to kill -9 of
 * one node or of the whole cluster; a damaged state log stops the node with a clear message while
 * a torn tail is cut off.
 *
 * Synchronisation: every wait polls replies (HECK.GET, CLUSTER INFO, INFO) for a bounded number
 * of rounds, paced by PACE_MS only so that polling does not starve the nodes on a small machine;
 * nothing waits for an amount of time. Every process started here is killed by pid in after().
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { HECK_SERVER, startNodeProcess, type NodeProcess } from '../helpers/process.js';
import {
  describeReply, encodeCommand, idsOf, infoMap, logFiles, logFrames, OK, originsInfo, originView, readReplies,
} from '../helpers/origins.js';
import { FRAME_HEAD_BYTES } from '../../src/store/record-file.js';
import { ErrorReply, Push, RespClient, SimpleString, type Reply } from '../helpers/resp-client.js';
import { run, within } from '../helpers/run.js';

const PACE_MS = 20;
/** Rounds for replication of a handful of changes (deltas on gossip, anti-entropy every 500 ms). */
const FAST = 250;
/** Rounds for a full mesh, or for thousands of records to spread. */
const SLOW = 1000;
const T = { timeout: 60_000 };

// ---- processes -------------------------------------------------------------------------------------

interface Node {
  name: string;
  proc: NodeProcess;
  client: RespClient;
}

/**
 * Every process, client and directory a group started. stopAll() (from after()) SIGKILLs, by pid,
 * every process still running, including one whose start never completed; a process that a
 * timed-out test starts after that is killed at once.
 */
class Group {
  readonly children: ChildProcess[] = [];
  readonly clients: RespClient[] = [];
  readonly dirs: string[] = [];
  private stopped = false;

  track(child: ChildProcess): void {
    this.children.push(child);
    if (this.stopped) child.kill('SIGKILL');
  }

  keptDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'heck-origins-cluster-'));
    this.dirs.push(dir);
    return dir;
  }

  /** A node with --profile local on dir (a fresh kept directory when not given). */
  async start(name: string, dir = this.keptDir()): Promise<Node> {
    const proc = await startNodeProcess(['--profile', 'local', '--probing', 'no'], {}, { dir, onSpawn: (child) => this.track(child) });
    const client = await this.open(proc.port);
    return { name, proc, client };
  }

  async open(port: number): Promise<RespClient> {
    const c = await RespClient.open(port);
    this.clients.push(c);
    return c;
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    for (const c of this.clients) c.close();
    const live = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = live.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of live) c.kill('SIGKILL');
    await within(Promise.all(exits), 10_000, 'every process exits after SIGKILL', () => undefined).catch(() => undefined);
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

function running(p: NodeProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** Sends a signal to the process (by pid) and waits for its exit; SIGKILL after 10 s as a safety net. */
async function kill(p: NodeProcess, signal: NodeJS.Signals): Promise<number | string> {
  if (running(p)) p.child.kill(signal);
  return within(p.exited, 10_000, `pid ${p.child.pid} exit`, () => p.child.kill('SIGKILL'));
}

// ---- polling -----------------------------------------------------------------------------------------

/** Polls until probe returns true; a string is the state seen, kept for the failure message. */
async function eventually(probe: () => Promise<true | string>, what: string, rounds = FAST): Promise<void> {
  let last = '';
  for (let i = 0; i < rounds; i++) {
    const r = await probe();
    if (r === true) return;
    last = r;
    await pause(PACE_MS);
  }
  assert.fail(`never held after ${rounds} rounds: ${what}; last seen: ${last}`);
}

/** MEETs between every pair, then waits until every node counts all of them alive. */
async function mesh(ns: Node[]): Promise<void> {
  for (const [i, a] of ns.entries()) {
    for (const b of ns.slice(i + 1)) {
      assert.deepEqual(await a.client.call('CLUSTER', 'MEET', '127.0.0.1', String(b.proc.port), String(b.proc.busPort)), OK);
    }
  }
  await aliveEverywhere(ns);
}

async function aliveEverywhere(ns: Node[]): Promise<void> {
  await eventually(async () => {
    const seen = await Promise.all(ns.map(async (n) => infoMap(await n.client.call('CLUSTER', 'INFO')).get('cluster_alive_nodes')));
    return seen.every((s) => s === String(ns.length)) ? true : `alive counts ${seen.join(' ')}`;
  }, `${ns.map((n) => n.name).join(',')} see each other alive`, SLOW);
}

/** Every node holds `count` origins and all origin digests agree; returns the digest. */
async function converged(ns: Node[], count: number, rounds = SLOW): Promise<string> {
  let digest = '';
  await eventually(async () => {
    const infos = await Promise.all(ns.map((n) => originsInfo(n.client)));
    const same = infos.every((i) => i.count === count && i.digest === infos[0]!.digest);
    digest = infos[0]!.digest;
    return same ? true : infos.map((i, k) => `${ns[k]!.name}=${i.count}/${i.digest}`).join(' ');
  }, `${count} origins and one digest on ${ns.map((n) => n.name).join(',')}`, rounds);
  return digest;
}

async function exchanges(n: Node): Promise<number> {
  return Number(infoMap(await n.client.call('INFO', 'heck')).get('exchanges'));
}

/** HECK.ALL's ids on a node. */
async function allIds(c: RespClient): Promise<string[]> {
  return idsOf(await c.call('HECK.ALL'));
}

/** The spec fields of a HECK.GET reply (what must be equal on every node). */
function specOf(reply: Reply): Record<string, Reply> {
  const v = originView(reply);
  const out: Record<string, Reply> = {};
  for (const k of ['id', 'url', 'status', 'interval', 'timeout', 'rise', 'fall', 'expect', 'method', 'headers']) out[k] = v.get(k)!;
  return out;
}

interface OriginEvent {
  op: string;
  id: string;
  url?: string;
  at: number;
}

async function subscribe(group: Group, n: Node): Promise<RespClient> {
  const sub = await group.open(n.proc.port);
  assert.deepEqual(await sub.call('SUBSCRIBE', 'heck:origins'), ['subscribe', 'heck:origins', 1]);
  return sub;
}

async function nextEvent(sub: RespClient): Promise<OriginEvent> {
  const r = await sub.read();
  const items = r instanceof Push ? r.items : r;
  assert.ok(Array.isArray(items) && items[0] === 'message' && items[1] === 'heck:origins', `a heck:origins message: ${describeReply(r)}`);
  return JSON.parse(items[2] as string) as OriginEvent;
}

const sortIds = (ids: string[]) => [...ids].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
const pad = (i: number) => String(i).padStart(4, '0');

// ---- three nodes ----------------------------------------------------------------------------------

describe('three nodes', () => {
  const group = new Group();
  let a: Node, b: Node, c: Node;
  let all: Node[];
  before(async () => {
    [a, b, c] = await Promise.all(['A', 'B', 'C'].map((n) => group.start(n)));
    all = [a!, b!, c!];
    await mesh(all);
  });
  after(() => group.stopAll());

  test('an add on A shows on B and C (announced once on C), a remove on C disappears everywhere; digests agree', T, async () => {
    const subC = await subscribe(group, c);
    const subA = await subscribe(group, a);
    assert.deepEqual(await a.client.call('HECK.ADDORIGIN', 'shop', 'https://shop.example/health', 'INTERVAL', '2000', 'RISE', '3',
      'EXPECT', '200,204', 'HEADER', 'Host', 'shop.example'), OK);
    const onA = specOf(await a.client.call('HECK.GET', 'shop'));
    for (const n of [b, c]) {
      await eventually(async () => {
        const r = await n.client.call('HECK.GET', 'shop');
        return r === null ? 'nil' : true;
      }, `shop reaches ${n.name}`);
      assert.deepEqual(specOf(await n.client.call('HECK.GET', 'shop')), onA, `${n.name} holds the same spec`);
    }
    const digest = await converged(all, 1);
    assert.match(digest, /^[0-9a-f]{16}$/);

    // The add was announced on A (locally) and on C (replicated), with the same stamp time.
    const evA = await nextEvent(subA);
    const evC = await nextEvent(subC);
    assert.deepEqual(evC, { op: 'add', id: 'shop', url: 'https://shop.example/health', at: evC.at });
    assert.deepEqual(evC, evA, 'the same message on the origin node and on a replica');
    // Exactly once on C: let both nodes run anti-entropy a few times (a repair of the same record
    // must not announce it again), then make a sentinel change; the next message must be it.
    const [xa, xc] = [await exchanges(a), await exchanges(c)];
    await eventually(async () => {
      const [na, nc] = [await exchanges(a), await exchanges(c)];
      return na >= xa + 2 && nc >= xc + 2 ? true : `exchanges A ${xa}->${na}, C ${xc}->${nc}`;
    }, 'two anti-entropy rounds on A and on C');
    assert.deepEqual(await b.client.call('HECK.ADDORIGIN', 'sentinel', 'http://sentinel/'), OK);
    assert.deepEqual({ ...(await nextEvent(subC)), at: 0 }, { op: 'add', id: 'sentinel', url: 'http://sentinel/', at: 0 }, 'no second add of shop on C');
    assert.deepEqual({ ...(await nextEvent(subA)), at: 0 }, { op: 'add', id: 'sentinel', url: 'http://sentinel/', at: 0 }, 'no second add of shop on A');
    await converged(all, 2);

    // A remove on C disappears everywhere, announced everywhere.
    assert.equal(await c.client.call('HECK.REMOVEORIGIN', 'shop'), 1);
    for (const n of [a, b]) {
      await eventually(async () => ((await n.client.call('HECK.GET', 'shop')) === null ? true : 'still there'), `shop removed on ${n.name}`);
    }
    const removedDigest = await converged(all, 1);
    assert.notEqual(removedDigest, digest);
    const rmC = await nextEvent(subC);
    const rmA = await nextEvent(subA);
    assert.deepEqual(rmC, { op: 'remove', id: 'shop', at: rmC.at });
    assert.deepEqual(rmA, rmC);
    for (const n of all) assert.deepEqual(await allIds(n.client), ['sentinel'], `${n.name}: HECK.ALL`);
    // An upsert on B of an origin added on B: everyone ends with the new spec.
    assert.deepEqual(await b.client.call('HECK.ADDORIGIN', 'sentinel', 'http://sentinel-2/', 'FALL', '7'), OK);
    await eventually(async () => {
      const urls = await Promise.all(all.map(async (n) => specOf(await n.client.call('HECK.GET', 'sentinel')).url));
      return urls.every((u) => u === 'http://sentinel-2/') ? true : urls.join(' ');
    }, 'the upsert reaches every node');
    await converged(all, 1);
    assert.deepEqual({ ...(await nextEvent(subC)), at: 0 }, { op: 'update', id: 'sentinel', url: 'http://sentinel-2/', at: 0 });
    subA.close();
    subC.close();
  });

  test('redis-cli --pipe loads 5,000 HECK.ADDORIGINs (errors: 0, replies: 5000); every node holds all of them', T, async (t) => {
    const N = 5000;
    const t0 = Date.now();
    const before = (await originsInfo(a.client)).count;
    // Half RESP, half inline: redis-cli --pipe sends the bytes as they are.
    const input = Array.from({ length: N }, (_, i) => {
      const args = ['HECK.ADDORIGIN', `bulk-${pad(i)}`, `http://10.2.${i >> 8}.${i & 255}:80/hc`, 'INTERVAL', String(1000 + i)];
      return i % 2 === 0 ? encodeCommand(...args).toString('latin1') : `${args.join(' ')}\r\n`;
    }).join('');
    const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(a.proc.port), '--pipe'], { input, timeoutMs: 30_000 });
    assert.equal(r.code, 0, `redis-cli --pipe: ${r.stdout} ${r.stderr}`);
    assert.match(r.stdout, /errors: 0, replies: 5000\b/, r.stdout);
    assert.equal(await a.client.call('DBSIZE'), before + N);
    const t1 = Date.now();
    await converged(all, before + N);
    const t2 = Date.now();
    // Every id, one by one (a pipeline of HECK.GETs per node), with its own spec; with the counts
    // equal, that is exactly the loaded set.
    const ids = Array.from({ length: N }, (_, i) => `bulk-${pad(i)}`);
    for (const n of all) {
      n.client.write(Buffer.concat(ids.map((id) => encodeCommand('HECK.GET', id))));
      const replies = await readReplies(n.client, N);
      for (const [i, r] of replies.entries()) {
        assert.ok(r !== null, `${n.name} holds ${ids[i]}`);
        const v = originView(r);
        if (v.get('id') !== ids[i] || v.get('url') !== `http://10.2.${i >> 8}.${i & 255}:80/hc` || v.get('interval') !== 1000 + i) {
          assert.fail(`${n.name}: ${ids[i]} is ${JSON.stringify([...v])}`);
        }
      }
    }
    t.diagnostic(`load ${t1 - t0} ms, replication to B and C ${t2 - t1} ms, HECK.GET of every id on every node ${Date.now() - t2} ms`);
  });
});

// ---- kill -9 after +OK --------------------------------------------------------------------------------

describe('kill -9 right after the reply', () => {
  const group = new Group();
  let dir: string;
  let node: Node;
  before(async () => {
    dir = group.keptDir();
    node = await group.start('K', dir);
  });
  after(() => group.stopAll());

  /** SIGKILL now, then the exit; then a new process on the same --dir. */
  async function crashAndRestart(): Promise<void> {
    assert.equal(await kill(node.proc, 'SIGKILL'), 'SIGKILL');
    node = await group.start('K', dir);
  }

  const N = 300;
  const ids = Array.from({ length: N }, (_, i) => `k-${pad(i)}`);

  test(`${N} HECK.ADDORIGINs one by one, SIGKILL at the last +OK: all ${N} are there after a restart`, T, async () => {
    for (const [i, id] of ids.entries()) {
      const reply = await node.client.call('HECK.ADDORIGIN', id, `http://k/${i}`, 'RISE', String(1 + (i % 9)));
      assert.deepEqual(reply, OK, id);
    }
    node.proc.child.kill('SIGKILL'); // synchronously after the last +OK
    await crashAndRestart();
    assert.deepEqual(await allIds(node.client), ids);
    for (const i of [0, 150, N - 1]) {
      const v = originView(await node.client.call('HECK.GET', ids[i]!));
      assert.equal(v.get('url'), `http://k/${i}`);
      assert.equal(v.get('rise'), 1 + (i % 9));
    }
  });

  test('HECK.REMOVEORIGINs one by one, SIGKILL at the last :1: they stay removed after a restart', T, async () => {
    const removed = ids.filter((_, i) => i % 3 === 0);
    for (const id of removed) assert.equal(await node.client.call('HECK.REMOVEORIGIN', id), 1, id);
    node.proc.child.kill('SIGKILL');
    await crashAndRestart();
    const kept = ids.filter((_, i) => i % 3 !== 0);
    assert.deepEqual(await allIds(node.client), kept);
    assert.equal(await node.client.call('DBSIZE'), kept.length);
    assert.equal(await node.client.call('HECK.GET', removed[0]!), null);
    assert.equal(await node.client.call('HECK.REMOVEORIGIN', removed.at(-1)!), 0, 'already removed');
  });

  test('a pipeline of 500 adds and 100 removes, SIGKILL at its last reply: every acknowledged change survives', T, async () => {
    const before = await allIds(node.client);
    const adds = Array.from({ length: 500 }, (_, i) => `p-${pad(i)}`);
    const removes = before.slice(0, 100);
    node.client.write(Buffer.concat([
      ...adds.map((id) => encodeCommand('HECK.ADDORIGIN', id, `http://p/${id}`)),
      ...removes.map((id) => encodeCommand('HECK.REMOVEORIGIN', id)),
    ]));
    const replies = await readReplies(node.client, adds.length + removes.length);
    node.proc.child.kill('SIGKILL');
    assert.deepEqual(replies, [...adds.map(() => OK), ...removes.map(() => 1)]);
    await crashAndRestart();
    assert.deepEqual(await allIds(node.client), sortIds([...before.slice(100), ...adds]));
  });
});

// ---- the whole cluster killed ------------------------------------------------------------------------

describe('whole-cluster kill -9 and restart', () => {
  const group = new Group();
  after(() => group.stopAll());
  const names = ['X', 'Y', 'Z'];
  let dirs: string[];
  let ns: Node[];
  const ids = Array.from({ length: 200 }, (_, i) => `w-${pad(i)}`);
  const removed = ids.filter((_, i) => i % 4 === 1);
  const expected = ids.filter((id) => !removed.includes(id));
  /** Node index that acknowledged the last change of each id (its add, or its remove). */
  const ackedBy = new Map<string, number>();
  let digest: string;
  /** What each restarted node held before it met anyone: HECK.ALL ids and CLUSTER INFO. */
  let fromDisk: { ids: string[]; info: { count: number; digest: string } }[];

  test('200 added and 50 removed through all three nodes; they converge on 150', T, async () => {
    dirs = [group.keptDir(), group.keptDir(), group.keptDir()];
    ns = await Promise.all(names.map((n, i) => group.start(n, dirs[i])));
    await mesh(ns);
    // Adds through each node in turn.
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(await ns[i % 3]!.client.call('HECK.ADDORIGIN', id, `http://w/${i}`), OK, id);
      ackedBy.set(id, i % 3);
    }
    await converged(ns, 200);
    // Removes, also through each node in turn, mostly not the one that added (every node holds
    // every origin by now, so each answers :1).
    assert.equal(removed.length, 50);
    for (const [i, id] of removed.entries()) {
      assert.equal(await ns[(i + 1) % 3]!.client.call('HECK.REMOVEORIGIN', id), 1, id);
      ackedBy.set(id, (i + 1) % 3);
    }
    digest = await converged(ns, 150);
    for (const n of ns) assert.deepEqual(await allIds(n.client), expected, n.name);
  });

  test('all three SIGKILLed at once and restarted: each holds every change it acknowledged itself', T, async () => {
    for (const n of ns) n.proc.child.kill('SIGKILL');
    assert.deepEqual(await Promise.all(ns.map((n) => kill(n.proc, 'SIGKILL'))), ['SIGKILL', 'SIGKILL', 'SIGKILL']);
    ns = await Promise.all(names.map((n, i) => group.start(n, dirs[i])));
    // They came back on new ports (--bus-port 0): the addresses in their peers.json are stale, so
    // until the MEETs below each node shows only what it read from its own disk.
    fromDisk = await Promise.all(ns.map(async (n) => ({ ids: await allIds(n.client), info: await originsInfo(n.client) })));
    for (const [k, n] of ns.entries()) {
      const held = new Set(fromDisk[k]!.ids);
      for (const [id, by] of ackedBy) {
        if (by !== k) continue;
        assert.equal(held.has(id), !removed.includes(id), `${n.name} acknowledged the ${removed.includes(id) ? 'remove' : 'add'} of ${id}`);
      }
      for (const id of held) assert.ok(ids.includes(id), `${n.name} holds ${id}, never added`);
    }
  });

  test('straight from its own disk, each node holds exactly the 150 it showed before the kill (replicated changes too)',
    { ...T, todo: 'records merged from peers are applied and shown (HECK.GET, CLUSTER INFO digest, heck:origins) before they reach the log; a kill -9 soon after loses them until anti-entropy repairs them' },
    () => {
      for (const [k, n] of ns.entries()) {
        const held = fromDisk[k]!.ids;
        const missing = expected.filter((id) => !held.includes(id));
        const resurrected = held.filter((id) => removed.includes(id));
        assert.deepEqual({ missing, resurrected }, { missing: [], resurrected: [] }, `${n.name} from its own disk`);
        assert.deepEqual(fromDisk[k]!.info, { count: 150, digest }, `${n.name}: the count and digest of before the crash`);
      }
    });

  test('once they meet again and exchange state: exactly the 150 everywhere, with the digest of before the crash', T, async () => {
    await mesh(ns);
    const before = await Promise.all(ns.map(exchanges));
    await eventually(async () => {
      const now = await Promise.all(ns.map(exchanges));
      return now.every((x, i) => x >= before[i]! + 2) ? true : `exchanges ${now.join(' ')}`;
    }, 'anti-entropy ran on every node after the restart', SLOW);
    assert.equal(await converged(ns, 150), digest);
    for (const n of ns) assert.deepEqual(await allIds(n.client), expected, `${n.name} after the exchanges`);
    for (const id of removed) assert.equal(await ns[0]!.client.call('HECK.GET', id), null, `${id} not resurrected`);
  });
});

describe('a replica killed right after it showed replicated origins', () => {
  const group = new Group();
  after(() => group.stopAll());

  test('comes back with at least what it showed (its peer is gone, so nothing can repair it)',
    { ...T, todo: 'records merged from peers are applied and shown before they reach the log (see the whole-cluster test); this makes the window wide' },
    async (t) => {
      const [a, b] = await Promise.all([group.start('RA'), group.start('RB')]);
      await mesh([a!, b!]);
      const N = 3000;
      a!.client.write(Buffer.concat(Array.from({ length: N }, (_, i) => encodeCommand('HECK.ADDORIGIN', `r-${pad(i)}`, 'http://r/'))));
      const acked = readReplies(a!.client, N);
      let shown = 0;
      await eventually(async () => {
        shown = (await originsInfo(b!.client)).count;
        return shown >= N / 2 ? true : `B shows ${shown}`;
      }, 'B shows half of them', SLOW);
      b!.proc.child.kill('SIGKILL'); // at once: B has shown `shown` origins
      assert.deepEqual(await acked, Array.from({ length: N }, () => OK));
      assert.equal(await kill(a!.proc, 'SIGKILL'), 'SIGKILL');
      assert.equal(await kill(b!.proc, 'SIGKILL'), 'SIGKILL');
      const b2 = await group.start('RB', b!.proc.dir);
      const held = (await originsInfo(b2.client)).count;
      t.diagnostic(`B showed ${shown} origins, held ${held} after kill -9 and restart`);
      assert.ok(held >= shown, `B showed ${shown} origins before kill -9, holds ${held} after the restart`);
    });
});

// ---- damaged logs ----------------------------------------------------------------------------------------

describe('a damaged state log', () => {
  const group = new Group();
  after(() => group.stopAll());

  /** A node on a kept dir with n origins, stopped gracefully; returns the dir and its one log file. */
  async function stoppedNodeWith(n: number): Promise<{ dir: string; log: string; ids: string[] }> {
    const dir = group.keptDir();
    const node = await group.start('D', dir);
    const ids = Array.from({ length: n }, (_, i) => `d-${pad(i)}`);
    for (const id of ids) assert.deepEqual(await node.client.call('HECK.ADDORIGIN', id, `http://d/${id}`), OK);
    node.client.close();
    assert.equal(await kill(node.proc, 'SIGTERM'), 0);
    const logs = logFiles(dir);
    assert.equal(logs.length, 1, `one log file: ${logs.join(' ')}`);
    return { dir, log: logs[0]!, ids };
  }

  /**
   * Starts heck-server on dir and waits until it exits by itself or logs `listening` (then it is
   * SIGKILLed and code is null): a node that should have refused to start costs no timeout.
   */
  async function startExpectingExit(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(HECK_SERVER, ['--port', '0', '--bus-port', '0', '--profile', 'local', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    group.track(child);
    let stdout = '';
    let stderr = '';
    let listened = false;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!listened && stdout.includes('"event":"listening"')) {
        listened = true;
        child.kill('SIGKILL');
      }
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const code = await within(exited, 10_000, 'heck-server exits or listens', () => child.kill('SIGKILL'));
    return { code: listened ? null : code, stdout, stderr };
  }

  test('a flipped byte inside a frame in the middle: exit code 1, and the error names the file and the offset', T, async () => {
    const { dir, log } = await stoppedNodeWith(40);
    const data = readFileSync(log);
    const frames = logFrames(data);
    assert.equal(frames.length, 40);
    const victim = frames[20]!;
    data[victim.start + FRAME_HEAD_BYTES + 10]! ^= 0xff; // a payload byte
    writeFileSync(log, data);
    const r = await startExpectingExit(dir);
    assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
    const message = `${log}: a frame fails its checksum (at byte ${victim.start}). Move the file aside and restart: the node will fetch the state from its peers.`;
    assert.ok(r.stderr.includes(message), `stderr names the file and offset: ${r.stderr}`);
    const logged = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(logged.some((l) => l.event === 'start_failed' && l.level === 'error' && String(l.error).includes(message)), `a start_failed log line: ${r.stdout}`);
    assert.ok(!logged.some((l) => l.event === 'listening'), 'it never listened');
    assert.deepEqual(readFileSync(log), data, 'the damaged file is left as it was, for inspection');
  });

  test('a flipped byte in the checksum of a middle frame: the same', T, async () => {
    const { dir, log } = await stoppedNodeWith(40);
    const data = readFileSync(log);
    const victim = logFrames(data)[13]!;
    data[victim.start + 9]! ^= 0x01; // the crc of length and payload
    writeFileSync(log, data);
    const r = await startExpectingExit(dir);
    assert.equal(r.code, 1, `exit code; stdout: ${r.stdout}`);
    assert.ok(r.stderr.includes(`${log}: a frame fails its checksum (at byte ${victim.start})`), r.stderr);
  });

  test('a flipped byte in the length field of a middle frame is damage too, not a torn tail: exit code 1, nothing cut off', T, async () => {
    const { dir, log } = await stoppedNodeWith(40);
    const data = readFileSync(log);
    const victim = logFrames(data)[20]!;
    data[victim.start + 1]! ^= 0x40; // length grows by 4 MiB: past the end of this small file, as a torn frame's would
    writeFileSync(log, data);
    const r = await startExpectingExit(dir);
    const size = statSync(log).size;
    assert.equal(r.code, 1, `a damaged frame with ${40 - 20 - 1} acknowledged frames after it must stop the node; it ${
      r.code === null ? 'kept running' : `exited ${r.code}`}${size === data.length ? '' : ` and cut the log from ${data.length} to ${size} bytes`}; logs: ${r.stdout.slice(0, 600)}`);
    assert.ok(r.stderr.includes(`${log}: a frame length fails its checksum (at byte ${victim.start}). Move the file aside`), r.stderr);
    assert.deepEqual(readFileSync(log), data, 'nothing cut off: the damaged file is left as it was, for inspection');
  });

  test('a torn tail (the last frame cut short) is cut off at a frame boundary: the node starts and logs log_tail_truncated', T, async () => {
    const { dir, log, ids } = await stoppedNodeWith(30);
    const data = readFileSync(log);
    const last = logFrames(data).at(-1)!;
    assert.equal(last.end, data.length);
    truncateSync(log, data.length - 3);
    const node = await group.start('D2', dir);
    const warn = node.proc.logs.find((l) => l.event === 'log_tail_truncated');
    assert.ok(warn, `log_tail_truncated logged: ${JSON.stringify(node.proc.logs)}`);
    assert.equal(warn.level, 'warn');
    assert.equal(warn.file, log);
    assert.equal(warn.offset, last.start);
    assert.equal(warn.bytes, last.end - 3 - last.start);
    assert.equal(statSync(log).size, last.start, 'the file now ends at the last whole frame');
    // The last add was the torn frame (an unacknowledged append in a real crash); the rest is there.
    assert.deepEqual(await allIds(node.client), ids.slice(0, -1));
    // And the log goes on from there: a new add survives another crash.
    assert.deepEqual(await node.client.call('HECK.ADDORIGIN', 'after-tear', 'http://t/'), OK);
    assert.equal(await kill(node.proc, 'SIGKILL'), 'SIGKILL');
    const again = await group.start('D3', dir);
    assert.ok(!again.proc.logs.some((l) => l.event === 'log_tail_truncated'), 'nothing more to cut');
    assert.deepEqual(await allIds(again.client), sortIds([...ids.slice(0, -1), 'after-tear']));
  });

  test('zeros after the last frame (pages of a write that never landed) are cut off the same way', T, async () => {
    const { dir, log, ids } = await stoppedNodeWith(10);
    const size = statSync(log).size;
    appendFileSync(log, Buffer.alloc(4096));
    const node = await group.start('D4', dir);
    const warn = node.proc.logs.find((l) => l.event === 'log_tail_truncated');
    assert.ok(warn, 'log_tail_truncated logged');
    assert.equal(warn.offset, size);
    assert.equal(warn.bytes, 4096);
    assert.deepEqual(await allIds(node.client), ids);
  });

  test('a bad command sent to a node never reaches its log', T, async () => {
    const dir = group.keptDir();
    const node = await group.start('E', dir);
    assert.deepEqual(await node.client.call('HECK.ADDORIGIN', 'e', 'http://e/'), OK);
    const size = statSync(logFiles(dir)[0]!).size;
    assert.ok((await node.client.call('HECK.ADDORIGIN', 'e', 'http://e/', 'RISE', '0')) instanceof ErrorReply);
    assert.ok((await node.client.call('HECK.REMOVEORIGIN', 'unknown')) === 0);
    assert.deepEqual(await node.client.call('PING'), new SimpleString('PONG'));
    assert.equal(statSync(logFiles(dir)[0]!).size, size, 'the log did not grow');
  });
});
