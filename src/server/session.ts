import type { Socket } from 'node:net';
import type { Dispatcher } from '../commands/dispatch.js';
import type { Client } from '../commands/table.js';
import type { OutputLimit } from '../config.js';
import { ProtocolError, RequestReader, type ReaderLimits } from '../resp/reader.js';
import { ReplyWriter, type Protocol } from '../resp/writer.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';

/**
 * Stop reading a client's requests while this many reply bytes wait to be sent: a client that
 * pipelines without reading is slowed down by TCP instead of growing our memory.
 */
const OUTPUT_PAUSE_BYTES = 256 * 1024;

export interface SessionDeps {
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  readerLimits: ReaderLimits;
  /** Current settings, read at use so CONFIG SET applies to connected clients too. */
  authRequired(): boolean;
  outputLimit(subscriber: boolean): OutputLimit;
  onClose(session: Session): void;
  countIo(inBytes: number, outBytes: number): void;
}

/** One client connection: reads requests, runs them in order, writes replies in batches. */
export class Session implements Client {
  authenticated: boolean;
  name = '';
  libName = '';
  libVer = '';
  readonly channels = new Set<string>();
  readonly patterns = new Set<string>();
  readonly createdAt: number;
  lastInteraction: number;
  lastCommand = 'NULL';

  private readonly reader: RequestReader;
  private readonly reply = new ReplyWriter();
  private readonly timer = { mark: 0 };
  /** Inside drive(): replies go to `reply` and are flushed when the batch ends. */
  private processing = false;
  /** An asynchronous command is running; later requests wait for it, in order. */
  private busy = false;
  /** Replies written so far wait for this (a durable write) before they are sent. */
  private held: Promise<void> | null = null;
  private pausedForOutput = false;
  private closing = false;
  private closed = false;
  private softLimitSince: number | null = null;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.createdAt = this.lastInteraction = deps.clock.now();
    this.authenticated = !deps.authRequired();
    this.reader = new RequestReader(deps.readerLimits);
    this.reader.restricted = !this.authenticated;
    socket.setNoDelay(true);
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => deps.logger.debug('client_socket_error', { client: id, error: err.message }));
    socket.on('close', () => this.onClosed());
  }

  /** The protocol lives in the writer, which encodes every reply in it. */
  get protocol(): Protocol {
    return this.reply.protocol;
  }

  set protocol(p: Protocol) {
    this.reply.protocol = p;
  }

  get remoteAddress(): string {
    return formatAddress(this.socket.remoteAddress, this.socket.remotePort);
  }

  get localAddress(): string {
    return formatAddress(this.socket.localAddress, this.socket.localPort);
  }

  closeAfterReply(): void {
    this.closing = true;
  }

  holdRepliesUntil(durable: Promise<void>): void {
    this.held = durable;
  }

  /** Pub/sub frames; written after this client's pending replies, never inside one. */
  deliver(frame: Buffer): void {
    if (this.closed) return;
    if (this.processing || this.held) {
      this.reply.raw(frame);
      return;
    }
    this.write(frame);
  }

  /** Closes the connection at once, dropping unsent output (CLIENT KILL, limits, shutdown). */
  kill(): void {
    if (this.closed) return;
    this.closing = true;
    this.socket.destroy();
  }

  /** Graceful close: replies already produced are sent, nothing new is read. */
  end(): void {
    if (this.closed) return;
    this.closing = true;
    this.socket.pause();
    if (!this.processing && !this.busy) this.finish();
  }

  idleMs(now: number): number {
    return now - this.lastInteraction;
  }

  /** Bytes held for partial requests and for replies not yet written to the socket. */
  memory(): { queryBuffer: number; outputBuffer: number } {
    return { queryBuffer: this.reader.bufferedBytes(), outputBuffer: this.socket.writableLength + this.reply.length };
  }

  /** Bytes read from the socket; `chunk` may be reused once this returns. */
  receive(chunk: Buffer): void {
    this.lastInteraction = this.deps.clock.now();
    this.deps.countIo(chunk.length, 0);
    this.reader.feed(chunk);
    this.drive();
    this.reader.detach();
  }

  private onDrain(): void {
    if (!this.pausedForOutput) return;
    this.pausedForOutput = false;
    if (!this.busy && !this.closing) this.socket.resume();
    this.drive();
  }

  /** Runs every complete request buffered, in order, then writes all their replies at once. */
  private drive(): void {
    if (this.busy || this.closed) return;
    this.processing = true;
    this.deps.dispatcher.startBatch(this.timer);
    while (!this.closing) {
      if (this.reply.length > OUTPUT_PAUSE_BYTES && !this.held) this.flush();
      // Only bytes the socket could not take yet count: those guarantee a 'drain' to resume on.
      if (this.socket.writableLength > OUTPUT_PAUSE_BYTES) {
        this.pausedForOutput = true;
        this.socket.pause();
        break;
      }
      const request = this.reader.next();
      if (request === null) break;
      if (request instanceof ProtocolError) {
        this.protocolError(request);
        break;
      }
      if (isCrossProtocolAttack(request[0]!)) {
        this.deps.logger.warn('security_attack_detected', { client: this.id, addr: this.remoteAddress });
        this.processing = false;
        return this.kill();
      }
      const pending = this.deps.dispatcher.execute(this, request, this.reply, this.timer);
      this.reader.restricted = !this.authenticated && this.deps.authRequired();
      if (pending) {
        this.waitFor(pending);
        break;
      }
    }
    this.processing = false;
    if (this.held) {
      if (!this.busy) this.waitForDurable(this.held);
      return;
    }
    this.flush();
    if (this.closing && !this.busy) this.finish();
  }

  /** Sends the held replies once the writes they acknowledge are on disk, then reads on. */
  private waitForDurable(durable: Promise<void>): void {
    this.busy = true;
    this.socket.pause();
    durable.then(
      () => {
        this.held = null;
        this.busy = false;
        this.flush();
        if (this.closed) return;
        if (this.closing) return this.finish();
        if (!this.pausedForOutput) this.socket.resume();
        this.drive();
      },
      (err: unknown) => {
        this.deps.logger.error('write_not_durable', { client: this.id, error: String((err as Error)?.message ?? err) });
        this.kill();
      },
    );
  }

  /**
   * Sends what is queued, then closes both directions, as Redis does: we stop reading, so waiting
   * for the client's own close could take forever.
   */
  private finish(): void {
    if (this.socket.writableFinished) return void this.socket.destroy();
    this.socket.once('finish', () => this.socket.destroy());
    this.socket.end();
  }

  private waitFor(pending: Promise<void>): void {
    this.busy = true;
    this.socket.pause();
    void pending.then(() => {
      this.busy = false;
      if (this.held) return this.waitForDurable(this.held);
      this.flush();
      if (this.closed) return;
      if (!this.pausedForOutput && !this.closing) this.socket.resume();
      this.drive();
    });
  }

  private protocolError(err: ProtocolError): void {
    this.deps.logger.debug('protocol_error', { client: this.id, addr: this.remoteAddress, error: err.reply });
    if (err.reply === null) {
      this.deps.logger.warn('query_buffer_limit', { client: this.id, addr: this.remoteAddress });
      this.processing = false;
      this.flush();
      this.kill();
      return;
    }
    this.reply.error(err.reply);
    this.closing = true;
  }

  private flush(): void {
    if (this.reply.length === 0 || this.closed || this.held) return;
    this.write(this.reply.take());
  }

  private write(data: Buffer): void {
    this.deps.countIo(0, data.length);
    this.socket.write(data);
    this.enforceOutputLimit();
  }

  /** Redis' client-output-buffer-limit: over hard, or over soft for too long, closes the client. */
  private enforceOutputLimit(): void {
    const limit = this.deps.outputLimit(this.channels.size + this.patterns.size > 0);
    const used = this.socket.writableLength;
    let over = limit.hardBytes > 0 && used > limit.hardBytes;
    if (!over && limit.softBytes > 0 && used > limit.softBytes) {
      const now = this.deps.clock.now();
      this.softLimitSince ??= now;
      over = now - this.softLimitSince > limit.softSeconds * 1000;
    } else if (!over) {
      this.softLimitSince = null;
    }
    if (!over) return;
    this.deps.logger.warn('output_buffer_limit', { client: this.id, addr: this.remoteAddress, bytes: used });
    this.kill();
  }

  private onClosed(): void {
    this.closed = true;
    this.deps.onClose(this);
  }
}

/** Redis closes connections whose first word is POST or Host:, a sign of HTTP sent to the port. */
function isCrossProtocolAttack(name: Buffer): boolean {
  if (name.length !== 4 && name.length !== 5) return false;
  const first = name[0]! | 0x20;
  if (first !== 0x70 /* p */ && first !== 0x68 /* h */) return false;
  const word = name.toString('latin1').toLowerCase();
  return word === 'post' || word === 'host:';
}

function formatAddress(host: string | undefined, port: number | undefined): string {
  if (!host) return '?:0';
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
