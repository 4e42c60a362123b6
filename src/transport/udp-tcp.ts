import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import {
  MAX_PACKET_BYTES,
  MAX_STREAM_MESSAGE_BYTES,
  TransportError,
  type Address,
  type PacketHandler,
  type RequestHandler,
  type Transport,
} from './transport.js';

export interface UdpTcpOptions {
  /** Address both sockets bind to (e.g. 127.0.0.1, 0.0.0.0, ::). */
  bind: string;
  /** Bus port for both UDP and TCP; 0 picks a port free for both. */
  port: number;
  /** Address peers reach us at, if not the bind address (NAT, wildcard bind); port 0 = the bound port. */
  advertise?: Address;
  clock: Clock;
  logger: Logger;
  /** An inbound connection that sends nothing for this long is dropped. Default 10 s. */
  readTimeoutMs?: number;
  /** Inbound connections beyond this many are refused. Default 1024. */
  maxInboundConnections?: number;
  /** Request bytes all inbound connections together may hold; past it, the one adding is dropped. Default 64 MiB. */
  maxInboundBufferBytes?: number;
}

const DEFAULT_READ_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_INBOUND = 1024;
const DEFAULT_MAX_INBOUND_BUFFER = 4 * MAX_STREAM_MESSAGE_BYTES;
/** Attempts at finding a port free for both TCP and UDP when asked for port 0. */
const PORT_ATTEMPTS = 8;
/** Below this size a frame's header and body go out as one buffer (one write, one segment). */
const COALESCE_BYTES = 64 * 1024;
/** Errors before the connection is up mean nobody is there (or reachable). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']);

/**
 * Reads one `[u32 big-endian length][bytes]` frame from a stream of chunks. Memory is bounded by
 * what the peer actually sent, never by the length it claims, and the claim is checked first.
 */
class FrameReader {
  private readonly header = Buffer.alloc(4);
  private headerBytes = 0;
  private length = -1;
  private readonly chunks: Buffer[] = [];
  private bodyBytes = 0;

  /** Bytes received so far (header included). */
  get received(): number {
    return this.headerBytes + this.bodyBytes;
  }

  /** The length the header announced, or -1 before the header is complete. */
  get announced(): number {
    return this.length;
  }

  /** Feeds a chunk; bytes past the end of the frame are ignored. */
  push(chunk: Buffer): 'more' | 'done' | 'too-large' {
    let offset = 0;
    if (this.length < 0) {
      const n = Math.min(4 - this.headerBytes, chunk.length);
      chunk.copy(this.header, this.headerBytes, 0, n);
      this.headerBytes += n;
      offset = n;
      if (this.headerBytes < 4) return 'more';
      this.length = this.header.readUInt32BE(0);
      if (this.length > MAX_STREAM_MESSAGE_BYTES) return 'too-large';
    }
    const take = Math.min(this.length - this.bodyBytes, chunk.length - offset);
    if (take > 0) {
      this.chunks.push(chunk.subarray(offset, offset + take));
      this.bodyBytes += take;
    }
    return this.bodyBytes === this.length ? 'done' : 'more';
  }

  frame(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
  }
}

function writeFrame(socket: Socket, data: Buffer, length = data.length): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(Math.min(length, 0xffffffff), 0);
  if (data.length < COALESCE_BYTES) {
    socket.write(Buffer.concat([header, data], 4 + data.length));
  } else {
    socket.cork();
    socket.write(header);
    socket.write(data);
    socket.uncork();
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'unknown';
}

function listenTcp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeUdp(socket: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // never bound, or already closed
    }
  });
}

/** An outbound request in flight, so close() can fail it. */
interface Outbound {
  socket: Socket;
  fail(err: TransportError): void;
}

/**
 * The cluster bus on a real node: UDP datagrams for packets, one short-lived TCP connection per
 * request, both on the same port and bound to the given address only.
 *
 * Stream protocol: the requester connects, writes one `[u32 BE length][bytes]` frame and waits
 * (it must not half-close); the server writes one reply frame and closes, or closes without a
 * byte when its handler refused. A reply header announcing more than MAX_STREAM_MESSAGE_BYTES
 * tells the requester the reply was too large.
 */
export class UdpTcpTransport implements Transport {
  readonly local: Address;
  private packetHandler: PacketHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private readonly inbound = new Set<Socket>();
  private readonly outbound = new Set<Outbound>();
  private closing: Promise<void> | undefined;
  /** Datagrams handed to dgram whose send has not completed; close() waits for them. */
  private sending = 0;
  private sent: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly readTimeoutMs: number;
  private readonly maxBuffered: number;
  /** Bytes of requests held by inbound connections (read so far, or being handled). */
  private buffered = 0;
  /** Outbound connections leave from the bind address, so peers see the address we bound. */
  private readonly localAddress: string | undefined;

  private constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    opts: UdpTcpOptions,
    port: number,
  ) {
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.maxBuffered = opts.maxInboundBufferBytes ?? DEFAULT_MAX_INBOUND_BUFFER;
    this.localAddress = isWildcard(opts.bind) ? undefined : opts.bind;
    this.local = opts.advertise
      ? { host: opts.advertise.host, port: opts.advertise.port || port }
      : { host: opts.bind, port };
    tcp.maxConnections = opts.maxInboundConnections ?? DEFAULT_MAX_INBOUND;
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    udp.on('error', (err) => this.logger.warn('bus_udp_error', { error: err.message }));
    tcp.on('connection', (socket) => this.onConnection(socket));
    tcp.on('error', (err) => this.logger.warn('bus_tcp_error', { error: err.message }));
  }

  /** Binds UDP and TCP on the same port (a free one for both when `port` is 0). */
  static async start(opts: UdpTcpOptions): Promise<UdpTcpTransport> {
    const type = isIP(opts.bind) === 6 ? 'udp6' : 'udp4';
    const attempts = opts.port === 0 ? PORT_ATTEMPTS : 1;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      const tcp = createServer({ allowHalfOpen: false });
      let port: number;
      try {
        port = await listenTcp(tcp, opts.bind, opts.port);
      } catch (err) {
        await closeServer(tcp).catch(() => undefined);
        throw err;
      }
      const udp = createSocket({ type, reuseAddr: false });
      try {
        await bindUdp(udp, opts.bind, port);
      } catch (err) {
        lastError = err;
        await Promise.all([closeServer(tcp), closeUdp(udp)]);
        // With port 0 the UDP twin of the TCP port we got may be taken: try another.
        if (errorCode(err) === 'EADDRINUSE' && opts.port === 0) continue;
        throw err;
      }
      const transport = new UdpTcpTransport(udp, tcp, opts, port);
      opts.logger.debug('bus_listening', { bind: opts.bind, port, advertise: `${transport.local.host}:${transport.local.port}` });
      return transport;
    }
    throw lastError instanceof Error ? lastError : new Error('no port free for both UDP and TCP');
  }

  /** Inbound connections currently open (for metrics and tests). */
  get openConnections(): number {
    return this.inbound.size;
  }

  sendPacket(to: Address, data: Buffer): void {
    if (this.closing || data.length > MAX_PACKET_BYTES) return;
    try {
      this.sending++;
      this.udp.send(data, to.port, to.host, (err) => {
        if (err) this.logger.debug('bus_send_failed', { to: `${to.host}:${to.port}`, error: err.message });
        if (--this.sending === 0) this.sent?.();
      });
    } catch (err) {
      this.sending--;
      // A bad port or host throws synchronously; best effort means we drop it.
      this.logger.debug('bus_send_failed', { to: `${to.host}:${to.port}`, error: err instanceof Error ? err.message : String(err) });
    }
  }

  onPacket(handler: PacketHandler): void {
    this.packetHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  request(to: Address, data: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closing) return Promise.reject(new TransportError('CLOSED', 'transport closed'));
    if (data.length > MAX_STREAM_MESSAGE_BYTES) {
      return Promise.reject(new TransportError('TOO_LARGE', `request of ${data.length} bytes exceeds ${MAX_STREAM_MESSAGE_BYTES}`));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const target = `${to.host}:${to.port}`;
      let socket: Socket;
      try {
        socket = connect({ host: to.host, port: to.port, localAddress: this.localAddress, noDelay: true });
      } catch (err) {
        reject(new TransportError('UNREACHABLE', `cannot connect to ${target}: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
      const reader = new FrameReader();
      let connected = false;
      let timer: TimerHandle | undefined;
      let done = false;
      const finish = (result: Buffer | TransportError): void => {
        if (done) return;
        done = true;
        timer?.cancel();
        this.outbound.delete(entry);
        socket.destroy();
        if (result instanceof TransportError) reject(result);
        else resolve(result);
      };
      const entry: Outbound = { socket, fail: finish };
      this.outbound.add(entry);
      const ms = Number.isNaN(timeoutMs) ? 0 : Math.max(0, timeoutMs);
      if (ms !== Infinity) {
        timer = this.clock.setTimeout(() => finish(new TransportError('TIMEOUT', `no reply from ${target} within ${timeoutMs} ms`)), ms);
      }
      socket.on('connect', () => {
        connected = true;
      });
      socket.on('data', (chunk: Buffer) => {
        const state = reader.push(chunk);
        if (state === 'done') finish(reader.frame());
        else if (state === 'too-large') {
          finish(new TransportError('TOO_LARGE', `reply of ${reader.announced} bytes from ${target} exceeds ${MAX_STREAM_MESSAGE_BYTES}`));
        }
      });
      socket.on('end', () => {
        // A close with nothing sent back is how a server says its handler refused the request.
        if (reader.received === 0) finish(new TransportError('REJECTED', `${target} closed without a reply`));
        else finish(new TransportError('CLOSED', `${target} closed mid-reply`));
      });
      socket.on('error', (err) => {
        const code = errorCode(err);
        if (!connected || UNREACHABLE_CODES.has(code)) finish(new TransportError('UNREACHABLE', `cannot reach ${target}: ${code}`));
        else finish(new TransportError('CLOSED', `connection to ${target} broke: ${code}`));
      });
      socket.on('close', () => finish(new TransportError('CLOSED', `connection to ${target} closed`)));
      writeFrame(socket, data);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // dgram resolves the address before sending, even for an IP literal: packets sent just before
    // close() (a graceful leave) are still queued and would be dropped by closing the socket now.
    if (this.sending > 0) await new Promise<void>((resolve) => (this.sent = resolve));
    for (const out of [...this.outbound]) out.fail(new TransportError('CLOSED', 'transport closed'));
    for (const socket of this.inbound) socket.destroy();
    await Promise.all([closeServer(this.tcp), closeUdp(this.udp)]);
    this.logger.debug('bus_closed', { port: this.local.port });
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing || msg.length > MAX_PACKET_BYTES) return;
    const handler = this.packetHandler;
    if (!handler) return;
    try {
      handler({ host: rinfo.address, port: rinfo.port }, msg);
    } catch (err) {
      // One bad packet (or handler bug) must not take the node's bus down.
      this.logger.error('bus_packet_handler_failed', { from: `${rinfo.address}:${rinfo.port}`, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private onConnection(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    const from: Address = { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const reader = new FrameReader();
    let lastActivity = this.clock.now();
    let timer: TimerHandle | undefined;
    // One timer per connection, re-armed lazily, instead of one per chunk.
    const arm = (ms: number): void => {
      timer = this.clock.setTimeout(() => {
        const idle = this.clock.now() - lastActivity;
        if (idle >= this.readTimeoutMs) {
          this.logger.debug('bus_conn_idle', { from: `${from.host}:${from.port}` });
          socket.destroy();
        } else arm(this.readTimeoutMs - idle);
      }, ms);
    };
    arm(this.readTimeoutMs);
    // What this connection counts against maxBuffered, released when it closes.
    let held = 0;
    socket.on('close', () => {
      timer?.cancel();
      this.inbound.delete(socket);
      this.buffered -= held;
      held = 0;
    });
    socket.on('error', (err) => this.logger.debug('bus_conn_error', { from: `${from.host}:${from.port}`, error: err.message }));
    const onData = (chunk: Buffer): void => {
      lastActivity = this.clock.now();
      const before = reader.received;
      const state = reader.push(chunk);
      held += reader.received - before;
      this.buffered += reader.received - before;
      if (this.buffered > this.maxBuffered) {
        // Many large requests at once (or someone trickling garbage on many connections).
        this.logger.warn('bus_inbound_buffer_full', { from: `${from.host}:${from.port}`, buffered: this.buffered });
        this.buffered -= held; // given back now, not when 'close' comes round
        held = 0;
        socket.destroy();
        return;
      }
      if (state === 'more') return;
      socket.off('data', onData);
      // One frame per connection: anything more is a protocol violation. We keep reading (rather
      // than pause) so a requester that gives up and closes frees the connection at once.
      socket.on('data', () => socket.destroy());
      if (state === 'too-large') {
        this.logger.debug('bus_frame_too_large', { from: `${from.host}:${from.port}`, length: reader.announced });
        socket.destroy();
        return;
      }
      // While the handler works, the requester's own timeout is what bounds the wait.
      timer?.cancel();
      this.answer(socket, from, reader.frame());
    };
    socket.on('data', onData);
  }

  private answer(socket: Socket, from: Address, data: Buffer): void {
    const handler = this.requestHandler;
    let reply: Promise<Buffer>;
    try {
      reply = handler ? Promise.resolve(handler(from, data)) : Promise.reject(new Error('no request handler'));
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(
      (out) => {
        if (socket.destroyed) return;
        if (!Buffer.isBuffer(out)) {
          socket.end();
        } else if (out.length > MAX_STREAM_MESSAGE_BYTES) {
          // Only the header: the requester reads the length and fails with TOO_LARGE.
          this.logger.warn('bus_reply_too_large', { from: `${from.host}:${from.port}`, length: out.length });
          writeFrame(socket, Buffer.alloc(0), out.length);
          socket.end();
        } else {
          writeFrame(socket, out);
          socket.end();
        }
        this.lingerLimit(socket);
      },
      (err: unknown) => {
        this.logger.debug('bus_request_rejected', { from: `${from.host}:${from.port}`, error: err instanceof Error ? err.message : String(err) });
        if (socket.destroyed) return;
        socket.end();
        this.lingerLimit(socket);
      },
    );
  }

  /** A peer that never reads its reply must not hold the connection (and the reply) forever. */
  private lingerLimit(socket: Socket): void {
    const t = this.clock.setTimeout(() => socket.destroy(), this.readTimeoutMs);
    socket.once('close', () => t.cancel());
  }
}
