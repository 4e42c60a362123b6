import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRandom } from '../../../src/runtime/random.js';
import { VirtualClock } from '../../../src/runtime/virtual-clock.js';
import { MemoryNetwork, type LinkConditions } from '../../../src/transport/memory.js';
import {
  MAX_PACKET_BYTES,
  MAX_STREAM_MESSAGE_BYTES,
  TransportError,
  type Address,
  type Transport,
} from '../../../src/transport/transport.js';

const A: Address = { host: '10.0.0.1', port: 7946 };
const B: Address = { host: '10.0.0.2', port: 7946 };
const C: Address = { host: '10.0.0.3', port: 7946 };

interface Received {
  at: number;
  from: Address;
  data: string;
}

function setup(defaults?: LinkConditions, seed = 1) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork(clock, new SeededRandom(seed), defaults);
  return { clock, net };
}

/** Records every packet a transport receives, stamped with the virtual time. */
function inbox(clock: VirtualClock, t: Transport): Received[] {
  const got: Received[] = [];
  t.onPacket((from, data) => got.push({ at: clock.now(), from, data: data.toString() }));
  return got;
}

type Outcome = { state: 'pending' } | { state: 'resolved'; value: Buffer; at: number } | { state: 'rejected'; code: string; at: number };

/**
 * Observes a promise without awaiting it, so tests can check it at precise virtual times.
 * A getter, so the compiler does not carry an assertion's narrowing across an await.
 */
function watch(clock: VirtualClock, p: Promise<Buffer>): { readonly outcome: Outcome } {
  let outcome: Outcome = { state: 'pending' };
  p.then(
    (value) => (outcome = { state: 'resolved', value, at: clock.now() }),
    (err: unknown) => {
      assert.ok(err instanceof TransportError, `expected a TransportError, got ${String(err)}`);
      outcome = { state: 'rejected', code: err.code, at: clock.now() };
    },
  );
  return {
    get outcome(): Outcome {
      return outcome;
    },
  };
}

/** Lets promise callbacks run (handlers answer in microtasks, which then set clock timers). */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Advances the virtual clock 1 ms at a time, running microtasks between steps. */
async function step(clock: VirtualClock, ms: number): Promise<void> {
  await flush();
  clock.advance(0);
  for (let i = 0; i < ms; i++) {
    await flush();
    clock.advance(1);
  }
  await flush();
}

const echo = (t: Transport): void => t.onRequest(async (_from, data) => Buffer.concat([Buffer.from('re:'), data]));

describe('MemoryNetwork packets', () => {
  test('a packet arrives after the link delay, never inside sendPacket', () => {
    const { clock, net } = setup({ delayMs: 5 });
    const a = net.attach(A);
    const b = net.attach(B);
    const got = inbox(clock, b);
    a.sendPacket(B, Buffer.from('hi'));
    assert.equal(got.length, 0);
    clock.advance(4.999);
    assert.equal(got.length, 0);
    clock.advance(0.001);
    assert.deepEqual(got, [{ at: 5, from: A, data: 'hi' }]);
  });

  test('delay 0 is still asynchronous', () => {
    const { clock, net } = setup();
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    a.sendPacket(B, Buffer.from('x'));
    assert.equal(got.length, 0);
    clock.advance(0);
    assert.equal(got.length, 1);
  });

  test('the payload is copied when sent', () => {
    const { clock, net } = setup();
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    const buf = Buffer.from('abc');
    a.sendPacket(B, buf);
    buf.write('zzz');
    clock.advance(0);
    assert.equal(got[0]!.data, 'abc');
  });

  test('loss rate is roughly as configured (fixed seed)', () => {
    const { clock, net } = setup({ lossRate: 0.3 });
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    const n = 10_000;
    for (let i = 0; i < n; i++) a.sendPacket(B, Buffer.from('p'));
    clock.advance(0);
    const rate = 1 - got.length / n;
    assert.ok(rate > 0.28 && rate < 0.32, `loss ${rate}`);
    assert.equal(net.stats(A).packetsSent, n, 'lost packets were still sent');
    assert.equal(net.stats(B).packetsReceived, got.length);
  });

  test('duplication rate is roughly as configured', () => {
    const { clock, net } = setup({ duplicateRate: 0.2 });
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    const n = 5_000;
    for (let i = 0; i < n; i++) a.sendPacket(B, Buffer.from(String(i)));
    clock.advance(0);
    const extra = got.length / n - 1;
    assert.ok(extra > 0.18 && extra < 0.22, `duplicates ${extra}`);
    assert.equal(new Set(got.map((g) => g.data)).size, n, 'every packet arrives at least once');
  });

  test('jitter spreads arrivals over [delay, delay + jitter) and reorders', () => {
    const { clock, net } = setup({ delayMs: 10, jitterMs: 20 });
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    for (let i = 0; i < 200; i++) a.sendPacket(B, Buffer.from(String(i)));
    clock.advance(100);
    assert.equal(got.length, 200);
    assert.ok(got.every((g) => g.at >= 10 && g.at < 30));
    assert.ok(Math.max(...got.map((g) => g.at)) - Math.min(...got.map((g) => g.at)) > 15);
    assert.notDeepEqual(got.map((g) => g.data), Array.from({ length: 200 }, (_, i) => String(i)));
  });

  test('setLink changes one direction only and falls back to the defaults per field', () => {
    const { clock, net } = setup({ delayMs: 5 });
    const a = net.attach(A);
    const b = net.attach(B);
    const atA = inbox(clock, a);
    const atB = inbox(clock, b);
    net.setLink(A, B, { lossRate: 1 });
    for (let i = 0; i < 10; i++) a.sendPacket(B, Buffer.from('x'));
    b.sendPacket(A, Buffer.from('y'));
    clock.advance(5);
    assert.equal(atB.length, 0);
    assert.deepEqual(atA, [{ at: 5, from: B, data: 'y' }], 'reverse direction untouched, default delay');
    net.setLink(A, B, { delayMs: 1 });
    a.sendPacket(B, Buffer.from('z'));
    clock.advance(1);
    assert.deepEqual(atB, [{ at: 6, from: A, data: 'z' }]);
    net.setDefaults({ delayMs: 50 });
    b.sendPacket(A, Buffer.from('w'));
    clock.advance(49);
    assert.equal(atA.length, 1);
    clock.advance(1);
    assert.equal(atA.length, 2);
  });

  test('invalid conditions are refused', () => {
    const { net } = setup();
    assert.throws(() => net.setDefaults({ lossRate: 1.5 }), RangeError);
    assert.throws(() => net.setLink(A, B, { delayMs: -1 }), RangeError);
    assert.throws(() => net.setLink(A, B, { jitterMs: Number.NaN }), RangeError);
    assert.throws(() => new MemoryNetwork(new VirtualClock(), new SeededRandom(1), { duplicateRate: -0.1 }), RangeError);
  });

  test('packets over MAX_PACKET_BYTES are dropped and not counted', () => {
    const { clock, net } = setup();
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    a.sendPacket(B, Buffer.alloc(MAX_PACKET_BYTES + 1));
    a.sendPacket(B, Buffer.alloc(MAX_PACKET_BYTES));
    clock.advance(0);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.data.length, MAX_PACKET_BYTES);
    assert.equal(net.stats(A).packetsSent, 1);
  });

  test('the same seed gives the same run', () => {
    const run = (seed: number): string => {
      const { clock, net } = setup({ lossRate: 0.2, jitterMs: 7, duplicateRate: 0.1 }, seed);
      const a = net.attach(A);
      const got = inbox(clock, net.attach(B));
      for (let i = 0; i < 300; i++) a.sendPacket(B, Buffer.from(String(i)));
      clock.advance(10);
      return JSON.stringify(got);
    };
    assert.equal(run(7), run(7));
    assert.notEqual(run(7), run(8));
  });
});

describe('MemoryNetwork partitions', () => {
  test('a two-way partition drops packets both ways, leaves others alone, and heals', () => {
    const { clock, net } = setup({ delayMs: 1 });
    const [a, b, c] = [net.attach(A), net.attach(B), net.attach(C)];
    const [atA, atB, atC] = [inbox(clock, a), inbox(clock, b), inbox(clock, c)];
    net.partition([A], [B]);
    a.sendPacket(B, Buffer.from('ab'));
    b.sendPacket(A, Buffer.from('ba'));
    a.sendPacket(C, Buffer.from('ac'));
    c.sendPacket(B, Buffer.from('cb'));
    clock.advance(1);
    assert.equal(atA.length, 0);
    assert.deepEqual(atB.map((g) => g.data), ['cb']);
    assert.deepEqual(atC.map((g) => g.data), ['ac']);
    net.heal();
    a.sendPacket(B, Buffer.from('ab2'));
    b.sendPacket(A, Buffer.from('ba2'));
    clock.advance(1);
    assert.deepEqual(atA.map((g) => g.data), ['ba2']);
    assert.deepEqual(atB.map((g) => g.data), ['cb', 'ab2']);
  });

  test('a one-way partition drops only that direction', () => {
    const { clock, net } = setup();
    const [a, b] = [net.attach(A), net.attach(B)];
    const [atA, atB] = [inbox(clock, a), inbox(clock, b)];
    net.partitionOneWay([A], [B]);
    a.sendPacket(B, Buffer.from('ab'));
    b.sendPacket(A, Buffer.from('ba'));
    clock.advance(0);
    assert.deepEqual(atB, []);
    assert.deepEqual(atA.map((g) => g.data), ['ba']);
  });

  test('requests across a partition time out, in both directions, and work again after heal', async () => {
    const { clock, net } = setup({ delayMs: 2 });
    const [a, b] = [net.attach(A), net.attach(B)];
    echo(a);
    echo(b);
    net.partition([A], [B]);
    const ab = watch(clock, a.request(B, Buffer.from('1'), 100));
    const ba = watch(clock, b.request(A, Buffer.from('2'), 100));
    await step(clock, 99);
    assert.equal(ab.outcome.state, 'pending');
    await step(clock, 1);
    assert.deepEqual(ab.outcome, { state: 'rejected', code: 'TIMEOUT', at: 100 });
    assert.deepEqual(ba.outcome, { state: 'rejected', code: 'TIMEOUT', at: 100 });
    net.heal();
    const ok = watch(clock, a.request(B, Buffer.from('3'), 100));
    await step(clock, 4);
    assert.equal(ok.outcome.state, 'resolved');
  });

  test('a request needs both directions: a one-way partition times it out either way', async () => {
    const { clock, net } = setup();
    const [a, b] = [net.attach(A), net.attach(B)];
    let handled = 0;
    const count = async (): Promise<Buffer> => {
      handled++;
      return Buffer.from('ok');
    };
    a.onRequest(count);
    b.onRequest(count);
    net.partitionOneWay([A], [B]);
    const ab = watch(clock, a.request(B, Buffer.from('1'), 50));
    const ba = watch(clock, b.request(A, Buffer.from('2'), 50));
    await step(clock, 50);
    assert.equal(ab.outcome.state === 'rejected' && ab.outcome.code, 'TIMEOUT');
    assert.equal(ba.outcome.state === 'rejected' && ba.outcome.code, 'TIMEOUT');
    assert.equal(handled, 0, 'the handshake never completed');
  });

  test('a partition that starts while the handler works loses the reply', async () => {
    const { clock, net } = setup({ delayMs: 1 });
    const [a, b] = [net.attach(A), net.attach(B)];
    let release: () => void = () => {};
    b.onRequest(() => new Promise((r) => (release = () => r(Buffer.from('late')))));
    const w = watch(clock, a.request(B, Buffer.from('q'), 30));
    await step(clock, 1);
    net.partition([A], [B]);
    release();
    await step(clock, 29);
    assert.deepEqual(w.outcome, { state: 'rejected', code: 'TIMEOUT', at: 30 });
  });
});

describe('MemoryNetwork requests', () => {
  test('request and reply each take the link delay; the requester shows an ephemeral port', async () => {
    const { clock, net } = setup({ delayMs: 10 });
    const [a, b] = [net.attach(A), net.attach(B)];
    const froms: Address[] = [];
    b.onRequest(async (from, data) => {
      froms.push(from);
      return Buffer.from(`re:${data.toString()}`);
    });
    const w = watch(clock, a.request(B, Buffer.from('ping'), 1000));
    await step(clock, 19);
    assert.equal(w.outcome.state, 'pending');
    await step(clock, 1);
    assert.deepEqual(w.outcome, { state: 'resolved', value: Buffer.from('re:ping'), at: 20 });
    assert.equal(froms[0]!.host, A.host);
    assert.ok(froms[0]!.port >= 49152 && froms[0]!.port <= 65535);
  });

  test('TIMEOUT fires at exactly timeoutMs on the clock', async () => {
    const { clock, net } = setup();
    const [a, b] = [net.attach(A), net.attach(B)];
    b.onRequest(() => new Promise<Buffer>(() => {}));
    const w = watch(clock, a.request(B, Buffer.from('x'), 250));
    await step(clock, 249);
    clock.advance(0.999);
    await flush();
    assert.equal(w.outcome.state, 'pending');
    clock.advance(0.001);
    await flush();
    assert.deepEqual(w.outcome, { state: 'rejected', code: 'TIMEOUT', at: 250 });
  });

  test('a handler rejection (or throw, or no handler) is REJECTED after the reply delay', async () => {
    const { clock, net } = setup({ delayMs: 3 });
    const [a, b, c] = [net.attach(A), net.attach(B), net.attach(C)];
    b.onRequest(async () => {
      throw new Error('nope');
    });
    a.onRequest(() => {
      throw new Error('sync nope');
    });
    const w1 = watch(clock, c.request(B, Buffer.from('x'), 100));
    const w2 = watch(clock, c.request(A, Buffer.from('x'), 100));
    const w3 = watch(clock, a.request(C, Buffer.from('x'), 100));
    await step(clock, 6);
    for (const w of [w1, w2, w3]) assert.deepEqual(w.outcome, { state: 'rejected', code: 'REJECTED', at: 6 });
  });

  test('TOO_LARGE for a request (at once, nothing sent) and for a reply', async () => {
    const { clock, net } = setup({ delayMs: 1 });
    const [a, b] = [net.attach(A), net.attach(B)];
    let handled = 0;
    b.onRequest(async () => {
      handled++;
      return Buffer.alloc(MAX_STREAM_MESSAGE_BYTES + 1);
    });
    await assert.rejects(a.request(B, Buffer.alloc(MAX_STREAM_MESSAGE_BYTES + 1), 100), { code: 'TOO_LARGE' });
    assert.equal(handled, 0);
    assert.equal(net.stats(A).requestBytesSent, 0);
    const w = watch(clock, a.request(B, Buffer.from('big please'), 100));
    await step(clock, 2);
    assert.deepEqual(w.outcome, { state: 'rejected', code: 'TOO_LARGE', at: 2 });
  });

  test('a request to a detached node is UNREACHABLE after the link delay', async () => {
    const { clock, net } = setup({ delayMs: 4 });
    const a = net.attach(A);
    const b = net.attach(B);
    const atB = inbox(clock, b);
    net.detach(B);
    assert.equal(net.isAttached(B), false);
    a.sendPacket(B, Buffer.from('gone'));
    const w = watch(clock, a.request(B, Buffer.from('x'), 100));
    await step(clock, 4);
    assert.deepEqual(w.outcome, { state: 'rejected', code: 'UNREACHABLE', at: 4 });
    assert.equal(atB.length, 0);
    // Same for an address nobody ever attached.
    const w2 = watch(clock, a.request(C, Buffer.from('x'), 100));
    await step(clock, 4);
    assert.equal(w2.outcome.state === 'rejected' && w2.outcome.code, 'UNREACHABLE');
  });

  test('packets in flight to a node that is detached before they land vanish', () => {
    const { clock, net } = setup({ delayMs: 5 });
    const a = net.attach(A);
    const got = inbox(clock, net.attach(B));
    a.sendPacket(B, Buffer.from('x'));
    net.detach(B);
    clock.advance(5);
    assert.equal(got.length, 0);
    assert.equal(net.stats(B).packetsReceived, 0);
  });

  test('a node detached mid-request: its requester gets UNREACHABLE, its own requests CLOSED', async () => {
    const { clock, net } = setup({ delayMs: 2 });
    const [a, b, c] = [net.attach(A), net.attach(B), net.attach(C)];
    let answer: (b: Buffer) => void = () => {};
    b.onRequest(() => new Promise((r) => (answer = r)));
    c.onRequest(() => new Promise<Buffer>(() => {}));
    const fromA = watch(clock, a.request(B, Buffer.from('x'), 100));
    const fromB = watch(clock, b.request(C, Buffer.from('y'), 100));
    await step(clock, 2);
    net.detach(B);
    await flush();
    assert.deepEqual(fromB.outcome, { state: 'rejected', code: 'CLOSED', at: 2 });
    answer(Buffer.from('too late'));
    await step(clock, 2);
    assert.deepEqual(fromA.outcome, { state: 'rejected', code: 'UNREACHABLE', at: 4 });
  });

  test('close() detaches; requests after close are CLOSED; the address can be attached again', async () => {
    const { net } = setup();
    const a = net.attach(A);
    assert.throws(() => net.attach(A), /already attached/);
    await a.close();
    await a.close();
    assert.equal(net.isAttached(A), false);
    await assert.rejects(a.request(B, Buffer.from('x'), 10), { code: 'CLOSED' });
    a.sendPacket(B, Buffer.from('x')); // silently dropped
    const again = net.attach(A);
    assert.notEqual(again, a);
  });

  test('stats count payload bytes of packets, requests and replies', async () => {
    const { clock, net } = setup({ delayMs: 1 });
    const [a, b] = [net.attach(A), net.attach(B)];
    inbox(clock, b);
    b.onRequest(async () => Buffer.alloc(300));
    a.sendPacket(B, Buffer.alloc(100));
    a.sendPacket(B, Buffer.alloc(50));
    const w = watch(clock, a.request(B, Buffer.alloc(1000), 100));
    await step(clock, 2);
    assert.equal(w.outcome.state, 'resolved');
    assert.deepEqual(net.stats(A), {
      packetsSent: 2,
      packetBytesSent: 150,
      packetsReceived: 0,
      packetBytesReceived: 0,
      requestBytesSent: 1000,
      requestBytesReceived: 300,
    });
    assert.deepEqual(net.stats(B), {
      packetsSent: 0,
      packetBytesSent: 0,
      packetsReceived: 2,
      packetBytesReceived: 150,
      requestBytesSent: 300,
      requestBytesReceived: 1000,
    });
    assert.deepEqual(net.stats(C), {
      packetsSent: 0,
      packetBytesSent: 0,
      packetsReceived: 0,
      packetBytesReceived: 0,
      requestBytesSent: 0,
      requestBytesReceived: 0,
    });
  });
});

describe('MemoryNetwork at scale', () => {
  test('1,000 nodes exchanging 50,000 packets over a simulated 5 s under partitions', () => {
    const { clock, net } = setup({ delayMs: 1, jitterMs: 2, lossRate: 0.01 }, 99);
    const n = 1000;
    const addrs = Array.from({ length: n }, (_, i) => ({ host: `10.1.${i >> 8}.${i & 255}`, port: 7946 }));
    const nodes = addrs.map((a) => net.attach(a));
    let received = 0;
    for (const t of nodes) t.onPacket(() => received++);
    // A handful of partitions: the per-packet check is per partition, not per node.
    for (let p = 0; p < 5; p++) net.partition(addrs.slice(p * 10, p * 10 + 10), addrs.slice(500, 600));
    const random = new SeededRandom(5);
    const started = performance.now();
    for (let ms = 0; ms < 5000; ms++) {
      for (let k = 0; k < 10; k++) nodes[random.int(n)]!.sendPacket(addrs[random.int(n)]!, Buffer.alloc(200));
      clock.advance(1);
    }
    clock.advance(10);
    const elapsed = performance.now() - started;
    assert.ok(received > 48_000 && received < 50_000, `received ${received}`);
    assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  });
});
