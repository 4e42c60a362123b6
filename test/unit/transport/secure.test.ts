import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Keyring, SEAL_OVERHEAD } from '../../../src/transport/keyring.js';
import { MAX_SECURE_PACKET_BYTES, SecureTransport } from '../../../src/transport/secure.js';
import {
  addressKey,
  MAX_PACKET_BYTES,
  TransportError,
  type Address,
  type PacketHandler,
  type RequestHandler,
  type Transport,
} from '../../../src/transport/transport.js';

const SEED = 0x5ec;
const K1 = Buffer.alloc(32, 1);
const K2 = Buffer.alloc(32, 2);
const K3 = Buffer.alloc(32, 3);
const CLUSTER = 'prod';

/**
 * A tiny synchronous loopback network (the shared in-memory one may not exist yet): packets are
 * delivered immediately, requests call the peer's handler directly, and every byte that crosses
 * it is logged so tests can capture, replay and tamper with sealed traffic.
 */
class LoopNet {
  private readonly nodes = new Map<string, LoopTransport>();
  /** Every sealed reply, in order. */
  readonly replies: Buffer[] = [];
  /** When set, replaces each reply on its way back (an on-path attacker). */
  rewriteReply: ((reply: Buffer) => Buffer) | null = null;

  /** Attaches (or re-attaches, like a restart) a node at `address`. */
  attach(address: Address): LoopTransport {
    const t = new LoopTransport(this, address);
    this.nodes.set(addressKey(address), t);
    return t;
  }

  get(address: Address): LoopTransport | undefined {
    return this.nodes.get(addressKey(address));
  }
}

class LoopTransport implements Transport {
  packetHandler: PacketHandler | null = null;
  requestHandler: RequestHandler | null = null;
  /** Every packet handed to sendPacket, sealed. */
  readonly sent: Buffer[] = [];
  closed = false;

  constructor(
    private readonly net: LoopNet,
    readonly local: Address,
  ) {}

  sendPacket(to: Address, data: Buffer): void {
    this.sent.push(Buffer.from(data));
    if (data.length > MAX_PACKET_BYTES) return;
    this.net.get(to)?.packetHandler?.(this.local, Buffer.from(data));
  }

  onPacket(handler: PacketHandler): void {
    this.packetHandler = handler;
  }

  async request(to: Address, data: Buffer): Promise<Buffer> {
    const handler = this.net.get(to)?.requestHandler;
    if (!handler) throw new TransportError('UNREACHABLE', `nothing at ${addressKey(to)}`);
    let reply: Buffer;
    try {
      reply = await handler(this.local, Buffer.from(data));
    } catch {
      throw new TransportError('CLOSED', 'stream closed without a reply');
    }
    this.net.replies.push(Buffer.from(reply));
    return this.net.rewriteReply ? this.net.rewriteReply(reply) : reply;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

interface Node {
  inner: LoopTransport;
  secure: SecureTransport;
  packets: string[];
  requests: string[];
}

/** A secure node that records packets and answers each request with `echo:<request>@<port>`. */
function node(net: LoopNet, port: number, keys: Buffer[], cluster = CLUSTER): Node {
  const inner = net.attach({ host: '10.0.0.1', port });
  const secure = new SecureTransport(inner, new Keyring(keys), cluster);
  const n: Node = { inner, secure, packets: [], requests: [] };
  secure.onPacket((_from, data) => n.packets.push(data.toString()));
  secure.onRequest(async (_from, data) => {
    n.requests.push(data.toString());
    return Buffer.from(`echo:${data.toString()}@${port}`);
  });
  return n;
}

function pair(aKeys = [K1], bKeys = [K1], aCluster = CLUSTER, bCluster = CLUSTER) {
  const net = new LoopNet();
  return { net, a: node(net, 1, aKeys, aCluster), b: node(net, 2, bKeys, bCluster) };
}

function isTransportError(code: TransportError['code']) {
  return (e: unknown) => e instanceof TransportError && e.code === code;
}

/** Sends one packet and one request from a to b; true when both arrive and the reply opens. */
async function talks(a: Node, b: Node, tag: string): Promise<boolean> {
  const before = b.packets.length;
  a.secure.sendPacket(b.secure.local, Buffer.from(`p:${tag}`));
  const packetOk = b.packets.length === before + 1 && b.packets.at(-1) === `p:${tag}`;
  try {
    const reply = await a.secure.request(b.secure.local, Buffer.from(`r:${tag}`), 1000);
    return packetOk && reply.toString() === `echo:r:${tag}@${b.secure.local.port}`;
  } catch {
    return false;
  }
}

describe('SecureTransport', () => {
  test('packets and requests round trip; only sealed bytes cross the inner transport', async () => {
    const { net, a, b } = pair();
    a.secure.sendPacket(b.secure.local, Buffer.from('ping node-2'));
    assert.deepEqual(b.packets, ['ping node-2']);
    assert.equal(a.inner.sent[0]!.length, 'ping node-2'.length + SEAL_OVERHEAD);
    assert.equal(a.inner.sent[0]!.includes(Buffer.from('ping')), false);

    const reply = await a.secure.request(b.secure.local, Buffer.from('push-pull state'), 1000);
    assert.equal(reply.toString(), 'echo:push-pull state@2');
    assert.deepEqual(b.requests, ['push-pull state']);
    assert.equal(net.replies[0]!.includes(Buffer.from('echo')), false);

    assert.deepEqual(a.secure.local, { host: '10.0.0.1', port: 1 });
    await a.secure.close();
    assert.equal(a.inner.closed, true);
    assert.deepEqual(b.secure.stats(), { rejectedPackets: 0, rejectedRequests: 0, rejectedReplies: 0, oversizedPackets: 0 });
  });

  test('wrong key: packet dropped and counted, request refused and counted', async () => {
    const { a, b } = pair([K2], [K1]);
    a.secure.sendPacket(b.secure.local, Buffer.from('hello'));
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('hi'), 1000), isTransportError('CLOSED'));
    assert.deepEqual(b.packets, []);
    assert.deepEqual(b.requests, []);
    assert.equal(b.secure.stats().rejectedPackets, 1);
    assert.equal(b.secure.stats().rejectedRequests, 1);
  });

  test('a packet or request from another cluster name is dropped and counted, even with the same key', async () => {
    const { a, b } = pair([K1], [K1], 'staging', 'prod');
    a.secure.sendPacket(b.secure.local, Buffer.from('alive node-1'));
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('join'), 1000), isTransportError('CLOSED'));
    assert.deepEqual(b.packets, []);
    assert.deepEqual(b.requests, []);
    assert.deepEqual(b.secure.stats(), { rejectedPackets: 1, rejectedRequests: 1, rejectedReplies: 0, oversizedPackets: 0 });
  });

  test('a tampered packet (any single bit) is dropped and counted', () => {
    const { a, b } = pair();
    a.secure.sendPacket(b.secure.local, Buffer.from('suspect node-3'));
    const sealed = a.inner.sent[0]!;
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const copy = Buffer.from(sealed);
      copy[bit >> 3]! ^= 1 << (bit & 7);
      b.inner.packetHandler!(a.inner.local, copy);
    }
    assert.deepEqual(b.packets, ['suspect node-3']);
    assert.equal(b.secure.stats().rejectedPackets, sealed.length * 8);
  });

  test('a packet truncated at every length is dropped and counted', () => {
    const { a, b } = pair();
    a.secure.sendPacket(b.secure.local, Buffer.from('dead node-4'));
    const sealed = a.inner.sent[0]!;
    for (let len = 0; len < sealed.length; len++) b.inner.packetHandler!(a.inner.local, sealed.subarray(0, len));
    assert.deepEqual(b.packets, ['dead node-4']);
    assert.equal(b.secure.stats().rejectedPackets, sealed.length);
  });

  test('a replayed packet from the same cluster is accepted (duplicates are the protocol layer\'s job)', () => {
    const { a, b } = pair();
    a.secure.sendPacket(b.secure.local, Buffer.from('ack 7'));
    b.inner.packetHandler!(a.inner.local, a.inner.sent[0]!);
    assert.deepEqual(b.packets, ['ack 7', 'ack 7']);
  });

  test('a sealed reply replayed as a request (or a packet) is rejected and counted', async () => {
    const { net, a, b } = pair();
    await a.secure.request(b.secure.local, Buffer.from('push-pull'), 1000);
    const sealedReply = net.replies[0]!;
    await assert.rejects(b.inner.requestHandler!(a.inner.local, sealedReply), isTransportError('REJECTED'));
    b.inner.packetHandler!(a.inner.local, sealedReply);
    assert.deepEqual(b.requests, ['push-pull']);
    assert.deepEqual(b.packets, []);
    assert.equal(b.secure.stats().rejectedRequests, 1);
    assert.equal(b.secure.stats().rejectedPackets, 1);
  });

  test('a sealed packet replayed as a request, or a request as a packet, is rejected', async () => {
    const { a, b } = pair();
    a.secure.sendPacket(b.secure.local, Buffer.from('ping'));
    await assert.rejects(b.inner.requestHandler!(a.inner.local, a.inner.sent[0]!), isTransportError('REJECTED'));
    let sealedRequest: Buffer | null = null;
    const realHandler = b.inner.requestHandler!;
    b.inner.requestHandler = (from, data) => {
      sealedRequest = Buffer.from(data);
      return realHandler(from, data);
    };
    await a.secure.request(b.secure.local, Buffer.from('join'), 1000);
    assert.ok(sealedRequest);
    b.inner.packetHandler!(a.inner.local, sealedRequest);
    assert.deepEqual(b.packets, ['ping']);
    assert.deepEqual(b.requests, ['join']);
    assert.equal(b.secure.stats().rejectedRequests, 1);
    assert.equal(b.secure.stats().rejectedPackets, 1);
  });

  test('a tampered reply, or the authentic reply to another request, rejects with REJECTED', async () => {
    const { net, a, b } = pair();
    await a.secure.request(b.secure.local, Buffer.from('first'), 1000);
    const firstReply = net.replies[0]!;

    net.rewriteReply = () => firstReply; // an on-path attacker answers with an older reply
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('second'), 1000), isTransportError('REJECTED'));

    net.rewriteReply = (r) => {
      const copy = Buffer.from(r);
      copy[copy.length - 1]! ^= 0x80;
      return copy;
    };
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('third'), 1000), isTransportError('REJECTED'));

    net.rewriteReply = (r) => r.subarray(0, 10);
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('fourth'), 1000), isTransportError('REJECTED'));
    assert.equal(a.secure.stats().rejectedReplies, 3);
  });

  test('inner failures pass through untouched and are not counted as rejections', async () => {
    const { a } = pair();
    await assert.rejects(a.secure.request({ host: '10.0.0.9', port: 9 }, Buffer.from('x'), 1000), isTransportError('UNREACHABLE'));
    assert.equal(a.secure.stats().rejectedReplies, 0);
  });

  test('a handler rejection still closes the stream without a reply', async () => {
    const { a, b } = pair();
    b.secure.onRequest(async () => {
      throw new Error('busy');
    });
    await assert.rejects(a.secure.request(b.secure.local, Buffer.from('x'), 1000), isTransportError('CLOSED'));
    assert.equal(b.secure.stats().rejectedRequests, 0);
  });

  test('packets up to MAX_SECURE_PACKET_BYTES are sent; larger ones are dropped before sealing, and counted', () => {
    const { a, b } = pair();
    assert.equal(MAX_SECURE_PACKET_BYTES, MAX_PACKET_BYTES - 29);
    a.secure.sendPacket(b.secure.local, Buffer.alloc(MAX_SECURE_PACKET_BYTES, 0x61));
    assert.equal(a.inner.sent.length, 1);
    assert.equal(a.inner.sent[0]!.length, MAX_PACKET_BYTES);
    assert.equal(b.packets.length, 1);

    a.secure.sendPacket(b.secure.local, Buffer.alloc(MAX_SECURE_PACKET_BYTES + 1));
    assert.equal(a.inner.sent.length, 1, 'oversized packet never reached the inner transport');
    assert.equal(b.packets.length, 1);
    assert.equal(a.secure.stats().oversizedPackets, 1);
  });

  test('stats() is a snapshot', () => {
    const { a, b } = pair();
    const before = b.secure.stats();
    b.inner.packetHandler!(a.inner.local, Buffer.from('junk'));
    assert.equal(before.rejectedPackets, 0);
    assert.equal(b.secure.stats().rejectedPackets, 1);
  });
});

describe('SecureTransport key rotation', () => {
  const PORTS = [1, 2, 3];

  /** Every ordered pair exchanges a packet and a request under the given rings. */
  async function allPairsTalk(net: LoopNet, rings: Buffer[][], step: string): Promise<void> {
    const nodes = PORTS.map((port, i) => node(net, port, rings[i]!));
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        assert.ok(await talks(a, b, step), `${step}: ${a.secure.local.port} -> ${b.secure.local.port}`);
      }
    }
  }

  test('add k2 everywhere, then make it primary node by node, then drop k1: every pair keeps talking', async () => {
    const net = new LoopNet();
    const rings: Buffer[][] = PORTS.map(() => [K1]);
    await allPairsTalk(net, rings, 'start');
    const phases: Array<[string, Buffer[]]> = [
      ['1 add k2 as secondary', [K1, K2]],
      ['2 k2 primary', [K2, K1]],
      ['3 drop k1', [K2]],
    ];
    for (const [phase, ring] of phases) {
      for (let i = 0; i < PORTS.length; i++) {
        rings[i] = ring; // one node restarts with its new ring while the others still run the old one
        await allPairsTalk(net, rings, `${phase}, node ${i + 1} done`);
      }
    }
  });

  test('skipping step 1 breaks the pair: a node that seals with k2 is not heard by a node without it', async () => {
    const { a, b } = pair([K2, K1], [K1]);
    assert.equal(await talks(a, b, 'x'), false);
    assert.equal(b.secure.stats().rejectedPackets, 1);
    assert.equal(b.secure.stats().rejectedRequests, 1);
    // The other way, b's packet and request reach a (a still holds k1), but a's k2-sealed reply does not open at b.
    assert.equal(await talks(b, a, 'y'), false);
    assert.deepEqual(a.packets, ['p:y']);
    assert.deepEqual(a.requests, ['r:y']);
    assert.equal(b.secure.stats().rejectedReplies, 1);
  });

  test('a node whose ring shares no key with the cluster is shut out both ways', async () => {
    const { a, b } = pair([K3], [K1, K2]);
    assert.equal(await talks(a, b, 'x'), false);
    assert.equal(await talks(b, a, 'y'), false);
  });
});

describe('SecureTransport fuzz', () => {
  test('10,000 random packets: no throw, all counted, handler never called', () => {
    const net = new LoopNet();
    const inner = net.attach({ host: '10.0.0.1', port: 1 });
    const secure = new SecureTransport(inner, new Keyring([K1, K2, K3]), CLUSTER);
    let delivered = 0;
    secure.onPacket(() => delivered++);
    // Half start with the real version byte so they reach the GCM check rather than the cheap prefix test.
    const packets = fc.sample(
      fc.tuple(fc.uint8Array({ maxLength: MAX_PACKET_BYTES }), fc.boolean()).map(([a, v1]) => {
        const b = Buffer.from(a);
        if (v1 && b.length > 0) b[0] = 1;
        return b;
      }),
      { seed: SEED, numRuns: 10_000 },
    );
    const from = { host: '10.6.6.6', port: 666 };
    for (const p of packets) inner.packetHandler!(from, p);
    assert.equal(delivered, 0);
    assert.equal(secure.stats().rejectedPackets, 10_000);
  });

  test('1,000 random requests: each rejected and counted, handler never called', async () => {
    const net = new LoopNet();
    const inner = net.attach({ host: '10.0.0.1', port: 1 });
    const secure = new SecureTransport(inner, new Keyring([K1]), CLUSTER);
    let handled = 0;
    secure.onRequest(async (_from, data) => {
      handled++;
      return data;
    });
    const requests = fc.sample(fc.uint8Array({ maxLength: 4096 }), { seed: SEED, numRuns: 1000 });
    for (const r of requests) {
      await assert.rejects(inner.requestHandler!({ host: '10.6.6.6', port: 666 }, Buffer.from(r)), isTransportError('REJECTED'));
    }
    assert.equal(handled, 0);
    assert.equal(secure.stats().rejectedRequests, 1000);
  });
});
