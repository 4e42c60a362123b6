/**
 * SHUTDOWN: like Redis, a successful SHUTDOWN sends no reply; the connection just closes. Heck's
 * stop is graceful (DESIGN.md §7): no new clients, replies already owed are sent whole, then every
 * connection closes and stop() resolves.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { RespClient } from '../helpers/resp-client.js';
import { err, expectBytes, expectClose, expectPong } from '../helpers/raw.js';

/** A graceful stop of an in-process node takes milliseconds; a hang fails fast. */
const T = { timeout: 15_000 };

/** A node of its own for each test (SHUTDOWN stops it), all closed after the tests. */
const nodes: TestNode[] = [];
before(async () => {
  for (let i = 0; i < 4; i++) nodes.push(await startTestNode());
});
after(() => Promise.all(nodes.map((n) => n.close())));

let next = 0;
function withNode(body: (node: TestNode) => Promise<void>): Promise<void> {
  return body(nodes[next++]!);
}

async function refused(port: number): Promise<boolean> {
  try {
    const c = await RespClient.open(port);
    c.close();
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

test('SHUTDOWN while another client has a pipeline in flight', T, () =>
  withNode(async (node) => {
    const a = await node.client();
    const b = await node.client();
    await expectPong(a);
    // b sends a long pipeline and has seen the first replies: it is mid-pipeline.
    const n = 200_000;
    b.write('PING\r\n'.repeat(n));
    await expectBytes(b, '+PONG\r\n');
    a.send('SHUTDOWN');
    await expectClose(a, '', 'no reply to SHUTDOWN, then the connection closes');
    // b gets only whole replies, then is closed too.
    const rest = await b.readUntilClosed();
    assert.match(rest, /^(\+PONG\r\n)*$/, 'only complete replies');
    assert.ok(rest.length / 7 < n, 'the pipeline was cut short');
    await node.stop();
    assert.ok(await refused(node.port), 'no new connections after SHUTDOWN');
  }));

test('SHUTDOWN from the only client: no reply, and stop() completes', T, () =>
  withNode(async (node) => {
    const a = await node.client();
    await expectPong(a);
    a.send('SHUTDOWN');
    await expectClose(a, '');
    await node.stop();
    assert.ok(await refused(node.port));
  }));

test('SHUTDOWN with an idle client connected: that client is closed too', T, () =>
  withNode(async (node) => {
    const idle = await node.client();
    await expectPong(idle);
    const a = await node.client();
    a.write('PING\r\nSHUTDOWN NOSAVE NOW FORCE\r\nPING\r\n');
    await expectClose(a, '+PONG\r\n', 'replies before SHUTDOWN are sent; nothing after it runs');
    await expectClose(idle, '');
    await node.stop();
  }));

test('SHUTDOWN ABORT and bad arguments do not stop anything', T, () =>
  withNode(async (node) => {
    const a = await node.client();
    a.send('SHUTDOWN', 'ABORT');
    await expectBytes(a, err('ERR No shutdown in progress.'));
    a.send('SHUTDOWN', 'NOSAVE', 'ABORT');
    await expectBytes(a, err('ERR syntax error'));
    a.send('SHUTDOWN', 'LATER');
    await expectBytes(a, err('ERR syntax error'));
    await expectPong(a);
    const b = await node.client();
    await expectPong(b);
  }));
