import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { startReading } from '../../../src/server/socket-reader.js';

/** Accepts one connection through startReading and collects what it reads until the peer closes. */
async function readThroughServer(payloads: Buffer[]): Promise<{ fastPath: boolean; received: Buffer }> {
  let server: Server | undefined;
  const result = new Promise<{ fastPath: boolean; received: Buffer }>((resolve) => {
    server = createServer({ pauseOnConnect: true }, (accepted) => {
      const chunks: Buffer[] = [];
      // The chunk is only valid during the callback: keep a copy, as RequestReader.detach does.
      const { socket, fastPath } = startReading(accepted, (chunk) => chunks.push(Buffer.from(chunk)));
      socket.on('close', () => resolve({ fastPath, received: Buffer.concat(chunks) }));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server!.address() as { port: number }).port;
  const client = connect({ port, host: '127.0.0.1' });
  for (const p of payloads) client.write(p);
  client.end();
  const out = await result;
  server!.close();
  return out;
}

test('on Node 20 accepted sockets read through the shared-buffer fast path', async () => {
  const { fastPath } = await readThroughServer([Buffer.from('PING\r\n')]);
  assert.equal(fastPath, true);
});

test('every byte arrives, in order, across many reads of the shared buffer', async () => {
  const payloads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000 + i, i));
  const { received } = await readThroughServer(payloads);
  assert.deepEqual(received, Buffer.concat(payloads));
});
