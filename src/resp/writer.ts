/**
 * Reply encoder for RESP2 and RESP3. Replies are written straight into one growable buffer per
 * connection and taken out in one piece per batch of commands, so a pipeline of N commands costs
 * one socket write. Types RESP2 lacks are written as their RESP2 equivalents (protocol-spec.md):
 * map -> flat array, set/push -> array, null -> $-1 (or *-1), double -> bulk, boolean -> integer,
 * verbatim -> bulk.
 */
export type Protocol = 2 | 3;

const INITIAL_CAPACITY = 256;
/** A buffer grown past this by one large reply is dropped after use instead of kept. */
const RETAIN_CAPACITY = 64 * 1024;

export class ReplyWriter {
  protocol: Protocol = 2;
  private buf: Buffer;
  private len = 0;

  constructor() {
    this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
  }

  get length(): number {
    return this.len;
  }

  /** Everything written since the last take(), as a buffer of its own; the writer is then empty. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    if (this.buf.length > RETAIN_CAPACITY) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
    return out;
  }

  simple(text: string): void {
    this.line(0x2b /* + */, sanitize(text));
  }

  /** An error reply; `text` starts with its code, e.g. "ERR syntax error" or "NOAUTH ...". */
  error(text: string): void {
    this.line(0x2d /* - */, sanitize(text));
  }

  integer(n: number): void {
    n = Math.trunc(n);
    if (Number.isSafeInteger(n)) this.header(0x3a /* : */, n);
    else this.line(0x3a, String(n));
  }

  bulk(data: Buffer | string): void {
    if (typeof data === 'string') {
      const size = Buffer.byteLength(data);
      this.header(0x24 /* $ */, size);
      this.ensure(size + 2);
      this.len += this.buf.write(data, this.len);
    } else {
      this.header(0x24, data.length);
      this.ensure(data.length + 2);
      this.buf.set(data, this.len);
      this.len += data.length;
    }
    this.crlf();
  }

  /** The null reply: `_` in RESP3, a null bulk string in RESP2. */
  null(): void {
    if (this.protocol === 3) this.raw('_\r\n');
    else this.raw('$-1\r\n');
  }

  /** The null reply where RESP2 uses a null array (`*-1`). */
  nullArray(): void {
    if (this.protocol === 3) this.raw('_\r\n');
    else this.raw('*-1\r\n');
  }

  array(count: number): void {
    this.header(0x2a /* * */, count);
  }

  /** A map of `pairs` key/value pairs follows. */
  map(pairs: number): void {
    if (this.protocol === 3) this.header(0x25 /* % */, pairs);
    else this.header(0x2a, pairs * 2);
  }

  set(count: number): void {
    this.header(this.protocol === 3 ? 0x7e /* ~ */ : 0x2a, count);
  }

  push(count: number): void {
    this.header(this.protocol === 3 ? 0x3e /* > */ : 0x2a, count);
  }

  double(x: number): void {
    const text = formatDouble(x);
    if (this.protocol === 3) this.line(0x2c /* , */, text);
    else this.bulk(text);
  }

  boolean(b: boolean): void {
    if (this.protocol === 3) this.raw(b ? '#t\r\n' : '#f\r\n');
    else this.raw(b ? ':1\r\n' : ':0\r\n');
  }

  /** Text meant for humans (INFO, CLUSTER NODES): a verbatim string in RESP3, bulk in RESP2. */
  verbatim(text: string, format = 'txt'): void {
    if (this.protocol !== 3) return this.bulk(text);
    const size = Buffer.byteLength(text) + 4;
    this.header(0x3d /* = */, size);
    this.ensure(size + 2);
    this.len += this.buf.write(format, this.len, 'latin1');
    this.buf[this.len++] = 0x3a; // ':'
    this.len += this.buf.write(text, this.len);
    this.crlf();
  }

  /** Bytes already encoded (a constant reply, or a pub/sub message encoded once for many clients). */
  raw(data: Buffer | string): void {
    if (typeof data === 'string') {
      this.ensure(data.length * 3);
      this.len += this.buf.write(data, this.len);
    } else {
      this.ensure(data.length);
      this.buf.set(data, this.len); // TypedArray#set: no argument checks, unlike Buffer#copy
      this.len += data.length;
    }
  }

  /** `<prefix><n>\r\n` for a length or count, digits written in place (no string per reply). */
  private header(prefix: number, n: number): void {
    this.ensure(24);
    const buf = this.buf;
    buf[this.len++] = prefix;
    if (n < 0) {
      buf[this.len++] = 0x2d; // '-'
      n = -n;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    let at = this.len + digits;
    this.len = at;
    do {
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    this.crlf();
  }

  /** Simple strings, errors and headers: one byte per character, so client bytes quoted in an error come back unchanged. */
  private line(prefix: number, text: string): void {
    this.ensure(text.length + 3);
    this.buf[this.len++] = prefix;
    this.len += this.buf.write(text, this.len, 'latin1');
    this.crlf();
  }

  private crlf(): void {
    this.ensure(2);
    this.buf[this.len++] = 0x0d;
    this.buf[this.len++] = 0x0a;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}

/** A double as Redis 7.0 prints it: C's %.17g, with inf, -inf and nan spelled out. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, exp] = x.toExponential(16).split('e') as [string, string];
  const e = Number(exp);
  const trim = (t: string) => (t.includes('.') ? t.replace(/\.?0+$/, '') : t);
  if (e < -4 || e >= 17) return `${trim(mantissa)}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return trim(x.toFixed(16 - e));
}

/** Simple strings and errors cannot hold CR or LF; Redis replaces them with spaces. */
function sanitize(text: string): string {
  return text.includes('\r') || text.includes('\n') ? text.replace(/[\r\n]/g, ' ') : text;
}

/** Encodes one reply outside of any connection (constants, fan-out messages). */
export function encode(protocol: Protocol, write: (w: ReplyWriter) => void): Buffer {
  const w = new ReplyWriter();
  w.protocol = protocol;
  write(w);
  return w.take();
}
