/**
 * HECK.ADDORIGIN / REMOVEORIGIN / GET / ALL against one in-process node: reply shapes in RESP2 and
 * RESP3 (raw bytes where the type byte matters), upserts and removes, sorting and STATUS filters,
 * the argument errors of src/probe/spec.ts word for word (and that they change nothing), DBSIZE and
 * CLUSTER INFO's origin fields, COMMAND INFO/DOCS, the heck:origins channel, a 1,000-command
 * pipeline, and a restart on the same data directory. DESIGN.md sections 2 and 6.
 *
 * Every wait is on a reply; nothing sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UNKNOWN_HEALTH, type HealthRecord, type Status } from '../../src/probe/health.js';
import type { RunningNode } from '../../src/node.js';
import { startTestNode, type TestNode } from '../helpers/node.js';
import {
  assertOriginShape, describeReply, encodeCommand, idsOf, infoMap, OK, originsInfo, originView, readReplies,
  startNodeOnDir, type OriginView,
} from '../helpers/origins.js';
import { cmd, expectBytes, readRawReply } from '../helpers/raw.js';
import { ErrorReply, parseReply, Push, RespClient, SimpleString, type Reply } from '../helpers/resp-client.js';

const T = { timeout: 30_000 };

/** Nodes started by this file, closed by the after() hook whatever happened. */
const nodes: TestNode[] = [];
async function fresh(): Promise<TestNode> {
  const n = await startTestNode({ probing: false });
  nodes.push(n);
  return n;
}
after(async () => {
  await Promise.all(nodes.map((n) => n.close().catch(() => undefined)));
});

async function resp3(n: TestNode): Promise<RespClient> {
  const c = await n.client();
  assert.ok((await c.call('HELLO', '3')) instanceof Map);
  return c;
}

async function get(c: RespClient, id: string): Promise<OriginView> {
  const r = await c.call('HECK.GET', id);
  assert.ok(r !== null, `${id} is known`);
  const v = originView(r);
  assertOriginShape(v, id);
  return v;
}

async function dbsize(c: RespClient): Promise<number> {
  const n = await c.call('DBSIZE');
  assert.equal(typeof n, 'number');
  return n as number;
}

/** A verdict as the prober would replicate it (there is no prober on this node: tests set it). */
function setVerdict(n: RunningNode, id: string, status: Status, extra: Partial<HealthRecord> = {}): HealthRecord {
  const now = Date.now();
  const h: HealthRecord = {
    ...UNKNOWN_HEALTH,
    status,
    successes: status === 'up' ? 2 : 0,
    failures: status === 'down' ? 3 : 0,
    lastCheck: now - 50,
    lastChange: now - 5_000,
    latencyMs: 12,
    reason: status === 'up' ? 'ok' : 'status 503',
    checkedBy: n.id,
    ...extra,
  };
  n.replica.health.add(id, h);
  return h;
}

/** mulberry32, so a shuffled order is the same every run. */
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

function shuffle<T>(items: T[], seed: number): T[] {
  const rand = prng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const DEFAULT_VIEW = {
  status: 'unknown', checked_by: '', last_check: 0, last_change: 0, latency_ms: 0, reason: '', age_ms: -1,
  interval: 5000, timeout: 2000, rise: 2, fall: 3, expect: '200-399', method: 'GET',
};

function assertFields(v: OriginView, expected: Record<string, Reply>, what: string): void {
  for (const [k, want] of Object.entries(expected)) assert.deepEqual(v.get(k), want, `${what}: ${k}`);
}

// ---- shapes --------------------------------------------------------------------------------------

describe('HECK.ADDORIGIN and HECK.GET', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  test('+OK, then HECK.GET in RESP2: a flat field/value array with every field, defaults filled in', T, async () => {
    const c = await node.client();
    c.write(cmd('HECK.ADDORIGIN', 'web-1', 'http://127.0.0.1:8080/health'));
    await expectBytes(c, '+OK\r\n');
    c.write(cmd('HECK.GET', 'web-1'));
    const raw = await readRawReply(c);
    assert.equal(raw[0], '*', `RESP2 HECK.GET is an array: ${JSON.stringify(raw.slice(0, 20))}`);
    const parsed = parseReply(Buffer.from(raw, 'latin1'))!.value as Reply[];
    assert.equal(raw.slice(0, raw.indexOf('\r\n')), `*${parsed.length}`);
    const v = originView(parsed);
    assertOriginShape(v, 'web-1');
    assertFields(v, { id: 'web-1', url: 'http://127.0.0.1:8080/health', ...DEFAULT_VIEW, headers: [] }, 'web-1');
    assert.equal(typeof v.get('owner'), 'string');
    // Integers are integer replies, not bulk strings.
    assert.ok(raw.includes('$10\r\nlast_check\r\n:0\r\n'), 'last_check is :0');
    assert.ok(raw.includes('$6\r\nage_ms\r\n:-1\r\n'), 'age_ms is :-1');
    assert.ok(raw.includes('$6\r\nstatus\r\n$7\r\nunknown\r\n'), 'status is the bulk string unknown');
  });

  test('HECK.GET in RESP3 is a map (type byte %) with the same fields and values', T, async () => {
    const c = await resp3(node);
    await c.call('HECK.ADDORIGIN', 'web-2', 'https://origin.example/ping', 'INTERVAL', '1000', 'TIMEOUT', '300', 'RISE', '4',
      'FALL', '5', 'EXPECT', '301,200-204,205', 'METHOD', 'head', 'HEADER', 'Host', 'example.com', 'HEADER', 'X-Probe', 'a b');
    c.write(cmd('HECK.GET', 'web-2'));
    const raw = await readRawReply(c);
    const m = /^%(\d+)\r\n/.exec(raw);
    assert.ok(m, `RESP3 HECK.GET starts with %<n>: ${JSON.stringify(raw.slice(0, 20))}`);
    const parsed = parseReply(Buffer.from(raw, 'latin1'))!.value;
    assert.ok(parsed instanceof Map);
    assert.equal(parsed.size, Number(m[1]), 'the map header counts pairs');
    const v = originView(parsed);
    assertOriginShape(v, 'web-2');
    assertFields(v, {
      id: 'web-2', url: 'https://origin.example/ping', status: 'unknown', last_check: 0, age_ms: -1,
      interval: 1000, timeout: 300, rise: 4, fall: 5,
      expect: '200-205,301', // canonical: sorted, adjacent ranges merged
      method: 'HEAD', // canonical case
      headers: ['Host', 'example.com', 'X-Probe', 'a b'], // in the order given
    }, 'web-2');
    // The same origin read in RESP2 carries the same values.
    const c2 = await node.client();
    assert.deepEqual(await get(c2, 'web-2'), v);
  });

  test('defaults: TIMEOUT is capped at half a short INTERVAL; tcp:// urls are accepted', T, async () => {
    const c = await node.client();
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'short', 'http://h/', 'INTERVAL', '1000'), OK);
    assertFields(await get(c, 'short'), { interval: 1000, timeout: 500 }, 'short');
    assert.deepEqual(await c.call('heck.addorigin', 'db', 'tcp://10.0.0.7:5432', 'interval', '2500', 'rise', '1'), OK);
    assertFields(await get(c, 'db'), { url: 'tcp://10.0.0.7:5432', interval: 2500, timeout: 1250, rise: 1, fall: 3 }, 'db');
    // Inline form works too.
    c.write('HECK.ADDORIGIN inline-1 http://127.0.0.1:9/x RISE 3\r\n');
    assert.deepEqual(await c.read(), OK);
    assertFields(await get(c, 'inline-1'), { url: 'http://127.0.0.1:9/x', rise: 3 }, 'inline-1');
  });

  test('an unknown id is nil: $-1 in RESP2, _ in RESP3', T, async () => {
    const c2 = await node.client();
    c2.write(cmd('HECK.GET', 'no-such-origin'));
    await expectBytes(c2, '$-1\r\n');
    const c3 = await resp3(node);
    c3.write(cmd('HECK.GET', 'no-such-origin'));
    await expectBytes(c3, '_\r\n');
    // Nothing else was queued behind them.
    c2.write(cmd('PING'));
    await expectBytes(c2, '+PONG\r\n');
    c3.write(cmd('PING'));
    await expectBytes(c3, '+PONG\r\n');
  });

  test('a verdict shows in HECK.GET: status, checked_by, last_check, latency, reason, age_ms', T, async () => {
    const c = await node.client();
    await c.call('HECK.ADDORIGIN', 'judged', 'http://h/');
    const h = setVerdict(node, 'judged', 'down');
    const v = await get(c, 'judged');
    assertFields(v, {
      status: 'down', checked_by: node.id, last_check: h.lastCheck, last_change: h.lastChange, latency_ms: 12, reason: 'status 503',
    }, 'judged');
    const age = v.get('age_ms') as number;
    assert.ok(age >= 50 && age < 60_000, `age_ms is now - last_check: ${age}`);
  });
});

// ---- upsert and remove ------------------------------------------------------------------------

describe('upsert and remove', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  test('an upsert replaces the whole spec (options not given go back to defaults)', T, async () => {
    const c = await node.client();
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'u', 'http://one/', 'RISE', '7', 'HEADER', 'X-A', '1', 'METHOD', 'HEAD'), OK);
    assertFields(await get(c, 'u'), { url: 'http://one/', rise: 7, method: 'HEAD', headers: ['X-A', '1'] }, 'first');
    const size = await dbsize(c);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'u', 'http://two/', 'INTERVAL', '2000'), OK);
    assertFields(await get(c, 'u'), { url: 'http://two/', interval: 2000, timeout: 1000, rise: 2, method: 'GET', headers: [] }, 'replaced');
    assert.equal(await dbsize(c), size, 'an upsert does not add an origin');
  });

  test('REMOVEORIGIN answers :1, then :0; the origin is gone; a re-add works', T, async () => {
    const c = await node.client();
    await c.call('HECK.ADDORIGIN', 'r', 'http://r/');
    const size = await dbsize(c);
    c.write(cmd('HECK.REMOVEORIGIN', 'r'));
    await expectBytes(c, ':1\r\n');
    c.write(cmd('HECK.REMOVEORIGIN', 'r'));
    await expectBytes(c, ':0\r\n');
    c.write(cmd('HECK.REMOVEORIGIN', 'never-there'));
    await expectBytes(c, ':0\r\n');
    assert.equal(await c.call('HECK.GET', 'r'), null);
    assert.equal(await dbsize(c), size - 1);
    assert.ok(!idsOf(await c.call('HECK.ALL')).includes('r'), 'not in HECK.ALL');
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'r', 'http://r2/', 'FALL', '9'), OK);
    assertFields(await get(c, 'r'), { url: 'http://r2/', fall: 9, status: 'unknown' }, 're-added');
    assert.equal(await dbsize(c), size);
  });

  test('a remove drops the verdict too: a re-added origin starts unknown', T, async () => {
    const c = await node.client();
    await c.call('HECK.ADDORIGIN', 'v', 'http://v/');
    setVerdict(node, 'v', 'up');
    assertFields(await get(c, 'v'), { status: 'up' }, 'before');
    assert.equal(await c.call('HECK.REMOVEORIGIN', 'v'), 1);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'v', 'http://v/'), OK);
    assertFields(await get(c, 'v'), { ...DEFAULT_VIEW, checked_by: '' }, 're-added');
  });
});

// ---- HECK.ALL -------------------------------------------------------------------------------------

describe('HECK.ALL', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));
  const ids = ['b', 'B', 'a10', 'a9', 'a', 'zz-top', 'api.example.com', '0', 'x_y', 'café', 'Z', 'a-1', 'a.1', 'm/1', 'k:8080'];

  test('an empty set: an empty array in both protocols, with or without STATUS', T, async () => {
    const c = await node.client();
    for (const args of [['HECK.ALL'], ['HECK.ALL', 'STATUS', 'up'], ['HECK.ALL', 'STATUS', 'unknown']]) {
      c.write(cmd(...args));
      await expectBytes(c, '*0\r\n', args.join(' '));
    }
    const c3 = await resp3(node);
    c3.write(cmd('HECK.ALL'));
    await expectBytes(c3, '*0\r\n');
    assert.equal(await dbsize(c), 0);
  });

  test('sorted by id whatever the order of the adds; each element shaped as HECK.GET', T, async () => {
    const c = await node.client();
    for (const id of shuffle(ids, 7)) assert.deepEqual(await c.call('HECK.ADDORIGIN', id, `http://h/${encodeURIComponent(id)}`), OK);
    const all = await c.call('HECK.ALL');
    const sorted = [...ids].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    assert.deepEqual(idsOf(all), sorted);
    for (const o of all as Reply[]) {
      const v = originView(o);
      assertOriginShape(v, v.get('id') as string);
      assert.deepEqual(v, await get(c, v.get('id') as string), 'same as HECK.GET');
    }
    // RESP3: an array of maps.
    const c3 = await resp3(node);
    const all3 = await c3.call('HECK.ALL');
    assert.ok(Array.isArray(all3) && all3.every((o) => o instanceof Map), 'RESP3 HECK.ALL is an array of maps');
    assert.deepEqual(idsOf(all3), sorted);
  });

  test('STATUS up / down / unknown keeps only those, still sorted; the keyword and value are case-insensitive', T, async () => {
    const c = await node.client();
    const up = ['a9', 'café', 'B'];
    const down = ['zz-top', '0'];
    for (const id of up) setVerdict(node, id, 'up');
    for (const id of down) setVerdict(node, id, 'down');
    const sort = (xs: string[]) => [...xs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    assert.deepEqual(idsOf(await c.call('HECK.ALL', 'STATUS', 'up')), sort(up));
    assert.deepEqual(idsOf(await c.call('HECK.ALL', 'status', 'DOWN')), sort(down));
    assert.deepEqual(idsOf(await c.call('heck.all', 'Status', 'Unknown')), sort(ids.filter((i) => !up.includes(i) && !down.includes(i))));
    for (const o of (await c.call('HECK.ALL', 'STATUS', 'down')) as Reply[]) assert.equal(originView(o).get('status'), 'down');
    assert.equal((await c.call('HECK.ALL') as Reply[]).length, ids.length, 'without STATUS: all of them');
  });

  test('a bad STATUS value and bad syntax are errors', T, async () => {
    const c = await node.client();
    assert.deepEqual(await c.call('HECK.ALL', 'STATUS', 'sideways'), new ErrorReply('ERR STATUS must be up, down or unknown'));
    assert.deepEqual(await c.call('HECK.ALL', 'STATUS', ''), new ErrorReply('ERR STATUS must be up, down or unknown'));
    assert.deepEqual(await c.call('HECK.ALL', 'foo'), new ErrorReply('ERR syntax error'));
    assert.deepEqual(await c.call('HECK.ALL', 'STATUS'), new ErrorReply('ERR syntax error'));
    assert.deepEqual(await c.call('HECK.ALL', 'STATUS', 'up', 'extra'), new ErrorReply('ERR syntax error'));
    assert.deepEqual(await c.call('HECK.ALL', 'up', 'STATUS'), new ErrorReply('ERR syntax error'));
  });
});

// ---- errors -----------------------------------------------------------------------------------------

describe('argument errors', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  const A = 'HECK.ADDORIGIN';
  const cases: [string, (string | Buffer)[], string][] = [
    ['empty id', [A, '', 'http://h/'], 'ERR invalid origin id: must be 1 to 256 bytes'],
    ['257-byte id', [A, 'x'.repeat(257), 'http://h/'], 'ERR invalid origin id: must be 1 to 256 bytes'],
    ['id with a space', [A, 'a b', 'http://h/'], 'ERR invalid origin id: whitespace and control characters are not allowed'],
    ['id not UTF-8', [A, Buffer.from([0x61, 0xff]), 'http://h/'], 'ERR invalid origin id: not valid UTF-8'],
    ['ftp url', [A, 'x', 'ftp://h/'], "ERR invalid url 'ftp://h/': scheme must be http, https or tcp"],
    ['not a url', [A, 'x', 'nonsense'], "ERR invalid url 'nonsense': not a valid URL"],
    ['url with a space', [A, 'x', 'http://h/a b'], "ERR invalid url 'http://h/a b': whitespace and control characters are not allowed"],
    ['tcp without a port', [A, 'x', 'tcp://h'], "ERR invalid url 'tcp://h': a tcp url needs a port (tcp://host:port)"],
    ['credentials in the url', [A, 'x', 'http://user:secret@h/'], 'ERR invalid url: credentials are not allowed in the url (put them in a HEADER)'],
    ['a fragment', [A, 'x', 'http://h/#frag'], "ERR invalid url 'http://h/#frag': a fragment is not allowed"],
    ['no host', [A, 'x', 'http:///path'], "ERR invalid url 'http:///path': a host is required (scheme://host)"],
    ['INTERVAL too small', [A, 'x', 'http://h/', 'INTERVAL', '50'], 'ERR INTERVAL must be an integer between 100 and 3600000 (milliseconds)'],
    ['INTERVAL not a number', [A, 'x', 'http://h/', 'INTERVAL', 'abc'], 'ERR value is not an integer or out of range'],
    ['TIMEOUT = INTERVAL', [A, 'x', 'http://h/', 'INTERVAL', '1000', 'TIMEOUT', '1000'], 'ERR TIMEOUT must be less than INTERVAL'],
    ['TIMEOUT >= default INTERVAL', [A, 'x', 'http://h/', 'TIMEOUT', '5000'], 'ERR TIMEOUT must be less than INTERVAL'],
    ['RISE 0', [A, 'x', 'http://h/', 'RISE', '0'], 'ERR RISE must be an integer between 1 and 100'],
    ['FALL 101', [A, 'x', 'http://h/', 'FALL', '101'], 'ERR FALL must be an integer between 1 and 100'],
    ['METHOD POST', [A, 'x', 'http://h/', 'METHOD', 'POST'], 'ERR METHOD must be GET or HEAD'],
    ['EXPECT 99', [A, 'x', 'http://h/', 'EXPECT', '99'], "ERR invalid EXPECT '99': status codes must be between 100 and 599"],
    ['EXPECT lo > hi', [A, 'x', 'http://h/', 'EXPECT', '300-200'], "ERR invalid EXPECT '300-200': range '300-200' has lo > hi"],
    ['EXPECT words', [A, 'x', 'http://h/', 'EXPECT', 'abc'], "ERR invalid EXPECT 'abc': 'abc' is neither a status code nor a lo-hi range"],
    ['HEADER Content-Length', [A, 'x', 'http://h/', 'HEADER', 'Content-Length', '5'], 'ERR HEADER Content-Length is set by the prober and cannot be given'],
    ['HEADER bad name', [A, 'x', 'http://h/', 'HEADER', 'bad name', 'v'], "ERR invalid HEADER name 'bad name': must be an HTTP token of 1 to 128 bytes"],
    ['HEADER control char', [A, 'x', 'http://h/', 'HEADER', 'X-A', 'a\x01b'], 'ERR invalid HEADER value for X-A: control characters are not allowed'],
    ['Host twice', [A, 'x', 'http://h/', 'HEADER', 'Host', 'a', 'HEADER', 'host', 'b'], 'ERR HEADER Host given more than once'],
    ['EXPECT on tcp', [A, 'x', 'tcp://h:1', 'EXPECT', '200'], 'ERR EXPECT, METHOD and HEADER apply to http(s) origins only'],
    ['unknown option', [A, 'x', 'http://h/', 'BOGUS', '1'], 'ERR syntax error'],
    ['option without a value', [A, 'x', 'http://h/', 'INTERVAL'], 'ERR syntax error'],
    ['repeated option', [A, 'x', 'http://h/', 'RISE', '2', 'RISE', '3'], 'ERR syntax error'],
    ['HEADER without a value', [A, 'x', 'http://h/', 'HEADER', 'X-A'], 'ERR syntax error'],
    ['syntax before values', [A, 'x', 'http://h/', 'INTERVAL', 'abc', 'BOGUS'], 'ERR syntax error'],
    ['GET of an empty id', ['HECK.GET', ''], 'ERR invalid origin id: must be 1 to 256 bytes'],
    ['REMOVEORIGIN of a bad id', ['HECK.REMOVEORIGIN', 'a\tb'], 'ERR invalid origin id: whitespace and control characters are not allowed'],
    ['ADDORIGIN arity (1)', [A], "ERR wrong number of arguments for 'heck.addorigin' command"],
    ['ADDORIGIN arity (2)', [A, 'x'], "ERR wrong number of arguments for 'heck.addorigin' command"],
    ['GET arity (0)', ['HECK.GET'], "ERR wrong number of arguments for 'heck.get' command"],
    ['GET arity (2)', ['heck.get', 'a', 'b'], "ERR wrong number of arguments for 'heck.get' command"],
    ['REMOVEORIGIN arity (0)', ['HECK.REMOVEORIGIN'], "ERR wrong number of arguments for 'heck.removeorigin' command"],
    ['REMOVEORIGIN arity (2)', ['HECK.REMOVEORIGIN', 'a', 'b'], "ERR wrong number of arguments for 'heck.removeorigin' command"],
  ];

  test('each bad request gets the exact error text, and nothing changes (DBSIZE, digest, the log, the spec)', T, async () => {
    const c = await node.client();
    // An origin named like the bad requests' own id 'x', so a failed upsert would show.
    assert.deepEqual(await c.call(A, 'x', 'http://keep/', 'RISE', '5'), OK);
    assert.deepEqual(await c.call(A, 'a', 'http://keep-a/'), OK);
    const before = { size: await dbsize(c), info: await originsInfo(c), x: await get(c, 'x') };
    const appends = infoMap(await c.call('INFO', 'persistence')).get('state_appends');
    for (const [what, args, error] of cases) {
      assert.deepEqual(await c.call(...args), new ErrorReply(error), what);
    }
    assert.deepEqual(await c.call('PING'), new SimpleString('PONG'), 'errors do not close the connection');
    assert.equal(await dbsize(c), before.size, 'DBSIZE unchanged');
    assert.deepEqual(await originsInfo(c), before.info, 'cluster_origins and its digest unchanged');
    assert.deepEqual(await get(c, 'x'), before.x, "x's spec unchanged by the failed upserts");
    assert.equal(infoMap(await c.call('INFO', 'persistence')).get('state_appends'), appends, 'nothing was written to the state log');
    const errorstats = infoMap(await c.call('INFO', 'errorstats'));
    assert.ok(Number(/count=(\d+)/.exec(errorstats.get('errorstat_ERR') ?? '')?.[1]) >= cases.length, 'counted in errorstats');
  });
});

// ---- DBSIZE, CLUSTER INFO, COMMAND -----------------------------------------------------------------

describe('DBSIZE, CLUSTER INFO and COMMAND', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  test('DBSIZE and cluster_origins count the origins present; the live digest tracks them', T, async () => {
    const c = await node.client();
    const empty = await originsInfo(c);
    assert.equal(empty.count, 0);
    assert.equal(await dbsize(c), 0);
    assert.match(empty.digest, /^[0-9a-f]{16}$/, 'a hex digest');
    for (const id of ['d1', 'd2', 'd3']) await c.call('HECK.ADDORIGIN', id, 'http://h/');
    const three = await originsInfo(c);
    assert.equal(three.count, 3);
    assert.equal(await dbsize(c), 3);
    assert.notEqual(three.digest, empty.digest);

    // A new id changes the digest; removing it brings back the previous one (the tombstone left
    // behind is not part of the live digest).
    await c.call('HECK.ADDORIGIN', 'd4', 'http://h/');
    const four = await originsInfo(c);
    assert.equal(four.count, 4);
    assert.notEqual(four.digest, three.digest);
    assert.equal(await c.call('HECK.REMOVEORIGIN', 'd4'), 1);
    assert.deepEqual(await originsInfo(c), three, 'back to the digest of d1..d3');
    assert.equal(await dbsize(c), 3);
    // A remove of an unknown id changes nothing.
    assert.equal(await c.call('HECK.REMOVEORIGIN', 'nope'), 0);
    assert.deepEqual(await originsInfo(c), three);
    // Tombstones are counted apart in INFO heck.
    const heck = infoMap(await c.call('INFO', 'heck'));
    assert.equal(heck.get('origins'), '3');
    assert.equal(heck.get('origin_tombstones'), '1');
    // Removing all of them: the empty digest again.
    for (const id of ['d1', 'd2', 'd3']) assert.equal(await c.call('HECK.REMOVEORIGIN', id), 1);
    assert.deepEqual(await originsInfo(c), empty);
  });

  test('COMMAND INFO, COMMAND DOCS and COMMAND LIST know the HECK.* commands', T, async () => {
    const c = await node.client();
    const names = ['heck.addorigin', 'heck.removeorigin', 'heck.get', 'heck.all'];
    const arities = [-3, 2, 2, -1];
    const info = await c.call('COMMAND', 'INFO', ...names.map((n) => n.toUpperCase()));
    assert.ok(Array.isArray(info) && info.length === 4);
    for (const [i, entry] of info.entries()) {
      assert.ok(Array.isArray(entry), `COMMAND INFO ${names[i]} is known: ${describeReply(entry)}`);
      assert.equal(entry[0], names[i]);
      assert.equal(entry[1], arities[i], `${names[i]} arity`);
    }
    const list = await c.call('COMMAND', 'LIST');
    assert.ok(Array.isArray(list));
    for (const n of names) assert.ok(list.includes(n), `COMMAND LIST has ${n}`);

    const docs = await c.call('COMMAND', 'DOCS', 'heck.addorigin');
    assert.ok(Array.isArray(docs) && docs.length === 2, `COMMAND DOCS reply: ${describeReply(docs)}`);
    assert.equal(docs[0], 'heck.addorigin');
    const doc = originView(docs[1]!);
    assert.equal(doc.get('group'), 'heck');
    assert.equal(typeof doc.get('summary'), 'string');
    const args = (doc.get('arguments') as Reply[]).map((a) => originView(a).get('name'));
    assert.deepEqual(args, ['id', 'url', 'interval', 'timeout', 'rise', 'fall', 'codes', 'method', 'header']);
    const c3 = await resp3(node);
    const docs3 = await c3.call('COMMAND', 'DOCS', 'heck.get', 'heck.all', 'heck.removeorigin');
    assert.ok(docs3 instanceof Map, 'RESP3 COMMAND DOCS is a map');
    assert.deepEqual([...docs3.keys()].sort(), ['heck.all', 'heck.get', 'heck.removeorigin']);
  });

  test('COMMAND INFO flags: HECK.ADDORIGIN/REMOVEORIGIN are write, HECK.GET/ALL readonly (as Redis flags SET and GET)',
    T,
    async () => {
      const c = await node.client();
      const flagsOf = async (name: string) => {
        const [entry] = (await c.call('COMMAND', 'INFO', name)) as Reply[][];
        return (entry![2] as Reply[]).map((f) => (f instanceof SimpleString ? f.value : f));
      };
      assert.ok((await flagsOf('heck.addorigin')).includes('write'));
      assert.ok((await flagsOf('heck.removeorigin')).includes('write'));
      assert.ok((await flagsOf('heck.get')).includes('readonly'));
      assert.ok((await flagsOf('heck.all')).includes('readonly'));
      const [get] = (await c.call('COMMAND', 'INFO', 'heck.get')) as Reply[][];
      assert.deepEqual(get!.slice(3, 6), [1, 1, 1], 'the origin id is the key, for clients that route by key');
    });
});

// ---- heck:origins --------------------------------------------------------------------------------------

interface OriginEvent {
  op: string;
  id: string;
  url?: string;
  at: number;
}

/** The next heck:origins message a subscriber receives (RESP2 `message` array or RESP3 push). */
async function nextEvent(sub: RespClient): Promise<OriginEvent> {
  const r = await sub.read();
  const items = r instanceof Push ? r.items : r;
  assert.ok(Array.isArray(items) && items.length === 3, `a pub/sub message: ${describeReply(r)}`);
  assert.equal(items[0], 'message');
  assert.equal(items[1], 'heck:origins');
  assert.equal(typeof items[2], 'string');
  return JSON.parse(items[2] as string) as OriginEvent;
}

describe('heck:origins', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  for (const proto of [2, 3] as const) {
    test(`add, update and remove are published as JSON with id, url (not on remove) and at (RESP${proto})`, T, async () => {
      const sub = proto === 3 ? await resp3(node) : await node.client();
      const subscribed = await sub.call('SUBSCRIBE', 'heck:origins');
      const items = subscribed instanceof Push ? subscribed.items : subscribed;
      assert.deepEqual(items, ['subscribe', 'heck:origins', 1]);
      const c = await node.client();
      const id = `ev${proto}`;
      const t0 = Date.now();

      assert.deepEqual(await c.call('HECK.ADDORIGIN', id, 'http://one/'), OK);
      const add = await nextEvent(sub);
      assert.deepEqual(Object.keys(add).sort(), ['at', 'id', 'op', 'url']);
      assert.deepEqual({ ...add, at: 0 }, { op: 'add', id, url: 'http://one/', at: 0 });
      assert.ok(Number.isSafeInteger(add.at) && Math.abs(add.at - t0) < 60_000, `at is unix ms: ${add.at}`);

      assert.deepEqual(await c.call('HECK.ADDORIGIN', id, 'http://two/', 'RISE', '3'), OK);
      const update = await nextEvent(sub);
      assert.deepEqual({ ...update, at: 0 }, { op: 'update', id, url: 'http://two/', at: 0 });
      assert.ok(update.at >= add.at);

      // Nothing for a remove of an unknown id, nor for a failed add: the next message is the remove.
      assert.equal(await c.call('HECK.REMOVEORIGIN', 'ghost'), 0);
      assert.ok((await c.call('HECK.ADDORIGIN', 'bad', 'ftp://x/')) instanceof ErrorReply);
      assert.equal(await c.call('HECK.REMOVEORIGIN', id), 1);
      const remove = await nextEvent(sub);
      assert.deepEqual(Object.keys(remove).sort(), ['at', 'id', 'op']);
      assert.deepEqual({ ...remove, at: 0 }, { op: 'remove', id, at: 0 });
      assert.ok(remove.at >= update.at);

      // A second remove (:0) publishes nothing either: the next message is a re-add.
      assert.equal(await c.call('HECK.REMOVEORIGIN', id), 0);
      assert.deepEqual(await c.call('HECK.ADDORIGIN', id, 'http://three/'), OK);
      assert.deepEqual({ ...(await nextEvent(sub)), at: 0 }, { op: 'add', id, url: 'http://three/', at: 0 });
      sub.close();
    });
  }
});

// ---- pipelining -------------------------------------------------------------------------------------------

describe('pipelining', () => {
  let node: TestNode;
  before(async () => (node = await fresh()));

  test('1,000 HECK.ADDORIGINs written in one chunk: 1,000 +OK in order, all present', T, async () => {
    const c = await node.client();
    const N = 1000;
    const batch = Buffer.concat(Array.from({ length: N }, (_, i) =>
      encodeCommand('HECK.ADDORIGIN', `pipe-${String(i).padStart(4, '0')}`, `http://10.1.${i >> 8}.${i & 255}:8080/health`, 'RISE', String(1 + (i % 5)))));
    c.write(Buffer.concat([batch, encodeCommand('DBSIZE')]));
    // Exactly N +OK, then DBSIZE's answer: nothing missing, nothing reordered, nothing extra.
    await expectBytes(c, '+OK\r\n'.repeat(N) + `:${N}\r\n`);
    const all = await c.call('HECK.ALL');
    assert.deepEqual(idsOf(all), Array.from({ length: N }, (_, i) => `pipe-${String(i).padStart(4, '0')}`));
    for (const i of [0, 1, 255, 256, 999]) {
      assertFields(await get(c, `pipe-${String(i).padStart(4, '0')}`), { url: `http://10.1.${i >> 8}.${i & 255}:8080/health`, rise: 1 + (i % 5) }, `pipe-${i}`);
    }
  });

  test('held (durable) replies keep their place among other replies in a pipeline', T, async () => {
    const c = await node.client();
    const requests = [
      ['HECK.ADDORIGIN', 'mix', 'http://m/'],
      ['HECK.GET', 'nope'],
      ['HECK.REMOVEORIGIN', 'mix'],
      ['HECK.REMOVEORIGIN', 'mix'],
      ['ECHO', 'between'],
      ['HECK.ADDORIGIN', 'mix', 'http://m2/'],
      ['HECK.ADDORIGIN', 'bad', 'nope'],
      ['HECK.ADDORIGIN', 'mix2', 'http://m3/'],
      ['PING'],
    ];
    c.write(Buffer.concat(requests.map((r) => encodeCommand(...r))));
    const replies = await readReplies(c, requests.length);
    assert.deepEqual(replies, [
      OK, null, 1, 0, 'between', OK, new ErrorReply("ERR invalid url 'nope': not a valid URL"), OK, new SimpleString('PONG'),
    ]);
    assertFields(await get(c, 'mix'), { url: 'http://m2/' }, 'mix');
  });
});

// ---- restart -------------------------------------------------------------------------------------------------

describe('restart on the same data directory', () => {
  let dir: string;
  let running: RunningNode | null = null;
  const clients: RespClient[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'heck-origins-test-'));
  });
  after(async () => {
    for (const c of clients) c.close();
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (n: RunningNode) => {
    const c = await RespClient.open(n.port);
    clients.push(c);
    return c;
  };
  /** HECK.ALL as views, without age_ms (it moves with the clock). */
  const snapshot = async (c: RespClient) =>
    ((await c.call('HECK.ALL')) as Reply[]).map((o) => {
      const v = originView(o);
      v.delete('age_ms');
      return v;
    });

  test('origins, upserts, removes and verdicts survive a stop and start', T, async () => {
    running = await startNodeOnDir(dir);
    const firstId = running.id;
    let c = await open(running);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'keep-1', 'https://k1.example/', 'INTERVAL', '1500', 'TIMEOUT', '700', 'RISE', '3',
      'FALL', '4', 'EXPECT', '200,204', 'METHOD', 'HEAD', 'HEADER', 'Host', 'k1', 'HEADER', 'Authorization', 'Bearer t'), OK);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'keep-2', 'tcp://127.0.0.1:6379'), OK);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'upserted', 'http://old/'), OK);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'upserted', 'http://new/', 'FALL', '6'), OK);
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'gone', 'http://gone/'), OK);
    assert.equal(await c.call('HECK.REMOVEORIGIN', 'gone'), 1);
    setVerdict(running, 'keep-2', 'up');
    const before = await snapshot(c);
    const info = await originsInfo(c);
    assert.deepEqual(before.map((v) => v.get('id')), ['keep-1', 'keep-2', 'upserted']);

    await running.stop();
    running = null;
    running = await startNodeOnDir(dir);
    assert.equal(running.id, firstId, 'same node id');
    c = await open(running);
    assert.deepEqual(await snapshot(c), before, 'every origin and verdict as it was');
    assert.deepEqual(await originsInfo(c), info, 'same count and digest');
    assert.equal(await dbsize(c), 3);
    assert.equal(await c.call('HECK.GET', 'gone'), null, 'the removed origin stays removed');
    assert.equal(await c.call('HECK.REMOVEORIGIN', 'gone'), 0);
    // And the restarted node takes writes.
    assert.deepEqual(await c.call('HECK.ADDORIGIN', 'after', 'http://after/'), OK);
    assert.equal(await dbsize(c), 4);
  });
});
