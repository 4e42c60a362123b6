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

export class ByteWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  u8(v: number): void {
    this.push(Buffer.from([v & 0xff]));
  }

  u16(v: number): void {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v & 0xffff);
    this.push(b);
  }

  u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    this.push(b);
  }

  u48(v: number): void {
    const b = Buffer.allocUnsafe(6);
    b.writeUIntBE(v, 0, 6);
    this.push(b);
  }

  bytes(b: Buffer): void {
    this.push(b);
  }

  id(id: string): void {
    if (!NODE_ID_PATTERN.test(id)) throw new Error(`not a node id: ${id}`);
    this.push(Buffer.from(id, 'hex'));
  }

  done(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }

  private push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }
}
