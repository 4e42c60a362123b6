/**
 * Big-endian binary encoding for the bus and the disk. Readers never read past their buffer: a
 * short or lying input throws DecodeError, which decoders turn into "drop this input".
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

/** Node ids travel as their 20 raw bytes. */
export const NODE_ID_BYTES = 20;
export const NODE_ID_PATTERN = /^[0-9a-f]{40}$/;

export class ByteReader {
  constructor(
    private readonly buf: Buffer,
    private pos = 0,
  ) {}

  remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new DecodeError();
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u48(): number {
    this.need(6);
    const v = this.buf.readUIntBE(this.pos, 6);
    this.pos += 6;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  id(): string {
    return this.bytes(NODE_ID_BYTES).toString('hex');
  }

  /** A count of items that each take at least `minBytes`: a count the data cannot hold is a lie. */
  count(minBytes: number): number {
    const n = this.u32();
    if (n * minBytes > this.remaining()) throw new DecodeError();
    return n;
  }
}

/** Writes into one growing buffer: a record costs one copy, not an allocation per field. */
export class ByteWriter {
  private buf: Buffer;
  private size = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.size;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.size++] = v & 0xff;
  }

  u16(v: number): void {
    this.room(2);
    this.size = this.buf.writeUInt16BE(v & 0xffff, this.size);
  }

  u32(v: number): void {
    this.room(4);
    this.size = this.buf.writeUInt32BE(v >>> 0, this.size);
  }

  u48(v: number): void {
    this.room(6);
    this.size = this.buf.writeUIntBE(v, this.size, 6);
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.size);
    this.size += b.length;
  }

  /** A string as UTF-8, after its byte length as a u16. */
  str16(text: string): void {
    const n = Buffer.byteLength(text, 'utf8');
    this.u16(n);
    this.room(n);
    this.size += this.buf.write(text, this.size, 'utf8');
  }

  id(id: string): void {
    if (!NODE_ID_PATTERN.test(id)) throw new Error(`not a node id: ${id}`);
    this.room(NODE_ID_BYTES);
    this.size += this.buf.write(id, this.size, 'hex');
  }

  /** The bytes written, as a buffer of their own (no copy when the writer was sized exactly). */
  done(): Buffer {
    if (this.size === this.buf.length) return this.buf;
    return Buffer.from(this.buf.subarray(0, this.size));
  }

  private room(n: number): void {
    if (this.size + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.size + n));
    this.buf.copy(next, 0, 0, this.size);
    this.buf = next;
  }
}
