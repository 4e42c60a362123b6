import { splitInline } from './inline.js';
import { parseRedisInt } from './integer.js';

/** Protocol limits, named and defaulted as Redis names them (networking.c, server.h). */
export interface ReaderLimits {
  /** proto-max-bulk-len */
  maxBulkLen: number;
  /** client-query-buffer-limit: past it the connection is closed without a reply. */
  maxQueryBuffer: number;
}

export const INLINE_MAX_SIZE = 64 * 1024;
const INT_MAX = 2147483647;
/** Above this a bulk argument is read into its own buffer instead of through the shared one. */
const BIG_ARG = 32 * 1024;
/** Per-argument bookkeeping charged to the query buffer, so a flood of empty args stays bounded. */
const ARG_OVERHEAD = 32;
const UNAUTH_MAX_MULTIBULK = 10;
const UNAUTH_MAX_BULK = 16384;
const EMPTY = Buffer.alloc(0);

/**
 * A request the reader cannot accept. `reply` is the error to send before closing the connection;
 * null means close without a reply (query buffer overflow), as Redis does.
 */
export class ProtocolError {
  constructor(readonly reply: string | null) {}
}

function protocolError(what: string): ProtocolError {
  return new ProtocolError(`ERR Protocol error: ${what}`);
}

/**
 * Incremental RESP request reader: feed it bytes as they arrive, pull complete commands with next().
 * Arrays of bulk strings and inline commands may be mixed and split anywhere. Arguments are views
 * into the received bytes: valid until the reader is fed again, so a command that keeps an
 * argument copies it.
 *
 * After a ProtocolError the reader is dead: it returns the same error forever.
 */
export class RequestReader {
  /** When true, the unauthenticated limits apply (a password is set and the client has not used it). */
  restricted = false;

  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  /** buf is ours (not a received chunk), so bytes may be appended after `end`. */
  private owned = false;
  /** Bytes after pos already searched for a line end without finding one. */
  private scanned = 0;

  /** Multibulk in progress: arguments still expected, those read so far, pending bulk length. */
  private argsLeft = 0;
  private args: Buffer[] = [];
  private argBytes = 0;
  /** args[0 .. detachedArgs) are copies of their own. */
  private detachedArgs = 0;
  private bulkLen = -1;
  /** A big bulk argument being filled straight from the socket. */
  private big: Buffer | null = null;
  private bigFilled = 0;

  private failed: ProtocolError | null = null;

  constructor(private readonly limits: ReaderLimits) {}

  /** Bytes held for commands not yet complete (Redis' qbuf). */
  bufferedBytes(): number {
    return this.end - this.pos + this.argBytes + this.bigFilled;
  }

  feed(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    if (this.big) {
      const take = Math.min(chunk.length, this.big.length - this.bigFilled);
      chunk.copy(this.big, this.bigFilled, 0, take);
      this.bigFilled += take;
      if (this.bigFilled === this.big.length) this.finishBigArg();
      chunk = chunk.subarray(take);
      if (chunk.length === 0) return this.checkQueryBuffer();
    }
    if (this.pos === this.end) {
      this.buf = chunk;
      this.pos = 0;
      this.end = chunk.length;
      this.owned = false;
    } else if (this.owned && this.end + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
    } else {
      // Grow geometrically so a request trickling in byte by byte costs linear time.
      const pending = this.end - this.pos;
      const grown = Buffer.allocUnsafe(Math.max(4096, (pending + chunk.length) * 2));
      this.buf.copy(grown, 0, this.pos, this.end);
      chunk.copy(grown, pending);
      this.buf = grown;
      this.pos = 0;
      this.end = pending + chunk.length;
      this.owned = true;
    }
    this.checkQueryBuffer();
  }

  /**
   * Copies whatever still points into the last chunk fed (unparsed bytes, arguments of a command
   * not yet complete), so the caller may reuse that chunk's memory for the next read.
   */
  detach(): void {
    if (!this.owned && this.pos < this.end) {
      const pending = Buffer.allocUnsafe(Math.max(4096, (this.end - this.pos) * 2));
      this.buf.copy(pending, 0, this.pos, this.end);
      this.buf = pending;
      this.end -= this.pos;
      this.pos = 0;
      this.owned = true;
    } else if (!this.owned) {
      this.buf = EMPTY;
      this.pos = this.end = 0;
    }
    for (let i = this.detachedArgs; i < this.args.length; i++) this.args[i] = Buffer.from(this.args[i]!);
    this.detachedArgs = this.args.length;
  }

  /** The next complete command, null if more bytes are needed, or the error that ends the connection. */
  next(): Buffer[] | ProtocolError | null {
    for (;;) {
      if (this.failed) return this.failed;
      if (this.argsLeft === 0) {
        if (this.args.length > 0) return this.takeArgs(); // completed by a big argument in feed()
        if (this.pos >= this.end) return null;
        const cmd = this.buf[this.pos] === 0x2a /* * */ ? this.readMultibulkHeader() : this.readInline();
        if (cmd !== 'more') return cmd;
        continue;
      }
      if (this.big) return null;
      const read = this.readBulk();
      if (read !== true) return read;
    }
  }

  private fail(err: ProtocolError): ProtocolError {
    this.failed = err;
    this.buf = EMPTY;
    this.pos = this.end = 0;
    this.args = [];
    this.argsLeft = 0;
    this.argBytes = 0;
    this.detachedArgs = 0;
    this.big = null;
    this.bigFilled = 0;
    return err;
  }

  private checkQueryBuffer(): void {
    if (this.bufferedBytes() > this.limits.maxQueryBuffer) this.fail(new ProtocolError(null));
  }

  /** Index of the next `byte` after pos, remembering how far earlier searches got. */
  private findByte(byte: number): number {
    // A plain loop: most lines are a few bytes, where a native indexOf call costs more than it saves.
    const buf = this.buf;
    for (let i = this.pos + this.scanned; i < this.end; i++) if (buf[i] === byte) return i;
    this.scanned = this.end - this.pos;
    return -1;
  }

  private consumeTo(next: number): void {
    this.pos = next;
    this.scanned = 0;
  }

  private readInline(): Buffer[] | 'more' | ProtocolError | null {
    const nl = this.findByte(0x0a);
    if (nl < 0) {
      return this.end - this.pos > INLINE_MAX_SIZE ? this.fail(protocolError('too big inline request')) : null;
    }
    const lineEnd = nl > this.pos && this.buf[nl - 1] === 0x0d ? nl - 1 : nl;
    const args = splitInline(this.buf.subarray(this.pos, lineEnd));
    this.consumeTo(nl + 1);
    if (args === null) return this.fail(protocolError('unbalanced quotes in request'));
    return args.length === 0 ? 'more' : args;
  }

  private readMultibulkHeader(): 'more' | ProtocolError | null {
    const cr = this.findByte(0x0d);
    if (cr < 0) {
      return this.end - this.pos > INLINE_MAX_SIZE ? this.fail(protocolError('too big mbulk count string')) : null;
    }
    if (cr + 1 >= this.end) return null; // the \n is not here yet
    const count = parseRedisInt(this.buf, this.pos + 1, cr);
    if (count === null || count > INT_MAX) return this.fail(protocolError('invalid multibulk length'));
    if (this.restricted && count > UNAUTH_MAX_MULTIBULK) {
      return this.fail(protocolError('unauthenticated multibulk length'));
    }
    this.consumeTo(cr + 2);
    if (count > 0) {
      this.argsLeft = count;
      this.bulkLen = -1;
    }
    return 'more';
  }

  /** Reads one bulk header or payload; null when it needs more bytes. */
  private readBulk(): true | ProtocolError | null {
    if (this.bulkLen < 0) {
      if (this.pos >= this.end) return null;
      const cr = this.findByte(0x0d);
      if (cr < 0) {
        return this.end - this.pos > INLINE_MAX_SIZE ? this.fail(protocolError('too big bulk count string')) : null;
      }
      if (cr + 1 >= this.end) return null;
      const first = this.buf[this.pos]!;
      if (first !== 0x24 /* $ */) {
        return this.fail(protocolError(`expected '$', got '${String.fromCharCode(first)}'`));
      }
      const len = parseRedisInt(this.buf, this.pos + 1, cr);
      if (len === null || len < 0 || len > this.limits.maxBulkLen) return this.fail(protocolError('invalid bulk length'));
      if (this.restricted && len > UNAUTH_MAX_BULK) return this.fail(protocolError('unauthenticated bulk length'));
      this.consumeTo(cr + 2);
      this.bulkLen = len;
      if (len >= BIG_ARG && this.end - this.pos < len + 2) return this.startBigArg();
    }
    const len = this.bulkLen;
    if (this.end - this.pos < len + 2) return null;
    // Like Redis, the two bytes after the payload are skipped without looking at them.
    const arg = this.buf.subarray(this.pos, this.pos + len);
    this.consumeTo(this.pos + len + 2);
    this.pushArg(arg);
    return true;
  }

  private startBigArg(): null {
    const big = Buffer.allocUnsafe(this.bulkLen + 2);
    this.bigFilled = this.buf.copy(big, 0, this.pos, this.end);
    this.big = big;
    this.consumeTo(this.end);
    this.checkQueryBuffer();
    return null;
  }

  private finishBigArg(): void {
    const big = this.big!;
    this.big = null;
    this.bigFilled = 0;
    this.pushArg(big.subarray(0, big.length - 2));
  }

  private pushArg(arg: Buffer): void {
    this.args.push(arg);
    this.argBytes += arg.length + ARG_OVERHEAD;
    this.argsLeft--;
    this.bulkLen = -1;
    this.checkQueryBuffer();
  }

  private takeArgs(): Buffer[] {
    const args = this.args;
    this.args = [];
    this.argBytes = 0;
    this.detachedArgs = 0;
    return args;
  }
}
