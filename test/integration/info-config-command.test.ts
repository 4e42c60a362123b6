/**
 * INFO, CONFIG, COMMAND, DBSIZE and TIME as Redis 7.0 answers them
 * (tests/unit/info-command.tcl; server.c genRedisInfoString; config.c configGetCommand /
 * configSetCommand; server.c commandCommand and friends).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { SimpleString, Verbatim, type Reply, type RespClient } from '../helpers/resp-client.js';
import { cmd, err, expectBytes, frame, infoFields, int, readRawReply, until } from '../helpers/raw.js';

let node: TestNode;
before(async () => (node = await startTestNode()));
after(() => node.close());

const T = { timeout: 15_000 };

async function info(c: RespClient, ...sections: string[]): Promise<string> {
  const reply = await c.call('INFO', ...sections);
  if (reply instanceof Verbatim) return reply.text;
  assert.equal(typeof reply, 'string', `INFO ${sections.join(' ')} answered ${String(reply)}`);
  return reply as string;
}

/** Section names of an INFO text, in order. */
const headers = (text: string) => [...text.matchAll(/^# (\S+)\r$/gm)].map((m) => m[1]!);

/** CONFIG GET's reply (flat array in RESP2, map in RESP3) as a Map. */
function configMap(reply: Reply): Map<string, string> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [k as string, v as string]));
  assert.ok(Array.isArray(reply), `CONFIG GET answered ${String(reply)}`);
  assert.equal(reply.length % 2, 0);
  const m = new Map<string, string>();
  for (let i = 0; i < reply.length; i += 2) {
    assert.ok(!m.has(reply[i] as string), `duplicate key ${String(reply[i])}`);
    m.set(reply[i] as string, reply[i + 1] as string);
  }
  return m;
}

async function configGet(c: RespClient, ...patterns: string[]): Promise<Map<string, string>> {
  return configMap(await c.call('CONFIG', 'GET', ...patterns));
}

describe('info-command.tcl', () => {
  test('info command with at most one sub command', T, async () => {
    const r = await node.client();
    for (const arg of ['', 'all', 'default', 'everything']) {
      const text = arg === '' ? await info(r) : await info(r, arg);
      assert.match(text, /redis_version/, arg);
      assert.match(text, /used_cpu_user/, arg);
      assert.doesNotMatch(text, /sentinel_tilt/, arg);
      assert.match(text, /used_memory/, arg);
      if (arg === '' || arg === 'default') assert.doesNotMatch(text, /rejected_calls/, arg);
      else assert.match(text, /rejected_calls/, arg);
    }
  });

  test('info command with one sub-section', T, async () => {
    const r = await node.client();
    let text = await info(r, 'cpu');
    assert.match(text, /used_cpu_user/);
    assert.doesNotMatch(text, /sentinel_tilt/);
    assert.doesNotMatch(text, /used_memory/);

    text = await info(r, 'sentinel');
    assert.doesNotMatch(text, /sentinel_tilt/);
    assert.doesNotMatch(text, /used_memory/);

    text = await info(r, 'commandSTATS'); // case-insensitive
    assert.doesNotMatch(text, /used_memory/);
    assert.match(text, /rejected_calls/);
  });

  test('info command with multiple sub-sections', T, async () => {
    const r = await node.client();
    let text = await info(r, 'cpu', 'sentinel');
    assert.match(text, /used_cpu_user/);
    assert.doesNotMatch(text, /sentinel_tilt/);
    assert.doesNotMatch(text, /master_repl_offset/);

    text = await info(r, 'cpu', 'all');
    assert.match(text, /used_cpu_user/);
    assert.doesNotMatch(text, /sentinel_tilt/);
    assert.match(text, /used_memory/);
    assert.match(text, /master_repl_offset/);
    assert.match(text, /rejected_calls/);
    assert.doesNotMatch(text, /used_cpu_user_children[\s\S]*used_cpu_user_children/, 'no section twice');

    text = await info(r, 'cpu', 'default');
    assert.match(text, /used_cpu_user/);
    assert.doesNotMatch(text, /sentinel_tilt/);
    assert.match(text, /used_memory/);
    assert.match(text, /master_repl_offset/);
    assert.doesNotMatch(text, /rejected_calls/);
    assert.doesNotMatch(text, /used_cpu_user_children[\s\S]*used_cpu_user_children/, 'no section twice');
  });
});

describe('INFO', () => {
  test('format: "# Section" headers, key:value lines ending in CRLF, sections separated by a blank line', T, async () => {
    const r = await node.client();
    const text = await info(r);
    assert.ok(text.startsWith('# Server\r\n'));
    assert.ok(text.endsWith('\r\n'));
    for (const block of text.split('\r\n\r\n')) {
      const lines = block.split('\r\n').filter(Boolean);
      assert.match(lines[0]!, /^# [A-Z][A-Za-z]+$/);
      for (const line of lines.slice(1)) assert.match(line, /^[a-z_0-9|.-]+:/, line);
    }
  });

  test('default sections, in Redis order, plus the heck section', T, async () => {
    const r = await node.client();
    const names = headers(await info(r));
    const redisOrder = ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU', 'Errorstats', 'Cluster', 'Keyspace'];
    assert.deepEqual(names.filter((n) => redisOrder.includes(n)), redisOrder.filter((n) => names.includes(n)));
    for (const must of ['Server', 'Clients', 'Memory', 'Persistence', 'Stats', 'Replication', 'CPU', 'Keyspace', 'Heck']) {
      assert.ok(names.includes(must), `INFO lists # ${must}`);
    }
    assert.ok(!names.includes('Commandstats'));
  });

  test('all / everything list every section once; commandstats is among them', T, async () => {
    const r = await node.client();
    for (const arg of ['all', 'everything', 'ALL']) {
      const names = headers(await info(r, arg));
      assert.equal(new Set(names).size, names.length, `${arg}: no duplicates`);
      assert.ok(names.includes('Commandstats'), arg);
      assert.ok(names.includes('Heck'), arg);
    }
    const names = headers(await info(r, 'server', 'SERVER', 'server'));
    assert.deepEqual(names, ['Server']);
  });

  test('the fields clients rely on', T, async () => {
    const r = await node.client();
    const f = infoFields(await info(r));
    assert.equal(f.get('redis_version'), '7.0.15');
    assert.equal(f.get('redis_mode'), 'standalone');
    assert.equal(f.get('tcp_port'), String(node.port));
    assert.match(f.get('run_id')!, /^[0-9a-f]{40}$/);
    assert.match(f.get('uptime_in_seconds')!, /^\d+$/);
    assert.equal(f.get('loading'), '0', 'ioredis waits for loading:0');
    assert.equal(f.get('role'), 'master');
    assert.equal(f.get('maxclients'), '10000');
    assert.match(f.get('connected_clients')!, /^[1-9]\d*$/);
  });

  test('the heck section', T, async () => {
    const r = await node.client();
    const text = await info(r, 'heck');
    assert.deepEqual(headers(text), ['Heck']);
    const f = infoFields(text);
    assert.equal(f.get('heck_version'), '0.1.0');
    assert.equal(f.get('profile'), 'lan');
    assert.ok(f.has('bus_port'));
    assert.equal(f.get('cluster_key'), 'off');
    assert.equal(headers(await info(r, 'HECK')).length, 1);
  });

  test('unknown section: an empty bulk string', T, async () => {
    const r = await node.client();
    r.send('INFO', 'nosuchsection');
    await expectBytes(r, '$0\r\n\r\n');
  });

  test('RESP2 bulk string; RESP3 verbatim string with the txt format', T, async () => {
    const r = await node.client();
    r.send('INFO', 'server');
    const raw2 = await readRawReply(r);
    const m2 = /^\$(\d+)\r\n/.exec(raw2);
    assert.ok(m2);
    assert.equal(raw2.length, m2[0].length + Number(m2[1]) + 2);
    assert.ok(raw2.slice(m2[0].length).startsWith('# Server\r\nredis_version:7.0.15\r\n'));
    assert.ok(raw2.endsWith('\r\n\r\n'));
    const c = await node.client();
    await c.call('HELLO', '3');
    c.send('INFO', 'server');
    const raw3 = await readRawReply(c);
    const m3 = /^=(\d+)\r\n/.exec(raw3);
    assert.ok(m3, raw3.slice(0, 20));
    assert.equal(raw3.length, m3[0].length + Number(m3[1]) + 2);
    assert.ok(raw3.slice(m3[0].length).startsWith('txt:# Server\r\n'));
  });

  test('connected_clients and pubsub_clients follow the clients', T, async () => {
    const r = await node.client();
    const base = infoFields(await info(r, 'clients'));
    const c = await node.client();
    c.send('SUBSCRIBE', 'info-ch');
    await expectBytes(c, frame(2, 'subscribe', 'info-ch', 1));
    const now = infoFields(await info(r, 'clients'));
    assert.equal(Number(now.get('connected_clients')), Number(base.get('connected_clients')) + 1);
    assert.equal(Number(now.get('pubsub_clients')), Number(base.get('pubsub_clients')) + 1);
    c.close();
    await c.closed;
    await until(async () => infoFields(await info(r, 'clients')).get('connected_clients') === base.get('connected_clients'), 'client gone');
    assert.equal(infoFields(await info(r, 'clients')).get('pubsub_clients'), base.get('pubsub_clients'));
  });
});

describe('INFO commandstats and CONFIG RESETSTAT', () => {
  type Stat = { calls: number; usec: number; usecPerCall: string; rejected: number; failed: number };
  async function commandstats(c: RespClient): Promise<Map<string, Stat>> {
    const text = await info(c, 'commandstats');
    assert.deepEqual(headers(text), ['Commandstats']);
    const stats = new Map<string, Stat>();
    for (const line of text.split('\r\n').slice(1).filter(Boolean)) {
      const m = /^cmdstat_(\S+):calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d),rejected_calls=(\d+),failed_calls=(\d+)$/.exec(line);
      assert.ok(m, `commandstats line ${JSON.stringify(line)}`);
      stats.set(m[1]!, { calls: +m[2]!, usec: +m[3]!, usecPerCall: m[4]!, rejected: +m[5]!, failed: +m[6]! });
    }
    return stats;
  }
  const counts = (s: Stat | undefined) => (s ? [s.calls, s.rejected, s.failed] : undefined);

  test('calls, rejected_calls and failed_calls are counted as Redis counts them', T, async () => {
    const r = await node.client();
    r.send('CONFIG', 'RESETSTAT');
    await expectBytes(r, '+OK\r\n');
    r.write('PING\r\nPING a b\r\nCLIENT ID x\r\nCLIENT\r\nNOPE\r\nCLIENT NOPE\r\n');
    await expectBytes(
      r,
      '+PONG\r\n' +
        err("ERR wrong number of arguments for 'ping' command") +
        err("ERR wrong number of arguments for 'client|id' command") +
        err("ERR wrong number of arguments for 'client' command") +
        err("ERR unknown command 'NOPE', with args beginning with: ") +
        err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."),
    );
    const s = await node.client();
    s.write('SUBSCRIBE c\r\nECHO a\r\nRESET\r\n');
    await expectBytes(
      s,
      frame(2, 'subscribe', 'c', 1) +
        err("ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context") +
        '+RESET\r\n',
    );
    const stats = await commandstats(r);
    assert.deepEqual(counts(stats.get('ping')), [2, 0, 1], 'PING a b ran and failed');
    assert.deepEqual(counts(stats.get('client|id')), [0, 1, 0], 'arity: rejected');
    assert.deepEqual(counts(stats.get('client')), [0, 1, 0], 'container arity: rejected');
    assert.deepEqual(counts(stats.get('echo')), [0, 1, 0], 'subscribed context: rejected');
    assert.deepEqual(counts(stats.get('subscribe')), [1, 0, 0]);
    assert.deepEqual(counts(stats.get('reset')), [1, 0, 0]);
    assert.deepEqual(counts(stats.get('config|resetstat')), [1, 0, 0]);
    assert.ok(!stats.has('time'), 'commands never called are not listed');
    assert.ok(!stats.has('nope'));
    const errorstats = infoFields(await info(r, 'errorstats'));
    assert.equal(errorstats.get('errorstat_ERR'), 'count=6');
    assert.equal(infoFields(await info(r, 'stats')).get('total_error_replies'), '6');
  });

  test('NOAUTH rejections count as rejected_calls', T, async () => {
    const r = await node.client();
    await r.call('CONFIG', 'RESETSTAT');
    await r.call('CONFIG', 'SET', 'requirepass', 'pw');
    try {
      const c = await node.client();
      c.send('PING');
      await expectBytes(c, err('NOAUTH Authentication required.'));
    } finally {
      await r.call('CONFIG', 'SET', 'requirepass', '');
    }
    const stats = await commandstats(r);
    assert.deepEqual(counts(stats.get('ping')), [0, 1, 0]);
    assert.equal(infoFields(await info(r, 'errorstats')).get('errorstat_NOAUTH'), 'count=1');
  });

  test('CONFIG RESETSTAT resets them: only its own call remains', T, async () => {
    const r = await node.client();
    await r.call('PING');
    await r.call('ECHO', 'x');
    r.send('CONFIG', 'RESETSTAT');
    await expectBytes(r, '+OK\r\n');
    const stats = await commandstats(r);
    assert.deepEqual([...stats.keys()], ['config|resetstat']);
    assert.deepEqual(counts(stats.get('config|resetstat')), [1, 0, 0]);
    assert.equal(infoFields(await info(r, 'errorstats')).size, 0);
    const f = infoFields(await info(r, 'stats'));
    assert.equal(f.get('total_error_replies'), '0');
    assert.ok(Number(f.get('total_commands_processed')) <= 3, 'reset, then counts from there');
  });

  test('CONFIG RESETSTAT arity', T, async () => {
    const r = await node.client();
    r.send('CONFIG', 'RESETSTAT', 'x');
    await expectBytes(r, err("ERR wrong number of arguments for 'config|resetstat' command"));
  });
});

describe('CONFIG GET', () => {
  test('save and appendonly, pipelined as redis-benchmark sends them', T, async () => {
    const c = await node.client();
    c.write(cmd('CONFIG', 'GET', 'save') + cmd('CONFIG', 'GET', 'appendonly'));
    await expectBytes(c, '*2\r\n$4\r\nsave\r\n$0\r\n\r\n' + '*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n');
    c.close();
  });

  test('RESP3: a map', T, async () => {
    const c = await node.client();
    await c.call('HELLO', '3');
    c.send('CONFIG', 'GET', 'maxclients');
    await expectBytes(c, '%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n');
    c.send('CONFIG', 'GET', 'nosuchparameter');
    await expectBytes(c, '%0\r\n');
  });

  test('RESP2: a flat array; no match is an empty array', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'GET', 'maxclients');
    await expectBytes(c, '*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n');
    c.send('CONFIG', 'GET', 'nosuchparameter');
    await expectBytes(c, '*0\r\n');
  });

  test('glob patterns, case-insensitive', T, async () => {
    const c = await node.client();
    assert.ok((await configGet(c, 'max*')).has('maxclients'));
    assert.ok((await configGet(c, 'MAX*')).has('maxclients'));
    assert.deepEqual([...(await configGet(c, 'm?xclients')).keys()], ['maxclients']);
    assert.deepEqual([...(await configGet(c, '[lm]axclients')).keys()], ['maxclients']);
    const starMax = await configGet(c, '*max*');
    assert.ok(starMax.has('maxclients') && starMax.has('proto-max-bulk-len'));
    const all = await configGet(c, '*');
    for (const name of ['maxclients', 'timeout', 'requirepass', 'port', 'bind', 'dir', 'client-query-buffer-limit', 'proto-max-bulk-len', 'save', 'appendonly', 'databases']) {
      assert.ok(all.has(name), `CONFIG GET * has ${name}`);
    }
    assert.equal(all.get('timeout'), '0');
    assert.equal(all.get('proto-max-bulk-len'), '536870912');
    assert.equal(all.get('client-query-buffer-limit'), '1073741824');
    assert.equal(all.get('requirepass'), '');
    assert.equal(all.get('databases'), '1');
  });

  test('multiple patterns, overlapping: each parameter once', T, async () => {
    const c = await node.client();
    const reply = await c.call('CONFIG', 'GET', 'maxclients', 'max*', 'timeout', '*clients', 'timeout');
    const m = configMap(reply);
    assert.deepEqual([...m.keys()].sort(), ['maxclients', 'timeout']);
  });

  test('an exact (non-glob) name is echoed as given, like dictFind on the argument', T, async () => {
    // Redis 7.0.15: CONFIG GET MAXCLIENTS -> *2 $10 MAXCLIENTS $5 10000
    const c = await node.client();
    c.send('CONFIG', 'GET', 'MAXCLIENTS');
    await expectBytes(c, '*2\r\n$10\r\nMAXCLIENTS\r\n$5\r\n10000\r\n');
  });

  test('arity', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'GET');
    await expectBytes(c, err("ERR wrong number of arguments for 'config|get' command"));
    c.send('CONFIG');
    await expectBytes(c, err("ERR wrong number of arguments for 'config' command"));
    c.send('CONFIG', 'FOO');
    await expectBytes(c, err("ERR unknown subcommand 'FOO'. Try CONFIG HELP."));
  });
});

describe('CONFIG SET', () => {
  test('mutable values apply, one or several at once', T, async () => {
    const c = await node.client();
    try {
      c.send('CONFIG', 'SET', 'maxclients', '5000');
      await expectBytes(c, '+OK\r\n');
      assert.equal((await configGet(c, 'maxclients')).get('maxclients'), '5000');
      assert.equal(infoFields(await info(c, 'clients')).get('maxclients'), '5000');
      c.send('CONFIG', 'SET', 'maxclients', '4000', 'TIMEOUT', '7');
      await expectBytes(c, '+OK\r\n');
      const m = await configGet(c, 'maxclients', 'timeout');
      assert.equal(m.get('maxclients'), '4000');
      assert.equal(m.get('timeout'), '7');
      c.send('CONFIG', 'SET', 'proto-max-bulk-len', '2mb');
      await expectBytes(c, '+OK\r\n');
      assert.equal((await configGet(c, 'proto-max-bulk-len')).get('proto-max-bulk-len'), '2097152');
    } finally {
      await c.call('CONFIG', 'SET', 'maxclients', '10000', 'timeout', '0', 'proto-max-bulk-len', '536870912');
    }
  });

  test('unknown parameter', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'SET', 'foo', 'bar');
    await expectBytes(c, err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"));
  });

  test('immutable parameters', T, async () => {
    const c = await node.client();
    for (const name of ['databases', 'bus-port', 'profile', 'cluster-key']) {
      c.send('CONFIG', 'SET', name, '1');
      await expectBytes(c, err(`ERR CONFIG SET failed (possibly related to argument '${name}') - can't set immutable config`), name);
    }
  });

  test('invalid values name the parameter', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'SET', 'maxclients', 'abc');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"));
    c.send('CONFIG', 'SET', 'MAXCLIENTS', 'abc');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"));
    c.send('CONFIG', 'SET', 'timeout', '1.5');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"));
  });

  test('duplicate parameter', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'SET', 'maxclients', '10', 'maxclients', '10');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate parameter"));
    c.send('CONFIG', 'SET', 'timeout', '0', 'timeout', 'abc');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter"));
  });

  test('all or nothing: nothing changes when any pair is bad', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'SET', 'maxclients', '10', 'foo', 'bar');
    await expectBytes(c, err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'"));
    c.send('CONFIG', 'SET', 'maxclients', '9', 'timeout', 'abc');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"));
    c.send('CONFIG', 'SET', 'timeout', '5', 'databases', '1');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"));
    const m = await configGet(c, 'maxclients', 'timeout');
    assert.equal(m.get('maxclients'), '10000');
    assert.equal(m.get('timeout'), '0');
  });

  test('every name is checked before any value is parsed (Redis scans all pairs first)', T, async () => {
    // Redis 7.0.15 reports the duplicate / immutable parameter, not the unparsable value before it.
    const c = await node.client();
    c.send('CONFIG', 'SET', 'maxclients', 'abc', 'maxclients', '10');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate parameter"));
    c.send('CONFIG', 'SET', 'maxclients', 'abc', 'databases', '1');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"));
  });

  test('immutable and duplicate errors name the argument as it was sent', T, async () => {
    // Redis 7.0.15 uses c->argv for these two (but the canonical name for bad values).
    const c = await node.client();
    c.send('CONFIG', 'SET', 'DATABASES', '1');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'DATABASES') - can't set immutable config"));
    c.send('CONFIG', 'SET', 'maxclients', '10', 'MaxClients', '10');
    await expectBytes(c, err("ERR CONFIG SET failed (possibly related to argument 'MaxClients') - duplicate parameter"));
  });

  test('arity: too few arguments, and an odd number of them', T, async () => {
    const c = await node.client();
    c.send('CONFIG', 'SET', 'maxclients');
    await expectBytes(c, err("ERR wrong number of arguments for 'config|set' command"));
    // Redis 7.0.15: argc 5 passes the table's arity (-4); configSetCommand answers a syntax error.
    c.send('CONFIG', 'SET', 'maxclients', '10', 'timeout');
    await expectBytes(c, err('ERR syntax error'));
  });
});

describe('COMMAND', () => {
  async function list(c: RespClient, ...filter: string[]): Promise<string[]> {
    const reply = await c.call('COMMAND', 'LIST', ...filter);
    assert.ok(Array.isArray(reply));
    return reply as string[];
  }

  test('COMMAND COUNT counts top-level commands: COMMAND and COMMAND LIST without subcommands agree', T, async () => {
    const c = await node.client();
    const count = await c.call('COMMAND', 'COUNT');
    assert.equal(typeof count, 'number');
    const names = await list(c);
    assert.equal(names.filter((n) => !n.includes('|')).length, count);
    assert.equal(new Set(names).size, names.length);
    const all = await c.call('COMMAND');
    assert.ok(Array.isArray(all));
    assert.equal(all.length, count);
    for (const name of ['ping', 'echo', 'hello', 'auth', 'quit', 'reset', 'select', 'client', 'command', 'info', 'config', 'dbsize', 'time', 'subscribe', 'unsubscribe', 'psubscribe', 'punsubscribe', 'publish', 'shutdown']) {
      assert.ok(names.includes(name), `COMMAND LIST has ${name}`);
    }
    for (const name of ['client|id', 'client|list', 'client|kill', 'client|setinfo', 'config|get', 'config|set', 'config|resetstat', 'command|count', 'command|info', 'command|docs', 'command|list']) {
      assert.ok(names.includes(name), `COMMAND LIST has ${name}`);
    }
    for (const n of names.filter((x) => x.includes('|'))) assert.ok(names.includes(n.split('|')[0]!), `${n} has its container`);
  });

  test('COMMAND LIST FILTERBY', T, async () => {
    const c = await node.client();
    const cl = await list(c, 'FILTERBY', 'PATTERN', 'cl*');
    assert.ok(cl.includes('client') && cl.includes('client|list'));
    assert.ok(cl.every((n) => n.startsWith('cl')));
    const ps = await list(c, 'FILTERBY', 'ACLCAT', 'pubsub');
    for (const n of ['publish', 'subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']) assert.ok(ps.includes(n), n);
    assert.ok(!ps.includes('ping'));
    assert.deepEqual(await list(c, 'FILTERBY', 'MODULE', 'nosuchmodule'), []);
  });

  test('COMMAND errors', T, async () => {
    const c = await node.client();
    c.send('COMMAND', 'COUNT', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'command|count' command"));
    c.send('COMMAND', 'LIST', 'x');
    await expectBytes(c, err('ERR syntax error'));
    c.send('COMMAND', 'FOO');
    await expectBytes(c, err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."));
  });

  test('COMMAND INFO: ten elements per command, subcommands nested', T, async () => {
    const c = await node.client();
    c.send('COMMAND', 'INFO', 'ping');
    assert.ok((await readRawReply(c)).startsWith('*1\r\n*10\r\n$4\r\nping\r\n:-1\r\n*'));
    const [ping] = (await c.call('COMMAND', 'INFO', 'PING')) as Reply[][];
    assert.equal(ping!.length, 10);
    assert.equal(ping![0], 'ping');
    assert.equal(ping![1], -1);
    assert.ok((ping![2] as SimpleString[]).some((f) => f instanceof SimpleString && f.value === 'fast'));
    assert.deepEqual(ping!.slice(3, 6), [0, 0, 0]);
    const cats = (ping![6] as SimpleString[]).map((s) => s.value);
    assert.ok(cats.includes('@fast') && cats.includes('@connection'));
    assert.ok(Array.isArray(ping![7]) && Array.isArray(ping![8]));
    assert.deepEqual(ping![9], []);

    const [client] = (await c.call('COMMAND', 'INFO', 'client')) as Reply[][];
    assert.equal(client![0], 'client');
    assert.equal(client![1], -2);
    const subs = client![9] as Reply[][];
    assert.ok(subs.length >= 7);
    for (const s of subs) {
      assert.equal(s.length, 10);
      assert.match(s[0] as string, /^client\|[a-z-]+$/);
    }
    const [clientList] = (await c.call('COMMAND', 'INFO', 'client|list')) as Reply[][];
    assert.equal(clientList![0], 'client|list');
    assert.equal(clientList![1], -2);
  });

  test('COMMAND INFO with no names lists every command', T, async () => {
    const c = await node.client();
    const count = await c.call('COMMAND', 'COUNT');
    const all = (await c.call('COMMAND', 'INFO')) as Reply[];
    assert.equal(all.length, count);
  });

  test('COMMAND INFO of unknown names: a null per name ($-1 in RESP2, _ in RESP3)', T, async () => {
    const c = await node.client();
    c.send('COMMAND', 'INFO', 'nosuchcommand');
    await expectBytes(c, '*1\r\n$-1\r\n');
    const mixed = (await c.call('COMMAND', 'INFO', 'nosuch', 'echo', 'client|nosuch')) as Reply[];
    assert.equal(mixed.length, 3);
    assert.equal(mixed[0], null);
    assert.equal((mixed[1] as Reply[])[0], 'echo');
    assert.equal(mixed[2], null);
    const r3 = await node.client();
    await r3.call('HELLO', '3');
    r3.send('COMMAND', 'INFO', 'nosuchcommand');
    await expectBytes(r3, '*1\r\n_\r\n');
  });

  test('COMMAND INFO in RESP3: flags and categories are sets', T, async () => {
    const c = await node.client();
    await c.call('HELLO', '3');
    c.send('COMMAND', 'INFO', 'echo');
    assert.ok((await readRawReply(c)).startsWith('*1\r\n*10\r\n$4\r\necho\r\n:2\r\n~'));
  });

  test('COMMAND DOCS: summary, since, group, complexity, arguments, subcommands', T, async () => {
    const c = await node.client();
    await c.call('HELLO', '3');
    const docs = (await c.call('COMMAND', 'DOCS', 'ping', 'nosuchcommand')) as Map<Reply, Reply>;
    assert.ok(docs instanceof Map);
    assert.deepEqual([...docs.keys()], ['ping']);
    const ping = docs.get('ping') as Map<Reply, Reply>;
    assert.equal(typeof ping.get('summary'), 'string');
    assert.equal(ping.get('since'), '1.0.0');
    assert.equal(ping.get('group'), 'connection');
    assert.equal(ping.get('complexity'), 'O(1)');
    const args = ping.get('arguments') as Map<Reply, Reply>[];
    assert.equal(args.length, 1);
    assert.equal(args[0]!.get('name'), 'message');
    assert.equal(args[0]!.get('type'), 'string');
    assert.deepEqual(args[0]!.get('flags'), [new SimpleString('optional')]);

    const client = ((await c.call('COMMAND', 'DOCS', 'client')) as Map<Reply, Reply>).get('client') as Map<Reply, Reply>;
    assert.equal(client.get('group'), 'connection');
    const subs = client.get('subcommands') as Map<Reply, Reply>;
    assert.ok(subs instanceof Map);
    for (const name of ['client|id', 'client|list', 'client|kill', 'client|setname']) {
      const sub = subs.get(name) as Map<Reply, Reply>;
      assert.ok(sub instanceof Map, name);
      for (const k of ['summary', 'since', 'group', 'complexity']) assert.ok(sub.has(k), `${name} has ${k}`);
    }
    const clientList = ((await c.call('COMMAND', 'DOCS', 'client|list')) as Map<Reply, Reply>).get('client|list');
    assert.ok(clientList instanceof Map);
  });

  test('COMMAND DOCS in RESP2 is a flat array; with no names it covers every command', T, async () => {
    const c = await node.client();
    c.send('COMMAND', 'DOCS', 'nosuchcommand');
    await expectBytes(c, '*0\r\n');
    c.send('COMMAND', 'DOCS', 'echo');
    assert.ok((await readRawReply(c)).startsWith('*2\r\n$4\r\necho\r\n*'));
    const count = (await c.call('COMMAND', 'COUNT')) as number;
    const all = (await c.call('COMMAND', 'DOCS')) as Reply[];
    assert.equal(all.length, count * 2);
  });
});

describe('DBSIZE and TIME', () => {
  test('DBSIZE', T, async () => {
    const c = await node.client();
    c.send('DBSIZE');
    await expectBytes(c, int(0));
    c.send('DBSIZE', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'dbsize' command"));
  });

  test('TIME: two bulk strings, seconds and microseconds', T, async () => {
    const c = await node.client();
    const before = Math.floor(Date.now() / 1000);
    const reply = await c.call('TIME');
    const afterS = Math.ceil(Date.now() / 1000);
    assert.ok(Array.isArray(reply) && reply.length === 2);
    const [s, us] = reply as string[];
    assert.match(s!, /^\d+$/);
    assert.match(us!, /^\d+$/);
    assert.ok(Number(s) >= before && Number(s) <= afterS);
    assert.ok(Number(us) >= 0 && Number(us) < 1_000_000);
    c.send('TIME');
    assert.match(await readRawReply(c), /^\*2\r\n\$10\r\n\d{10}\r\n\$\d{1,6}\r\n\d{1,6}\r\n$/);
    c.send('TIME', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'time' command"));
  });
});

describe('SHUTDOWN ABORT', () => {
  test('no shutdown in progress', T, async () => {
    const c = await node.client();
    c.send('SHUTDOWN', 'ABORT');
    await expectBytes(c, err('ERR No shutdown in progress.'));
    c.send('SHUTDOWN', 'ABORT', 'NOW');
    await expectBytes(c, err('ERR syntax error'));
    c.send('SHUTDOWN', 'FOO');
    await expectBytes(c, err('ERR syntax error'));
    assert.deepEqual(await c.call('PING'), new SimpleString('PONG'));
  });
});
