/**
 * The cluster bus as membership and replication see it: best-effort packets (UDP on a real node)
 * and reliable request/reply exchanges (one TCP connection each). Implementations: the real one on
 * the bus port (udp-tcp.ts), an in-memory network for tests and simulations (memory.ts), and an
 * encrypting wrapper around either (secure.ts).
 */
export interface Address {
  host: string;
  port: number;
}

export const addressKey = (a: Address): string => `${a.host}:${a.port}`;

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.host === b.host;
}

/** Largest packet payload we send: fits a 1,500-byte Ethernet frame with IP/UDP headers to spare. */
export const MAX_PACKET_BYTES = 1400;
/** Largest request or reply on a stream (a push-pull of thousands of members fits comfortably). */
export const MAX_STREAM_MESSAGE_BYTES = 16 * 1024 * 1024;

export type PacketHandler = (from: Address, data: Buffer) => void;
/** Answers a request; a rejection closes the stream without a reply. */
export type RequestHandler = (from: Address, data: Buffer) => Promise<Buffer>;

export interface Transport {
  /** The address peers reach this node at. */
  readonly local: Address;
  /** Best effort: may be lost, delayed, duplicated or reordered. Oversized packets are dropped. */
  sendPacket(to: Address, data: Buffer): void;
  onPacket(handler: PacketHandler): void;
  /** One request and its reply; rejects on timeout, refusal or a broken stream. */
  request(to: Address, data: Buffer, timeoutMs: number): Promise<Buffer>;
  onRequest(handler: RequestHandler): void;
  close(): Promise<void>;
}

/** Why a request failed, as a stable code (undici style). */
export class TransportError extends Error {
  constructor(
    readonly code: 'TIMEOUT' | 'UNREACHABLE' | 'CLOSED' | 'TOO_LARGE' | 'REJECTED',
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
