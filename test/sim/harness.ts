import { Membership, type Member } from '../../src/membership/membership.js';
import { encodeMessage, encodePacket, type MemberState, type Message } from '../../src/membership/messages.js';
import type { Clock, TimerHandle } from '../../src/runtime/clock.js';
import { PROFILES, type MembershipConfig } from '../../src/membership/profile.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { SeededRandom } from '../../src/runtime/random.js';
import { VirtualClock } from '../../src/runtime/virtual-clock.js';
import { MemoryNetwork, type LinkConditions, type MemoryTransport } from '../../src/transport/memory.js';
import { Replica } from '../../src/replication/replica.js';
import { Replicator, type ReplicationTimers } from '../../src/replication/replicator.js';
import { connectProbing } from '../../src/probe/cluster.js';
import { ProbeEngine } from '../../src/probe/engine.js';
import type { OriginSpec } from '../../src/probe/spec.js';
import type { ProbeResult } from '../../src/probe/verdict.js';
import { MAX_PACKET_BYTES, type Address, type PacketHandler, type RequestHandler, type Transport } from '../../src/transport/transport.js';

export interface SimNode {
  index: number;
  id: string;
  address: Address;
  membership: Membership;
  alive: boolean;
  /** Freezes the node like a stopped event loop: its timers and inbound messages wait. */
  freeze: Freezer;
  /** Members this node holds alive (itself included), kept up to date from its change events. */
  aliveCount: number;
  /** Present when the sim replicates: the node's CRDT state and its replication. */
  replica?: Replica;
  replicator?: Replicator;
  /** Present when the sim probes: the node's probe engine. */
  engine?: ProbeEngine;
}

/** Probing in a sim: simulated origins that answer each node as `up()` says, after `latencyMs`. */
export interface SimProbing {
  up: (node: SimNode, url: string) => boolean;
  latencyMs: number;
  detailFlushMs: number;
}

/** One probe an origin received, as an origin farm would log it. */
export interface ProbeHit {
  at: number;
  url: string;
  node: string;
}

/** Replication in a sim: its timers and the tombstone grace period. */
export interface SimReplication extends ReplicationTimers {
  tombstoneGraceMs: number;
  /** Offset of each node's wall clock from the virtual one (clock skew), by node index. */
  wallSkewMs?: (index: number) => number;
}

/** One state change as one node saw it, for watch(). */
export interface Change {
  /** Virtual time of the change. */
  at: number;
  /** The node whose view changed. */
  observer: string;
  member: Member;
  previous: MemberState | null;
}

/**
 * A scripted fake peer on the simulated network: sends hand-made membership messages to nodes,
 * as a stale or lying peer would (nothing checks who a packet claims to come from).
 */
export class Injector {
  constructor(readonly transport: MemoryTransport) {}

  send(to: SimNode | Address, ...messages: Message[]): void {
    const address = 'address' in to ? to.address : to;
    this.transport.sendPacket(address, encodePacket(messages.map(encodeMessage)));
  }
}

/**
 * A node's frozen event loop: while frozen, its timers and inbound packets and requests are held,
 * and run in order when it thaws, as a process paused by a GC or SIGSTOP catches up.
 */
export class Freezer {
  private frozen = false;
  private held: (() => void)[] = [];

  get isFrozen(): boolean {
    return this.frozen;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    const held = this.held;
    this.held = [];
    for (const fn of held) fn();
  }

  run(fn: () => void): void {
    if (this.frozen) this.held.push(fn);
    else fn();
  }

  clock(inner: Clock): Clock {
    return {
      now: () => inner.now(),
      wallNow: () => inner.wallNow(),
      setTimeout: (fn, ms): TimerHandle => inner.setTimeout(() => this.run(fn), ms),
      setInterval: (fn, ms): TimerHandle => inner.setInterval(() => this.run(fn), ms),
    };
  }

  transport(inner: Transport): Transport {
    return {
      local: inner.local,
      sendPacket: (to, data) => inner.sendPacket(to, data),
      onPacket: (handler: PacketHandler) => inner.onPacket((from, data) => this.run(() => handler(from, data))),
      request: (to, data, timeoutMs) => inner.request(to, data, timeoutMs),
      onRequest: (handler: RequestHandler) =>
        inner.onRequest((from, data) => new Promise<Buffer>((resolve, reject) => this.run(() => handler(from, data).then(resolve, reject)))),
      close: () => inner.close(),
    };
  }
}

/**
 * N membership nodes in one process: an in-memory network, one virtual clock, one seed. The same
 * seed gives the same run, so a failing seed is a reproducible bug.
 */
export class Sim {
  readonly clock = new VirtualClock();
  readonly random: SeededRandom;
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  private readonly watchers: ((c: Change) => void)[] = [];
  /** Each node's durable log, by id: what survives a kill and is replayed on restart. */
  readonly disks = new Map<string, Buffer[]>();
  replication: SimReplication | null = null;
  probing: SimProbing | null = null;
  /** Every probe any node sent, in time order (when the sim probes). */
  readonly hits: ProbeHit[] = [];
  private injectors = 0;

  constructor(
    readonly seed: number,
    readonly config: MembershipConfig = PROFILES.lan,
    link: LinkConditions = { delayMs: 1, jitterMs: 1 },
  ) {
    this.random = new SeededRandom(seed);
    this.network = new MemoryNetwork(this.clock, this.random, link);
  }

  /** Adds a started node; it knows nobody until it joins. */
  add(id = this.random.bytes(20).toString('hex')): SimNode {
    const index = this.nodes.length;
    const address = { host: `10.0.${index >> 8}.${index & 255}`, port: 7000 };
    return this.boot(index, id, address);
  }

  /** A node process that comes back with the same id (on a new port). */
  restart(node: SimNode, port = node.address.port + 1): SimNode {
    this.kill(node);
    const fresh = this.boot(node.index, node.id, { host: node.address.host, port });
    this.nodes[node.index] = fresh;
    return fresh;
  }

  private boot(index: number, id: string, address: Address): SimNode {
    const freeze = new Freezer();
    const transport = freeze.transport(this.network.attach(address));
    const membership = new Membership({
      transport,
      clock: freeze.clock(this.clock),
      random: new SeededRandom(this.seed * 7919 + index + this.nodes.length * 104729),
      logger: silentLogger,
      config: this.config,
      self: { id, host: address.host, port: 6380, busPort: address.port },
      packetBudget: MAX_PACKET_BYTES,
    });
    membership.start();
    const node: SimNode = { index, id, address, membership, alive: true, freeze, aliveCount: 1 };
    if (this.replication) this.attachReplication(node, freeze);
    membership.onChange((member, previous) => {
      if (previous === 'alive') node.aliveCount--;
      if (member.state === 'alive') node.aliveCount++;
      if (this.watchers.length === 0) return;
      const change: Change = { at: this.clock.now(), observer: id, member, previous };
      for (const w of this.watchers) w(change);
    });
    if (index >= this.nodes.length) this.nodes.push(node);
    return node;
  }

  /** Gives every node booted from now on a probe engine (needs replicate()), started at once. */
  probe(options: SimProbing): this {
    this.probing = options;
    return this;
  }

  private attachProbing(node: SimNode, clock: Clock, random: SeededRandom): void {
    const options = this.probing!;
    const prober = {
      probe: (spec: OriginSpec, now: () => number): Promise<ProbeResult> => {
        this.hits.push({ at: this.clock.now(), url: spec.url, node: node.id });
        const ok = options.up(node, spec.url);
        // Answered on the node's own clock: a frozen or killed node never sees the reply.
        return new Promise((resolve) =>
          clock.setTimeout(() => resolve({ ok, reason: ok ? 'ok' : 'timeout', latencyMs: options.latencyMs, at: now() }), options.latencyMs),
        );
      },
    };
    const engine = new ProbeEngine({
      nodeId: node.id,
      origins: node.replica!.origins,
      health: node.replica!.health,
      prober,
      clock,
      random,
      logger: silentLogger,
      maxInFlight: 10_000,
      detailFlushMs: options.detailFlushMs,
    });
    connectProbing({ membership: node.membership, clock, engine, spec: (id) => node.replica!.origins.set.value(id), prober, wallNow: () => clock.wallNow() });
    engine.start();
    node.engine = engine;
  }

  /** Gives every node booted from now on a replica, persisted to its in-memory disk. */
  replicate(options: SimReplication): this {
    this.replication = options;
    return this;
  }

  private attachReplication(node: SimNode, freeze: Freezer): void {
    const options = this.replication!;
    const disk = this.disks.get(node.id) ?? [];
    this.disks.set(node.id, disk);
    const skew = options.wallSkewMs?.(node.index) ?? 0;
    const clock = freeze.clock(this.clock);
    const replica = new Replica({
      nodeId: node.id,
      wallNow: () => this.clock.wallNow() + skew,
      tombstoneGraceMs: options.tombstoneGraceMs,
      maxClockAheadMs: 60_000,
      persist: (p) => disk.push(p),
    });
    replica.load([...disk]);
    const m = node.membership;
    const replicator = new Replicator({
      replica,
      bus: {
        broadcastUser: (c, p, k) => m.broadcastUser(c, p, k),
        onUser: (c, h) => m.onUser(c, h),
        requestUser: (id, c, p) => m.requestUser(id, c, p),
        onUserRequest: (c, h) => m.onUserRequest(c, h),
        alivePeers: () => m.list().filter((x) => x.id !== node.id && x.state === 'alive').map((x) => x.id),
      hasLivePeers: () => m.livePeerCount() > 0,
      },
      clock,
      random: new SeededRandom(this.seed * 31 + node.index),
      logger: silentLogger,
      timers: options,
    });
    replicator.start();
    node.replica = replica;
    node.replicator = replicator;
    if (this.probing) this.attachProbing(node, clock, new SeededRandom(this.seed * 131 + node.index));
  }

  /** The distinct root digests of one set over the live nodes (one when they agree). */
  setDigests(name: 'origins' | 'health'): Set<string> {
    return new Set(this.live().map((n) => n.replica![name].set.root().join(':')));
  }

  /** Calls `fn` for every state change any node (present or future) sees from now on. */
  watch(fn: (c: Change) => void): void {
    this.watchers.push(fn);
  }

  /** Every change matching `pred` from now on, collected in the returned array as they happen. */
  record(pred: (c: Change) => boolean = () => true): Change[] {
    const out: Change[] = [];
    this.watch((c) => {
      if (pred(c)) out.push(c);
    });
    return out;
  }

  /** A fake peer attached at its own address (10.9.x.y:7000) for scripted messages. */
  injector(): Injector {
    const i = this.injectors++;
    return new Injector(this.network.attach({ host: `10.9.${i >> 8}.${i & 255}`, port: 7000 }));
  }

  /** Graceful shutdown: leave(), then stop at once and go dark, as a node process exiting does. */
  leave(node: SimNode): void {
    node.membership.leave();
    this.kill(node);
  }

  /** The distinct membership digests held by the live nodes (one when they agree). */
  digests(): Set<string> {
    return new Set(this.live().map((n) => n.membership.digest()));
  }

  /** Whether every live node holds exactly `count` alive members (self included); O(nodes). */
  everyoneAlive(count: number): boolean {
    return this.live().every((n) => n.aliveCount === count);
  }

  /** kill -9: the node stops and its address goes dark. */
  kill(node: SimNode): void {
    node.membership.stop();
    node.replicator?.stop();
    // Its timers never fire again (a probe in flight never completes), as in a killed process.
    node.freeze.freeze();
    this.network.detach(node.address);
    node.alive = false;
  }

  /** Joins every node through the first one and runs until all of them know everyone. */
  async formCluster(n: number, limitMs = 30_000): Promise<void> {
    for (let i = 0; i < n; i++) this.add();
    const seed = this.nodes[0]!;
    for (const node of this.nodes.slice(1)) void node.membership.join([seed.address]);
    await this.until(() => this.everyoneAlive(n), limitMs);
  }

  /** Freezes a node for `ms` of virtual time. */
  pause(node: SimNode, ms: number): void {
    node.freeze.freeze();
    this.clock.setTimeout(() => node.freeze.thaw(), ms);
  }

  live(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** Whether every live node holds `count` members matching `pred` (self included). */
  everyoneSees(pred: (m: Member) => boolean, count: number): boolean {
    return this.live().every((n) => n.membership.list().filter(pred).length === count);
  }

  /** Every live node's view of one member. */
  viewsOf(id: string): (Member | undefined)[] {
    return this.live().map((n) => n.membership.get(id));
  }

  /** Advances virtual time in small steps, letting promise callbacks run between steps. */
  async run(ms: number, stepMs = 5): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(stepMs, end - this.clock.now()));
      await drain();
    }
  }

  /** Runs until `done()` holds; returns the virtual time it took. Throws past limitMs. */
  async until(done: () => boolean, limitMs: number, stepMs = 5): Promise<number> {
    const start = this.clock.now();
    while (!done()) {
      if (this.clock.now() - start > limitMs) throw new Error(`sim seed ${this.seed}: condition not met within ${limitMs} ms`);
      this.clock.advance(stepMs);
      await drain();
    }
    return this.clock.now() - start;
  }
}

/** Lets queued promise reactions run (no timers involved). */
async function drain(): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve();
}
