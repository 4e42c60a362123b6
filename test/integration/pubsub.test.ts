/**
 * Pub/sub in RESP2 and RESP3, byte-exact (tests/unit/pubsub.tcl; pubsub.c; REFERENCE.md §1.7).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { Push, type RespClient } from '../helpers/resp-client.js';
import { bulk, err, expectBytes, expectPong, frame, infoFields, int, until } from '../helpers/raw.js';

let node: TestNode;
before(async () => (node = await startTestNode()));
after(() => node.close());

const T = { timeout: 15_000 };

async function resp3(): Promise<RespClient> {
  const c = await node.client();
  const hello = await c.call('HELLO', '3');
  assert.ok(hello instanceof Map);
  return c;
}

async function publish(channel: string, message: string): Promise<number> {
  const p = await node.client();
  const n = await p.call('PUBLISH', channel, message);
  p.close();
  return n as number;
}

for (const proto of [2, 3] as const) {
  describe(`RESP${proto}`, () => {
    const open = () => (proto === 3 ? resp3() : node.client());
    /** Channel names of their own per protocol, so subscribers of the other run do not count. */
    const n = (name: string) => `p${proto}:${name}`;

    test(`Pub/Sub PING on RESP${proto}`, T, async () => {
      const c = await open();
      c.send('SUBSCRIBE', n('somechannel'));
      await expectBytes(c, frame(proto, 'subscribe', n('somechannel'), 1));
      c.send('PING');
      c.send('PING', 'foo');
      if (proto === 3) {
        await expectBytes(c, '+PONG\r\n' + bulk('foo'));
      } else {
        await expectBytes(c, '*2\r\n$4\r\npong\r\n$0\r\n\r\n' + '*2\r\n$4\r\npong\r\n$3\r\nfoo\r\n');
      }
      c.send('UNSUBSCRIBE', n('somechannel'));
      await expectBytes(c, frame(proto, 'unsubscribe', n('somechannel'), 0));
      // Now unsubscribed, PING is a plain PONG.
      await expectPong(c);
    });

    test(`PUBLISH/SUBSCRIBE basics (RESP${proto})`, T, async () => {
      const rd1 = await open();
      const r = await node.client();
      rd1.send('SUBSCRIBE', n('chan1'), n('chan2'));
      await expectBytes(rd1, frame(proto, 'subscribe', n('chan1'), 1) + frame(proto, 'subscribe', n('chan2'), 2));
      assert.equal(await r.call('PUBLISH', n('chan1'), 'hello'), 1);
      assert.equal(await r.call('PUBLISH', n('chan2'), 'world'), 1);
      await expectBytes(rd1, frame(proto, 'message', n('chan1'), 'hello') + frame(proto, 'message', n('chan2'), 'world'));

      rd1.send('UNSUBSCRIBE', n('chan1'));
      await expectBytes(rd1, frame(proto, 'unsubscribe', n('chan1'), 1));
      assert.equal(await r.call('PUBLISH', n('chan1'), 'hello'), 0);
      assert.equal(await r.call('PUBLISH', n('chan2'), 'world'), 1);
      await expectBytes(rd1, frame(proto, 'message', n('chan2'), 'world'));

      rd1.send('UNSUBSCRIBE', n('chan2'));
      await expectBytes(rd1, frame(proto, 'unsubscribe', n('chan2'), 0));
      assert.equal(await r.call('PUBLISH', n('chan1'), 'hello'), 0);
      assert.equal(await r.call('PUBLISH', n('chan2'), 'world'), 0);
    });

    test(`PSUBSCRIBE and pmessage framing (RESP${proto})`, T, async () => {
      const c = await open();
      c.send('PSUBSCRIBE', n('ch*'), n('news.[ab]?'));
      await expectBytes(c, frame(proto, 'psubscribe', n('ch*'), 1) + frame(proto, 'psubscribe', n('news.[ab]?'), 2));
      assert.equal(await publish(n('ch1'), 'hi'), 1);
      await expectBytes(c, frame(proto, 'pmessage', n('ch*'), n('ch1'), 'hi'));
      assert.equal(await publish(n('news.ax'), 'N'), 1);
      await expectBytes(c, frame(proto, 'pmessage', n('news.[ab]?'), n('news.ax'), 'N'));
      assert.equal(await publish(n('news.cx'), 'N'), 0);
      // A channel matching two subscriptions of the same client: one frame for each.
      c.send('SUBSCRIBE', n('ch1'));
      await expectBytes(c, frame(proto, 'subscribe', n('ch1'), 3));
      assert.equal(await publish(n('ch1'), 'both'), 2);
      await expectBytes(c, frame(proto, 'message', n('ch1'), 'both') + frame(proto, 'pmessage', n('ch*'), n('ch1'), 'both'));
      c.send('PUNSUBSCRIBE', n('ch*'));
      await expectBytes(c, frame(proto, 'punsubscribe', n('ch*'), 2));
    });

    test(`exact bytes of message and pmessage (RESP${proto})`, T, async () => {
      const c = await open();
      const ch = `c${proto}`;
      c.send('SUBSCRIBE', ch);
      c.send('PSUBSCRIBE', `${ch}*`);
      const t = proto === 3 ? '>' : '*';
      await expectBytes(c, `${t}3\r\n$9\r\nsubscribe\r\n$2\r\n${ch}\r\n:1\r\n${t}3\r\n$10\r\npsubscribe\r\n$3\r\n${ch}*\r\n:2\r\n`);
      assert.equal(await publish(ch, 'hi'), 2);
      await expectBytes(c, `${t}3\r\n$7\r\nmessage\r\n$2\r\n${ch}\r\n$2\r\nhi\r\n${t}4\r\n$8\r\npmessage\r\n$3\r\n${ch}*\r\n$2\r\n${ch}\r\n$2\r\nhi\r\n`);
      assert.equal(await publish(`${ch}1`, 'hi'), 1);
      await expectBytes(c, `${t}4\r\n$8\r\npmessage\r\n$3\r\n${ch}*\r\n$3\r\n${ch}1\r\n$2\r\nhi\r\n`);
    });

    test(`binary payloads and channel names are delivered byte for byte (RESP${proto})`, T, async () => {
      const c = await open();
      const channel = Buffer.from([0x63, proto, 0x00, 0xff, 0x0d, 0x0a]);
      c.send('SUBSCRIBE', channel);
      const ch = channel.toString('latin1');
      await expectBytes(c, frame(proto, 'subscribe', ch, 1));
      const p = await node.client();
      const payload = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0d, 0x0a]);
      p.send('PUBLISH', channel, payload);
      await expectBytes(p, int(1));
      await expectBytes(c, frame(proto, 'message', ch, payload.toString('latin1')));
    });

    test(`PUNSUBSCRIBE and UNSUBSCRIBE should always reply (RESP${proto})`, T, async () => {
      const c = await open();
      c.send('PUNSUBSCRIBE');
      c.send('UNSUBSCRIBE');
      await expectBytes(c, frame(proto, 'punsubscribe', null, 0) + frame(proto, 'unsubscribe', null, 0));
      c.send('PUNSUBSCRIBE');
      c.send('UNSUBSCRIBE');
      await expectBytes(c, frame(proto, 'punsubscribe', null, 0) + frame(proto, 'unsubscribe', null, 0));
      // Named channels not subscribed to: one frame each, with the name.
      c.send('UNSUBSCRIBE', 'a', 'b');
      await expectBytes(c, frame(proto, 'unsubscribe', 'a', 0) + frame(proto, 'unsubscribe', 'b', 0));
      c.send('PUNSUBSCRIBE', n('p*'));
      await expectBytes(c, frame(proto, 'punsubscribe', n('p*'), 0));
    });

    test(`UNSUBSCRIBE without arguments sends one frame per channel (RESP${proto})`, T, async () => {
      const c = await open();
      c.send('SUBSCRIBE', n('u1'), n('u2'), n('u3'));
      await expectBytes(c, frame(proto, 'subscribe', n('u1'), 1) + frame(proto, 'subscribe', n('u2'), 2) + frame(proto, 'subscribe', n('u3'), 3));
      c.send('PSUBSCRIBE', n('pat*'));
      await expectBytes(c, frame(proto, 'psubscribe', n('pat*'), 4));
      c.send('UNSUBSCRIBE');
      // Redis walks a dict, so the order of channels is unspecified; counts go down from 3 to 1
      // (the pattern still counts).
      const seen = new Set<string>();
      for (const remaining of [3, 2, 1]) {
        const f = await c.read();
        const items = proto === 3 ? (assert.ok(f instanceof Push), f.items) : (f as unknown[]);
        assert.equal(items.length, 3);
        assert.equal(items[0], 'unsubscribe');
        seen.add(items[1] as string);
        assert.equal(items[2], remaining);
      }
      assert.deepEqual([...seen].sort(), [n('u1'), n('u2'), n('u3')]);
      c.send('PUNSUBSCRIBE');
      await expectBytes(c, frame(proto, 'punsubscribe', n('pat*'), 0));
      await expectPong(c);
    });

    test(`subscribing twice to a channel confirms twice but counts once (RESP${proto})`, T, async () => {
      const c = await open();
      c.send('SUBSCRIBE', n('dup'), n('dup'));
      await expectBytes(c, frame(proto, 'subscribe', n('dup'), 1) + frame(proto, 'subscribe', n('dup'), 1));
      assert.equal(await publish(n('dup'), 'once'), 1);
      await expectBytes(c, frame(proto, 'message', n('dup'), 'once'));
      c.send('PSUBSCRIBE', n('dup'), n('dup'));
      await expectBytes(c, frame(proto, 'psubscribe', n('dup'), 2) + frame(proto, 'psubscribe', n('dup'), 2));
    });

    test(`RESET clears subscriptions (RESP${proto})`, T, async () => {
      const c = await open();
      c.send('SUBSCRIBE', n('reset-ch'));
      c.send('PSUBSCRIBE', n('reset-*'));
      await expectBytes(c, frame(proto, 'subscribe', n('reset-ch'), 1) + frame(proto, 'psubscribe', n('reset-*'), 2));
      c.send('RESET');
      await expectBytes(c, '+RESET\r\n');
      assert.equal(await publish(n('reset-ch'), 'x'), 0);
      // Back in RESP2, not subscribed.
      await expectPong(c);
      c.send('ECHO', 'free');
      await expectBytes(c, bulk('free'));
    });

    test(`SUBSCRIBE with 10001 channels, then UNSUBSCRIBE them all (RESP${proto})`, { timeout: 15_000 }, async () => {
      const c = await open();
      const channels = Array.from({ length: 10_001 }, (_, i) => n(`many:${i}`));
      c.send('SUBSCRIBE', ...channels);
      await expectBytes(c, channels.map((ch, i) => frame(proto, 'subscribe', ch, i + 1)).join(''));
      const info = await node.client();
      const stats = infoFields((await info.call('INFO', 'stats')) as string);
      assert.ok(Number(stats.get('pubsub_channels')) >= 10_001);
      assert.equal(await publish(n('many:10000'), 'last'), 1);
      await expectBytes(c, frame(proto, 'message', n('many:10000'), 'last'));
      c.send('UNSUBSCRIBE');
      for (let remaining = 10_000; remaining >= 0; remaining--) {
        const f = await c.read();
        const items = proto === 3 ? (f as Push).items : (f as unknown[]);
        assert.equal(items[0], 'unsubscribe');
        assert.equal(items[2], remaining);
      }
      await expectPong(c);
      assert.equal(await publish(n('many:0'), 'gone'), 0);
    });
  });
}

describe('RESP2 subscribed context', () => {
  test("other commands get the Can't execute error", T, async () => {
    const c = await node.client();
    c.send('SUBSCRIBE', 'ctx');
    await expectBytes(c, frame(2, 'subscribe', 'ctx', 1));
    const only = 'only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context';
    c.send('PUBLISH', 'ctx', 'x');
    await expectBytes(c, err(`ERR Can't execute 'publish': ${only}`));
    c.send('ECHO', 'x');
    await expectBytes(c, err(`ERR Can't execute 'echo': ${only}`));
    c.send('CLIENT', 'ID');
    await expectBytes(c, err(`ERR Can't execute 'client|id': ${only}`));
    c.send('HELLO', '3');
    await expectBytes(c, err(`ERR Can't execute 'hello': ${only}`));
    // Unknown commands and arity errors come first, as in processCommand.
    c.send('NOPE');
    await expectBytes(c, err("ERR unknown command 'NOPE', with args beginning with: "));
    c.send('ECHO');
    await expectBytes(c, err("ERR wrong number of arguments for 'echo' command"));
    // Still subscribed: PING has the pub/sub shape, messages arrive.
    c.send('PING', 'hi');
    await expectBytes(c, '*2\r\n$4\r\npong\r\n$2\r\nhi\r\n');
    assert.equal(await publish('ctx', 'still'), 1);
    await expectBytes(c, frame(2, 'message', 'ctx', 'still'));
    c.send('QUIT');
    assert.equal(await c.readUntilClosed(), '+OK\r\n');
  });

  test('subscribed only to a pattern is subscribed too', T, async () => {
    const c = await node.client();
    c.send('PSUBSCRIBE', 'only-pat*');
    await expectBytes(c, frame(2, 'psubscribe', 'only-pat*', 1));
    c.send('ECHO', 'x');
    await expectBytes(c, err("ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"));
    c.send('PUNSUBSCRIBE');
    await expectBytes(c, frame(2, 'punsubscribe', 'only-pat*', 0));
    c.send('ECHO', 'x');
    await expectBytes(c, bulk('x'));
  });
});

describe('RESP3 subscribed clients', () => {
  test('other commands work while subscribed', T, async () => {
    const c = await resp3();
    c.send('SUBSCRIBE', 'r3');
    await expectBytes(c, frame(3, 'subscribe', 'r3', 1));
    c.send('ECHO', 'ok');
    await expectBytes(c, bulk('ok'));
    c.send('CLIENT', 'GETNAME');
    await expectBytes(c, '_\r\n');
    c.send('PUBLISH', 'nobody', 'x');
    await expectBytes(c, int(0));
    const info = await c.call('INFO', 'server');
    assert.ok(info !== null);
  });

  test('publishing to its own channel delivers the push before the :1 reply', T, async () => {
    const c = await resp3();
    c.send('SUBSCRIBE', 'self');
    await expectBytes(c, frame(3, 'subscribe', 'self', 1));
    c.send('PUBLISH', 'self', 'hi');
    await expectBytes(c, '>3\r\n$7\r\nmessage\r\n$4\r\nself\r\n$2\r\nhi\r\n:1\r\n');
  });

  test('pushes from other publishers come between replies, never inside one', T, async () => {
    const c = await resp3();
    c.send('SUBSCRIBE', 'between');
    await expectBytes(c, frame(3, 'subscribe', 'between', 1));
    const p = await node.client();
    // Interleave: many ECHOs from the subscriber while another client publishes.
    const n = 200;
    for (let i = 0; i < n; i++) c.send('ECHO', `e${i}`);
    for (let i = 0; i < n; i++) p.send('PUBLISH', 'between', `m${i}`);
    for (let i = 0; i < n; i++) assert.equal(await p.read(), 1);
    let echoes = 0;
    let messages = 0;
    while (echoes < n || messages < n) {
      const r = await c.read();
      if (r instanceof Push) {
        assert.deepEqual(r.items, ['message', 'between', `m${messages}`]);
        messages++;
      } else {
        assert.equal(r, `e${echoes}`);
        echoes++;
      }
    }
  });
});

describe('PUBLISH', () => {
  test('returns the number of receivers: channel and pattern subscribers, across protocols', T, async () => {
    const a = await node.client();
    const b = await resp3();
    const c = await node.client();
    a.send('SUBSCRIBE', 'count-me');
    await expectBytes(a, frame(2, 'subscribe', 'count-me', 1));
    b.send('SUBSCRIBE', 'count-me');
    await expectBytes(b, frame(3, 'subscribe', 'count-me', 1));
    c.send('PSUBSCRIBE', 'count-*');
    await expectBytes(c, frame(2, 'psubscribe', 'count-*', 1));
    assert.equal(await publish('count-me', 'v'), 3);
    await expectBytes(a, frame(2, 'message', 'count-me', 'v'));
    await expectBytes(b, frame(3, 'message', 'count-me', 'v'));
    await expectBytes(c, frame(2, 'pmessage', 'count-*', 'count-me', 'v'));
  });

  test('arity', T, async () => {
    const p = await node.client();
    p.send('PUBLISH', 'x');
    await expectBytes(p, err("ERR wrong number of arguments for 'publish' command"));
    p.send('SUBSCRIBE');
    await expectBytes(p, err("ERR wrong number of arguments for 'subscribe' command"));
    p.send('PSUBSCRIBE');
    await expectBytes(p, err("ERR wrong number of arguments for 'psubscribe' command"));
  });

  test('a subscriber that disconnects stops counting', T, async () => {
    const s = await node.client();
    s.send('SUBSCRIBE', 'leaving');
    await expectBytes(s, frame(2, 'subscribe', 'leaving', 1));
    assert.equal(await publish('leaving', 'x'), 1);
    s.close();
    await s.closed;
    const p = await node.client();
    await until(async () => (await p.call('PUBLISH', 'leaving', 'y')) === 0, 'subscription dropped');
  });
});
