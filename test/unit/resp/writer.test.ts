import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode, ReplyWriter, type Protocol } from '../../../src/resp/writer.js';

/** The bytes `write` produces under `protocol`, as a latin1 string (one char per byte). */
const wire = (protocol: Protocol, write: (w: ReplyWriter) => void) => encode(protocol, write).toString('latin1');
/** The UTF-8 bytes of `s`, as a latin1 string, for comparing with wire(). */
const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('ReplyWriter: encodings shared by RESP2 and RESP3', () => {
  for (const protocol of [2, 3] as const) {
    describe(`RESP${protocol}`, () => {
      test('simple string', () => assert.equal(wire(protocol, (w) => w.simple('OK')), '+OK\r\n'));
      test('empty simple string', () => assert.equal(wire(protocol, (w) => w.simple('')), '+\r\n'));
      test('simple string: CR and LF become spaces', () =>
        assert.equal(wire(protocol, (w) => w.simple('a\r\nb\nc\rd')), '+a  b c d\r\n'));
      test('error', () => assert.equal(wire(protocol, (w) => w.error('ERR syntax error')), '-ERR syntax error\r\n'));
      test('error: CR and LF become spaces', () =>
        assert.equal(wire(protocol, (w) => w.error("ERR unknown command 'a\r\nb'")), "-ERR unknown command 'a  b'\r\n"));
      // Error and simple-string texts are byte strings (latin1): client bytes quoted in an error go back unchanged.
      test('error text is written one byte per character', () =>
        assert.deepEqual(Buffer.from(wire(protocol, (w) => w.error('ERR \xc3\xa9')), 'latin1'), Buffer.from([0x2d, 0x45, 0x52, 0x52, 0x20, 0xc3, 0xa9, 0x0d, 0x0a])));
      test('integers', () => {
        assert.equal(wire(protocol, (w) => w.integer(0)), ':0\r\n');
        assert.equal(wire(protocol, (w) => w.integer(42)), ':42\r\n');
        assert.equal(wire(protocol, (w) => w.integer(-7)), ':-7\r\n');
        assert.equal(wire(protocol, (w) => w.integer(9007199254740991)), ':9007199254740991\r\n');
      });
      test('integer: a fraction is truncated toward zero', () => {
        assert.equal(wire(protocol, (w) => w.integer(2.9)), ':2\r\n');
        assert.equal(wire(protocol, (w) => w.integer(-2.9)), ':-2\r\n');
      });
      test('bulk string from a string', () => assert.equal(wire(protocol, (w) => w.bulk('hello')), '$5\r\nhello\r\n'));
      test('empty bulk string', () => assert.equal(wire(protocol, (w) => w.bulk('')), '$0\r\n\r\n'));
      test('bulk string length is the UTF-8 byte length', () => {
        assert.equal(wire(protocol, (w) => w.bulk('héllo')), utf8('$6\r\nhéllo\r\n'));
        assert.equal(wire(protocol, (w) => w.bulk('😀')), utf8('$4\r\n😀\r\n'));
      });
      test('bulk string keeps CR and LF', () => assert.equal(wire(protocol, (w) => w.bulk('a\r\nb')), '$4\r\na\r\nb\r\n'));
      test('bulk string from a Buffer, binary bytes as they are', () => {
        const b = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x80]);
        assert.deepEqual(encode(protocol, (w) => w.bulk(b)), Buffer.concat([Buffer.from('$5\r\n'), b, Buffer.from('\r\n')]));
      });
      test('array header and elements', () =>
        assert.equal(wire(protocol, (w) => (w.array(2), w.bulk('a'), w.integer(1))), '*2\r\n$1\r\na\r\n:1\r\n'));
      test('empty array', () => assert.equal(wire(protocol, (w) => w.array(0)), '*0\r\n'));
      test('raw string is written as UTF-8 bytes', () => {
        assert.equal(wire(protocol, (w) => w.raw('+PONG\r\n')), '+PONG\r\n');
        assert.equal(wire(protocol, (w) => w.raw('$2\r\né\r\n')), utf8('$2\r\né\r\n'));
      });
      test('raw Buffer is copied as is', () => {
        const b = Buffer.from([0x2b, 0xff, 0x0d, 0x0a]);
        assert.deepEqual(encode(protocol, (w) => w.raw(b)), b);
      });
    });
  }
});

describe('ReplyWriter: RESP2 forms of RESP3 types', () => {
  test('null is a null bulk string', () => assert.equal(wire(2, (w) => w.null()), '$-1\r\n'));
  test('nullArray is a null array', () => assert.equal(wire(2, (w) => w.nullArray()), '*-1\r\n'));
  test('map is a flat array of twice the pairs', () =>
    assert.equal(
      wire(2, (w) => (w.map(1), w.bulk('maxclients'), w.bulk('10000'))),
      '*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n',
    ));
  test('empty map', () => assert.equal(wire(2, (w) => w.map(0)), '*0\r\n'));
  test('set is an array', () => assert.equal(wire(2, (w) => (w.set(1), w.bulk('a'))), '*1\r\n$1\r\na\r\n'));
  test('push is an array', () =>
    assert.equal(
      wire(2, (w) => (w.push(3), w.bulk('subscribe'), w.bulk('ch'), w.integer(1))),
      '*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n',
    ));
  test('double is a bulk string', () => {
    assert.equal(wire(2, (w) => w.double(3.141)), '$5\r\n3.141\r\n');
    assert.equal(wire(2, (w) => w.double(1.5)), '$3\r\n1.5\r\n');
    assert.equal(wire(2, (w) => w.double(10)), '$2\r\n10\r\n');
  });
  test('double inf, -inf, nan as bulk strings', () => {
    assert.equal(wire(2, (w) => w.double(Infinity)), '$3\r\ninf\r\n');
    assert.equal(wire(2, (w) => w.double(-Infinity)), '$4\r\n-inf\r\n');
    assert.equal(wire(2, (w) => w.double(NaN)), '$3\r\nnan\r\n');
  });
  test('boolean is :1 / :0', () => {
    assert.equal(wire(2, (w) => w.boolean(true)), ':1\r\n');
    assert.equal(wire(2, (w) => w.boolean(false)), ':0\r\n');
  });
  test('verbatim is a plain bulk string (no format prefix)', () => {
    assert.equal(wire(2, (w) => w.verbatim('# Server\r\n')), '$10\r\n# Server\r\n\r\n');
    assert.equal(wire(2, (w) => w.verbatim('é')), utf8('$2\r\né\r\n'));
  });
});

describe('ReplyWriter: RESP3 encodings', () => {
  test('null is _', () => assert.equal(wire(3, (w) => w.null()), '_\r\n'));
  test('nullArray is _ too', () => assert.equal(wire(3, (w) => w.nullArray()), '_\r\n'));
  test('map header counts pairs', () =>
    assert.equal(
      wire(3, (w) => (w.map(1), w.bulk('maxclients'), w.bulk('10000'))),
      '%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n',
    ));
  test('set', () => {
    assert.equal(wire(3, (w) => w.set(0)), '~0\r\n');
    assert.equal(wire(3, (w) => (w.set(2), w.bulk('a'), w.bulk('b'))), '~2\r\n$1\r\na\r\n$1\r\nb\r\n');
  });
  test('push (pub/sub message)', () =>
    assert.equal(
      wire(3, (w) => (w.push(3), w.bulk('message'), w.bulk('ch'), w.bulk('hi'))),
      '>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n',
    ));
  test('double', () => {
    assert.equal(wire(3, (w) => w.double(3.141)), ',3.141\r\n');
    assert.equal(wire(3, (w) => w.double(-2.5)), ',-2.5\r\n');
    assert.equal(wire(3, (w) => w.double(0)), ',0\r\n');
    assert.equal(wire(3, (w) => w.double(10)), ',10\r\n');
  });
  test('double inf, -inf, nan', () => {
    assert.equal(wire(3, (w) => w.double(Infinity)), ',inf\r\n');
    assert.equal(wire(3, (w) => w.double(-Infinity)), ',-inf\r\n');
    assert.equal(wire(3, (w) => w.double(NaN)), ',nan\r\n');
  });
  // networking.c addReplyDouble in 7.0.15 prints with "%.17g" (RESP3 ",%.17g", RESP2 a bulk of it).
  // Checked on redis-server 7.0.15: ZADD z 0.1 m; ZSCORE z m -> ",0.10000000000000001" (RESP3) and
  // "$19\r\n0.10000000000000001" (RESP2). 7.2 switched to the shortest form.
  test('double digits are printed as Redis 7.0 prints them (%.17g)', () => {
    assert.equal(wire(3, (w) => w.double(0.1)), ',0.10000000000000001\r\n');
    assert.equal(wire(2, (w) => w.double(0.1)), '$19\r\n0.10000000000000001\r\n');
    assert.equal(wire(3, (w) => w.double(1 / 3)), ',0.33333333333333331\r\n');
    assert.equal(wire(3, (w) => w.double(-0)), ',-0\r\n');
    assert.equal(wire(3, (w) => w.double(1e-7)), ',9.9999999999999995e-08\r\n');
    assert.equal(wire(3, (w) => w.double(1.2345678901234568e20)), ',1.2345678901234568e+20\r\n');
  });
  test('boolean', () => {
    assert.equal(wire(3, (w) => w.boolean(true)), '#t\r\n');
    assert.equal(wire(3, (w) => w.boolean(false)), '#f\r\n');
  });
  test('verbatim: length includes "txt:"', () => {
    assert.equal(wire(3, (w) => w.verbatim('Some string')), '=15\r\ntxt:Some string\r\n');
    assert.equal(wire(3, (w) => w.verbatim('')), '=4\r\ntxt:\r\n');
  });
  test('verbatim: length counts UTF-8 bytes', () => assert.equal(wire(3, (w) => w.verbatim('héllo')), utf8('=10\r\ntxt:héllo\r\n')));
  test('verbatim with another format', () => assert.equal(wire(3, (w) => w.verbatim('# x', 'mkd')), '=7\r\nmkd:# x\r\n'));
  test('verbatim keeps CR and LF in the text', () =>
    assert.equal(wire(3, (w) => w.verbatim('a:1\r\nb:2\r\n')), '=14\r\ntxt:a:1\r\nb:2\r\n\r\n'));
  test('HELLO 3 reply from REFERENCE 1.2, byte for byte', () => {
    const out = wire(3, (w) => {
      w.map(7);
      for (const [k, v] of [['server', 'redis'], ['version', '7.0.15']] as const) (w.bulk(k), w.bulk(v));
      w.bulk('proto');
      w.integer(3);
      w.bulk('id');
      w.integer(17);
      for (const [k, v] of [['mode', 'standalone'], ['role', 'master']] as const) (w.bulk(k), w.bulk(v));
      w.bulk('modules');
      w.array(0);
    });
    assert.equal(
      out,
      '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:17\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n',
    );
  });
});

describe('ReplyWriter: buffer management', () => {
  test('starts in RESP2', () => assert.equal(new ReplyWriter().protocol, 2));

  test('length counts bytes written; take() returns them and empties the writer', () => {
    const w = new ReplyWriter();
    assert.equal(w.length, 0);
    w.simple('OK');
    w.integer(1);
    assert.equal(w.length, 9);
    assert.equal(w.take().toString(), '+OK\r\n:1\r\n');
    assert.equal(w.length, 0);
    assert.equal(w.take().length, 0);
    w.simple('PONG');
    assert.equal(w.take().toString(), '+PONG\r\n');
  });

  test('take() returns a copy that later writes do not change', () => {
    const w = new ReplyWriter();
    w.bulk('first');
    const first = w.take();
    w.bulk('XXXXX');
    w.take();
    assert.equal(first.toString(), '$5\r\nfirst\r\n');
  });

  test('protocol can change between replies', () => {
    const w = new ReplyWriter();
    w.null();
    w.protocol = 3;
    w.null();
    w.protocol = 2;
    w.nullArray();
    assert.equal(w.take().toString(), '$-1\r\n_\r\n*-1\r\n');
  });

  test('grows past the initial capacity with many small replies', () => {
    const w = new ReplyWriter();
    let expected = '';
    for (let i = 0; i < 2000; i++) {
      w.bulk(`v${i}`);
      expected += `$${String(i).length + 1}\r\nv${i}\r\n`;
    }
    assert.equal(w.length, Buffer.byteLength(expected));
    assert.equal(w.take().toString(), expected);
  });

  test('grows for one large bulk (Buffer and string) and for a large raw', () => {
    const big = Buffer.alloc(300_000, 0x78);
    const w = new ReplyWriter();
    w.simple('OK');
    w.bulk(big);
    w.bulk('é'.repeat(100_000));
    w.raw(Buffer.alloc(70_000, 0x79));
    w.error('ERR ' + 'z'.repeat(100_000));
    const out = w.take();
    const expected = Buffer.concat([
      Buffer.from('+OK\r\n$300000\r\n'),
      big,
      Buffer.from('\r\n$200000\r\n' + 'é'.repeat(100_000) + '\r\n'),
      Buffer.alloc(70_000, 0x79),
      Buffer.from('-ERR ' + 'z'.repeat(100_000) + '\r\n'),
    ]);
    assert.ok(out.equals(expected));
  });

  test('after a huge reply is taken, the writer still works for small ones', () => {
    const w = new ReplyWriter();
    w.bulk(Buffer.alloc(1_000_000, 1));
    assert.equal(w.take().length, 1_000_000 + 12);
    w.simple('OK');
    assert.equal(w.take().toString(), '+OK\r\n');
  });

  test('property: any sequence of bulk replies encodes as their concatenation, across growth', () => {
    const item = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
      // 1- to 4-byte UTF-8 characters, so string lengths and byte lengths differ.
      fc.string({ unit: fc.constantFrom('a', '\r', '\n', '\x00', '\xff', 'é', '€', '😀'), maxLength: 300 }),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), fc.integer({ min: 1, max: 40 }), (items, takeEvery) => {
        const w = new ReplyWriter();
        const got: Buffer[] = [];
        const want: Buffer[] = [];
        items.forEach((it, i) => {
          w.bulk(it);
          const b = typeof it === 'string' ? Buffer.from(it, 'utf8') : it;
          want.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
          if ((i + 1) % takeEvery === 0) got.push(w.take());
        });
        got.push(w.take());
        assert.ok(Buffer.concat(got).equals(Buffer.concat(want)));
      }),
      { seed: 21, numRuns: 200 },
    );
  });
});

describe('encode()', () => {
  test('encodes one reply under the given protocol, independently of any writer', () => {
    assert.equal(encode(3, (w) => (w.map(1), w.bulk('a'), w.integer(1))).toString(), '%1\r\n$1\r\na\r\n:1\r\n');
    assert.equal(encode(2, (w) => (w.map(1), w.bulk('a'), w.integer(1))).toString(), '*2\r\n$1\r\na\r\n:1\r\n');
  });

  test('returns a fresh buffer each call', () => {
    const a = encode(2, (w) => w.simple('A'));
    const b = encode(2, (w) => w.simple('B'));
    assert.equal(a.toString(), '+A\r\n');
    assert.equal(b.toString(), '+B\r\n');
  });
});
