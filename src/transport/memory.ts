import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Random } from '../runtime/random.js';
import {
  addressKey,
  MAX_PACKET_BYTES,
  MAX_STREAM_MESSAGE_BYTES,
  TransportError,
  type Address,
  type PacketHandler,
  type RequestHandler,
  type Transport,
} from './transport.js';

/**
 * How one direction of a link behaves. A field left out of a link falls back to the network's
 * defaults, and a field left out of the defaults means "perfect" (no loss, no delay).
 */
export interface LinkConditions {
  /** Probability in [0, 1] that a packet is lost (requests are never lost). */
  lossRate?: number;
  /** Fixed one-way delay of packets, requests and replies. */
  delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per packet, request or reply. */
  jitterMs?: number;
  /** Probability in [0, 1] that a packet arrives twice (each copy with its own jitter). */
  duplicateRate?: number;
}

/**
 * Byte counters of one address, cumulative over every attach of it. Payload bytes only (no
 * IP/UDP/TCP headers, no 4-byte frame header). Stream counters cover both requests and replies.
 */
export interface TransportStats {
  packetsSent: number;
  packetBytesSent: number;
  packetsReceived: number;
  packetBytesReceived: number;
  requestBytesSent: number;
  requestBytesReceived: number;
}

/** Per-node state the network works on; MemoryTransport is a thin face over it. */
interface Endpoint {
  readonly address: Address;
  readonly key: string;
  readonly stats: TransportStats;
  packetHandler: PacketHandler | undefined;
  requestHandler: RequestHandler | undefined;
  closed: boolean;
  /** Requests this node made that have not settled yet. */
  readonly outgoing: Set<Exchange>;
  /** Requests this node received whose handler has not answered yet. */
  readonly incoming: Set<Exchange>;
}

/** One request and its reply (one TCP connection on a real node). */
interface Exchange {
  readonly requester: Endpoint;
  settled: boolean;
  timer: TimerHandle | undefined;
  resolve: (reply: Buffer) => void;
  reject: (err: TransportError) => void;
}

/** A one-way block: nothing from a node in `from` reaches a node in `to`. */
interface Block {
  readonly from: ReadonlySet<string>;
  readonly to: ReadonlySet<string>;
}

interface Fabric {
  sendPacket(src: Endpoint, to: Address, data: Buffer): void;
  request(src: Endpoint, to: Address, data: Buffer, timeoutMs: number): Promise<Buffer>;
  detach(src: Endpoint): void;
}

/** First port handed out as a requester's "ephemeral" source port (the IANA dynamic range). */
const EPHEMERAL_BASE = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_BASE;

/**
 * An in-process network of many nodes for tests and simulations: every delivery is a timer on the
 * given clock and every coin toss comes from the given Random, so a run on a VirtualClock and a
 * SeededRandom is a pure function of its seed and its inputs.
 *
 * Partitions and link conditions are checked when a packet or request is sent (what is already
 * on the wire arrives). Requests model a TCP connection: they need both directions open, are never
 * lost or duplicated, and a requester sees an ephemeral source port, not the sender's bus port,
 * exactly as on a real node.
 */
export class MemoryNetwork {
  private readonly nodes = new Map<string, Endpoint>();
  private readonly links = new Map<string, Map<string, LinkConditions>>();
  private readonly statsByKey = new Map<string, TransportStats>();
  private blocks: Block[] = [];
  private defaults: LinkConditions;
  private ephemeral = 0;
  private readonly fabric: Fabric = {
    sendPacket: (src, to, data) => this.sendPacket(src, to, data),
    request: (src, to, data, timeoutMs) => this.request(src, to, data, timeoutMs),
    detach: (src) => this.detachEndpoint(src),
  };

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    defaults: LinkConditions = {},
  ) {
    this.defaults = checkConditions(defaults);
  }

  /** Joins a node to the network. Throws if a node is already attached at this address. */
  attach(address: Address): MemoryTransport {
    const key = addressKey(address);
    if (this.nodes.has(key)) throw new Error(`address ${key} is already attached`);
    let stats = this.statsByKey.get(key);
    if (!stats) {
      stats = { packetsSent: 0, packetBytesSent: 0, packetsReceived: 0, packetBytesReceived: 0, requestBytesSent: 0, requestBytesReceived: 0 };
      this.statsByKey.set(key, stats);
    }
    const endpoint: Endpoint = {
      address: { host: address.host, port: address.port },
      key,
      stats,
      packetHandler: undefined,
      requestHandler: undefined,
      closed: false,
      outgoing: new Set(),
      incoming: new Set(),
    };
    this.nodes.set(key, endpoint);
    return new MemoryTransport(endpoint, this.fabric);
  }

  /**
   * The node is gone, as after kill -9: packets to it vanish, requests to it fail with
   * UNREACHABLE after the link delay, requests it was answering fail the same way, and its own
   * pending requests fail with CLOSED. Unknown addresses are ignored.
   */
  detach(address: Address): void {
    const endpoint = this.nodes.get(addressKey(address));
    if (endpoint) this.detachEndpoint(endpoint);
  }

  /** Whether a node is attached at this address. */
  isAttached(address: Address): boolean {
    return this.nodes.has(addressKey(address));
  }

  /** Sets the conditions of one direction of one link, replacing what was set for it before. */
  setLink(from: Address, to: Address, conditions: LinkConditions): void {
    const fromKey = addressKey(from);
    let row = this.links.get(fromKey);
    if (!row) {
      row = new Map();
      this.links.set(fromKey, row);
    }
    row.set(addressKey(to), checkConditions(conditions));
  }

  /** Sets the conditions of every link that has no setLink of its own (for the missing fields). */
  setDefaults(conditions: LinkConditions): void {
    this.defaults = checkConditions(conditions);
  }

  /** Nothing crosses between `a` and `b`, in either direction, until heal(). */
  partition(a: Address[], b: Address[]): void {
    this.partitionOneWay(a, b);
    this.partitionOneWay(b, a);
  }

  /** Nothing sent by a node in `from` reaches a node in `to`, until heal(). */
  partitionOneWay(from: Address[], to: Address[]): void {
    this.blocks.push({ from: new Set(from.map(addressKey)), to: new Set(to.map(addressKey)) });
  }

  /** Removes every partition (link conditions stay). */
  heal(): void {
    this.blocks = [];
  }

  /** Counters of an address (zeros if it was never attached). A copy, not a live view. */
  stats(address: Address): TransportStats {
    const s = this.statsByKey.get(addressKey(address));
    return s
      ? { ...s }
      : { packetsSent: 0, packetBytesSent: 0, packetsReceived: 0, packetBytesReceived: 0, requestBytesSent: 0, requestBytesReceived: 0 };
  }

  private detachEndpoint(endpoint: Endpoint): void {
    if (endpoint.closed) return;
    endpoint.closed = true;
    if (this.nodes.get(endpoint.key) === endpoint) this.nodes.delete(endpoint.key);
    for (const ex of [...endpoint.outgoing]) this.settle(ex, new TransportError('CLOSED', 'transport closed'));
    // The connections it was serving are reset; the requesters learn it one link delay later.
    for (const ex of endpoint.incoming) {
      this.sendBack(endpoint, ex, () => this.settle(ex, new TransportError('UNREACHABLE', `${endpoint.key} went away`)));
    }
    endpoint.incoming.clear();
  }

  /** O(number of partition calls), independent of the number of nodes. */
  private open(fromKey: string, toKey: string): boolean {
    for (const b of this.blocks) if (b.from.has(fromKey) && b.to.has(toKey)) return false;
    return true;
  }

  private link(fromKey: string, toKey: string): LinkConditions | undefined {
    return this.links.get(fromKey)?.get(toKey);
  }

  private delay(link: LinkConditions | undefined): number {
    const base = link?.delayMs ?? this.defaults.delayMs ?? 0;
    const jitter = link?.jitterMs ?? this.defaults.jitterMs ?? 0;
    return jitter > 0 ? base + this.random.next() * jitter : base;
  }

  private sendPacket(src: Endpoint, to: Address, data: Buffer): void {
    if (src.closed || data.length > MAX_PACKET_BYTES) return;
    src.stats.packetsSent++;
    src.stats.packetBytesSent += data.length;
    const toKey = addressKey(to);
    if (!this.open(src.key, toKey)) return;
    const link = this.link(src.key, toKey);
    const loss = link?.lossRate ?? this.defaults.lossRate ?? 0;
    if (loss > 0 && this.random.next() < loss) return;
    const dup = link?.duplicateRate ?? this.defaults.duplicateRate ?? 0;
    const copies = dup > 0 && this.random.next() < dup ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Copied now: the sender may reuse its buffer, and each receiver may keep or mutate its own.
      const payload = Buffer.from(data);
      this.clock.setTimeout(() => this.deliverPacket(src.address, toKey, payload), this.delay(link));
    }
  }

  private deliverPacket(from: Address, toKey: string, data: Buffer): void {
    const target = this.nodes.get(toKey);
    if (!target) return;
    target.stats.packetsReceived++;
    target.stats.packetBytesReceived += data.length;
    // A handler's exception propagates (out of clock.advance on a VirtualClock): a bug in a
    // simulation should fail the test, not vanish.
    target.packetHandler?.({ host: from.host, port: from.port }, data);
  }

  private request(src: Endpoint, to: Address, data: Buffer, timeoutMs: number): Promise<Buffer> {
    if (src.closed) return Promise.reject(new TransportError('CLOSED', 'transport closed'));
    if (data.length > MAX_STREAM_MESSAGE_BYTES) {
      return Promise.reject(new TransportError('TOO_LARGE', `request of ${data.length} bytes exceeds ${MAX_STREAM_MESSAGE_BYTES}`));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const ex: Exchange = { requester: src, settled: false, timer: undefined, resolve, reject };
      src.outgoing.add(ex);
      const ms = Number.isNaN(timeoutMs) ? 0 : Math.max(0, timeoutMs);
      if (ms !== Infinity) {
        ex.timer = this.clock.setTimeout(() => this.settle(ex, new TransportError('TIMEOUT', `no reply within ${timeoutMs} ms`)), ms);
      }
      src.stats.requestBytesSent += data.length;
      const toKey = addressKey(to);
      // A connection needs both directions: with either blocked the handshake never completes.
      if (!this.open(src.key, toKey) || !this.open(toKey, src.key)) return;
      const payload = Buffer.from(data);
      const from: Address = { host: src.address.host, port: EPHEMERAL_BASE + (this.ephemeral++ % EPHEMERAL_COUNT) };
      this.clock.setTimeout(() => this.arrive(ex, toKey, from, payload), this.delay(this.link(src.key, toKey)));
    });
  }

  private arrive(ex: Exchange, toKey: string, from: Address, data: Buffer): void {
    if (ex.settled) return;
    const server = this.nodes.get(toKey);
    if (!server) {
      this.settle(ex, new TransportError('UNREACHABLE', `nothing listens at ${toKey}`));
      return;
    }
    server.stats.requestBytesReceived += data.length;
    server.incoming.add(ex);
    const handler = server.requestHandler;
    let answer: Promise<Buffer>;
    try {
      answer = handler ? Promise.resolve(handler(from, data)) : Promise.reject(new Error('no request handler'));
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (reply) => this.reply(server, ex, reply),
      () => this.reply(server, ex, undefined),
    );
  }

  /** Sends the handler's answer back; `undefined` means it rejected (closed without a reply). */
  private reply(server: Endpoint, ex: Exchange, reply: Buffer | undefined): void {
    // Detached meanwhile: the requester was already told.
    if (!server.incoming.delete(ex)) return;
    if (ex.settled) return;
    if (reply === undefined) {
      this.sendBack(server, ex, () => this.settle(ex, new TransportError('REJECTED', `${server.key} closed without a reply`)));
    } else if (reply.length > MAX_STREAM_MESSAGE_BYTES) {
      this.sendBack(server, ex, () => this.settle(ex, new TransportError('TOO_LARGE', `reply of ${reply.length} bytes exceeds ${MAX_STREAM_MESSAGE_BYTES}`)));
    } else {
      const payload = Buffer.from(reply);
      server.stats.requestBytesSent += payload.length;
      this.sendBack(server, ex, () => {
        if (ex.settled) return;
        ex.requester.stats.requestBytesReceived += payload.length;
        this.settle(ex, payload);
      });
    }
  }

  /** Runs `then` after the server->requester delay, unless a partition has cut the connection. */
  private sendBack(server: Endpoint, ex: Exchange, then: () => void): void {
    const back = ex.requester.key;
    if (!this.open(server.key, back) || !this.open(back, server.key)) return;
    this.clock.setTimeout(then, this.delay(this.link(server.key, back)));
  }

  private settle(ex: Exchange, result: Buffer | TransportError): void {
    if (ex.settled) return;
    ex.settled = true;
    ex.timer?.cancel();
    ex.requester.outgoing.delete(ex);
    if (result instanceof TransportError) ex.reject(result);
    else ex.resolve(result);
  }
}

/** One node's face on a MemoryNetwork. close() detaches it. */
export class MemoryTransport implements Transport {
  readonly local: Address;

  /** Created by MemoryNetwork.attach. */
  constructor(
    private readonly endpoint: Endpoint,
    private readonly fabric: Fabric,
  ) {
    this.local = { host: endpoint.address.host, port: endpoint.address.port };
  }

  sendPacket(to: Address, data: Buffer): void {
    this.fabric.sendPacket(this.endpoint, to, data);
  }

  onPacket(handler: PacketHandler): void {
    this.endpoint.packetHandler = handler;
  }

  request(to: Address, data: Buffer, timeoutMs: number): Promise<Buffer> {
    return this.fabric.request(this.endpoint, to, data, timeoutMs);
  }

  onRequest(handler: RequestHandler): void {
    this.endpoint.requestHandler = handler;
  }

  close(): Promise<void> {
    this.fabric.detach(this.endpoint);
    return Promise.resolve();
  }
}

function checkConditions(c: LinkConditions): LinkConditions {
  const rate = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${v}`);
  };
  const ms = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
  };
  rate('lossRate', c.lossRate);
  rate('duplicateRate', c.duplicateRate);
  ms('delayMs', c.delayMs);
  ms('jitterMs', c.jitterMs);
  return { ...c };
}
