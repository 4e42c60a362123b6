/**
 * Request parsing, protocol errors and pipelining, as Redis 7.0 behaves
 * (tests/unit/protocol.tcl, keyspace.tcl "Commands pipelining" / "Non existing command",
 * other.tcl "PIPELINING stresser"; networking.c processInlineBuffer / processMultibulkBuffer).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { ErrorReply, SimpleString, type RespClient } from '../helpers/resp-client.js';
import { bulk, cmd, err, expectBytes, expectClose, expectPong, frame, int, until } from '../helpers/raw.js';

let node: TestNode;
before(async () => (node = await startTestNode()));
after(() => node.close());

const T = { timeout: 15_000 };

/** Sends `input` on a fresh connection: the server answers `expected`, then closes. */
async function closesWith(input: string | Buffer, expected: string): Promise<void> {
  const c = await node.client();
  c.write(input);
  await expectClose(c, expected);
}

async function protocolError(input: string | Buffer, what: string): Promise<void> {
  await closesWith(input, err(`ERR Protocol error: ${what}`));
}

describe('protocol.tcl', () => {
  test('Handle an empty query', T, async () => {
    const c = await node.client();
    c.write('\r\n');
    c.write('*1\r\n$4\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n');
    // Blank lines, a bare LF, whitespace-only lines and *0 are all ignored without a reply.
    c.write('\n   \r\n\t\r\n*0\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n');
  });

  test('Negative multibulk length', T, async () => {
    const c = await node.client();
    c.write('*-10\r\n');
    c.write('*1\r\n$4\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n');
    c.write('*-1\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n');
  });

  test('Out of range multibulk length', T, async () => {
    await protocolError('*3000000000\r\n', 'invalid multibulk length');
    await protocolError('*2147483648\r\n', 'invalid multibulk length');
  });

  test('Non-number multibulk length', T, async () => {
    await protocolError('*abc\r\n', 'invalid multibulk length');
    await protocolError('*+1\r\n', 'invalid multibulk length');
  });

  test('Wrong multibulk payload header', T, async () => {
    await protocolError('*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n', "expected '$', got 'f'");
  });

  test('Negative multibulk payload length', T, async () => {
    await protocolError('*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n', 'invalid bulk length');
  });

  test('Out of range multibulk payload length', T, async () => {
    await protocolError('*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n', 'invalid bulk length');
    // proto-max-bulk-len is 512 MiB: one byte more is refused.
    await protocolError('*1\r\n$536870913\r\n', 'invalid bulk length');
  });

  test('Non-number multibulk payload length', T, async () => {
    await protocolError('*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n', 'invalid bulk length');
  });

  test('Multi bulk request not followed by bulk arguments', T, async () => {
    await protocolError('*1\r\nfoo\r\n', "expected '$', got 'f'");
  });

  test('Generic wrong number of args', T, async () => {
    const c = await node.client();
    assert.deepEqual(await c.call('ping', 'x', 'y', 'z'), new ErrorReply("ERR wrong number of arguments for 'ping' command"));
    await expectPong(c);
  });

  test('Unbalanced number of quotes', T, async () => {
    const c = await node.client();
    c.write('set """test-key""" test-value\r\n');
    c.write('ping\r\n');
    await expectClose(c, err('ERR Protocol error: unbalanced quotes in request'));
    await closesWith('ECHO "x"y\r\n', err('ERR Protocol error: unbalanced quotes in request'));
    await closesWith("ECHO 'x\r\n", err('ERR Protocol error: unbalanced quotes in request'));
  });

  // The Tcl test writes a first byte, then the literal word "payload" over and over with no newline,
  // until the server answers and closes. We send > 64 KiB of it in one go.
  const junk = 'payload'.repeat(10_000);
  test('Protocol desync regression test #1', T, async () => {
    await protocolError('\x00' + junk, 'too big inline request');
  });
  test('Protocol desync regression test #2', T, async () => {
    await protocolError('*\x00' + junk, 'too big mbulk count string');
  });
  test('Protocol desync regression test #3', T, async () => {
    // `$` is not `*`, so this is an inline request too.
    await protocolError('$\x00' + junk, 'too big inline request');
  });

  test('too big bulk count string', T, async () => {
    await protocolError('*1\r\n$' + '1'.repeat(70_000), 'too big bulk count string');
  });

  test('too big inline request (a long line with no newline)', T, async () => {
    await protocolError('PING ' + 'a'.repeat(70_000), 'too big inline request');
  });

  test('the node keeps serving other clients after protocol errors', T, async () => {
    const before = await node.client();
    await expectPong(before);
    await protocolError('*1\r\nfoo\r\n', "expected '$', got 'f'");
    await protocolError('*abc\r\n', 'invalid multibulk length');
    // A client connected before the errors, and a new one, both still work.
    await expectPong(before);
    const fresh = await node.client();
    await expectPong(fresh);
  });

  test('a protocol error after valid commands: their replies come first, later ones never run', T, async () => {
    const sub = await node.client();
    sub.send('SUBSCRIBE', 'proto-err-ch');
    await expectBytes(sub, frame(2, 'subscribe', 'proto-err-ch', 1));
    const c = await node.client();
    c.write('PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\nfoo\r\n*3\r\n$7\r\nPUBLISH\r\n$12\r\nproto-err-ch\r\n$1\r\nx\r\n');
    await expectClose(c, "+PONG\r\n$2\r\nhi\r\n-ERR Protocol error: expected '$', got 'f'\r\n");
    // The PUBLISH after the bad request never ran: the subscriber's first message is this one.
    const p = await node.client();
    assert.equal(await p.call('PUBLISH', 'proto-err-ch', 'y'), 1);
    await expectBytes(sub, frame(2, 'message', 'proto-err-ch', 'y'));
  });

  test('payload not followed by CRLF: the two bytes are skipped unchecked', T, async () => {
    const c = await node.client();
    c.write('*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n+PONG\r\n');
  });

  test('test large number of args (arrays with many arguments parse)', T, async () => {
    // Redis' version uses MSET with 20002 arguments; here ECHO's arity check sees all of them.
    const c = await node.client();
    const args = ['ECHO', ...Array.from({ length: 20_001 }, (_, i) => `a${i}`)];
    c.send(...args);
    await expectBytes(c, err("ERR wrong number of arguments for 'echo' command"));
    await expectPong(c);
  });

  test('Regression for a crash with blocking ops and pipelining (pipelined SUBSCRIBE, then close)', T, async () => {
    // No blocking commands in Heck; the nearest: a pipeline that enters subscribed mode twice,
    // messages arriving, and the client going away with replies still in flight.
    const c = await node.client();
    const proto = cmd('SUBSCRIBE', 'nolist');
    c.write(proto + proto);
    await expectBytes(c, frame(2, 'subscribe', 'nolist', 1) + frame(2, 'subscribe', 'nolist', 1));
    const p = await node.client();
    assert.equal(await p.call('PUBLISH', 'nolist', 'a'), 1);
    c.close();
    await c.closed;
    // The server survived and dropped the subscription once it saw the close.
    await until(async () => (await p.call('PUBLISH', 'nolist', 'a')) === 0, 'subscription dropped');
    await expectPong(p);
  });
});

describe('inline commands', () => {
  test('double quotes understand \\xHH and escapes, single quotes only \\\'', T, async () => {
    const c = await node.client();
    c.write('ECHO "a\\x41\\n\\t\\\\\\""\r\n');
    await expectBytes(c, bulk('aA\n\t\\"'));
    c.write("ECHO 'it\\'s \\n'\r\n");
    await expectBytes(c, bulk("it's \\n"));
    c.write('ping ""\r\n');
    await expectBytes(c, bulk(''));
  });

  test('LF alone ends a line; extra spaces are ignored', T, async () => {
    const c = await node.client();
    c.write('PING\n   ECHO    spaced   \n');
    await expectBytes(c, '+PONG\r\n' + bulk('spaced'));
  });

  test('inline command names are case-insensitive', T, async () => {
    const c = await node.client();
    c.write('pInG\r\necho X\r\n');
    await expectBytes(c, '+PONG\r\n' + bulk('X'));
  });
});

describe('keyspace.tcl', () => {
  test('Commands pipelining', T, async () => {
    const c = await node.client();
    c.write('ECHO xyzk\r\nECHO xyzk\r\nPING\r\n');
    await expectBytes(c, bulk('xyzk') + bulk('xyzk') + '+PONG\r\n');
  });

  test('Non existing command', T, async () => {
    const c = await node.client();
    c.write('foobaredcommand\r\n');
    await expectBytes(c, err("ERR unknown command 'foobaredcommand', with args beginning with: "));
    // The connection stays open.
    await expectPong(c);
  });

  test('unknown command with arguments: each quoted, with a trailing space; the name keeps its case', T, async () => {
    const c = await node.client();
    c.send('FooBar', 'a', 'b');
    await expectBytes(c, err("ERR unknown command 'FooBar', with args beginning with: 'a' 'b' "));
    c.send('heck.nope');
    await expectBytes(c, err("ERR unknown command 'heck.nope', with args beginning with: "));
  });

  test('unknown command: argument text is cut at 128 bytes', T, async () => {
    const c = await node.client();
    c.send('NOPE', 'x'.repeat(200), 'y');
    await expectBytes(c, err(`ERR unknown command 'NOPE', with args beginning with: '${'x'.repeat(128)}' `));
    c.send('NOPE', 'a'.repeat(100), 'b'.repeat(100), 'c');
    // After the first argument 103 bytes are used, so the second gets 25.
    await expectBytes(c, err(`ERR unknown command 'NOPE', with args beginning with: '${'a'.repeat(100)}' '${'b'.repeat(25)}' `));
  });

  test('CR and LF inside an error text become spaces', T, async () => {
    const c = await node.client();
    c.send('a\r\nb', 'x\ny');
    await expectBytes(c, err("ERR unknown command 'a  b', with args beginning with: 'x y' "));
    await expectPong(c);
  });
});

describe('pipelining', () => {
  test('arrays and inline commands mixed in one write', T, async () => {
    const c = await node.client();
    c.write('*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\nPING\r\nECHO def\r\n*1\r\n$4\r\nPING\r\n');
    await expectBytes(c, '+PONG\r\n' + bulk('abc') + '+PONG\r\n' + bulk('def') + '+PONG\r\n');
  });

  test('byte-by-byte writes', T, async () => {
    const c = await node.client();
    c.socket.setNoDelay(true);
    const input = Buffer.from('*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n*1\r\n$4\r\nPING\r\n');
    for (const byte of input) {
      await new Promise<void>((resolve, reject) => c.socket.write(Buffer.from([byte]), (e) => (e ? reject(e) : resolve())));
    }
    await expectBytes(c, bulk('hello') + '+PONG\r\n+PONG\r\n');
  });

  test('a big bulk argument arriving in pieces is delivered intact', { timeout: 15_000 }, async () => {
    const c = await node.client();
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const whole = Buffer.concat([Buffer.from(`*2\r\n$4\r\nECHO\r\n$${payload.length}\r\n`), payload, Buffer.from('\r\nPING\r\n')]);
    for (let at = 0; at < whole.length; at += 65_537) c.write(whole.subarray(at, at + 65_537));
    const expected = Buffer.concat([Buffer.from(`$${payload.length}\r\n`), payload, Buffer.from('\r\n+PONG\r\n')]);
    await expectBytes(c, expected.toString('latin1'));
  });

  test('a command pipelined after a reply larger than 256 KiB is answered', { timeout: 15_000 }, async () => {
    // Heck stops reading while more than 256 KiB of replies wait (docs/decisions.md); it must
    // resume once they are written, even when the socket took them all at once.
    const c = await node.client();
    const payload = 'p'.repeat(300_000);
    c.write(cmd('ECHO', payload) + 'PING\r\n');
    await expectBytes(c, bulk(payload));
    await expectBytes(c, '+PONG\r\n');
  });

  test('binary-safe arguments: NUL, CR and LF inside a bulk', T, async () => {
    const c = await node.client();
    c.send('ECHO', 'a\x00b\r\nc');
    await expectBytes(c, bulk('a\x00b\r\nc'));
  });

  test('PIPELINING stresser (also a regression for the old epoll bug)', T, async () => {
    const c = await node.client();
    const n = 100_000;
    const req: string[] = [];
    const rep: string[] = [];
    for (let i = 0; i < n; i++) {
      const val = `0000${i}0000`;
      req.push(`ECHO key:${i}\r\nECHO ${val}\r\n`);
      rep.push(bulk(`key:${i}`) + bulk(val));
    }
    c.write(req.join(''));
    await expectBytes(c, rep.join(''));
    await expectPong(c);
  });

  test('QUIT in a pipeline: +OK, then close; later commands are not run', T, async () => {
    const sub = await node.client();
    sub.send('SUBSCRIBE', 'quit-ch');
    await expectBytes(sub, frame(2, 'subscribe', 'quit-ch', 1));
    const c = await node.client();
    c.write('PING\r\nQUIT\r\nPUBLISH quit-ch never\r\nPING\r\n');
    await expectClose(c, '+PONG\r\n+OK\r\n');
    const p = await node.client();
    assert.equal(await p.call('PUBLISH', 'quit-ch', 'later'), 1);
    await expectBytes(sub, frame(2, 'message', 'quit-ch', 'later'));
  });

  test('QUIT ignores extra arguments', T, async () => {
    await closesWith('QUIT now please\r\n', '+OK\r\n');
  });

  test('QUIT as an array', T, async () => {
    await closesWith(cmd('quit'), '+OK\r\n');
  });
});

describe('cross-protocol scripting: POST and Host: close silently', () => {
  test('POST as the first command', T, async () => {
    await closesWith('POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n', '');
  });

  test('Host: line, lowercase post, and after a valid command', T, async () => {
    await closesWith('Host: example.com\r\n', '');
    await closesWith('post /x HTTP/1.0\r\n', '');
    const c = await node.client();
    await expectPong(c);
    c.write(cmd('POST', 'x'));
    await expectClose(c, '');
    const d = await node.client();
    assert.deepEqual(await d.call('PING'), new SimpleString('PONG'));
  });

  test('POSTX and Host are ordinary unknown commands', T, async () => {
    const c: RespClient = await node.client();
    c.write('POSTX\r\nHost\r\n');
    await expectBytes(
      c,
      err("ERR unknown command 'POSTX', with args beginning with: ") + err("ERR unknown command 'Host', with args beginning with: "),
    );
    await expectPong(c);
  });
});

describe('integer replies', () => {
  test('PUBLISH with no subscribers is :0', T, async () => {
    const c = await node.client();
    c.send('PUBLISH', 'nobody-here', 'x');
    await expectBytes(c, int(0));
  });
});
