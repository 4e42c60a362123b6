import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestNode, type TestNode } from '../helpers/node.js';
import { ErrorReply, SimpleString } from '../helpers/resp-client.js';
import { startNodeProcess } from '../helpers/process.js';

let node: TestNode;
before(async () => (node = await startTestNode()));
after(() => node.close());

test('PING answers PONG in-process', async () => {
  const c = await node.client();
  assert.deepEqual(await c.call('PING'), new SimpleString('PONG'));
  assert.deepEqual(await c.call('NOPE'), new ErrorReply("ERR unknown command 'NOPE', with args beginning with: "));
});

test('a real process starts on a free port and exits 0 on SIGTERM', async () => {
  const p = await startNodeProcess();
  assert.ok(p.port > 0);
  assert.equal(await p.stop(), 0);
});
