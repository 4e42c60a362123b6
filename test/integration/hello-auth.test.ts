/**
 * HELLO and AUTH as Redis 7.0 answers them (networking.c helloCommand, acl.c authCommand;
 * tests/unit/tracking.tcl "HELLO 3 reply is correct" / "HELLO without protover",
 * tests/unit/auth.tcl, other.tcl "RESET clears authenticated state").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { ErrorReply, SimpleString, type RespClient } from '../helpers/resp-client.js';
import { bulk, cmd, err, expectBytes, expectClose, expectPong, frame, helloReply, int } from '../helpers/raw.js';

const T = { timeout: 15_000 };

const NOAUTH = err('NOAUTH Authentication required.');
const WRONGPASS = err('WRONGPASS invalid username-password pair or user is disabled.');
const HELLO_NOAUTH = err(
  'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
);
const NO_PASSWORD = err(
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
);

async function clientId(c: RespClient): Promise<number> {
  const id = await c.call('CLIENT', 'ID');
  assert.equal(typeof id, 'number');
  return id as number;
}

/** Two nodes: one without a password, one with requirepass. */
let open: TestNode;
let locked: TestNode;
before(async () => {
  open = await startTestNode();
  locked = await startTestNode({ requirepass: 'foobar' });
});
after(() => Promise.all([open.close(), locked.close()]));

describe('HELLO without a password configured', () => {
  const node = { client: () => open.client() };

  test('HELLO 3 reply is byte-exact, HELLO 2 is the same pairs as a flat array', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('HELLO', '3');
    await expectBytes(c, helloReply(3, id));
    c.send('HELLO', '2');
    await expectBytes(c, helloReply(2, id));
  });

  test('HELLO 3 reply is correct (tracking.tcl)', T, async () => {
    const c = await node.client();
    const reply = await c.call('HELLO', '3');
    assert.ok(reply instanceof Map);
    assert.equal(reply.get('proto'), 3);
    assert.equal(reply.get('server'), 'redis');
    assert.equal(reply.get('version'), '7.0.15');
    assert.equal(reply.get('mode'), 'standalone');
    assert.equal(reply.get('role'), 'master');
    assert.deepEqual(reply.get('modules'), []);
  });

  test('HELLO without protover (tracking.tcl): answers in the current protocol, no switch', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('HELLO');
    await expectBytes(c, helloReply(2, id), 'a new connection speaks RESP2');
    c.send('HELLO', '3');
    await expectBytes(c, helloReply(3, id));
    c.send('HELLO');
    await expectBytes(c, helloReply(3, id));
    c.send('HELLO', '2');
    await expectBytes(c, helloReply(2, id));
    c.send('HELLO');
    await expectBytes(c, helloReply(2, id));
  });

  test('HELLO 3 switches replies to RESP3: null is _', T, async () => {
    const c = await node.client();
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
    await c.call('HELLO', '3');
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '_\r\n');
  });

  test('HELLO 4, HELLO 1, HELLO 0 -> NOPROTO; the protocol stays as it was', T, async () => {
    const c = await node.client();
    for (const v of ['4', '1', '0', '-1', '100']) {
      c.send('HELLO', v);
      await expectBytes(c, err('NOPROTO unsupported protocol version'), `HELLO ${v}`);
    }
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
  });

  test('HELLO abc / HELLO 3.0 / HELLO "" -> protocol version is not an integer', T, async () => {
    const c = await node.client();
    for (const v of ['abc', '3.0', '', ' 3', '99999999999999999999999']) {
      c.send('HELLO', v);
      await expectBytes(c, err('ERR Protocol version is not an integer or out of range'), `HELLO ${JSON.stringify(v)}`);
    }
  });

  test('unknown HELLO option, and options missing their arguments', T, async () => {
    const c = await node.client();
    c.send('HELLO', '3', 'FOO');
    await expectBytes(c, err("ERR Syntax error in HELLO option 'FOO'"));
    c.send('HELLO', '3', 'AUTH', 'default');
    await expectBytes(c, err("ERR Syntax error in HELLO option 'AUTH'"));
    c.send('HELLO', '2', 'SETNAME');
    await expectBytes(c, err("ERR Syntax error in HELLO option 'SETNAME'"));
    c.send('HELLO', '3', 'setname', 'x', 'bar');
    await expectBytes(c, err("ERR Syntax error in HELLO option 'bar'"));
    // None of these switched the protocol.
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n');
  });

  test('HELLO SETNAME sets the name; a bad name is refused and nothing changes', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('HELLO', '3', 'SETNAME', 'a b');
    await expectBytes(c, err('ERR Client names cannot contain spaces, newlines or special characters.'));
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '$-1\r\n', 'still RESP2, still no name');
    c.send('HELLO', '3', 'SETNAME', 'myname');
    await expectBytes(c, helloReply(3, id));
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, bulk('myname'));
  });

  test('HELLO AUTH: the default user without a password accepts any password; other users are refused', T, async () => {
    const c = await node.client();
    const id = await clientId(c);
    c.send('HELLO', '3', 'AUTH', 'default', 'anything');
    await expectBytes(c, helloReply(3, id));
    c.send('HELLO', '2', 'AUTH', 'someone', 'pw');
    await expectBytes(c, WRONGPASS);
    // The failed HELLO did not switch back to RESP2.
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '_\r\n');
  });

  test('AUTH fails if there is no password configured server side (auth.tcl)', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'foo');
    await expectBytes(c, NO_PASSWORD);
    await expectPong(c);
  });

  test('AUTH default <any> succeeds; AUTH <other user> is WRONGPASS', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'default', 'foo');
    await expectBytes(c, '+OK\r\n');
    c.send('AUTH', 'bar', 'foo');
    await expectBytes(c, WRONGPASS);
  });

  test('Arity check for auth command (auth.tcl)', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'a', 'b', 'c');
    await expectBytes(c, err('ERR syntax error'));
    c.send('AUTH');
    await expectBytes(c, err("ERR wrong number of arguments for 'auth' command"));
  });
});

describe('requirepass', () => {
  const node = { client: () => locked.client() };

  test('Arbitrary command gives an error when AUTH is required (auth.tcl)', T, async () => {
    const c = await node.client();
    for (const args of [['PING'], ['ECHO', 'x'], ['CLIENT', 'ID'], ['INFO'], ['CONFIG', 'GET', '*'], ['SUBSCRIBE', 'c'], ['PUBLISH', 'c', 'm'], ['SELECT', '0']]) {
      c.send(...args);
      await expectBytes(c, NOAUTH, args.join(' '));
    }
    c.write('PING\r\n');
    await expectBytes(c, NOAUTH, 'inline PING');
  });

  test('before NOAUTH come the unknown-command and arity checks, as in processCommand', T, async () => {
    const c = await node.client();
    c.send('NOPE', 'x');
    await expectBytes(c, err("ERR unknown command 'NOPE', with args beginning with: 'x' "));
    c.send('ECHO');
    await expectBytes(c, err("ERR wrong number of arguments for 'echo' command"));
    c.send('CLIENT', 'NOPE');
    await expectBytes(c, err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."));
  });

  test('HELLO before authenticating: the NOAUTH HELLO text, with or without protover', T, async () => {
    const c = await node.client();
    c.send('HELLO', '3');
    await expectBytes(c, HELLO_NOAUTH);
    c.send('HELLO');
    await expectBytes(c, HELLO_NOAUTH);
    c.send('HELLO', '2', 'SETNAME', 'sneaky');
    await expectBytes(c, HELLO_NOAUTH);
    // Validation of protover and options happens first.
    c.send('HELLO', '4');
    await expectBytes(c, err('NOPROTO unsupported protocol version'));
    c.send('HELLO', '3', 'FOO');
    await expectBytes(c, err("ERR Syntax error in HELLO option 'FOO'"));
  });

  test('AUTH fails when a wrong password is given (auth.tcl)', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'wrong!');
    await expectBytes(c, WRONGPASS);
    c.send('AUTH', 'default', 'wrong!');
    await expectBytes(c, WRONGPASS);
    c.send('AUTH', 'someone', 'foobar');
    await expectBytes(c, WRONGPASS);
    c.send('PING');
    await expectBytes(c, NOAUTH);
  });

  test('AUTH succeeds when the right password is given', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'foobar');
    await expectBytes(c, '+OK\r\n');
    await expectPong(c);
    const d = await node.client();
    d.send('AUTH', 'default', 'foobar');
    await expectBytes(d, '+OK\r\n');
    await expectPong(d);
  });

  test('Arity check for auth command with a password set', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'a', 'b', 'c');
    await expectBytes(c, err('ERR syntax error'));
  });

  test('HELLO AUTH wrong, then right (with SETNAME): authenticates and switches protocol at once', T, async () => {
    const c = await node.client();
    c.send('HELLO', '3', 'AUTH', 'default', 'nope');
    await expectBytes(c, WRONGPASS);
    c.send('PING');
    await expectBytes(c, NOAUTH);
    c.send('HELLO', '3', 'AUTH', 'default', 'foobar', 'SETNAME', 'named');
    const id = await (async () => {
      // The id is not known before authenticating, so read the map and check the rest byte-exact.
      const reply = await c.read();
      assert.ok(reply instanceof Map);
      return reply.get('id') as number;
    })();
    c.send('CLIENT', 'ID');
    await expectBytes(c, int(id));
    c.send('HELLO', '2');
    await expectBytes(c, helloReply(2, id));
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, bulk('named'));
  });

  test('QUIT and RESET work unauthenticated', T, async () => {
    const c = await node.client();
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
    c.send('QUIT');
    await expectClose(c, '+OK\r\n');
  });

  test('RESET clears authenticated state (other.tcl)', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'foobar');
    await expectBytes(c, '+OK\r\n');
    await expectPong(c);
    c.send('RESET');
    await expectBytes(c, '+RESET\r\n');
    c.send('PING');
    await expectBytes(c, NOAUTH);
  });

  test('For unauthenticated clients multibulk and bulk length are limited (auth.tcl)', T, async () => {
    const a = await node.client();
    a.write('*100\r\n');
    await expectClose(a, err('ERR Protocol error: unauthenticated multibulk length'));
    const b = await node.client();
    b.write('*1\r\n$100000000\r\n');
    await expectClose(b, err('ERR Protocol error: unauthenticated bulk length'));
  });

  test('the unauthenticated limits are 10 arguments and 16384 bytes', T, async () => {
    const a = await node.client();
    a.write('*11\r\n');
    await expectClose(a, err('ERR Protocol error: unauthenticated multibulk length'));
    const b = await node.client();
    b.write('*1\r\n$16385\r\n');
    await expectClose(b, err('ERR Protocol error: unauthenticated bulk length'));
    // At the limits: parsed, then refused with NOAUTH.
    const c = await node.client();
    c.send('ECHO', 'x'.repeat(16384));
    await expectBytes(c, NOAUTH, '16384-byte bulk');
    c.send('PING', ...Array.from({ length: 9 }, (_, i) => `a${i}`));
    await expectBytes(c, NOAUTH, '10 arguments');
  });

  test('after AUTH the unauthenticated limits no longer apply', T, async () => {
    const c = await node.client();
    c.send('AUTH', 'foobar');
    await expectBytes(c, '+OK\r\n');
    const big = 'y'.repeat(20_000);
    c.send('ECHO', big);
    await expectBytes(c, bulk(big));
    const channels = Array.from({ length: 11 }, (_, i) => `ch${i}`);
    c.send('SUBSCRIBE', ...channels);
    await expectBytes(c, channels.map((ch, i) => frame(2, 'subscribe', ch, i + 1)).join(''));
  });

  test('unauthenticated: invalid lengths are still reported before the auth limits', T, async () => {
    const a = await node.client();
    a.write('*3000000000\r\n');
    await expectClose(a, err('ERR Protocol error: invalid multibulk length'));
    const b = await node.client();
    b.write('*1\r\n$-5\r\n');
    await expectClose(b, err('ERR Protocol error: invalid bulk length'));
  });

  test('requirepass changed with CONFIG SET applies to new connections; old ones stay authenticated', T, async () => {
    const admin = await node.client();
    assert.deepEqual(await admin.call('AUTH', 'foobar'), new SimpleString('OK'));
    await admin.call('CONFIG', 'SET', 'requirepass', 'other');
    try {
      await expectPong(admin);
      const c = await node.client();
      c.send('AUTH', 'foobar');
      await expectBytes(c, WRONGPASS);
      c.send('AUTH', 'other');
      await expectBytes(c, '+OK\r\n');
    } finally {
      assert.deepEqual(await admin.call('CONFIG', 'SET', 'requirepass', 'foobar'), new SimpleString('OK'));
    }
  });

  test('CONFIG SET requirepass "" turns authentication off for new connections', T, async () => {
    const admin = await node.client();
    await admin.call('AUTH', 'foobar');
    await admin.call('CONFIG', 'SET', 'requirepass', '');
    try {
      const c = await node.client();
      await expectPong(c);
      c.send('AUTH', 'x');
      await expectBytes(c, NO_PASSWORD);
    } finally {
      await admin.call('CONFIG', 'SET', 'requirepass', 'foobar');
    }
    const d = await node.client();
    assert.deepEqual(await d.call('PING'), new ErrorReply('NOAUTH Authentication required.'));
  });

  test('an unauthenticated client gets NOAUTH for each command of a pipeline', T, async () => {
    const c = await node.client();
    c.write('PING\r\n' + cmd('ECHO', 'a') + 'AUTH foobar\r\nPING\r\n');
    await expectBytes(c, NOAUTH + NOAUTH + '+OK\r\n+PONG\r\n');
  });
});
