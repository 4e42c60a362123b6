import { isIP } from 'node:net';
import { ByteReader, ByteWriter, DecodeError } from '../runtime/bytes.js';

/**
 * Membership wire format. A packet is `[u8 version][message]`; a message is `[u8 type][fields]`,
 * several of them travel as one compound message. Type numbers are append-only; a compound
 * message skips parts of unknown type, so a newer node can add messages without breaking older
 * ones. Decoding never throws: anything malformed yields null and is dropped by the caller.
 */
export const PROTOCOL_VERSION = 1;

export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ack: 2,
  nack: 3,
  suspect: 4,
  alive: 5,
  dead: 6,
  pushPull: 7,
  compound: 8,
  user: 9,
  forget: 10,
} as const;

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];

/** Where a node is: its id, bus address and RESP port. */
export interface NodeRef {
  id: string;
  host: string;
  busPort: number;
}

export interface Ping {
  type: 'ping';
  seq: number;
  targetId: string;
  source: NodeRef;
}
export interface IndirectPing {
  type: 'indirectPing';
  seq: number;
  target: NodeRef;
  source: NodeRef;
  wantNack: boolean;
}
export interface Ack {
  type: 'ack';
  seq: number;
}
export interface Nack {
  type: 'nack';
  seq: number;
}
export interface Alive {
  type: 'alive';
  incarnation: number;
  node: NodeRef;
  port: number;
}
export interface Suspect {
  type: 'suspect';
  incarnation: number;
  id: string;
  from: string;
}
/** `from === id` means the node left gracefully. */
export interface Dead {
  type: 'dead';
  incarnation: number;
  id: string;
  from: string;
}
export interface MemberRecord {
  node: NodeRef;
  port: number;
  incarnation: number;
  state: MemberState;
}
export interface PushPull {
  type: 'pushPull';
  join: boolean;
  members: MemberRecord[];
}
export interface User {
  type: 'user';
  channel: number;
  payload: Buffer;
}
/** CLUSTER FORGET spread cluster-wide: drop the node and ignore news of it for ttlMs. */
export interface Forget {
  type: 'forget';
  id: string;
  ttlMs: number;
}

export type Message = Ping | IndirectPing | Ack | Nack | Alive | Suspect | Dead | PushPull | User | Forget;


/** Encodes messages into one packet (compound when more than one). */
export function encodePacket(messages: Buffer[]): Buffer {
  const version = Buffer.from([PROTOCOL_VERSION]);
  if (messages.length === 1) return Buffer.concat([version, messages[0]!]);
  // The count is one byte and each length two: refuse what they cannot say rather than wrap.
  if (messages.length > MAX_COMPOUND || messages.some((m) => m.length > 0xffff)) {
    throw new RangeError(`a compound packet holds at most ${MAX_COMPOUND} messages of at most 65535 bytes`);
  }
  const w = new ByteWriter();
  w.u8(MessageType.compound);
  w.u8(messages.length);
  for (const m of messages) {
    w.u16(m.length);
    w.bytes(m);
  }
  return Buffer.concat([version, w.done()]);
}

/** Bytes a message costs inside a compound packet, beyond its own length. */
export const COMPOUND_OVERHEAD = 2;
/** Bytes of the packet header and compound header. */
export const PACKET_OVERHEAD = 3;
/** Most messages one compound packet may carry. */
export const MAX_COMPOUND = 255;

export function encodeMessage(m: Message): Buffer {
  const w = new ByteWriter();
  w.u8(MessageType[m.type]);
  switch (m.type) {
    case 'ping':
      w.u32(m.seq);
      w.id(m.targetId);
      writeNode(w, m.source);
      break;
    case 'indirectPing':
      w.u32(m.seq);
      writeNode(w, m.target);
      writeNode(w, m.source);
      w.u8(m.wantNack ? 1 : 0);
      break;
    case 'ack':
    case 'nack':
      w.u32(m.seq);
      break;
    case 'alive':
      w.u32(m.incarnation);
      writeNode(w, m.node);
      w.u16(m.port);
      break;
    case 'suspect':
    case 'dead':
      w.u32(m.incarnation);
      w.id(m.id);
      w.id(m.from);
      break;
    case 'pushPull':
      w.u8(m.join ? 1 : 0);
      w.u32(m.members.length);
      for (const r of m.members) {
        writeNode(w, r.node);
        w.u16(r.port);
        w.u32(r.incarnation);
        w.u8(STATES.indexOf(r.state));
      }
      break;
    case 'user':
      w.u8(m.channel);
      w.u32(m.payload.length);
      w.bytes(m.payload);
      break;
    case 'forget':
      w.id(m.id);
      w.u32(m.ttlMs);
      break;
  }
  return w.done();
}

/** The messages of a packet, or null if it is not one of ours (wrong version, malformed). */
export function decodePacket(packet: Buffer): Message[] | null {
  if (packet.length < 2 || packet[0] !== PROTOCOL_VERSION) return null;
  try {
    const r = new ByteReader(packet, 1);
    if (packet[1] !== MessageType.compound) {
      const m = readMessage(r);
      return m ? [m] : [];
    }
    r.u8();
    const count = r.u8();
    const out: Message[] = [];
    for (let i = 0; i < count; i++) {
      const len = r.u16();
      const part = new ByteReader(r.bytes(len), 0);
      const m = readMessage(part);
      if (m) out.push(m);
    }
    return out;
  } catch (e) {
    if (e instanceof DecodeError) return null;
    throw e;
  }
}

/** One message on its own (stream requests and replies carry exactly one). */
export function decodeMessage(data: Buffer): Message | null {
  try {
    return readMessage(new ByteReader(data, 0));
  } catch (e) {
    if (e instanceof DecodeError) return null;
    throw e;
  }
}

/** Reads one message; null for a type this version does not know (skipped, not an error). */
function readMessage(r: ByteReader): Message | null {
  const type = r.u8();
  switch (type) {
    case MessageType.ping:
      return { type: 'ping', seq: r.u32(), targetId: r.id(), source: readNode(r) };
    case MessageType.indirectPing:
      return { type: 'indirectPing', seq: r.u32(), target: readNode(r), source: readNode(r), wantNack: r.u8() === 1 };
    case MessageType.ack:
      return { type: 'ack', seq: r.u32() };
    case MessageType.nack:
      return { type: 'nack', seq: r.u32() };
    case MessageType.alive:
      return { type: 'alive', incarnation: r.u32(), node: readNode(r), port: r.u16() };
    case MessageType.suspect:
      return { type: 'suspect', incarnation: r.u32(), id: r.id(), from: r.id() };
    case MessageType.dead:
      return { type: 'dead', incarnation: r.u32(), id: r.id(), from: r.id() };
    case MessageType.pushPull: {
      const join = r.u8() === 1;
      const count = r.count(30);
      const members: MemberRecord[] = [];
      for (let i = 0; i < count; i++) {
        const node = readNode(r);
        const port = r.u16();
        const incarnation = r.u32();
        const state = STATES[r.u8()];
        if (!state) throw new DecodeError();
        members.push({ node, port, incarnation, state });
      }
      return { type: 'pushPull', join, members };
    }
    case MessageType.user: {
      const channel = r.u8();
      return { type: 'user', channel, payload: r.bytes(r.u32()) };
    }
    case MessageType.forget:
      return { type: 'forget', id: r.id(), ttlMs: r.u32() };
    default:
      return null;
  }
}

/** A node reference; the host must be an IP literal and the port non-zero, so noise is rejected. */
function readNode(r: ByteReader): NodeRef {
  const id = r.id();
  const host = r.bytes(r.u8()).toString('latin1');
  const busPort = r.u16();
  if (isIP(host) === 0 || busPort === 0) throw new DecodeError();
  return { id, host, busPort };
}

function writeNode(w: ByteWriter, n: NodeRef): void {
  w.id(n.id);
  const host = Buffer.from(n.host, 'utf8').subarray(0, 255);
  w.u8(host.length);
  w.bytes(host);
  w.u16(n.busPort);
}
