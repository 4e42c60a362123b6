import { Keyring, SEAL_OVERHEAD } from './keyring.js';
import {
  MAX_PACKET_BYTES,
  TransportError,
  type Address,
  type PacketHandler,
  type RequestHandler,
  type Transport,
} from './transport.js';

/** Largest plaintext packet that still fits MAX_PACKET_BYTES once sealed. */
export const MAX_SECURE_PACKET_BYTES = MAX_PACKET_BYTES - SEAL_OVERHEAD;

export interface SecureTransportStats {
  /** Incoming packets that did not authenticate (wrong key or cluster, tampered, truncated, noise). */
  rejectedPackets: number;
  /** Incoming requests that did not authenticate; their streams were closed without a reply. */
  rejectedRequests: number;
  /** Replies to our requests that did not authenticate; those requests rejected with 'REJECTED'. */
  rejectedReplies: number;
  /** Outgoing packets dropped because they would exceed MAX_PACKET_BYTES once sealed. */
  oversizedPackets: number;
}

/**
 * The domain tags separate the three kinds of message, so a box sealed as one kind never opens as
 * another (a captured reply cannot be replayed as a request); the cluster name follows, so two
 * clusters sharing a key still never accept each other's traffic. No tag contains NUL, so the
 * encoding is unambiguous whatever the name holds.
 */
const PACKET_TAG = 'heck-bus/v1 packet';
const REQUEST_TAG = 'heck-bus/v1 request';
const REPLY_TAG = 'heck-bus/v1 reply';

const aadFor = (tag: string, clusterName: string): Buffer => Buffer.from(`${tag}\0${clusterName}`, 'utf8');

/**
 * Encrypts and authenticates everything that crosses an inner transport (memberlist's encryption
 * layer, without the label prefix: the cluster name is authenticated rather than sent). Anything
 * that fails authentication is dropped and counted, never thrown.
 */
export class SecureTransport implements Transport {
  private readonly packetAad: Buffer;
  private readonly requestAad: Buffer;
  private readonly replyAadPrefix: Buffer;
  private readonly counters: SecureTransportStats = {
    rejectedPackets: 0,
    rejectedRequests: 0,
    rejectedReplies: 0,
    oversizedPackets: 0,
  };

  constructor(
    private readonly inner: Transport,
    private readonly keyring: Keyring,
    clusterName: string,
  ) {
    this.packetAad = aadFor(PACKET_TAG, clusterName);
    this.requestAad = aadFor(REQUEST_TAG, clusterName);
    this.replyAadPrefix = aadFor(REPLY_TAG, clusterName);
  }

  get local(): Address {
    return this.inner.local;
  }

  sendPacket(to: Address, data: Buffer): void {
    // Checked before sealing so an oversized packet costs no encryption; the inner transport would drop it anyway.
    if (data.length > MAX_SECURE_PACKET_BYTES) {
      this.counters.oversizedPackets++;
      return;
    }
    this.inner.sendPacket(to, this.keyring.seal(data, this.packetAad));
  }

  onPacket(handler: PacketHandler): void {
    this.inner.onPacket((from, box) => {
      const plain = this.keyring.open(box, this.packetAad);
      if (plain === null) {
        this.counters.rejectedPackets++;
        return;
      }
      handler(from, plain);
    });
  }

  async request(to: Address, data: Buffer, timeoutMs: number): Promise<Buffer> {
    const box = this.keyring.seal(data, this.requestAad);
    const reply = await this.inner.request(to, box, timeoutMs);
    const plain = this.keyring.open(reply, this.replyAad(box));
    if (plain === null) {
      this.counters.rejectedReplies++;
      throw new TransportError('REJECTED', `reply from ${to.host}:${to.port} failed authentication`);
    }
    return plain;
  }

  onRequest(handler: RequestHandler): void {
    this.inner.onRequest(async (from, box) => {
      const plain = this.keyring.open(box, this.requestAad);
      if (plain === null) {
        this.counters.rejectedRequests++;
        // The inner transport closes the stream without a reply; the peer learns nothing more.
        throw new TransportError('REJECTED', 'request failed authentication');
      }
      const reply = await handler(from, plain);
      return this.keyring.seal(reply, this.replyAad(box));
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  stats(): SecureTransportStats {
    return { ...this.counters };
  }

  /**
   * A reply is bound to its request's nonce as well as to the cluster: an on-path attacker cannot
   * answer one request with the (authentic) reply to another.
   */
  private replyAad(requestBox: Buffer): Buffer {
    return Buffer.concat([this.replyAadPrefix, Keyring.nonceOf(requestBox)]);
  }
}
