import { createHash } from 'node:crypto';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { Random } from '../runtime/random.js';
import { addressKey, type Address, type Transport } from '../transport/transport.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import { confirmationsWanted, pushPullIntervalMs, suspicionMinMs } from './math.js';
import {
  COMPOUND_OVERHEAD,
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  MAX_COMPOUND,
  PACKET_OVERHEAD,
  type Alive,
  type Dead,
  type MemberRecord,
  type MemberState,
  type Message,
  type NodeRef,
  type Suspect,
} from './messages.js';
import type { MembershipConfig } from './profile.js';
import { Suspicion } from './suspicion.js';

/** A member as the rest of the node sees it. */
export interface Member {
  id: string;
  host: string;
  /** RESP port. */
  port: number;
  busPort: number;
  incarnation: number;
  state: MemberState;
  /** Clock time of the last state change. */
  stateChangedAt: number;
  /** Wall time a probe to it is outstanding since, 0 if none (CLUSTER NODES' ping-sent). */
  pingSentAt: number;
  /** Wall time of its last ack (CLUSTER NODES' pong-recv), 0 if never. */
  ackReceivedAt: number;
}

export interface SelfInfo {
  id: string;
  host: string;
  port: number;
  busPort: number;
}

export interface MembershipDeps {
  transport: Transport;
  clock: Clock;
  random: Random;
  logger: Logger;
  config: MembershipConfig;
  self: SelfInfo;
  /** Largest packet the transport carries (less when it encrypts). */
  packetBudget: number;
}

export type ChangeListener = (member: Member, previous: MemberState | null) => void;
export type UserHandler = (payload: Buffer, from: Address) => void;
/** Answers another subsystem's stream request; a rejection closes the stream without a reply. */
export type UserRequestHandler = (payload: Buffer, from: Address) => Promise<Buffer>;

interface Entry extends Member {
  suspicion: Suspicion | null;
}

interface AckWaiter {
  onAck(): void;
  onNack(): void;
}

export interface MembershipStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  malformed: number;
  pushPulls: number;
}

/**
 * SWIM failure detection with the Lifeguard refinements, after hashicorp/memberlist: shuffled
 * round-robin probing, ping-req through peers with nacks, a TCP fallback ping, suspicion that
 * shrinks with independent confirmations, local-health awareness, incarnations and refutation,
 * the buddy system, piggybacked gossip with a retransmit limit, periodic push-pull, graceful
 * leave, and periodic re-contact of dead peers so a healed partition merges by itself.
 * Everything runs on the injected clock, randomness and transport.
 */
export class Membership {
  readonly stats: MembershipStats = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, malformed: 0, pushPulls: 0 };
  private readonly members = new Map<string, Entry>();
  private readonly self: Entry;
  private readonly queue: BroadcastQueue;
  /**
   * Other subsystems' broadcasts queue apart, behind membership's own: a burst of replication
   * deltas (a bulk load) must never push membership news out of a bounded queue.
   */
  private readonly userQueue: BroadcastQueue;
  private gossipScheduled = false;
  private readonly awareness: Awareness;
  private readonly acks = new Map<number, AckWaiter>();
  private readonly bans = new Map<string, number>();
  private readonly changeListeners: ChangeListener[] = [];
  private readonly userHandlers = new Map<number, UserHandler>();
  private readonly userRequestHandlers = new Map<number, UserRequestHandler>();
  /** Addresses given to join() that have not answered yet; retried with the dead. */
  private readonly pendingSeeds = new Map<string, Address>();
  private probeOrder: string[] = [];
  /** Members with a probe in flight, so an extra probe never doubles one. */
  private readonly probing = new Set<string>();
  private probeIndex = 0;
  private seq = 1;
  private leaving = false;
  private readonly loops = new Map<string, TimerHandle>();
  private running = false;

  constructor(private readonly deps: MembershipDeps) {
    const { self, clock } = deps;
    this.self = {
      ...self,
      incarnation: 1,
      state: 'alive',
      stateChangedAt: clock.now(),
      pingSentAt: 0,
      ackReceivedAt: 0,
      suspicion: null,
    };
    this.members.set(self.id, this.self);
    this.queue = new BroadcastQueue({ retransmitMult: deps.config.retransmitMult, numNodes: () => this.members.size });
    this.userQueue = new BroadcastQueue({ retransmitMult: deps.config.retransmitMult, numNodes: () => this.members.size });
    this.awareness = new Awareness(deps.config.awarenessMaxMultiplier);
    deps.transport.onPacket((from, data) => this.receivePacket(from, data));
    deps.transport.onRequest((from, data) => this.answerRequest(from, data));
  }

  get id(): string {
    return this.self.id;
  }

  /** Starts probing, gossip, push-pull and reconnection, each loop at a random offset. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const { config, random } = this.deps;
    const first = (period: number) => random.int(Math.max(1, period));
    // The probe period stretches with local-health awareness; push-pull slows down as N grows.
    const probePeriod = () => this.awareness.scale(config.probeIntervalMs);
    const pushPullPeriod = () => pushPullIntervalMs(config.pushPullIntervalMs, this.members.size);
    this.loop('probe', first(config.probeIntervalMs), probePeriod, () => this.probe());
    this.loop('gossip', first(config.gossipIntervalMs), () => config.gossipIntervalMs, () => this.gossip());
    this.loop('push-pull', first(pushPullPeriod()), pushPullPeriod, () => void this.pushPullRandom());
    this.loop('reconnect', first(config.reconnectIntervalMs), () => config.reconnectIntervalMs, () => void this.reconnect());
  }

  stop(): void {
    this.running = false;
    for (const t of this.loops.values()) t.cancel();
    this.loops.clear();
    for (const m of this.members.values()) m.suspicion?.cancel();
  }

  private loop(name: string, firstDelay: number, period: () => number, fn: () => void): void {
    const run = () => {
      if (!this.running) return;
      fn();
      this.loops.set(name, this.deps.clock.setTimeout(run, period()));
    };
    this.loops.set(name, this.deps.clock.setTimeout(run, firstDelay));
  }

  onChange(listener: ChangeListener): void {
    this.changeListeners.push(listener);
  }

  /** Other subsystems' broadcasts ride on the same gossip (replication deltas, for instance). */
  onUser(channel: number, handler: UserHandler): void {
    this.userHandlers.set(channel, handler);
  }

  /**
   * Queues a broadcast for gossip (a newer one with the same key replaces it) and starts a gossip
   * round at once instead of at the next tick: news that readers wait for goes out now.
   */
  broadcastUser(channel: number, payload: Buffer, key?: string): boolean {
    const message = encodeMessage({ type: 'user', channel, payload });
    // Too large for any packet: it would sit in the queue unsent. Streams must carry it instead.
    if (message.length + PACKET_OVERHEAD + COMPOUND_OVERHEAD > this.deps.packetBudget) return false;
    this.userQueue.queue({ ...(key ? { key: `${channel}:${key}` } : {}), message });
    if (this.gossipScheduled || !this.running) return true;
    this.gossipScheduled = true;
    this.deps.clock.setTimeout(() => {
      this.gossipScheduled = false;
      if (this.running) this.gossip();
    }, 0);
    return true;
  }

  onUserRequest(channel: number, handler: UserRequestHandler): void {
    this.userRequestHandlers.set(channel, handler);
  }

  /** One request/reply exchange with a member over a stream, for another subsystem. */
  requestUser(memberId: string, channel: number, payload: Buffer): Promise<Buffer> {
    const m = this.members.get(memberId);
    if (!m) return Promise.reject(new Error(`unknown member ${memberId}`));
    const request = encodeMessage({ type: 'user', channel, payload });
    return this.deps.transport.request(busAddress(m), request, this.deps.config.requestTimeoutMs);
  }

  list(): Member[] {
    return [...this.members.values()].map(publicView);
  }

  get(id: string): Member | undefined {
    const m = this.members.get(id);
    return m ? publicView(m) : undefined;
  }

  /** Members other than this node that are alive or suspect. */
  livePeerCount(): number {
    return this.countAliveOrSuspect() - (this.leaving ? 0 : 1);
  }

  awarenessScore(): number {
    return this.awareness.score;
  }

  queuedBroadcasts(): number {
    return this.queue.length + this.userQueue.length;
  }

  /** Equal on every node once they agree on who is in which state at which incarnation. */
  digest(): string {
    const lines = [...this.members.values()].map((m) => `${m.id}:${m.state}:${m.incarnation}`).sort();
    return createHash('sha1').update(lines.join('\n')).digest('hex').slice(0, 16);
  }

  /**
   * Contacts the given bus addresses (push-pull, full state both ways). Resolves with how many
   * answered; those that did not are retried in the background.
   */
  async join(addresses: Address[]): Promise<number> {
    let answered = 0;
    await Promise.all(
      addresses.map(async (addr) => {
        if (await this.pushPull(addr, true)) {
          answered++;
          this.pendingSeeds.delete(addressKey(addr));
          this.announce();
          // The seed's view may have been stale (others restarting at the same time); a second
          // exchange, once their refutations have spread, picks up what the first one missed.
          this.deps.clock.setTimeout(() => void (this.running && this.pushPull(addr, false)), this.deps.config.probeIntervalMs * 4);
        } else {
          this.pendingSeeds.set(addressKey(addr), addr);
        }
      }),
    );
    return answered;
  }

  /** Gossips our own alive record, so members we have not exchanged state with learn of us soon. */
  private announce(): void {
    this.broadcast(this.self.id, this.selfAlive());
  }

  /**
   * Announces a graceful leave: queued for gossip and sent straight to a few peers, who spread it
   * on, so stopping right after loses nothing (and never waits on the clock).
   */
  leave(): void {
    if (this.leaving) return;
    this.leaving = true;
    const dead: Dead = { type: 'dead', incarnation: this.self.incarnation, id: this.self.id, from: this.self.id };
    this.setState(this.self, 'left');
    this.broadcast(this.self.id, dead);
    const peers = this.pickRandom(this.deps.config.gossipNodes * 2, (x) => x.state === 'alive' || x.state === 'suspect');
    for (const m of peers) this.send(m, [encodeMessage(dead)]);
  }

  /**
   * CLUSTER FORGET: drops a member here and everywhere (the ban travels with the message), and
   * asks the node itself to leave if it is alive. Returns false for an unknown id.
   */
  forget(id: string): boolean {
    const m = this.members.get(id);
    if (!m || id === this.self.id) return false;
    const ttlMs = this.deps.config.forgetBanMs;
    this.applyForget(id, ttlMs);
    const message = encodeMessage({ type: 'forget', id, ttlMs });
    this.queue.queue({ key: `forget:${id}`, message });
    // A rare admin act that must reach everyone: tell every live member directly, not only by
    // gossip (which a small cluster retransmits just a couple of times). The node itself, if
    // alive, is among them and leaves.
    for (const peer of this.pickRandom(Infinity, (x) => x.state === 'alive' || x.state === 'suspect')) this.send(peer, [message]);
    if (m.state === 'alive' || m.state === 'suspect') this.send(m, [message]);
    return true;
  }

  // ---- probing -------------------------------------------------------------------------------

  /** Shuffled round-robin over the other members; new members join the order at random places. */
  private nextProbeTarget(): Entry | undefined {
    for (let tries = 0; tries <= this.probeOrder.length; tries++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = this.shuffle([...this.members.keys()].filter((id) => id !== this.self.id));
        this.probeIndex = 0;
        if (this.probeOrder.length === 0) return undefined;
      }
      const m = this.members.get(this.probeOrder[this.probeIndex++]!);
      if (m && (m.state === 'alive' || m.state === 'suspect')) return m;
    }
    return undefined;
  }

  private probe(): void {
    if (this.leaving) return;
    const target = this.nextProbeTarget();
    if (target) this.probeNode(target);
    // Suspects are checked every period, not only in their turn: each ping carries the suspicion
    // (buddy system), so a suspect that can hear us again (after a pause or a partition heals)
    // learns of it and refutes before the timer runs out.
    for (const m of this.members.values()) if (m.state === 'suspect') this.probeNode(m);
  }

  /** One SWIM probe: ping, then ping-req through peers and a TCP ping, judged at the period's end. */
  private probeNode(target: Entry): void {
    if (this.probing.has(target.id)) return;
    this.probing.add(target.id);
    const { config, clock } = this.deps;
    const { incarnation: probedIncarnation, host: probedHost, busPort: probedPort } = target;
    const seq = this.nextSeq();
    let acked = false;
    let nacks = 0;
    let expectedNacks = 0;
    target.pingSentAt = clock.wallNow();
    this.acks.set(seq, {
      onAck: () => {
        if (acked) return;
        acked = true;
        target.pingSentAt = 0;
        target.ackReceivedAt = clock.wallNow();
      },
      onNack: () => nacks++,
    });
    const ping = encodeMessage({ type: 'ping', seq, targetId: target.id, source: this.selfRef() });
    // Buddy system: a suspect learns of it from the ping itself and can refute at once.
    const buddy = target.state === 'suspect'
      ? [encodeMessage({ type: 'suspect', incarnation: target.incarnation, id: target.id, from: this.self.id })]
      : [];
    this.send(target, [ping, ...buddy]);

    clock.setTimeout(() => {
      if (acked || !this.running) return;
      const helpers = this.pickRandom(config.indirectChecks, (m) => m.state === 'alive' && m.id !== target.id);
      expectedNacks = helpers.length;
      const req = encodeMessage({ type: 'indirectPing', seq, target: refOf(target), source: this.selfRef(), wantNack: true });
      for (const h of helpers) this.send(h, [req]);
      // TCP fallback: catches a target whose UDP path alone is broken.
      const remaining = config.probeIntervalMs - config.probeTimeoutMs;
      this.deps.transport
        .request(busAddress(target), ping, remaining)
        .then((reply) => {
          const m = decodeMessage(reply);
          if (m?.type === 'ack' && m.seq === seq) this.acks.get(seq)?.onAck();
        })
        .catch(() => {});
    }, config.probeTimeoutMs);

    clock.setTimeout(() => {
      this.acks.delete(seq);
      this.probing.delete(target.id);
      if (!this.running) return;
      if (acked) {
        this.awareness.apply(-1);
        return;
      }
      this.awareness.apply(expectedNacks > 0 ? expectedNacks - Math.min(nacks, expectedNacks) : 1);
      const current = this.members.get(target.id);
      // A node that came back (new incarnation or address) while we probed is not the one that failed.
      const same = current && current.incarnation === probedIncarnation && current.busPort === probedPort && current.host === probedHost;
      // Failing a probe of a suspect is an independent confirmation of the suspicion.
      if (current && same && (current.state === 'alive' || current.state === 'suspect')) {
        this.deps.logger.debug('probe_failed', { target: target.id, nacks, expected_nacks: expectedNacks });
        this.onSuspect({ type: 'suspect', incarnation: current.incarnation, id: current.id, from: this.self.id });
      }
    }, config.probeIntervalMs);
  }

  // ---- gossip, push-pull, reconnect ------------------------------------------------------------

  private gossip(): void {
    if (this.queue.length === 0 && this.userQueue.length === 0) return;
    const { config, clock } = this.deps;
    const now = clock.now();
    const targets = this.pickRandom(config.gossipNodes, (m) =>
      m.state === 'alive' || m.state === 'suspect' || now - m.stateChangedAt < config.gossipToTheDeadMs,
    );
    for (const t of targets) this.send(t, []);
  }

  private async pushPullRandom(): Promise<void> {
    const [peer] = this.pickRandom(1, (m) => m.state === 'alive');
    if (peer) await this.pushPull(busAddress(peer), false);
  }

  /** Tries one dead member or unanswered seed again: how a partition heals without an operator. */
  private async reconnect(): Promise<void> {
    const candidates: Address[] = [
      ...[...this.members.values()].filter((m) => m.state === 'dead').map(busAddress),
      ...this.pendingSeeds.values(),
    ];
    if (candidates.length === 0) return;
    const addr = candidates[this.deps.random.int(candidates.length)]!;
    if (await this.pushPull(addr, false)) this.pendingSeeds.delete(addressKey(addr));
  }

  private async pushPull(addr: Address, join: boolean): Promise<boolean> {
    const request = encodeMessage({ type: 'pushPull', join, members: this.records() });
    try {
      const reply = await this.deps.transport.request(addr, request, this.deps.config.requestTimeoutMs);
      const m = decodeMessage(reply);
      if (m?.type !== 'pushPull') return false;
      this.stats.pushPulls++;
      this.merge(m.members);
      return true;
    } catch {
      return false;
    }
  }

  private records(): MemberRecord[] {
    return [...this.members.values()].map((m) => ({ node: refOf(m), port: m.port, incarnation: m.incarnation, state: m.state }));
  }

  /** Remote full state: alive as alive, left as left, but dead only as suspect (it may be wrong). */
  private merge(records: MemberRecord[]): void {
    for (const r of records) {
      if (r.state === 'alive') {
        this.onAlive({ type: 'alive', incarnation: r.incarnation, node: r.node, port: r.port });
      } else if (r.state === 'left') {
        this.onDead({ type: 'dead', incarnation: r.incarnation, id: r.node.id, from: r.node.id });
      } else {
        this.onSuspect({ type: 'suspect', incarnation: r.incarnation, id: r.node.id, from: this.self.id });
      }
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  private receivePacket(from: Address, data: Buffer): void {
    this.stats.packetsIn++;
    this.stats.bytesIn += data.length;
    const messages = decodePacket(data);
    if (!messages) {
      this.stats.malformed++;
      return;
    }
    for (const m of messages) this.handle(m, from);
  }

  private async answerRequest(from: Address, data: Buffer): Promise<Buffer> {
    const m = decodeMessage(data);
    if (m?.type === 'ping' && m.targetId === this.self.id) return encodeMessage({ type: 'ack', seq: m.seq });
    if (m?.type === 'pushPull') {
      this.stats.pushPulls++;
      const reply = encodeMessage({ type: 'pushPull', join: false, members: this.records() });
      this.merge(m.members);
      return reply;
    }
    if (m?.type === 'user') {
      const handler = this.userRequestHandlers.get(m.channel);
      if (handler) return handler(m.payload, from);
    }
    this.stats.malformed++;
    throw new Error(`unexpected request from ${addressKey(from)}`);
  }

  private handle(m: Message, from: Address): void {
    switch (m.type) {
      case 'ping':
        if (m.targetId !== this.self.id || this.leaving) return;
        this.send(m.source, [encodeMessage({ type: 'ack', seq: m.seq })]);
        return;
      case 'indirectPing':
        return this.relayPing(m.seq, m.target, m.source, m.wantNack);
      case 'ack':
        return this.acks.get(m.seq)?.onAck();
      case 'nack':
        return this.acks.get(m.seq)?.onNack();
      case 'alive':
        return this.onAlive(m);
      case 'suspect':
        return this.onSuspect(m);
      case 'dead':
        return this.onDead(m);
      case 'user':
        return this.userHandlers.get(m.channel)?.(m.payload, from);
      case 'forget':
        return this.onForget(m.id, m.ttlMs);
      case 'pushPull':
        return; // only valid over a stream
    }
  }

  /** ping-req: ping the target for a peer, relay the ack, or a nack if none came in time. */
  private relayPing(seq: number, target: NodeRef, requester: NodeRef, wantNack: boolean): void {
    const relaySeq = this.nextSeq();
    let acked = false;
    this.acks.set(relaySeq, {
      onAck: () => {
        if (acked) return;
        acked = true;
        this.send(requester, [encodeMessage({ type: 'ack', seq })]);
      },
      onNack: () => {},
    });
    this.send(target, [encodeMessage({ type: 'ping', seq: relaySeq, targetId: target.id, source: this.selfRef() })]);
    this.deps.clock.setTimeout(() => {
      this.acks.delete(relaySeq);
      if (!acked && wantNack && this.running) this.send(requester, [encodeMessage({ type: 'nack', seq })]);
    }, this.deps.config.probeTimeoutMs);
  }

  // ---- state transitions (memberlist state.go) -------------------------------------------------

  private onAlive(a: Alive): void {
    const id = a.node.id;
    if (this.isBanned(id)) return;
    if (id === this.self.id) {
      // Someone holds a newer or different picture of us: outbid it.
      if (!this.leaving && (a.incarnation > this.self.incarnation ||
          (a.incarnation === this.self.incarnation && (a.node.host !== this.self.host || a.node.busPort !== this.self.busPort)))) {
        this.refute(a.incarnation);
      }
      return;
    }
    let m = this.members.get(id);
    if (!m) {
      m = {
        id,
        host: a.node.host,
        port: a.port,
        busPort: a.node.busPort,
        incarnation: a.incarnation,
        state: 'alive',
        stateChangedAt: this.deps.clock.now(),
        pingSentAt: 0,
        ackReceivedAt: 0,
        suspicion: null,
      };
      this.members.set(id, m);
      // A newcomer goes to a random place in the probe order, so it is probed within one round.
      this.probeOrder.splice(this.probeIndex + this.deps.random.int(this.probeOrder.length - this.probeIndex + 1), 0, id);
      this.broadcast(id, a);
      this.deps.logger.info('member_joined', { id, host: a.node.host, port: a.port, bus_port: a.node.busPort });
      this.notify(m, null);
      return;
    }
    // Only a newer incarnation is news. A restarted node comes back at incarnation 1, learns our
    // view of it from its first push-pull and refutes above it, so it needs no exception here.
    if (a.incarnation <= m.incarnation) return;
    m.incarnation = a.incarnation;
    m.host = a.node.host;
    m.busPort = a.node.busPort;
    m.port = a.port;
    m.suspicion?.cancel();
    m.suspicion = null;
    this.broadcast(id, a);
    if (m.state !== 'alive') this.setState(m, 'alive');
  }

  private onSuspect(s: Suspect): void {
    if (this.isBanned(s.id)) return;
    if (s.id === this.self.id) return this.answerAccusation(s.incarnation, s.from);
    const m = this.members.get(s.id);
    if (!m) return;
    if (s.incarnation < m.incarnation) return this.correctStale(m, s.from);
    if (m.suspicion) {
      // An independent accusation shortens the timer (Lifeguard); spread it further.
      if (m.suspicion.confirm(s.from)) this.broadcast(s.id, s);
      return;
    }
    if (m.state !== 'alive') return;
    const { config } = this.deps;
    const n = this.countAliveOrSuspect();
    const minMs = suspicionMinMs(config.suspicionMult, n, config.probeIntervalMs);
    m.incarnation = s.incarnation;
    m.suspicion = new Suspicion({
      accuser: s.from,
      k: confirmationsWanted(config.suspicionMult, n),
      minMs,
      maxMs: minMs * config.suspicionMaxTimeoutMult,
      clock: this.deps.clock,
      onTimeout: (confirmations) => {
        const cur = this.members.get(m.id);
        if (!cur || cur.state !== 'suspect' || cur.incarnation !== s.incarnation) return;
        this.deps.logger.info('suspicion_expired', { id: m.id, confirmations });
        this.onDead({ type: 'dead', incarnation: s.incarnation, id: m.id, from: this.self.id });
      },
    });
    this.deps.logger.info('member_suspected', { id: s.id, accuser: s.from, incarnation: s.incarnation });
    this.broadcast(s.id, s);
    this.setState(m, 'suspect');
    // Check for ourselves at once instead of waiting for its turn in the round: our verdict is an
    // independent confirmation (Lifeguard) if it fails, and the buddy ping lets it refute if not.
    if (s.from !== this.self.id) this.probeNode(m);
  }

  private onDead(d: Dead): void {
    if (this.isBanned(d.id)) return;
    if (d.id === this.self.id) return this.answerAccusation(d.incarnation, d.from);
    const m = this.members.get(d.id);
    if (!m) return;
    if (d.incarnation < m.incarnation) return this.correctStale(m, d.from);
    if (m.state === 'left' || (m.state === 'dead' && d.from !== d.id)) return;
    m.suspicion?.cancel();
    m.suspicion = null;
    m.incarnation = d.incarnation;
    this.broadcast(d.id, d);
    const next = d.from === d.id ? 'left' : 'dead';
    this.deps.logger.info(next === 'left' ? 'member_left' : 'member_failed', { id: d.id, by: d.from });
    this.setState(m, next);
  }

  /**
   * An accusation older than what we know of a live member: its sender missed the refutation (a
   * restart, lost packets). Tell the accuser what we know, or it would go on spreading stale news.
   */
  private correctStale(m: Entry, accuser: string): void {
    if (m.state !== 'alive') return;
    const to = this.members.get(accuser);
    if (!to || to.id === this.self.id) return;
    this.send(to, [encodeMessage({ type: 'alive', incarnation: m.incarnation, node: refOf(m), port: m.port })]);
  }

  private onForget(id: string, ttlMs: number): void {
    if (id === this.self.id) {
      this.deps.logger.warn('forgotten_by_cluster', {});
      this.leave();
      return;
    }
    if (this.isBanned(id) || !this.members.has(id)) return;
    this.applyForget(id, ttlMs);
    this.queue.queue({ key: `forget:${id}`, message: encodeMessage({ type: 'forget', id, ttlMs }) });
  }

  private applyForget(id: string, ttlMs: number): void {
    const m = this.members.get(id);
    m?.suspicion?.cancel();
    this.members.delete(id);
    this.bans.set(id, this.deps.clock.now() + Math.min(ttlMs, this.deps.config.forgetBanMs));
    this.deps.logger.info('member_forgotten', { id });
    if (m) this.notify({ ...m, state: 'left' }, m.state);
  }

  private isBanned(id: string): boolean {
    const until = this.bans.get(id);
    if (until === undefined) return false;
    if (this.deps.clock.now() < until) return true;
    this.bans.delete(id);
    return false;
  }

  /**
   * Someone holds us suspect or dead. At our incarnation or above: refute with a higher one. Below
   * it, we already refuted but the accuser missed it (lost packets, a partition): tell it again,
   * or it would go on believing, and spreading, the stale accusation.
   */
  private answerAccusation(incarnation: number, accuser: string): void {
    if (this.leaving) return;
    if (incarnation >= this.self.incarnation) return this.refute(incarnation, accuser);
    const to = this.members.get(accuser);
    if (to && to.id !== this.self.id) this.send(to, [encodeMessage(this.selfAlive())]);
  }

  private selfAlive(): Alive {
    return { type: 'alive', incarnation: this.self.incarnation, node: this.selfRef(), port: this.self.port };
  }

  /**
   * We were accused, or seen with a newer incarnation: claim a higher one and say so, to everyone
   * through gossip and to the accuser directly, whose suspicion timer is the first to run out.
   */
  private refute(accusedIncarnation: number, accuser?: string): void {
    this.self.incarnation = Math.max(this.self.incarnation + 1, accusedIncarnation + 1);
    this.awareness.apply(1);
    this.deps.logger.info('refuted', { incarnation: this.self.incarnation, accuser });
    const alive = this.selfAlive();
    this.broadcast(this.self.id, alive);
    const to = accuser ? this.members.get(accuser) : undefined;
    if (to && to.id !== this.self.id) this.send(to, [encodeMessage(alive)]);
  }

  private setState(m: Entry, state: MemberState): void {
    const previous = m.state;
    m.state = state;
    m.stateChangedAt = this.deps.clock.now();
    if (state !== 'suspect') {
      m.suspicion?.cancel();
      m.suspicion = null;
    }
    this.notify(m, previous);
  }

  private notify(m: Member, previous: MemberState | null): void {
    const view = publicView(m);
    for (const l of this.changeListeners) l(view, previous);
  }

  /** Queues news about a node; newer news about the same node replaces older. */
  private broadcast(id: string, m: Alive | Suspect | Dead): void {
    this.queue.queue({ key: `node:${id}`, message: encodeMessage(m) });
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** Sends the given messages, filling the rest of the packet with queued gossip. */
  private send(to: { host: string; busPort: number }, messages: Buffer[]): void {
    if (!this.running) return;
    let used = PACKET_OVERHEAD;
    for (const m of messages) used += m.length + COMPOUND_OVERHEAD;
    const room = this.deps.packetBudget - used;
    const extra = messages.length < MAX_COMPOUND && room > 0 ? this.queue.take(COMPOUND_OVERHEAD, room) : [];
    const userRoom = room - extra.reduce((n, b) => n + b.length + COMPOUND_OVERHEAD, 0);
    if (messages.length + extra.length < MAX_COMPOUND && userRoom > 0) extra.push(...this.userQueue.take(COMPOUND_OVERHEAD, userRoom));
    const all = [...messages, ...extra].slice(0, MAX_COMPOUND);
    if (all.length === 0) return;
    const packet = encodePacket(all);
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.length;
    this.deps.transport.sendPacket(busAddress(to), packet);
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private selfRef(): NodeRef {
    return refOf(this.self);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private countAliveOrSuspect(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.state === 'alive' || m.state === 'suspect') n++;
    return n;
  }

  /** Up to k distinct other members passing `ok`, chosen uniformly. */
  private pickRandom(k: number, ok: (m: Entry) => boolean): Entry[] {
    const pool = [...this.members.values()].filter((m) => m.id !== this.self.id && ok(m));
    return this.shuffle(pool).slice(0, k);
  }

  private shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.deps.random.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

function refOf(m: { id: string; host: string; busPort: number }): NodeRef {
  return { id: m.id, host: m.host, busPort: m.busPort };
}

function busAddress(m: { host: string; busPort: number }): Address {
  return { host: m.host, port: m.busPort };
}

function publicView(m: Member): Member {
  return {
    id: m.id,
    host: m.host,
    port: m.port,
    busPort: m.busPort,
    incarnation: m.incarnation,
    state: m.state,
    stateChangedAt: m.stateChangedAt,
    pingSentAt: m.pingSentAt,
    ackReceivedAt: m.ackReceivedAt,
  };
}
