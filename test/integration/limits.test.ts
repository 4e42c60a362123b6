/**
 * Limits that close connections, as Redis 7.0 enforces them (tests/unit/limits.tcl "Check if
 * maxclients works refusing connections", querybuf.tcl "query buffer resized correctly";
 * networking.c acceptCommonHandler, readQueryFromClient, checkClientOutputBufferLimits;
 * clientsCronHandleTimeout).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/runtime/virtual-clock.js';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { RespClient, SimpleString } from '../helpers/resp-client.js';
import { bulk, clientFields, err, expectBytes, expectClose, expectPong, frame, infoFields, until } from '../helpers/raw.js';

const T = { timeout: 20_000 };
const MAXCLIENTS_ERR = err('ERR max number of clients reached');

/** One node per configuration under test, all started before and closed after the tests. */
const nodes: Record<string, TestNode> = {};
/** Drives the timers of the nodes whose limits depend on time. */
const clock = new VirtualClock();
before(async () => {
  const configs: Record<string, Parameters<typeof startTestNode>[0]> = {
    plain: {},
    maxclients2: { maxclients: 2 },
    maxclients10: { maxclients: 10 },
    querybuf: { clientQueryBufferLimitBytes: 1024 * 1024 },
    pubsubLimit: { outputLimitPubsub: { hardBytes: 64 * 1024, softBytes: 0, softSeconds: 0 } },
  };
  for (const [name, overrides] of Object.entries(configs)) nodes[name] = await startTestNode(overrides);
  nodes.idle = await startTestNode({ idleTimeoutSec: 10 }, { clock });
  nodes.pubsubSoft = await startTestNode(
    { outputLimitPubsub: { hardBytes: 0, softBytes: 64 * 1024, softSeconds: 10 } },
    { clock },
  );
});
after(() => Promise.all(Object.values(nodes).map((n) => n.close())));

/** Runs a test body against the node of the named configuration. */
function withNode(name: string, body: (node: TestNode) => Promise<void>): () => Promise<void> {
  return () => body(nodes[name]!);
}

async function info(c: RespClient, section: string): Promise<Map<string, string>> {
  return infoFields((await c.call('INFO', section)) as string);
}

describe('maxclients', () => {
  test('with maxclients 2, a third connection gets the error and is closed', T, withNode('maxclients2', async (node) => {
    const a = await node.client();
    const b = await node.client();
    await expectPong(a);
    await expectPong(b);
    const c = await node.client();
    await expectClose(c, MAXCLIENTS_ERR);
    // The two accepted clients are unaffected; the refusal is counted.
    await expectPong(a);
    await expectPong(b);
    const stats = await info(a, 'stats');
    assert.equal(stats.get('rejected_connections'), '1');
    assert.equal((await info(a, 'clients')).get('connected_clients'), '2');
    // Once a client leaves, a new one is accepted.
    b.close();
    await b.closed;
    await until(async () => (await info(a, 'clients')).get('connected_clients') === '1', 'b gone');
    const d = await node.client();
    await expectPong(d);
  }));

  test('Check if maxclients works refusing connections (limits.tcl, maxclients 10)', T, withNode('maxclients10', async (node) => {
    let accepted = 0;
    let refusal = '';
    for (let i = 0; i < 50; i++) {
      const c = await node.client();
      c.write('PING\r\n');
      const first = await c.readBytes(1);
      if (first === '+') {
        await expectBytes(c, 'PONG\r\n');
        accepted++;
        continue;
      }
      refusal = first + (await c.readUntilClosed());
      break;
    }
    assert.equal(accepted, 10);
    assert.equal(refusal, MAXCLIENTS_ERR);
  }));

  test('CONFIG SET maxclients applies to the next connection', T, withNode('plain', async (node) => {
    const a = await node.client();
    // Clients left connected by earlier tests count too.
    const connected = (await info(a, 'clients')).get('connected_clients')!;
    await a.call('CONFIG', 'SET', 'maxclients', connected);
    try {
      const b = await node.client();
      await expectClose(b, MAXCLIENTS_ERR);
    } finally {
      await a.call('CONFIG', 'SET', 'maxclients', '10000');
    }
    const c = await node.client();
    await expectPong(c);
  }));
});

describe('client-query-buffer-limit', () => {
  test('at 1 MiB, a client sending a 2 MiB bulk is closed with no reply', T, withNode('querybuf', async (node) => {
    const other = await node.client();
    await expectPong(other);
    const c = await node.client();
    const size = 2 * 1024 * 1024;
    c.write(`*2\r\n$4\r\nECHO\r\n$${size}\r\n`);
    c.write(Buffer.alloc(size, 0x61));
    c.write('\r\n');
    await expectClose(c, '');
    // The node and its other clients are fine.
    await expectPong(other);
    const d = await node.client();
    await expectPong(d);
  }));

  test('at 1 MiB, a command whose parsed arguments exceed the limit is closed too (Heck decision)', T, withNode('querybuf', async (node) => {
    // docs/decisions.md: Heck counts the pending command's parsed arguments (+32 bytes each)
    // against client-query-buffer-limit. Redis 7.0.15 counts only sdslen(querybuf), so there this
    // 1.5 MiB command would be parsed and answered (-ERR wrong number of arguments for 'echo').
    const c = await node.client();
    const n = 40_000;
    const parts: string[] = [`*${n + 1}\r\n$4\r\nECHO\r\n`];
    for (let i = 0; i < n; i++) parts.push('$32\r\n' + 'z'.repeat(32) + '\r\n');
    c.write(parts.join(''));
    await expectClose(c, '');
    const d = await node.client();
    await expectPong(d);
  }));

  test('a 2 MiB pipeline of small commands is not an overflow: each is run as it arrives', T, withNode('querybuf', async (node) => {
    const c = await node.client();
    const n = 350_000;
    c.write('PING\r\n'.repeat(n));
    await expectBytes(c, '+PONG\r\n'.repeat(n));
    await expectPong(c);
  }));

  test('a bulk under the limit is fine', T, withNode('querybuf', async (node) => {
    const c = await node.client();
    const payload = 'b'.repeat(200_000);
    c.send('ECHO', payload);
    await expectBytes(c, bulk(payload));
  }));
});

describe('proto-max-bulk-len', () => {
  test('CONFIG SET proto-max-bulk-len 1mb: one byte more is an invalid bulk length', T, withNode('plain', async (node) => {
    const admin = await node.client();
    await admin.call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb');
    try {
      const c = await node.client();
      c.write('*2\r\n$4\r\nECHO\r\n$1048577\r\n');
      await expectClose(c, err('ERR Protocol error: invalid bulk length'));
      const d = await node.client();
      const payload = 'q'.repeat(200_000);
      d.send('ECHO', payload);
      await expectBytes(d, bulk(payload));
    } finally {
      await admin.call('CONFIG', 'SET', 'proto-max-bulk-len', '512mb');
    }
  }));
});

describe('querybuf.tcl', () => {
  test('query buffer resized correctly: qbuf shows a pending request, and 0 once it has run', T, withNode('plain', async (node) => {
    const c = await node.client();
    await c.call('CLIENT', 'SETNAME', 'test_client');
    const watcher = await node.client();
    const qbuf = async () => {
      const list = (await watcher.call('CLIENT', 'LIST')) as string;
      const line = list.split('\n').find((l) => l.includes(' name=test_client '));
      assert.ok(line, 'test_client is listed');
      return Number(clientFields(line).get('qbuf'));
    };
    assert.equal(await qbuf(), 0, 'idle client: empty query buffer');
    const half = 'h'.repeat(50_000);
    c.write(`*2\r\n$4\r\nECHO\r\n$100000\r\n${half}`);
    await until(async () => (await qbuf()) >= 50_000, 'qbuf shows the pending 50000 bytes');
    c.write(`${half}\r\n`);
    await expectBytes(c, bulk(half + half));
    assert.equal(await qbuf(), 0, 'after the command ran');
  }));
});

describe('client-output-buffer-limit pubsub', () => {
  test('a subscriber that never reads is disconnected; the publisher keeps working', T, withNode('pubsubLimit', async (node) => {
    const pub = await node.client();
    const base = await info(pub, 'clients');
    const sub = await node.client();
    sub.send('SUBSCRIBE', 'flood');
    await expectBytes(sub, frame(2, 'subscribe', 'flood', 1));
    assert.equal((await info(pub, 'clients')).get('pubsub_clients'), '1');
    sub.socket.pause();

    const message = 'm'.repeat(16 * 1024);
    let published = 0;
    for (;;) {
      const receivers = await pub.call('PUBLISH', 'flood', message);
      if (receivers === 0) break;
      assert.equal(receivers, 1);
      published++;
      assert.ok(published < 20_000, 'the subscriber was never disconnected');
    }
    // The kernel buffers filled first, then the hard limit closed the subscriber.
    assert.ok(published > 4);
    await expectPong(pub);
    const now = await info(pub, 'clients');
    assert.equal(now.get('connected_clients'), base.get('connected_clients'));
    assert.equal(now.get('pubsub_clients'), '0');
    const list = (await pub.call('CLIENT', 'LIST')) as string;
    assert.equal(list.split('\n').filter(Boolean).length, Number(base.get('connected_clients')));
    // From the subscriber's side: what was sent arrives, then the connection is closed.
    sub.socket.resume();
    await sub.closed;
  }));

  test('ordinary clients are not subject to the pubsub limit', T, withNode('pubsubLimit', async (node) => {
    const c = await node.client();
    const payload = 'n'.repeat(200_000);
    c.send('ECHO', payload);
    await expectBytes(c, bulk(payload));
  }));
});

describe('timeout (idle clients)', () => {
  test('an idle client is closed; a subscriber is not', T, withNode('idle', async (node) => {
    const sub = await node.client();
    sub.send('SUBSCRIBE', 'stay');
    await expectBytes(sub, frame(2, 'subscribe', 'stay', 1));
    const idle = await node.client();
    await expectPong(idle);
    clock.advance(9_000);
    await expectPong(idle); // not idle for 10 s yet, and this resets its idle time
    clock.advance(11_000);
    await expectClose(idle, '');
    // The subscriber has been idle longer and is still served.
    sub.send('PING');
    await expectBytes(sub, '*2\r\n$4\r\npong\r\n$0\r\n\r\n');
    const fresh = await node.client();
    assert.deepEqual(await fresh.call('PING'), new SimpleString('PONG'));
  }));
});

describe('client-output-buffer-limit pubsub, soft limit', () => {
  test('a subscriber over the soft limit is closed only once it has stayed over it for the grace period', T, withNode('pubsubSoft', async (node) => {
    const pub = await node.client();
    const sub = await node.client();
    sub.send('SUBSCRIBE', 'slow');
    await expectBytes(sub, frame(2, 'subscribe', 'slow', 1));
    sub.socket.pause();
    const subId = async () => {
      const list = (await pub.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      return list.split('\n').filter(Boolean).map(clientFields)[0];
    };
    // Publish until the server holds more than the soft limit for the subscriber (the kernel's
    // buffers fill first); it stays connected, since the grace period has not run.
    const message = 'm'.repeat(16 * 1024);
    await until(async () => {
      assert.equal(await pub.call('PUBLISH', 'slow', message), 1);
      return Number((await subId())?.get('omem')) > 64 * 1024;
    }, 'the subscriber\'s output buffer passes the soft limit');
    clock.advance(9_000);
    assert.equal(await pub.call('PUBLISH', 'slow', message), 1, 'still within the grace period');
    clock.advance(2_000);
    // The next write finds it over the soft limit for 11 s: it is closed.
    assert.equal(await pub.call('PUBLISH', 'slow', message), 1);
    await until(async () => (await subId()) === undefined, 'the subscriber is gone');
    assert.equal(await pub.call('PUBLISH', 'slow', message), 0);
  }));
});
