/**
 * CLUSTER commands and SWIM membership across real `heck-server` processes on 127.0.0.1: command
 * shapes and Redis 7.0.15 error texts, a five-node mesh from a chain of MEETs, kill -9 detection,
 * restart under the same id, graceful leave, cluster-wide FORGET, encrypted clusters that never
 * merge with strangers, and a node that shrugs off fuzzed bus traffic.
 *
 * Synchronisation: every wait is a poll of CLUSTER NODES / CLUSTER INFO round trips with a bounded
 * number of rounds. Rounds are paced (PACE_MS) only so that a tight loop of requests does not
 * starve the nodes' own timers on a small machine; what a test waits for is always a condition it
 * observes, never an amount of time.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { decodeMessage, decodePacket } from '../../src/membership/messages.js';
import { startNodeProcess, type NodeProcess } from '../helpers/process.js';
import { cmd, infoFields, readRawReply } from '../helpers/raw.js';
import { ErrorReply, RespClient, SimpleString, Verbatim } from '../helpers/resp-client.js';
import { within } from '../helpers/run.js';

const PACE_MS = 20;
/** Rounds for anything that needs failure detection (local profile: a few hundred ms to ~2 s). */
const SLOW = 500;
/** Rounds for gossip-speed events (joins, leaves, forgets). */
const FAST = 250;
/**
 * Rounds for a mesh to form from MEETs. News of a new member is retransmitted only
 * retransmitMult x ceil(log10(N + 1)) = 2 times in a small cluster, so the epidemic can die out
 * and the last links wait for a push-pull (every 10 s on the local profile): the bound covers two.
 */
const MESH = 1000;

// ---- nodes -----------------------------------------------------------------------------------

interface Node {
  name: string;
  proc: NodeProcess;
  client: RespClient;
}

/** Every node a group started, so its after() stops them whatever happened. */
class Group {
  readonly nodes: Node[] = [];
  readonly dirs: string[] = [];

  async start(name: string, extra: string[] = [], dir?: string): Promise<Node> {
    const proc = await startNodeProcess(['--profile', 'local', ...extra], {}, dir === undefined ? {} : { dir });
    const node: Node = { name, proc, client: await RespClient.open(proc.port) };
    this.nodes.push(node);
    return node;
  }

  keptDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'heck-cluster-test-'));
    this.dirs.push(dir);
    return dir;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => stopNode(n, 'SIGTERM').catch(() => undefined)));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

function running(n: Node): boolean {
  return n.proc.child.exitCode === null && n.proc.child.signalCode === null;
}

/** Sends a signal and waits for the exit (killing it after 10 s as a safety net). */
async function stopNode(n: Node, signal: NodeJS.Signals): Promise<number | string> {
  n.client.close();
  if (running(n)) n.proc.child.kill(signal);
  return within(n.proc.exited, 10_000, `${n.name} exit`, () => n.proc.child.kill('SIGKILL'));
}

// ---- reading the cluster ---------------------------------------------------------------------

interface NodeLine {
  id: string;
  host: string;
  port: number;
  busPort: number;
  flags: string[];
  pingSent: number;
  pongRecv: number;
  epoch: number;
  link: string;
}

/** `id ip:port@cport flags master ping-sent pong-recv epoch link-state` as Heck prints it. */
const LINE = /^([0-9a-f]{40}) (\S*):(\d+)@(\d+) ((?:myself,)?master(?:,fail\?|,fail)?) - (\d+) (\d+) (\d+) (connected|disconnected)$/;

function parseNodes(text: string): NodeLine[] {
  assert.ok(text.endsWith('\n'), `CLUSTER NODES ends with \\n: ${JSON.stringify(text)}`);
  assert.ok(!text.includes('\r'), 'CLUSTER NODES lines end with \\n only');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const m = LINE.exec(line);
      assert.ok(m, `CLUSTER NODES line grammar: ${JSON.stringify(line)}`);
      return {
        id: m[1]!,
        host: m[2]!,
        port: Number(m[3]),
        busPort: Number(m[4]),
        flags: m[5]!.split(','),
        pingSent: Number(m[6]),
        pongRecv: Number(m[7]),
        epoch: Number(m[8]),
        link: m[9]!,
      };
    });
}

async function nodesOf(n: Node): Promise<NodeLine[]> {
  const reply = await n.client.call('CLUSTER', 'NODES');
  assert.equal(typeof reply, 'string', `${n.name}: CLUSTER NODES is a bulk string: ${String(reply)}`);
  return parseNodes(reply as string);
}

async function infoOf(n: Node): Promise<Map<string, string>> {
  const reply = await n.client.call('CLUSTER', 'INFO');
  assert.equal(typeof reply, 'string', `${n.name}: CLUSTER INFO is a bulk string`);
  return infoFields(reply as string);
}

async function heckInfo(n: Node): Promise<Map<string, string>> {
  return infoFields((await n.client.call('INFO', 'heck')) as string);
}

type State = 'alive' | 'suspect' | 'dead';
function stateOf(line: NodeLine): State {
  if (line.flags.includes('fail')) return 'dead';
  if (line.flags.includes('fail?')) return 'suspect';
  return 'alive';
}

/** id -> state as one node sees the cluster. */
async function viewOf(n: Node): Promise<Map<string, State>> {
  return new Map((await nodesOf(n)).map((l) => [l.id, stateOf(l)]));
}

function describeView(view: Map<string, State>, names: Map<string, string>): string {
  return [...view].map(([id, s]) => `${names.get(id) ?? id.slice(0, 8)}=${s}`).sort().join(' ');
}

/**
 * Polls until `probe` returns true; a string return is the current state, kept for the failure
 * message. Each round is one or more request/reply round trips with the nodes.
 */
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

/** Every node in `observers` sees exactly `expected` (id -> state). */
function sees(observers: Node[], expected: Map<string, State>, names: Map<string, string>): () => Promise<true | string> {
  return async () => {
    const problems: string[] = [];
    for (const o of observers) {
      const view = await viewOf(o);
      const same = view.size === expected.size && [...expected].every(([id, s]) => view.get(id) === s);
      if (!same) problems.push(`${o.name} sees ${describeView(view, names)}`);
    }
    return problems.length === 0 ? true : `${problems.join('; ')} (want ${describeView(expected, names)})`;
  };
}

async function digests(ns: Node[]): Promise<string[]> {
  return Promise.all(ns.map(async (n) => (await infoOf(n)).get('cluster_membership_digest') ?? ''));
}

/** A chain of MEETs: each node meets the next (RESP port and explicit bus port). */
async function chainMeet(ns: Node[]): Promise<void> {
  for (let i = 0; i + 1 < ns.length; i++) {
    const next = ns[i + 1]!;
    assert.deepEqual(await ns[i]!.client.call('CLUSTER', 'MEET', '127.0.0.1', String(next.proc.port), String(next.proc.busPort)), new SimpleString('OK'));
  }
}

/** Waits for a full mesh: every node sees every other alive, and all digests agree. */
async function meshed(ns: Node[], names: Map<string, string>): Promise<void> {
  await eventually(sees(ns, alive(...ns), names), `${ns.map((n) => n.name).join(',')} form a full mesh`, MESH);
  await eventually(async () => {
    const d = await digests(ns);
    return new Set(d).size === 1 ? true : `digests ${d.join(' ')}`;
  }, 'membership digests agree');
}

/** The expectation "these nodes, all alive". */
function alive(...ns: Node[]): Map<string, State> {
  return new Map(ns.map((n) => [n.proc.id, 'alive' as State]));
}

// ---- one node: command shapes and errors -----------------------------------------------------

describe('CLUSTER commands on one node', () => {
  const group = new Group();
  let s: Node;
  let dir: string;
  before(async () => {
    dir = group.keptDir();
    s = await group.start('S', [], dir);
  });
  after(() => group.stopAll());

  test('CLUSTER MYID is 40 lowercase hex, a bulk string in RESP2 and RESP3', async () => {
    const id = await s.client.call('CLUSTER', 'MYID');
    assert.equal(typeof id, 'string');
    assert.match(id as string, /^[0-9a-f]{40}$/);
    assert.equal(id, s.proc.id, 'the id the listening line printed');
    s.client.write(cmd('CLUSTER', 'MYID'));
    assert.equal(await readRawReply(s.client), `$40\r\n${s.proc.id}\r\n`);
    const r3 = await RespClient.open(s.proc.port);
    try {
      await r3.call('HELLO', '3');
      r3.write(cmd('CLUSTER', 'MYID'));
      assert.equal(await readRawReply(r3), `$40\r\n${s.proc.id}\r\n`);
    } finally {
      r3.close();
    }
  });

  test('CLUSTER MEET error texts are Redis 7.0.15 texts', async () => {
    const c = s.client;
    const e = (text: string) => new ErrorReply(text);
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', 'notaport'), e('ERR Invalid TCP base port specified: notaport'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '7000.5'), e('ERR Invalid TCP base port specified: 7000.5'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '7000', 'notaport'), e('ERR Invalid TCP bus port specified: notaport'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', 'nonsense-host', '7000'), e('ERR Invalid node address specified: nonsense-host:7000'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', 'localhost', '7000'), e('ERR Invalid node address specified: localhost:7000'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '0'), e('ERR Invalid node address specified: 127.0.0.1:0'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '-1'), e('ERR Invalid node address specified: 127.0.0.1:-1'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '65536'), e('ERR Invalid node address specified: 127.0.0.1:65536'));
    // A bus port out of range: Redis names the address by the base port it was given.
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '7000', '70000'), e('ERR Invalid node address specified: 127.0.0.1:7000'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1', '7000', '0'), e('ERR Invalid node address specified: 127.0.0.1:7000'));
    assert.deepEqual(await c.call('CLUSTER', 'MEET', '127.0.0.1'), e("ERR wrong number of arguments for 'cluster|meet' command"));
    assert.deepEqual(await c.call('CLUSTER', 'MEET'), e("ERR wrong number of arguments for 'cluster|meet' command"));
    // None of them met anything.
    assert.equal((await nodesOf(s)).length, 1);
  });

  test('CLUSTER MEET with too many arguments is a subcommand syntax error, as in Redis', async () => {
    // cluster.c: MEET is only taken with argc 4 or 5; anything else falls to addReplySubcommandSyntaxError.
    assert.deepEqual(
      await s.client.call('CLUSTER', 'MEET', '127.0.0.1', '7000', '17000', 'extra'),
      new ErrorReply("ERR unknown subcommand or wrong number of arguments for 'MEET'. Try CLUSTER HELP."),
    );
  });

  test('CLUSTER FORGET errors', async () => {
    const c = s.client;
    const unknown = '0123456789abcdef0123456789abcdef01234567';
    assert.deepEqual(await c.call('CLUSTER', 'FORGET', unknown), new ErrorReply(`ERR Unknown node ${unknown}`));
    assert.deepEqual(await c.call('CLUSTER', 'FORGET', 'not-a-node'), new ErrorReply('ERR Unknown node not-a-node'));
    assert.deepEqual(await c.call('CLUSTER', 'FORGET', s.proc.id.toUpperCase()), new ErrorReply(`ERR Unknown node ${s.proc.id.toUpperCase()}`));
    assert.deepEqual(await c.call('CLUSTER', 'FORGET', s.proc.id), new ErrorReply("ERR I tried hard but I can't forget myself..."));
    assert.deepEqual(await c.call('CLUSTER', 'FORGET'), new ErrorReply("ERR wrong number of arguments for 'cluster|forget' command"));
    assert.deepEqual(await c.call('CLUSTER', 'FORGET', unknown, 'extra'), new ErrorReply("ERR wrong number of arguments for 'cluster|forget' command"));
  });

  test('CLUSTER with an unknown subcommand, or none', async () => {
    assert.deepEqual(await s.client.call('CLUSTER', 'foo'), new ErrorReply("ERR unknown subcommand 'foo'. Try CLUSTER HELP."));
    assert.deepEqual(await s.client.call('CLUSTER', 'SLOTS-OF-FUN', 'x'), new ErrorReply("ERR unknown subcommand 'SLOTS-OF-FUN'. Try CLUSTER HELP."));
    assert.deepEqual(await s.client.call('CLUSTER'), new ErrorReply("ERR wrong number of arguments for 'cluster' command"));
    assert.deepEqual(await s.client.call('CLUSTER', 'NODES', 'x'), new ErrorReply("ERR wrong number of arguments for 'cluster|nodes' command"));
    assert.deepEqual(await s.client.call('CLUSTER', 'INFO', 'x'), new ErrorReply("ERR wrong number of arguments for 'cluster|info' command"));
    assert.deepEqual(await s.client.call('CLUSTER', 'MYID', 'x'), new ErrorReply("ERR wrong number of arguments for 'cluster|myid' command"));
  });

  test('CLUSTER NODES of a lone node: one line, myself,master, ends with \\n', async () => {
    const text = (await s.client.call('CLUSTER', 'NODES')) as string;
    const lines = parseNodes(text);
    assert.equal(lines.length, 1);
    const [me] = lines;
    assert.equal(me!.id, s.proc.id);
    assert.deepEqual(me!.flags, ['myself', 'master']);
    assert.equal(me!.host, '127.0.0.1');
    assert.equal(me!.port, s.proc.port);
    assert.equal(me!.busPort, s.proc.busPort);
    assert.equal(me!.pingSent, 0);
    assert.equal(me!.pongRecv % 1000, 0, "myself's pong field is the clock floored to the second");
    assert.ok(Math.abs(me!.pongRecv - Date.now()) < 60_000, 'pong field is wall-clock ms');
    assert.equal(me!.link, 'connected');
    // RESP3: a verbatim string of format txt with the same text.
    const r3 = await RespClient.open(s.proc.port);
    try {
      await r3.call('HELLO', '3');
      const v = await r3.call('CLUSTER', 'NODES');
      assert.ok(v instanceof Verbatim, 'RESP3 CLUSTER NODES is a verbatim string');
      assert.equal(v.format, 'txt');
      assert.equal(parseNodes(v.text)[0]!.id, s.proc.id);
    } finally {
      r3.close();
    }
  });

  test('CLUSTER INFO: key:value lines ending with \\r\\n, with the membership fields', async () => {
    const text = (await s.client.call('CLUSTER', 'INFO')) as string;
    assert.ok(text.endsWith('\r\n'), 'the last line ends with \\r\\n too');
    const lines = text.slice(0, -2).split('\r\n');
    for (const line of lines) assert.match(line, /^[a-z_]+:[^\r\n:]*$/, `INFO line: ${JSON.stringify(line)}`);
    const f = infoFields(text);
    for (const key of ['cluster_state', 'cluster_known_nodes', 'cluster_alive_nodes', 'cluster_suspect_nodes', 'cluster_failed_nodes', 'cluster_membership_digest']) {
      assert.ok(f.has(key), `CLUSTER INFO has ${key}`);
    }
    assert.equal(lines[0]!.split(':')[0], 'cluster_state', 'cluster_state comes first, as in Redis');
    assert.equal(f.get('cluster_known_nodes'), '1');
    assert.equal(f.get('cluster_alive_nodes'), '1');
    assert.equal(f.get('cluster_suspect_nodes'), '0');
    assert.equal(f.get('cluster_failed_nodes'), '0');
    assert.match(f.get('cluster_membership_digest')!, /^[0-9a-f]+$/);
    const r3 = await RespClient.open(s.proc.port);
    try {
      await r3.call('HELLO', '3');
      const v = await r3.call('CLUSTER', 'INFO');
      assert.ok(v instanceof Verbatim && v.format === 'txt', 'RESP3 CLUSTER INFO is a verbatim txt string');
    } finally {
      r3.close();
    }
  });

  test('CLUSTER MYID is stable across a restart with the same --dir', async () => {
    const before = s.proc.id;
    assert.equal(await stopNode(s, 'SIGTERM'), 0);
    s = await group.start('S2', [], dir);
    assert.equal(await s.client.call('CLUSTER', 'MYID'), before);
    assert.equal((await nodesOf(s))[0]!.id, before);
  });
});

// ---- five nodes: mesh, crash, restart, leave, forget -----------------------------------------

describe('five nodes', () => {
  const group = new Group();
  let a: Node, b: Node, c: Node, d: Node, e: Node;
  let eDir: string;
  const names = new Map<string, string>();

  before(async () => {
    eDir = group.keptDir();
    [a, b, c, d, e] = await Promise.all([
      group.start('A'),
      group.start('B'),
      group.start('C'),
      group.start('D'),
      group.start('E', [], eDir),
    ]);
    for (const n of [a, b, c, d, e]) names.set(n.proc.id, n.name);
  });
  after(() => group.stopAll());

  test('node ids differ between nodes', async () => {
    const ids = await Promise.all([a, b, c, d, e].map((n) => n.client.call('CLUSTER', 'MYID')));
    for (const id of ids) assert.match(id as string, /^[0-9a-f]{40}$/);
    assert.equal(new Set(ids).size, 5);
  });

  test('a chain of MEETs (A-B, B-C, C-D, D-E) forms a full mesh', async () => {
    await chainMeet([a, b, c, d, e]);
    await meshed([a, b, c, d, e], names);
    const byId = new Map([a, b, c, d, e].map((n) => [n.proc.id, n]));
    for (const n of [a, b, c, d, e]) {
      const lines = await nodesOf(n);
      assert.equal(lines.length, 5);
      for (const l of lines) {
        const who = byId.get(l.id)!;
        assert.equal(`${l.host}:${l.port}@${l.busPort}`, `127.0.0.1:${who.proc.port}@${who.proc.busPort}`, `${n.name}'s line for ${who.name}`);
        assert.deepEqual(l.flags, l.id === n.proc.id ? ['myself', 'master'] : ['master'], `${n.name}'s flags for ${who.name}`);
        assert.equal(l.link, 'connected');
      }
      const info = await infoOf(n);
      assert.equal(info.get('cluster_state'), 'ok');
      assert.equal(info.get('cluster_known_nodes'), '5');
      assert.equal(info.get('cluster_alive_nodes'), '5');
      assert.equal(info.get('cluster_suspect_nodes'), '0');
      assert.equal(info.get('cluster_failed_nodes'), '0');
    }
  });

  test('kill -9 of one node: every survivor marks it fail, CLUSTER INFO counts it failed', async () => {
    // E must have written its peers before it dies, or it could not rejoin by itself later.
    const peersFile = join(eDir, 'peers.json');
    await eventually(async () => {
      await e.client.call('PING');
      if (!existsSync(peersFile)) return 'no peers.json yet';
      const peers = JSON.parse(readFileSync(peersFile, 'utf8')) as unknown[];
      return peers.length === 4 ? true : `peers.json lists ${peers.length}`;
    }, 'E saved its 4 peers');

    const eId = e.proc.id;
    assert.equal(await stopNode(e, 'SIGKILL'), 'SIGKILL');
    const survivors = [a, b, c, d];
    await eventually(
      sees(survivors, new Map([...alive(...survivors), [eId, 'dead' as State]]), names),
      'every survivor marks E fail',
      SLOW,
    );
    for (const n of survivors) {
      const line = (await nodesOf(n)).find((l) => l.id === eId)!;
      assert.deepEqual(line.flags, ['master', 'fail']);
      assert.equal(line.link, 'disconnected');
      const info = await infoOf(n);
      assert.equal(info.get('cluster_known_nodes'), '5');
      assert.equal(info.get('cluster_alive_nodes'), '4');
      assert.equal(info.get('cluster_suspect_nodes'), '0');
      assert.equal(info.get('cluster_failed_nodes'), '1');
    }
  });

  test('the killed node restarted with the same --dir rejoins by itself under its old id', async () => {
    const oldId = e.proc.id;
    e = await group.start('E', [], eDir); // no MEET: it finds its peers in --dir
    assert.equal(e.proc.id, oldId);
    assert.equal(await e.client.call('CLUSTER', 'MYID'), oldId);
    const everyone = [a, b, c, d, e];
    await meshed(everyone, names);
    for (const n of everyone) {
      const line = (await nodesOf(n)).find((l) => l.id === oldId)!;
      assert.equal(`${line.port}@${line.busPort}`, `${e.proc.port}@${e.proc.busPort}`, `${n.name} knows E's new address`);
      assert.equal((await infoOf(n)).get('cluster_alive_nodes'), '5');
    }
  });

  test('SIGTERM: the others see the node leave gracefully (it is no longer listed)', async () => {
    const dId = d.proc.id;
    assert.equal(await stopNode(d, 'SIGTERM'), 0);
    assert.ok(d.proc.logs.some((l) => l.event === 'stopped'), 'D stopped gracefully');
    const rest = [a, b, c, e];
    await eventually(async () => {
      const listed: string[] = [];
      for (const n of rest) {
        const line = (await nodesOf(n)).find((l) => l.id === dId);
        if (!line) continue;
        // A leave travels at gossip speed; failure detection takes a probe period and more.
        assert.equal(stateOf(line), 'alive', `${n.name} shows D as ${line.flags.join(',')}: the graceful leave was taken for a failure`);
        listed.push(n.name);
      }
      return listed.length === 0 ? true : `D still listed by ${listed.join(',')}`;
    }, 'D disappears from every CLUSTER NODES', FAST);
    for (const n of rest) {
      const info = await infoOf(n);
      assert.equal(info.get('cluster_known_nodes'), '4');
      assert.equal(info.get('cluster_failed_nodes'), '0');
      assert.equal((await heckInfo(n)).get('members_left'), '1', `${n.name} counts D as left in INFO heck`);
    }
  });

  test('CLUSTER FORGET of a dead node removes it from every node', async () => {
    const cId = c.proc.id;
    assert.equal(await stopNode(c, 'SIGKILL'), 'SIGKILL');
    const rest = [a, b, e];
    // Only C is looked at, so this test stands on its own whatever became of D.
    const cState = (want: State | undefined) => async (): Promise<true | string> => {
      const seen = await Promise.all(rest.map(async (n) => [n.name, (await viewOf(n)).get(cId) ?? 'absent'] as const));
      return seen.every(([, s]) => s === (want ?? 'absent')) ? true : seen.map(([who, s]) => `${who}: C ${s}`).join(', ');
    };
    await eventually(cState('dead'), 'C marked fail everywhere', SLOW);
    const knownBefore = await Promise.all(rest.map(async (n) => Number((await infoOf(n)).get('cluster_known_nodes'))));
    assert.deepEqual(await a.client.call('CLUSTER', 'FORGET', cId), new SimpleString('OK'));
    await eventually(cState(undefined), 'C gone from every CLUSTER NODES (FORGET spreads)');
    const knownAfter = await Promise.all(rest.map(async (n) => Number((await infoOf(n)).get('cluster_known_nodes'))));
    assert.deepEqual(knownAfter, knownBefore.map((k) => k - 1), 'cluster_known_nodes dropped by one everywhere');
    assert.deepEqual(await a.client.call('CLUSTER', 'FORGET', cId), new ErrorReply(`ERR Unknown node ${cId}`));
    assert.deepEqual(await b.client.call('CLUSTER', 'FORGET', cId), new ErrorReply(`ERR Unknown node ${cId}`));
    // The ban holds: gossip, push-pull and reconnection do not bring it back.
    for (let i = 0; i < 25; i++) {
      assert.equal(await cState(undefined)(), true, 'C came back');
      await pause(PACE_MS);
    }
    for (const n of rest) for (const other of rest) assert.equal((await viewOf(n)).get(other.proc.id), 'alive');
  });
});

// ---- encryption --------------------------------------------------------------------------------

describe('encrypted clusters', () => {
  const group = new Group();
  const KEY = 'a1'.repeat(32);
  const OTHER_KEY = '5e'.repeat(32);
  const names = new Map<string, string>();
  after(() => group.stopAll());

  test('nodes with the same key mesh; other keys, no key or another cluster name never merge', async () => {
    const [k1, k2, k3] = await Promise.all(['K1', 'K2', 'K3'].map((n) => group.start(n, ['--cluster-key', KEY])));
    const ks = [k1!, k2!, k3!];
    for (const k of ks) names.set(k.proc.id, k.name);
    for (const k of ks) assert.equal((await heckInfo(k)).get('cluster_key'), 'on');
    await chainMeet(ks);
    await meshed(ks, names);

    const [x, y, z, w] = await Promise.all([
      group.start('X(other key)', ['--cluster-key', OTHER_KEY]),
      group.start('Y(no key)'),
      group.start('Z(other name)', ['--cluster-key', KEY, '--cluster-name', 'elsewhere']),
      group.start('W(same key)', ['--cluster-key', KEY]), // control: proves the wait was long enough
    ]);
    const strangers = [x!, y!, z!];
    for (const n of [...strangers, w!]) names.set(n.proc.id, n.name);
    for (const n of [...strangers, w!]) {
      assert.deepEqual(await n.client.call('CLUSTER', 'MEET', '127.0.0.1', String(k1!.proc.port), String(k1!.proc.busPort)), new SimpleString('OK'));
    }
    // A stranger also tries the other way round: a cluster node meets it.
    assert.deepEqual(await k2!.client.call('CLUSTER', 'MEET', '127.0.0.1', String(x!.proc.port), String(x!.proc.busPort)), new SimpleString('OK'));

    const strangerIds = new Set(strangers.map((n) => n.proc.id));
    const checkApart = async (): Promise<void> => {
      for (const n of strangers) {
        const view = await viewOf(n);
        assert.deepEqual([...view.keys()], [n.proc.id], `${n.name} stays alone, sees ${describeView(view, names)}`);
      }
      for (const k of [...ks, w!]) {
        const view = await viewOf(k);
        for (const id of view.keys()) assert.ok(!strangerIds.has(id), `${k.name} lists ${names.get(id)}`);
      }
    };
    // Until the control node has joined, and then well past a reconnect interval of the local
    // profile (3 s), the strangers stay alone and unseen.
    const joined = alive(...ks, w!);
    await eventually(async () => {
      await checkApart();
      return sees([...ks, w!], joined, names)();
    }, 'W (same key) joins the encrypted cluster', MESH);
    for (let i = 0; i < 200; i++) {
      await checkApart();
      await pause(PACE_MS);
    }
    await checkApart();
    await meshed([...ks, w!], names);
  });
});

// ---- fuzzed bus traffic ------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_SEED = 0xc1a55;

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/**
 * A random datagram that is not a well-formed message: an unkeyed bus accepts anything
 * well-formed from anyone (that is what --cluster-key is for), so those would be legitimate
 * traffic, not fuzz. Half of them start like a packet (version 1, a real type byte).
 */
function fuzzDatagram(rand: () => number): Buffer {
  for (;;) {
    const len = rand() < 0.1 ? Math.floor(rand() * 8) : Math.floor(rand() * 1400);
    const b = randomBytes(rand, len);
    if (len >= 2 && rand() < 0.5) {
      b[0] = 1;
      b[1] = Math.floor(rand() * 12);
      if (b[1] === 8 && len >= 3) b[2] = 1 + Math.floor(rand() * 4); // a compound of a few parts
    }
    const decoded = decodePacket(b);
    if (decoded === null || decoded.length === 0) return b;
  }
}

/** A random stream request: garbage, a framed random message, a truncated frame, or a huge claim. */
function fuzzStream(rand: () => number): Buffer {
  const kind = Math.floor(rand() * 5);
  const frame = (body: Buffer, claimed = body.length) => {
    const h = Buffer.alloc(4);
    h.writeUInt32BE(claimed >>> 0);
    return Buffer.concat([h, body]);
  };
  for (;;) {
    const body = randomBytes(rand, Math.floor(rand() * 600));
    if (body.length > 0 && rand() < 0.5) body[0] = Math.floor(rand() * 12);
    const m = decodeMessage(body);
    if (m?.type === 'pushPull' || m?.type === 'ping') continue; // would be a real request
    switch (kind) {
      case 0: return body; // raw garbage
      case 1: return frame(body); // well framed, random content
      case 2: return frame(body, body.length + 1 + Math.floor(rand() * 1000)); // frame cut short
      case 3: return frame(body, 0xffffffff); // claims 4 GiB
      default: return Buffer.alloc(0); // connect and hang up
    }
  }
}

function sendDatagrams(port: number, packets: Buffer[]): Promise<void> {
  const sock = createSocket('udp4');
  return new Promise<void>((resolve, reject) => {
    let pending = packets.length;
    sock.on('error', reject);
    for (const p of packets) {
      sock.send(p, port, '127.0.0.1', (err) => {
        if (err) reject(err);
        else if (--pending === 0) resolve();
      });
    }
    if (pending === 0) resolve();
  }).finally(() => sock.close());
}

/** Connects, writes the payload, half-closes, and waits until the server has closed too. */
function sendStream(port: number, payload: Buffer): Promise<void> {
  return within(
    new Promise<void>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' }, () => s.end(payload));
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      s.on('close', () => resolve());
    }),
    15_000,
    'a fuzzed bus connection closes',
    () => undefined,
  );
}

describe('fuzzed bus traffic', () => {
  const group = new Group();
  const names = new Map<string, string>();
  after(() => group.stopAll());

  test('5,000 random datagrams and 200 random TCP payloads change nothing', async () => {
    const [f1, f2, f3] = await Promise.all(['F1', 'F2', 'F3'].map((n) => group.start(n)));
    const fs = [f1!, f2!, f3!];
    for (const f of fs) names.set(f.proc.id, f.name);
    await chainMeet(fs);
    await meshed(fs, names);
    const target = f1!;
    const before = await viewOf(target);
    const malformedBefore = Number((await heckInfo(target)).get('bus_malformed'));
    assert.ok(Number.isInteger(malformedBefore), 'INFO heck has bus_malformed');

    const rand = prng(FUZZ_SEED);
    const datagrams = Array.from({ length: 5_000 }, () => fuzzDatagram(rand));
    const streams = Array.from({ length: 200 }, () => fuzzStream(rand));
    // In batches, each followed by a round trip to the target, so its socket buffer can drain.
    for (let i = 0; i < datagrams.length; i += 100) {
      await sendDatagrams(target.proc.busPort, datagrams.slice(i, i + 100));
      assert.deepEqual(await target.client.call('PING'), new SimpleString('PONG'));
    }
    for (let i = 0; i < streams.length; i += 20) {
      await Promise.all(streams.slice(i, i + 20).map((p) => sendStream(target.proc.busPort, p)));
      assert.deepEqual(await target.client.call('PING'), new SimpleString('PONG'));
    }

    assert.ok(running(target), 'the node did not exit');
    assert.deepEqual(await target.client.call('PING'), new SimpleString('PONG'));
    const fresh = await RespClient.open(target.proc.port);
    try {
      assert.deepEqual(await fresh.call('PING'), new SimpleString('PONG'), 'a new client is served too');
    } finally {
      fresh.close();
    }
    const after = await viewOf(target);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'no member added or removed');
    // States: the burst may delay the node's answers for a moment; whatever it was, it settles
    // back to the same picture without anyone being declared dead.
    await eventually(sees(fs, before, names), 'the cluster keeps its picture');
    const malformedAfter = Number((await heckInfo(target)).get('bus_malformed'));
    const sentMalformed = datagrams.filter((p) => decodePacket(p) === null).length + streams.length;
    assert.ok(malformedAfter > malformedBefore, `bus_malformed rose (${malformedBefore} -> ${malformedAfter})`);
    assert.ok(malformedAfter - malformedBefore <= sentMalformed, `bus_malformed rose by at most what was sent (${malformedAfter - malformedBefore} of ${sentMalformed})`);
    assert.ok(running(target), 'still running');
    for (const f of fs) {
      const info = await infoOf(f);
      assert.equal(info.get('cluster_known_nodes'), '3');
      assert.equal(info.get('cluster_failed_nodes'), '0');
    }
  });
});
