import { connect, type Socket } from 'node:net';

/** A decoded reply. Simple strings and errors keep their type so tests can tell them apart. */
export type Reply =
  | string
  | number
  | bigint
  | boolean
  | null
  | Buffer
  | SimpleString
  | ErrorReply
  | Reply[]
  | Map<Reply, Reply>
  | Push
  | Verbatim
  | Double;

export class SimpleString {
  constructor(readonly value: string) {}
}
export class ErrorReply {
  constructor(readonly message: string) {}
}
export class Push {
  constructor(readonly items: Reply[]) {}
}
export class Verbatim {
  constructor(readonly format: string, readonly text: string) {}
}
export class Double {
  constructor(readonly value: number) {}
}

/** Parses one reply from buf at pos; null when incomplete. Bulk strings decode as utf8 strings. */
export function parseReply(buf: Buffer, pos = 0): { value: Reply; end: number } | null {
  if (pos >= buf.length) return null;
  const cr = buf.indexOf('\r\n', pos);
  if (cr < 0) return null;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, cr);
  const next = cr + 2;
  const aggregate = (n: number, wrap: (items: Reply[]) => Reply) => {
    const items: Reply[] = [];
    let at = next;
    for (let i = 0; i < n; i++) {
      const r = parseReply(buf, at);
      if (!r) return null;
      items.push(r.value);
      at = r.end;
    }
    return { value: wrap(items), end: at };
  };
  const blob = (n: number) => (buf.length < next + n + 2 ? null : buf.toString('utf8', next, next + n));
  switch (type) {
    case '+': return { value: new SimpleString(line), end: next };
    case '-': return { value: new ErrorReply(line), end: next };
    case ':': return { value: Number(line), end: next };
    case '(': return { value: BigInt(line), end: next };
    case ',': return { value: new Double(line === 'inf' ? Infinity : line === '-inf' ? -Infinity : Number(line)), end: next };
    case '#': return { value: line === 't', end: next };
    case '_': return { value: null, end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const s = blob(n);
      return s === null ? null : { value: s, end: next + n + 2 };
    }
    case '=': {
      const n = Number(line);
      const s = blob(n);
      return s === null ? null : { value: new Verbatim(s.slice(0, 3), s.slice(4)), end: next + n + 2 };
    }
    case '!': {
      const n = Number(line);
      const s = blob(n);
      return s === null ? null : { value: new ErrorReply(s), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      return aggregate(n, (items) => items);
    }
    case '~': return aggregate(Number(line), (items) => items);
    case '>': return aggregate(Number(line), (items) => new Push(items));
    case '%': return aggregate(Number(line) * 2, (items) => {
      const m = new Map<Reply, Reply>();
      for (let i = 0; i < items.length; i += 2) m.set(plain(items[i]!), items[i + 1]!);
      return m;
    });
    default: throw new Error(`bad reply type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
  }
}

/** Simple strings, verbatim strings and doubles as plain JS values, for easy comparisons. */
export function plain(r: Reply): Reply {
  if (r instanceof SimpleString) return r.value;
  if (r instanceof Verbatim) return r.text;
  if (r instanceof Double) return r.value;
  return r;
}

/**
 * A byte-exact RESP client for tests: send raw bytes, read raw bytes or decoded replies, and see
 * when the server closes the connection. Every read waits on data events, never on timers.
 */
export class RespClient {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RespClient(s)));
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.ended;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends a command as a RESP array of bulk strings. */
  send(...args: (string | Buffer)[]): void {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    this.socket.write(Buffer.concat(parts));
  }

  /** Sends a command and reads its reply, decoded. */
  async call(...args: (string | Buffer)[]): Promise<Reply> {
    this.send(...args);
    return this.read();
  }

  async read(): Promise<Reply> {
    for (;;) {
      const r = parseReply(this.buf);
      if (r) {
        this.buf = this.buf.subarray(r.end);
        return r.value;
      }
      if (this.ended) throw new Error(`connection closed; unparsed: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await this.more();
    }
  }

  /** Reads exactly n raw bytes. */
  async readBytes(n: number): Promise<string> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed after ${this.buf.length} of ${n} bytes: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await this.more();
    }
    const out = this.buf.subarray(0, n).toString('latin1');
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Everything the server sends until it closes the connection. */
  async readUntilClosed(): Promise<string> {
    while (!this.ended) await this.more();
    const out = this.buf.toString('latin1');
    this.buf = Buffer.alloc(0);
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private more(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
