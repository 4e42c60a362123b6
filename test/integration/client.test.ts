/**
 * CLIENT subcommands, RESET, SELECT, PING and ECHO as Redis 7.0 answers them
 * (tests/unit/introspection.tcl, other.tcl RESET and SELECT cases; CLIENT SETINFO as 7.2 has it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { ErrorReply, SimpleString, Verbatim, type RespClient } from '../helpers/resp-client.js';
import { bulk, clientFields, err, expectBytes, expectClose, expectPong, frame, int, until } from '../helpers/raw.js';

let node: TestNode;
before(async () => (node = await startTestNode()));
after(() => node.close());

const T = { timeout: 15_000 };

async function clientId(c: RespClient): Promise<number> {
  return (await c.call('CLIENT', 'ID')) as number;
}

async function clientInfo(c: RespClient): Promise<string> {
  const info = await c.call('CLIENT', 'INFO');
  assert.equal(typeof info, 'string');
  return info as string;
}

async function clientList(c: RespClient, ...args: string[]): Promise<string> {
  const list = await c.call('CLIENT', 'LIST', ...args);
  assert.equal(typeof list, 'string');
  return list as string;
}

/** The address the server sees for this client. */
const addrOf = (c: RespClient) => `${c.socket.localAddress}:${c.socket.localPort}`;

describe('introspection.tcl', () => {
  test('PING', T, async () => {
    const c = await node.client();
    assert.deepEqual(await c.call('PING'), new SimpleString('PONG'));
    assert.equal(await c.call('PING', 'redis'), 'redis');
    assert.deepEqual(await c.call('PING', 'hello', 'redis'), new ErrorReply("ERR wrong number of arguments for 'ping' command"));
    c.send('PING', 'x');
    await expectBytes(c, bulk('x'));
  });

  test('ECHO', T, async () => {
    const c = await node.client();
    c.send('ECHO', 'hello world');
    await expectBytes(c, bulk('hello world'));
    c.send('ECHO');
    await expectBytes(c, err("ERR wrong number of arguments for 'echo' command"));
    c.send('ECHO', 'a', 'b');
    await expectBytes(c, err("ERR wrong number of arguments for 'echo' command"));
  });

  test('CLIENT GETNAME should return NIL if name is not assigned', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
  });

  test('CLIENT SETNAME does not accept spaces', T, async () => {
    const c = await node.client();
    for (const bad of ['foo bar', 'a\nb', 'tab\there', 'caf\xe9', '\x7f']) {
      c.send('CLIENT', 'SETNAME', bad);
      await expectBytes(c, err('ERR Client names cannot contain spaces, newlines or special characters.'), JSON.stringify(bad));
    }
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
  });

  test('CLIENT SETNAME can assign a name to this connection', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'SETNAME', 'myname');
    await expectBytes(c, '+OK\r\n');
    const list = await clientList(c);
    assert.match(list, /name=myname /);
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, bulk('myname'));
  });

  test('CLIENT SETNAME can change the name of an existing connection, and "" removes it', T, async () => {
    const c = await node.client();
    await c.call('CLIENT', 'SETNAME', 'first');
    c.send('CLIENT', 'SETNAME', 'someothername');
    await expectBytes(c, '+OK\r\n');
    assert.match(await clientInfo(c), / name=someothername /);
    c.send('CLIENT', 'SETNAME', '');
    await expectBytes(c, '+OK\r\n');
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
    assert.match(await clientInfo(c), / name= /);
  });

  test('CLIENT SETNAME / GETNAME arity', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'SETNAME');
    await expectBytes(c, err("ERR wrong number of arguments for 'client|setname' command"));
    c.send('CLIENT', 'GETNAME', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'client|getname' command"));
  });

  test('CLIENT SETINFO can set a library name to this connection', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'SETINFO', 'lib-name', 'redis.py');
    await expectBytes(c, '+OK\r\n');
    c.send('CLIENT', 'SETINFO', 'lib-ver', '1.2.3');
    await expectBytes(c, '+OK\r\n');
    assert.match(await clientInfo(c), / lib-name=redis\.py lib-ver=1\.2\.3/);
  });

  test('CLIENT SETINFO invalid args', T, async () => {
    const c = await node.client();
    await c.call('CLIENT', 'SETINFO', 'lib-name', 'redis.py');
    await c.call('CLIENT', 'SETINFO', 'LIB-VER', '1.2.3');
    c.send('CLIENT', 'SETINFO', 'lib-name');
    await expectBytes(c, err("ERR wrong number of arguments for 'client|setinfo' command"));
    c.send('CLIENT', 'SETINFO', 'lib-name', 'redis py');
    await expectBytes(c, err('ERR lib-name cannot contain spaces, newlines or special characters.'));
    c.send('CLIENT', 'SETINFO', 'lib-name', 'redis.py\n');
    await expectBytes(c, err('ERR lib-name cannot contain spaces, newlines or special characters.'));
    c.send('CLIENT', 'SETINFO', 'LIB-VER', '1 2');
    await expectBytes(c, err('ERR LIB-VER cannot contain spaces, newlines or special characters.'));
    c.send('CLIENT', 'SETINFO', 'badger', 'hamster');
    await expectBytes(c, err("ERR Unrecognized option 'badger'"));
    // None of these affected the values set before.
    assert.match(await clientInfo(c), / lib-name=redis\.py lib-ver=1\.2\.3/);
  });

  test('RESET does NOT clean library name', T, async () => {
    const c = await node.client();
    await c.call('CLIENT', 'SETINFO', 'lib-name', 'redis.py');
    await c.call('CLIENT', 'SETNAME', 'to-be-cleared');
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
    const info = await clientInfo(c);
    assert.match(info, / lib-name=redis\.py/);
    assert.match(info, / name= /);
  });
});

describe('other.tcl RESET cases', () => {
  test('RESET clears client state', T, async () => {
    const c = await node.client();
    await c.call('CLIENT', 'SETNAME', 'test-client');
    await c.call('HELLO', '3');
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
    const id = await clientId(c);
    const line = await clientList(c, 'ID', String(id));
    assert.match(line, /name= /);
    assert.match(line, /flags=N /);
    assert.match(line, / resp=2/);
    assert.match(line, / db=0 /);
    // Back to RESP2.
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
  });

  test('RESET replies +RESET in RESP3 too', T, async () => {
    const c = await node.client();
    await c.call('HELLO', '3');
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
  });

  test('RESET clears Pub/Sub state', T, async () => {
    const c = await node.client();
    c.send('SUBSCRIBE', 'channel-1');
    await expectBytes(c, frame(2, 'subscribe', 'channel-1', 1));
    c.send('PSUBSCRIBE', 'chan*');
    await expectBytes(c, frame(2, 'psubscribe', 'chan*', 2));
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
    // Not subscribed any more: ordinary commands run, PING is a plain PONG.
    c.send('ECHO', 'val');
    await expectBytes(c, bulk('val'));
    await expectPong(c);
    const p = await node.client();
    assert.equal(await p.call('PUBLISH', 'channel-1', 'x'), 0);
  });

  test('RESET with arguments is an arity error', T, async () => {
    const c = await node.client();
    c.send('RESET', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'reset' command"));
  });
});

describe('SELECT', () => {
  test('SELECT 0 is OK; any other index is out of range (one database)', T, async () => {
    const c = await node.client();
    c.send('SELECT', '0');
    await expectBytes(c, '+OK\r\n');
    for (const db of ['1', '15', '-1', '1000000']) {
      c.send('SELECT', db);
      await expectBytes(c, err('ERR DB index is out of range'), `SELECT ${db}`);
    }
  });

  test('SELECT an out of range DB (other.tcl)', T, async () => {
    const c = await node.client();
    const reply = await c.call('SELECT', '1000000');
    assert.ok(reply instanceof ErrorReply);
    assert.match(reply.message, /index is out of range/);
  });

  test('SELECT abc / 1.5 / "" -> not an integer', T, async () => {
    const c = await node.client();
    for (const db of ['abc', '1.5', '', ' 0', '99999999999999999999']) {
      c.send('SELECT', db);
      await expectBytes(c, err('ERR value is not an integer or out of range'), `SELECT ${JSON.stringify(db)}`);
    }
  });

  test('SELECT beyond 32 bits: the range error of getIntFromObjectOrReply', T, async () => {
    // Redis 7.0.15: a valid long long outside int range gets this text.
    const c = await node.client();
    c.send('SELECT', '3000000000');
    await expectBytes(c, err('ERR value is out of range, value must between -2147483648 and 2147483647'));
  });
});

describe('CLIENT ID / INFO / LIST', () => {
  test('CLIENT ID is an integer, distinct and increasing across connections', T, async () => {
    const a = await node.client();
    const b = await node.client();
    const ia = await clientId(a);
    const ib = await clientId(b);
    assert.ok(Number.isInteger(ia) && ia > 0);
    assert.ok(ib > ia);
    assert.equal(await clientId(a), ia, 'stable for a connection');
  });

  test('CLIENT INFO describes this connection in one line', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    const info = await clientInfo(c);
    assert.ok(info.endsWith('\n'));
    assert.equal(info.indexOf('\n'), info.length - 1, 'a single line');
    const f = clientFields(info);
    assert.equal(f.get('id'), String(id));
    assert.equal(f.get('addr'), addrOf(c));
    assert.equal(f.get('laddr'), `127.0.0.1:${node.port}`);
    assert.equal(f.get('name'), '');
    assert.equal(f.get('flags'), 'N');
    assert.equal(f.get('db'), '0');
    assert.equal(f.get('sub'), '0');
    assert.equal(f.get('psub'), '0');
    assert.equal(f.get('multi'), '-1');
    assert.equal(f.get('cmd'), 'client|info');
    assert.equal(f.get('user'), 'default');
    assert.equal(f.get('resp'), '2');
    // Redis 7.0's fields, in Redis' order.
    const order = ['id', 'addr', 'laddr', 'fd', 'name', 'age', 'idle', 'flags', 'db', 'sub', 'psub', 'ssub', 'multi', 'qbuf', 'qbuf-free', 'argv-mem', 'multi-mem', 'rbs', 'rbp', 'obl', 'oll', 'omem', 'tot-mem', 'events', 'cmd', 'user', 'redir', 'resp'];
    assert.deepEqual([...f.keys()].slice(0, order.length), order);
  });

  test('CLIENT INFO in RESP3 is a verbatim string', T, async () => {
    const c = await node.client();
    await c.call('HELLO', '3');
    const reply = await c.call('CLIENT', 'INFO');
    assert.ok(reply instanceof Verbatim);
    assert.equal(reply.format, 'txt');
    assert.match(reply.text, / resp=3 /);
    const list = await c.call('CLIENT', 'LIST');
    assert.ok(list instanceof Verbatim);
  });

  test('CLIENT LIST: one line per client, each ending in \\n; flags P and sub counts for subscribers', T, async () => {
    const a = await node.client();
    const b = await node.client();
    const ida = await clientId(a);
    const idb = await clientId(b);
    b.send('SUBSCRIBE', 'x', 'y');
    await expectBytes(b, frame(2, 'subscribe', 'x', 1) + frame(2, 'subscribe', 'y', 2));
    b.send('PSUBSCRIBE', 'z*');
    await expectBytes(b, frame(2, 'psubscribe', 'z*', 3));
    const list = await clientList(a);
    assert.ok(list.endsWith('\n'));
    const lines = list.slice(0, -1).split('\n');
    const byId = new Map(lines.map((l) => [clientFields(l).get('id'), clientFields(l)]));
    assert.equal(byId.get(String(ida))?.get('cmd'), 'client|list');
    const fb = byId.get(String(idb))!;
    assert.equal(fb.get('flags'), 'P');
    assert.equal(fb.get('sub'), '2');
    assert.equal(fb.get('psub'), '1');
    assert.equal(fb.get('cmd'), 'psubscribe');
  });

  test('CLIENT LIST TYPE and ID filters', T, async () => {
    const a = await node.client();
    const b = await node.client();
    const ida = await clientId(a);
    const idb = await clientId(b);
    b.send('SUBSCRIBE', 'typed');
    await expectBytes(b, frame(2, 'subscribe', 'typed', 1));
    const pubsub = await clientList(a, 'TYPE', 'pubsub');
    assert.ok(pubsub.split('\n').some((l) => l.startsWith(`id=${idb} `)));
    assert.ok(!pubsub.includes(`id=${ida} `));
    const normal = await clientList(a, 'type', 'NORMAL');
    assert.ok(normal.includes(`id=${ida} `));
    assert.ok(!normal.includes(`id=${idb} `));
    const two = await clientList(a, 'ID', String(idb), String(ida), '999999');
    assert.equal(two.split('\n').filter(Boolean).length, 2);
  });

  test('CLIENT LIST errors', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'LIST', 'TYPE', 'foo');
    await expectBytes(c, err("ERR Unknown client type 'foo'"));
    c.send('CLIENT', 'LIST', 'ID', 'abc');
    await expectBytes(c, err('ERR Invalid client ID'));
    c.send('CLIENT', 'LIST', 'FOO');
    await expectBytes(c, err('ERR syntax error'));
  });

  test('CLIENT LIST ID 0 matches no client (an empty reply, not an error)', T, async () => {
    // Redis 7.0.15 checks only that the id is an integer.
    const c = await node.client();
    c.send('CLIENT', 'LIST', 'ID', '0');
    await expectBytes(c, '$0\r\n\r\n');
  });

  test('CLIENT HELP, unknown subcommand, missing subcommand', T, async () => {
    const c = await node.client();
    const help = await c.call('CLIENT', 'HELP');
    assert.ok(Array.isArray(help) && help.length > 0);
    for (const line of help) assert.ok(line instanceof SimpleString);
    assert.match((help[0] as SimpleString).value, /^CLIENT <subcommand>/);
    c.send('CLIENT', 'FOO');
    await expectBytes(c, err("ERR unknown subcommand 'FOO'. Try CLIENT HELP."));
    c.send('client', 'foo', 'bar');
    await expectBytes(c, err("ERR unknown subcommand 'foo'. Try CLIENT HELP."));
    c.send('CLIENT');
    await expectBytes(c, err("ERR wrong number of arguments for 'client' command"));
    c.send('CLIENT', 'ID', 'x');
    await expectBytes(c, err("ERR wrong number of arguments for 'client|id' command"));
  });

  test('subcommands are case-insensitive', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('client', 'id');
    await expectBytes(c, int(id));
    c.send('CliEnt', 'GetName');
    await expectBytes(c, '$-1\r\n');
  });
});

describe('CLIENT KILL', () => {
  test('old form: CLIENT KILL addr:port closes that client', T, async () => {
    const killer = await node.client();
    const victim = await node.client();
    await expectPong(victim);
    killer.send('CLIENT', 'KILL', addrOf(victim));
    await expectBytes(killer, '+OK\r\n');
    await expectClose(victim, '');
  });

  test('old form: unknown address -> No such client', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'KILL', '1.2.3.4:5');
    await expectBytes(c, err('ERR No such client'));
    // Three arguments are always the old form, even "ID".
    c.send('CLIENT', 'KILL', 'ID');
    await expectBytes(c, err('ERR No such client'));
  });

  test('old form on oneself: +OK, then the connection closes and the rest of the pipeline is dropped', T, async () => {
    const c = await node.client();
    await expectPong(c);
    c.write(`CLIENT KILL ${addrOf(c)}\r\nPING\r\n`);
    await expectClose(c, '+OK\r\n');
  });

  test('new form: ID, ADDR, LADDR, TYPE filters return how many were killed', T, async () => {
    const killer = await node.client();
    const v1 = await node.client();
    const v2 = await node.client();
    const id1 = await clientId(v1);
    await expectPong(v2);
    killer.send('CLIENT', 'KILL', 'ID', String(id1));
    await expectBytes(killer, int(1));
    await expectClose(v1, '');
    killer.send('CLIENT', 'KILL', 'ADDR', addrOf(v2), 'LADDR', `127.0.0.1:${node.port}`);
    await expectBytes(killer, int(1));
    await expectClose(v2, '');
    killer.send('CLIENT', 'KILL', 'ID', '999999');
    await expectBytes(killer, int(0));
  });

  test('new form: TYPE pubsub kills subscribers only', T, async () => {
    const killer = await node.client();
    const sub = await node.client();
    const other = await node.client();
    sub.send('SUBSCRIBE', 'kill-me');
    await expectBytes(sub, frame(2, 'subscribe', 'kill-me', 1));
    await expectPong(other);
    // Subscribers left over from earlier tests count too.
    const subscribers = (await clientList(killer, 'TYPE', 'pubsub')).split('\n').filter(Boolean).length;
    assert.ok(subscribers >= 1);
    killer.send('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await expectBytes(killer, int(subscribers));
    await expectClose(sub, '');
    await expectPong(other);
  });

  test('new form: SKIPME yes is the default; SKIPME no kills oneself after the reply', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('CLIENT', 'KILL', 'ID', String(id));
    await expectBytes(c, int(0));
    c.write(`CLIENT KILL ID ${id} SKIPME no\r\nPING\r\n`);
    await expectClose(c, int(1));
  });

  test('new form errors', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'KILL', 'ID', '0');
    await expectBytes(c, err('ERR client-id should be greater than 0'));
    c.send('CLIENT', 'KILL', 'ID', 'abc');
    await expectBytes(c, err('ERR client-id should be greater than 0'));
    c.send('CLIENT', 'KILL', 'TYPE', 'foo');
    await expectBytes(c, err("ERR Unknown client type 'foo'"));
    c.send('CLIENT', 'KILL', 'FOO', 'bar');
    await expectBytes(c, err('ERR syntax error'));
    c.send('CLIENT', 'KILL', 'ID', '1', 'SKIPME', 'maybe');
    await expectBytes(c, err('ERR syntax error'));
    c.send('CLIENT', 'KILL', 'ID', '1', 'TYPE');
    await expectBytes(c, err('ERR syntax error'));
    c.send('CLIENT', 'KILL');
    await expectBytes(c, err("ERR wrong number of arguments for 'client|kill' command"));
  });

  test('a killed client disappears from CLIENT LIST', T, async () => {
    const killer = await node.client();
    const victim = await node.client();
    const id = await clientId(victim);
    killer.send('CLIENT', 'KILL', 'ID', String(id));
    await expectBytes(killer, int(1));
    await victim.closed;
    await until(async () => !(await clientList(killer)).includes(`id=${id} `), 'victim gone from CLIENT LIST');
  });
});
