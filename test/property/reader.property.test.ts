import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError, RequestReader, type ReaderLimits } from '../../src/resp/reader.js';

const MiB = 1024 * 1024;
const LIMITS: ReaderLimits = { maxBulkLen: 512 * MiB, maxQueryBuffer: 1024 * MiB };
const SEED = 0x4eac;

const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** Bytes an unquoted inline word may hold (no blanks, quotes, backslash, NUL or '*'). */
const PLAIN = latin1('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:,;!?$%&()+=/<>@[]^{}|~');
/** Bytes safe inside 'single quotes' (no quote, no backslash, no NUL, no line end). */
const SINGLE_OK = (b: number) => b !== 0x27 && b !== 0x5c && b !== 0 && b !== 0x0a && b !== 0x0d;

/** Double-quoted form that escapes every byte as \xHH, so any bytes at all are representable. */
function hexQuoted(arg: Buffer): string {
  let s = '"';
  for (const b of arg) {
    const hex = b.toString(16).padStart(2, '0');
    s += '\\x' + (b % 2 === 0 ? hex : hex.toUpperCase()); // both cases of hex digits
  }
  return s + '"';
}

/** Double-quoted form using the named escapes where they apply, \xHH for other unsafe bytes. */
function escapedQuoted(arg: Buffer): string {
  let s = '"';
  for (const b of arg) {
    if (b === 0x0a) s += '\\n';
    else if (b === 0x0d) s += '\\r';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x08) s += '\\b';
    else if (b === 0x07) s += '\\a';
    else if (b === 0x22) s += '\\"';
    else if (b === 0x5c) s += '\\\\';
    else if (b < 0x20 || b >= 0x7f) s += '\\x' + b.toString(16).padStart(2, '0');
    else s += String.fromCharCode(b);
  }
  return s + '"';
}

type Form = 'array' | 'inline';
interface Cmd {
  args: Buffer[];
  form: Form;
  /** One choice per argument among the inline spellings; and the separators/line end. */
  spell: number[];
  seps: string[];
  lineEnd: string;
}

function encodeArray(args: Buffer[]): Buffer {
  const parts: Buffer[] = [latin1(`*${args.length}\r\n`)];
  for (const a of args) parts.push(latin1(`$${a.length}\r\n`), a, latin1('\r\n'));
  return Buffer.concat(parts);
}

function encodeInline(cmd: Cmd): Buffer {
  const words = cmd.args.map((a, i) => {
    const choice = cmd.spell[i]! % 4;
    const plainOk = a.length > 0 && a.every((b) => PLAIN.includes(b));
    if (choice === 0 && plainOk) return a.toString('latin1');
    if (choice === 1 && a.every(SINGLE_OK)) return `'${a.toString('latin1')}'`;
    if (choice === 2) return escapedQuoted(a);
    return hexQuoted(a);
  });
  let line = '';
  words.forEach((w, i) => (line += (i === 0 ? '' : cmd.seps[i] ?? ' ') + w));
  return latin1(line + cmd.lineEnd);
}

/**
 * An inline line longer than 64 KiB is refused once a chunk boundary leaves that much without a LF
 * (as in Redis), so such commands are sent as arrays to keep the stream valid under any chunking.
 */
function encode(cmd: Cmd): Buffer {
  if (cmd.form === 'array' || cmd.args.reduce((n, a) => n + a.length, 0) > 15_000) return encodeArray(cmd.args);
  const line = encodeInline(cmd);
  return line.length <= 60_000 ? line : encodeArray(cmd.args);
}

/** Requests Redis reads and ignores: empty lines, *0, negative counts. */
const NOISE = ['\r\n', '\n', '  \t\r\n', '*0\r\n', '*-1\r\n', '*-10\r\n'];

const argArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 24 }).map((u) => Buffer.from(u)) },
  { weight: 2, arbitrary: fc.constantFrom(...['GET', 'SET', 'PING', 'ECHO', 'a b', '"', "'", '\\', '*', '$3'].map(latin1)) },
  // Now and then an argument past the 32 KiB "big argument" threshold.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 32 * 1024 - 2, max: 40_000 }), fc.integer({ min: 0, max: 255 })).map(([n, b]) => Buffer.alloc(n, b)) },
);

const cmdArb: fc.Arbitrary<Cmd> = fc.record({
  args: fc.array(argArb, { minLength: 1, maxLength: 5 }),
  form: fc.constantFrom<Form>('array', 'inline'),
  spell: fc.array(fc.nat(3), { minLength: 5, maxLength: 5 }),
  seps: fc.array(fc.constantFrom(' ', '  ', '\t', ' \t '), { minLength: 5, maxLength: 5 }),
  lineEnd: fc.constantFrom('\r\n', '\n'),
});

const pipelineArb = fc.array(fc.tuple(cmdArb, fc.option(fc.constantFrom(...NOISE), { nil: undefined })), {
  minLength: 1,
  maxLength: 8,
});

function streamOf(pipeline: [Cmd, string | undefined][]): { stream: Buffer; expected: string[][] } {
  const parts: Buffer[] = [];
  const expected: string[][] = [];
  for (const [cmd, noise] of pipeline) {
    if (noise !== undefined) parts.push(latin1(noise));
    parts.push(encode(cmd));
    expected.push(cmd.args.map((a) => a.toString('latin1')));
  }
  return { stream: Buffer.concat(parts), expected };
}

/** Feeds the chunks, draining after each; fails the property on any ProtocolError. */
function readAll(chunks: Buffer[], limits = LIMITS): string[][] {
  const r = new RequestReader(limits);
  const out: string[][] = [];
  for (const chunk of chunks) {
    r.feed(chunk);
    for (let c = r.next(); c !== null; c = r.next()) {
      if (c instanceof ProtocolError) throw new Error(`unexpected protocol error: ${c.reply}`);
      out.push(c.map((a) => a.toString('latin1'))); // copy: views die at the next feed
    }
  }
  assert.equal(r.bufferedBytes(), 0, 'nothing left pending');
  return out;
}

function split(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) chunks.push(stream.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  if (prev < stream.length) chunks.push(stream.subarray(prev));
  return chunks;
}

test('property: any chunking of a valid stream parses to the same commands as feeding it whole', () => {
  fc.assert(
    fc.property(pipelineArb, fc.array(fc.nat(), { maxLength: 30 }), (pipeline, cuts) => {
      const { stream, expected } = streamOf(pipeline);
      const whole = readAll([stream]);
      assert.deepEqual(readAll(split(stream, cuts)), whole);
      assert.deepEqual(whole, expected);
    }),
    { seed: SEED + 1, numRuns: 300 },
  );
});

test('property: byte-by-byte feeding of a valid pipeline works', () => {
  const smallArg = fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u));
  const smallCmd = cmdArb.chain((c) =>
    fc.array(smallArg, { minLength: 1, maxLength: 4 }).map((args) => ({ ...c, args })),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(smallCmd, fc.option(fc.constantFrom(...NOISE), { nil: undefined })), { minLength: 1, maxLength: 6 }), (pipeline) => {
      const { stream, expected } = streamOf(pipeline);
      // Each byte in a buffer of its own, not a view of the stream.
      const chunks = [...stream].map((b) => Buffer.from([b]));
      assert.deepEqual(readAll(chunks), expected);
    }),
    { seed: SEED + 2, numRuns: 150 },
  );
});

test('property: random bytes in random chunks never throw and stay within the query buffer limit', () => {
  // Fragments that steer the reader into every state, mixed with raw random bytes.
  const token = fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
    fc.constantFrom(
      ...['*', '$', '\r\n', '\r', '\n', '"', "'", '\\', ' ', '\x00', '0', '1', '-1', '2', '10', '11', '100', '16385', '40000', 'abc', 'PING', '*1\r\n', '*3\r\n', '$4\r\n', '$40000\r\n'].map(latin1),
    ),
    fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.alloc(n, 0x41)),
  );
  const input = fc.record({
    tokens: fc.array(token, { maxLength: 60 }),
    cuts: fc.array(fc.nat(), { maxLength: 20 }),
    restricted: fc.boolean(),
    maxQueryBuffer: fc.integer({ min: 256, max: MiB }),
    maxBulkLen: fc.constantFrom(100, 50_000, 512 * MiB),
  });
  fc.assert(
    fc.property(input, ({ tokens, cuts, restricted, maxQueryBuffer, maxBulkLen }) => {
      const stream = Buffer.concat(tokens);
      const r = new RequestReader({ maxBulkLen, maxQueryBuffer });
      r.restricted = restricted;
      let failed: ProtocolError | null = null;
      for (const chunk of split(stream, cuts)) {
        r.feed(chunk);
        assert.ok(r.bufferedBytes() <= maxQueryBuffer + chunk.length, `after feed: ${r.bufferedBytes()}`);
        for (let i = 0; i < 10_000; i++) {
          const c = r.next();
          assert.ok(r.bufferedBytes() <= maxQueryBuffer + chunk.length, `after next: ${r.bufferedBytes()}`);
          if (c === null) break;
          if (c instanceof ProtocolError) {
            if (failed) assert.equal(c, failed, 'the same error every time');
            failed = c;
            assert.ok(c.reply === null || c.reply.startsWith('ERR Protocol error: '), String(c.reply));
            break;
          }
          assert.ok(failed === null, 'no command after an error');
          assert.ok(c.length >= 1 && c.every((a) => Buffer.isBuffer(a)));
        }
      }
    }),
    { seed: SEED + 3, numRuns: 300 },
  );
});

test('property: with detach() after each drain, the caller may overwrite the chunk it fed', () => {
  fc.assert(
    fc.property(pipelineArb, fc.array(fc.nat(), { maxLength: 30 }), (pipeline, cuts) => {
      const { stream, expected } = streamOf(pipeline);
      // One read buffer, reused for every chunk like a socket read loop would.
      const scratch = Buffer.alloc(stream.length + 1);
      const r = new RequestReader(LIMITS);
      const out: string[][] = [];
      for (const chunk of split(stream, cuts)) {
        chunk.copy(scratch);
        r.feed(scratch.subarray(0, chunk.length));
        for (let c = r.next(); c !== null; c = r.next()) {
          if (c instanceof ProtocolError) throw new Error(`unexpected protocol error: ${c.reply}`);
          out.push(c.map((a) => a.toString('latin1')));
        }
        r.detach();
        scratch.fill(0xee);
      }
      assert.deepEqual(out, expected);
      assert.equal(r.bufferedBytes(), 0);
    }),
    { seed: SEED + 4, numRuns: 200 },
  );
});
