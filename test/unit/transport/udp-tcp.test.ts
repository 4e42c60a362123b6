import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SystemClock } from '../../../src/runtime/clock.js';
import { silentLogger, type Logger } from '../../../src/runtime/logger.js';
import { SeededRandom } from '../../../src/runtime/random.js';
import { MAX_PACKET_BYTES, MAX_STREAM_MESSAGE_BYTES, TransportError, type Address } from '../../../src/transport/transport.js';
import { UdpTcpTransport } from '../../../src/transport/udp-tcp.js';

const HOST = '127.0.0.1';
const clock = new SystemClock();

function start(extra: { readTimeoutMs?: number; maxInboundBufferBytes?: number; logger?: Logger } = {}): Promise<UdpTcpTransport> {
  return UdpTcpTransport.start({ bind: HOST, port: 0, clock, logger: silentLogger, ...extra });
}

/** Resolves with the next packet the transport receives that satisfies `match`. */
function nextPacket(t: UdpTcpTransport, match: (data: Buffer) => boolean = () => true): Promise<{ from: Address; data: Buffer }> {
  return new Promise((resolve) => t.onPacket((from, data) => match(data) && resolve({ from, data })));
}

/** UDP may drop a datagram even on loopback (a full socket buffer): send until `done` settles. */
async function repeatUntil<T>(done: Promise<T>, send: () => void): Promise<T> {
  send();
  const again = setInterval(send, 20);
  try {
    return await done;
  } finally {
    clearInterval(again);
  }
}

/** Opens a raw TCP connection, writes `bytes`, and resolves with what came back once it closes. */
async function raw(port: number, bytes: Buffer, endAfterWrite = false): Promise<Buffer> {
  const socket = connect({ host: HOST, port });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {}); // a reset is one of the expected outcomes
  socket.write(bytes);
  if (endAfterWrite) socket.end();
  await once(socket, 'close');
  return Buffer.concat(chunks);
}

function frame(body: Buffer, length = body.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length, 0);
  return Buffer.concat([h, body]);
}

/** A TCP server on 127.0.0.1 that behaves as `onConn` says; closes its connections on stop. */
async function fakeServer(onConn: (s: Socket) => void): Promise<{ port: number; stop: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return {
    port: address.port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('UdpTcpTransport between two nodes', () => {
  let a: UdpTcpTransport;
  let b: UdpTcpTransport;
  const logged: string[] = [];
  const recording: Logger = { ...silentLogger, error: (event) => void logged.push(event) };

  before(async () => {
    [a, b] = await Promise.all([start(), start({ logger: recording })]);
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  test('binds UDP and TCP on one port of the bind address', () => {
    assert.equal(a.local.host, HOST);
    assert.ok(a.local.port > 0);
    assert.notEqual(a.local.port, b.local.port);
  });

  test('a packet goes there and back; from is the sender bus address', async () => {
    const atB = nextPacket(b);
    const got = await repeatUntil(atB, () => a.sendPacket(b.local, Buffer.from('ping')));
    assert.equal(got.data.toString(), 'ping');
    assert.deepEqual(got.from, a.local);
    const atA = nextPacket(a);
    const back = await repeatUntil(atA, () => b.sendPacket(got.from, Buffer.from('pong')));
    assert.equal(back.data.toString(), 'pong');
  });

  test('a packet of exactly MAX_PACKET_BYTES is sent; one byte more is not', async () => {
    const sizes: number[] = [];
    const full = new Promise<void>((resolve) =>
      b.onPacket((_f, d) => {
        sizes.push(d.length);
        if (d.length === MAX_PACKET_BYTES) resolve();
      }),
    );
    await repeatUntil(full, () => {
      a.sendPacket(b.local, Buffer.alloc(MAX_PACKET_BYTES + 1));
      a.sendPacket(b.local, Buffer.alloc(MAX_PACKET_BYTES));
    });
    assert.ok(sizes.every((n) => n === MAX_PACKET_BYTES), `sizes ${sizes.join(',')}`);
  });

  test('request and reply; from is the peer host', async () => {
    let seen: Address | undefined;
    b.onRequest(async (from, data) => {
      seen = from;
      return Buffer.concat([Buffer.from('re:'), data]);
    });
    const reply = await a.request(b.local, Buffer.from('hello'), 2000);
    assert.equal(reply.toString(), 're:hello');
    assert.equal(seen?.host, HOST);
  });

  test('empty and multi-megabyte messages survive the framing', async () => {
    b.onRequest(async (_from, data) => Buffer.from(data.reverse()));
    assert.equal((await a.request(b.local, Buffer.alloc(0), 2000)).length, 0);
    const big = new SeededRandom(3).bytes(3 * 1024 * 1024 + 7);
    const expected = Buffer.from(big).reverse();
    const reply = await a.request(b.local, big, 5000);
    assert.ok(reply.equals(expected));
  });

  test('many concurrent requests each get their own reply', async () => {
    b.onRequest(async (_from, data) => data);
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => a.request(b.local, Buffer.from(String(i)), 2000)));
    assert.deepEqual(replies.map((r) => r.toString()), Array.from({ length: 50 }, (_, i) => String(i)));
  });

  test('a rejecting handler, or none, closes without reply: REJECTED', async () => {
    b.onRequest(async () => {
      throw new Error('no');
    });
    await assert.rejects(a.request(b.local, Buffer.from('x'), 2000), { name: 'TransportError', code: 'REJECTED' });
    b.onRequest(() => {
      throw new Error('sync no');
    });
    await assert.rejects(a.request(b.local, Buffer.from('x'), 2000), { code: 'REJECTED' });
    const c = await start();
    try {
      await assert.rejects(a.request(c.local, Buffer.from('x'), 2000), { code: 'REJECTED' });
    } finally {
      await c.close();
    }
  });

  test('TOO_LARGE: a request is refused before connecting; an oversized reply is announced, not sent', async () => {
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return Buffer.alloc(MAX_STREAM_MESSAGE_BYTES + 1);
    });
    await assert.rejects(a.request(b.local, Buffer.alloc(MAX_STREAM_MESSAGE_BYTES + 1), 2000), { code: 'TOO_LARGE' });
    assert.equal(handled, 0);
    await assert.rejects(a.request(b.local, Buffer.from('x'), 2000), { code: 'TOO_LARGE' });
    assert.equal(handled, 1);
  });

  test('the server drops a frame announcing more than MAX_STREAM_MESSAGE_BYTES without calling the handler', async () => {
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return Buffer.from('no');
    });
    const back = await raw(b.local.port, frame(Buffer.from('abc'), MAX_STREAM_MESSAGE_BYTES + 1));
    assert.equal(back.length, 0);
    assert.equal(handled, 0);
  });

  test('a raw client gets exactly one reply frame', async () => {
    b.onRequest(async (_f, d) => Buffer.concat([d, d]));
    const back = await raw(b.local.port, frame(Buffer.from('ab')));
    assert.deepEqual(back, frame(Buffer.from('abab')));
  });

  test('garbage on TCP and UDP leaves the transport working', async () => {
    const rnd = new SeededRandom(42);
    let handled = 0;
    b.onRequest(async (_f, d) => {
      handled++;
      return d;
    });
    // Random bytes on many connections: a random length header is usually far over the limit
    // (closed at once); the rest wait for bytes that never come until we hang up.
    await Promise.all(Array.from({ length: 40 }, () => raw(b.local.port, rnd.bytes(1 + rnd.int(3000)), true)));
    // A header that promises a small body, followed by less than that.
    await raw(b.local.port, Buffer.concat([frame(Buffer.alloc(0), 100), Buffer.alloc(10)]), true);
    // Random datagrams, some oversized, and a packet handler that throws on them.
    const sizes: number[] = [];
    const alive = new Promise<void>((resolve) =>
      b.onPacket((_f, d) => {
        if (d.toString() === 'alive?') return resolve();
        sizes.push(d.length);
        throw new Error('handler bug');
      }),
    );
    const sender = createSocket('udp4');
    await new Promise<void>((r) => sender.bind(0, HOST, r));
    for (let i = 0; i < 100; i++) sender.send(rnd.bytes(1 + rnd.int(4000)), b.local.port, HOST);
    await new Promise<void>((r) => sender.send(Buffer.from('last garbage'), b.local.port, HOST, () => r()));
    sender.close();
    // Still working on both paths. The burst may overflow the socket buffer and UDP may drop
    // our probe, so it is repeated until it lands.
    await repeatUntil(alive, () => a.sendPacket(b.local, Buffer.from('alive?')));
    assert.ok(sizes.length > 0 && sizes.every((n) => n <= MAX_PACKET_BYTES), `sizes ${sizes.join(',')}`);
    assert.ok(logged.includes('bus_packet_handler_failed'));
    assert.equal((await a.request(b.local, Buffer.from('still here'), 2000)).toString(), 'still here');
    assert.ok(handled <= 2, 'garbage rarely forms a whole frame');
  });
});

describe('UdpTcpTransport failures', () => {
  test('a closed port is UNREACHABLE', async () => {
    const probe = createServer();
    probe.listen(0, HOST);
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const a = await start();
    try {
      await assert.rejects(a.request({ host: HOST, port }, Buffer.from('x'), 2000), { code: 'UNREACHABLE' });
    } finally {
      await a.close();
    }
  });

  test('a server that never answers: TIMEOUT after timeoutMs', async () => {
    const silent = await fakeServer(() => {});
    const a = await start();
    try {
      const t0 = performance.now();
      await assert.rejects(a.request({ host: HOST, port: silent.port }, Buffer.from('x'), 150), { code: 'TIMEOUT' });
      const took = performance.now() - t0;
      assert.ok(took >= 140 && took < 1000, `took ${took} ms`);
    } finally {
      await a.close();
      await silent.stop();
    }
  });

  test('a reply header over the limit, or a reply cut short, fails the request', async () => {
    const huge = await fakeServer((s) => s.end(frame(Buffer.alloc(0), MAX_STREAM_MESSAGE_BYTES + 1)));
    const short = await fakeServer((s) => s.end(frame(Buffer.from('abc'), 10)));
    const a = await start();
    try {
      await assert.rejects(a.request({ host: HOST, port: huge.port }, Buffer.from('x'), 2000), { code: 'TOO_LARGE' });
      await assert.rejects(a.request({ host: HOST, port: short.port }, Buffer.from('x'), 2000), { code: 'CLOSED' });
    } finally {
      await a.close();
      await Promise.all([huge.stop(), short.stop()]);
    }
  });

  test('an inbound connection idle past the read timeout is dropped', async () => {
    const b = await start({ readTimeoutMs: 100 });
    try {
      const t0 = performance.now();
      const back = await raw(b.local.port, Buffer.from([0, 0]));
      const took = performance.now() - t0;
      assert.equal(back.length, 0);
      assert.ok(took >= 90 && took < 2000, `took ${took} ms`);
    } finally {
      await b.close();
    }
  });

  test('inbound requests together may hold at most maxInboundBufferBytes', async () => {
    const b = await start({ maxInboundBufferBytes: 10_000 });
    const a = await start();
    b.onRequest(async (_f, d) => Buffer.from(String(d.length)));
    try {
      await assert.rejects(a.request(b.local, Buffer.alloc(20_000), 2000), (err: unknown) => {
        assert.ok(err instanceof TransportError);
        assert.ok(err.code === 'CLOSED' || err.code === 'REJECTED', err.code);
        return true;
      });
      // The dropped connection gave its share back.
      assert.equal((await a.request(b.local, Buffer.alloc(9_000), 2000)).toString(), '9000');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('close() fails pending requests with CLOSED, frees the port, and later calls are CLOSED', async () => {
    const silent = await fakeServer(() => {});
    const a = await start();
    const b = await start();
    const port = a.local.port;
    // b holds an inbound connection open while a holds an outbound one.
    const held = connect({ host: HOST, port: b.local.port });
    held.on('error', () => {});
    await once(held, 'connect');
    const pending = a.request({ host: HOST, port: silent.port }, Buffer.from('x'), 10_000);
    await Promise.all([a.close(), b.close(), assert.rejects(pending, { code: 'CLOSED' }), once(held, 'close')]);
    await assert.rejects(a.request(b.local, Buffer.from('x'), 100), { code: 'CLOSED' });
    a.sendPacket(b.local, Buffer.from('x')); // dropped, no throw
    // Both the UDP and the TCP side of the port are free again.
    const again = await UdpTcpTransport.start({ bind: HOST, port, clock, logger: silentLogger });
    await again.close();
    await silent.stop();
  });

  test('a port already taken is an error', async () => {
    const a = await start();
    try {
      await assert.rejects(UdpTcpTransport.start({ bind: HOST, port: a.local.port, clock, logger: silentLogger }), { code: 'EADDRINUSE' });
    } finally {
      await a.close();
    }
  });

  test('advertise overrides the address peers are told', async () => {
    const a = await UdpTcpTransport.start({ bind: HOST, port: 0, advertise: { host: '192.0.2.7', port: 0 }, clock, logger: silentLogger });
    try {
      assert.equal(a.local.host, '192.0.2.7');
      assert.ok(a.local.port > 0);
    } finally {
      await a.close();
    }
  });
});
