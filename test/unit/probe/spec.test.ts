import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CommandError } from '../../../src/commands/errors.js';
import {
  parseAddOrigin,
  parseExpect,
  SPEC_DEFAULTS,
  specFromJson,
  statusExpected,
  validateOriginId,
  type OriginSpec,
} from '../../../src/probe/spec.js';

const SEED = 0x5bec;

type Arg = string | Buffer;
const toBuf = (a: Arg) => (typeof a === 'string' ? Buffer.from(a) : a);
const parse = (...args: Arg[]) => parseAddOrigin(['HECK.ADDORIGIN', ...args].map(toBuf));

const defaults: OriginSpec = {
  url: '',
  intervalMs: 5000,
  timeoutMs: 2000,
  rise: 2,
  fall: 3,
  expect: '200-399',
  method: 'GET',
  headers: [],
};
const spec = (over: Partial<OriginSpec>): OriginSpec => ({ ...defaults, ...over });

/** Asserts that parsing throws a CommandError with exactly this reply. */
function assertRejects(args: Arg[], reply: string): void {
  assert.throws(
    () => parse(...args),
    (e: unknown) => {
      assert.ok(e instanceof CommandError, `not a CommandError: ${String(e)}`);
      assert.equal(e.reply, reply);
      return true;
    },
  );
}

const roundTrip = (s: OriginSpec) => specFromJson(JSON.parse(JSON.stringify(s)) as unknown);

const H = 'http://h/';
const headerArgs = (n: number, value = 'v') => Array.from({ length: n }, (_, i) => ['HEADER', `X-H${i}`, value]).flat();
const expectItems = (n: number) => Array.from({ length: n }, (_, i) => `${100 + 2 * i}`).join(',');

describe('parseAddOrigin: accepted', () => {
  const cases: [string, Arg[], string, OriginSpec][] = [
    ['defaults', ['o1', 'http://example.com/health'], 'o1', spec({ url: 'http://example.com/health' })],
    [
      'every option, EXPECT made canonical, METHOD upper-cased, headers in order',
      [
        'web-1',
        'https://example.com:8443/x?y=1',
        'INTERVAL', '10000',
        'TIMEOUT', '3000',
        'RISE', '1',
        'FALL', '5',
        'EXPECT', '204,200,300-399,301',
        'METHOD', 'head',
        'HEADER', 'Host', 'example.org',
        'HEADER', 'X-Token', 'abc',
      ],
      'web-1',
      spec({
        url: 'https://example.com:8443/x?y=1',
        intervalMs: 10000,
        timeoutMs: 3000,
        rise: 1,
        fall: 5,
        expect: '200,204,300-399',
        method: 'HEAD',
        headers: [['Host', 'example.org'], ['X-Token', 'abc']],
      }),
    ],
    [
      'option names in any case',
      ['o', H, 'interval', '1000', 'Timeout', '999', 'rIsE', '3', 'fall', '1', 'expect', '200', 'method', 'GET', 'header', 'a', 'b'],
      'o',
      spec({ url: H, intervalMs: 1000, timeoutMs: 999, rise: 3, fall: 1, expect: '200', headers: [['a', 'b']] }),
    ],
    ['default timeout is half a short interval', ['o', H, 'INTERVAL', '100'], 'o', spec({ url: H, intervalMs: 100, timeoutMs: 50 })],
    ['half of an odd interval rounds down', ['o', H, 'INTERVAL', '3001'], 'o', spec({ url: H, intervalMs: 3001, timeoutMs: 1500 })],
    ['default timeout caps at 2000', ['o', H, 'INTERVAL', '3600000'], 'o', spec({ url: H, intervalMs: 3600000, timeoutMs: 2000 })],
    ['smallest timeout', ['o', H, 'INTERVAL', '100', 'TIMEOUT', '10'], 'o', spec({ url: H, intervalMs: 100, timeoutMs: 10 })],
    ['TIMEOUT alone, under the default interval', ['o', H, 'TIMEOUT', '4999'], 'o', spec({ url: H, timeoutMs: 4999 })],
    ['TIMEOUT before INTERVAL', ['o', H, 'TIMEOUT', '7000', 'INTERVAL', '8000'], 'o', spec({ url: H, intervalMs: 8000, timeoutMs: 7000 })],
    ['RISE and FALL at their bounds', ['o', H, 'RISE', '100', 'FALL', '1'], 'o', spec({ url: H, rise: 100, fall: 1 })],
    [
      'tcp with INTERVAL, TIMEOUT, RISE, FALL',
      ['db', 'tcp://db.internal:5432', 'INTERVAL', '1000', 'TIMEOUT', '200', 'RISE', '1', 'FALL', '2'],
      'db',
      spec({ url: 'tcp://db.internal:5432', intervalMs: 1000, timeoutMs: 200, rise: 1, fall: 2 }),
    ],
    ['tcp: IPv6 and a lone trailing slash', ['r', 'tcp://[::1]:6379/'], 'r', spec({ url: 'tcp://[::1]:6379/' })],
    ['scheme case-insensitive, url kept as given', ['o', 'HTTP://Example.COM:80/Path'], 'o', spec({ url: 'HTTP://Example.COM:80/Path' })],
    ['TCP upper case', ['o', 'TCP://H:1'], 'o', spec({ url: 'TCP://H:1' })],
    ['IDN host and unicode path', ['o', 'http://bücher.de/ü'], 'o', spec({ url: 'http://bücher.de/ü' })],
    ['http port 65535', ['o', 'http://h:65535/'], 'o', spec({ url: 'http://h:65535/' })],
    ['url of 2048 bytes', ['o', H + 'a'.repeat(2048 - H.length)], 'o', spec({ url: H + 'a'.repeat(2048 - H.length) })],
    ['unicode id', ['café-☕:1', H], 'café-☕:1', spec({ url: H })],
    ['id of 256 bytes', ['i'.repeat(256), H], 'i'.repeat(256), spec({ url: H })],
    ['adjacent ranges merge', ['o', H, 'EXPECT', '200-299,300-399'], 'o', spec({ url: H, expect: '200-399' })],
    ['adjacent codes merge', ['o', H, 'EXPECT', '202,200,201'], 'o', spec({ url: H, expect: '200-202' })],
    ['overlaps and duplicates merge', ['o', H, 'EXPECT', '250-260,200-300,200,301'], 'o', spec({ url: H, expect: '200-301' })],
    ['single-code range', ['o', H, 'EXPECT', '204-204'], 'o', spec({ url: H, expect: '204' })],
    ['all statuses', ['o', H, 'EXPECT', '100-599'], 'o', spec({ url: H, expect: '100-599' })],
    ['32 EXPECT items', ['o', H, 'EXPECT', expectItems(32)], 'o', spec({ url: H, expect: expectItems(32) })],
    [
      'header value with HTAB, obs-text and nothing at all; tchar names; repeats kept',
      ['o', H, 'HEADER', "X-!#$%&'*+.^_`|~9", 'a\tb', 'HEADER', 'X-Dup', Buffer.from([0xe9]), 'HEADER', 'X-Dup', ''],
      'o',
      spec({ url: H, headers: [["X-!#$%&'*+.^_`|~9", 'a\tb'], ['X-Dup', '\u00e9'], ['X-Dup', '']] }),
    ],
    [
      '32 headers',
      ['o', H, ...headerArgs(32)],
      'o',
      spec({ url: H, headers: Array.from({ length: 32 }, (_, i): [string, string] => [`X-H${i}`, 'v']) }),
    ],
    [
      'header of 128 + 4096 bytes',
      ['o', H, 'HEADER', 'N'.repeat(128), 'v'.repeat(4096)],
      'o',
      spec({ url: H, headers: [['N'.repeat(128), 'v'.repeat(4096)]] }),
    ],
  ];
  for (const [name, args, id, expected] of cases) {
    test(name, () => {
      const got = parse(...args);
      assert.deepEqual(got, { id, spec: expected });
      assert.deepEqual(roundTrip(got.spec), expected);
    });
  }

  test('SPEC_DEFAULTS are the documented defaults', () => {
    assert.deepEqual({ ...SPEC_DEFAULTS }, { intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, expect: '200-399', method: 'GET' });
    assert.ok(Object.isFrozen(SPEC_DEFAULTS));
  });
});

describe('parseAddOrigin: rejected', () => {
  const NOT_INT = 'ERR value is not an integer or out of range';
  const SYNTAX = 'ERR syntax error';
  const HTTP_ONLY = 'ERR EXPECT, METHOD and HEADER apply to http(s) origins only';
  const ID_CHARS = 'ERR invalid origin id: whitespace and control characters are not allowed';
  const ID_LEN = 'ERR invalid origin id: must be 1 to 256 bytes';
  const badUrl = (url: string, why: string) => `ERR invalid url '${url}': ${why}`;
  const badExpect = (text: string, why: string) => `ERR invalid EXPECT '${text}': ${why}`;
  const CODES = 'status codes must be between 100 and 599';
  const owned = (n: string) => `ERR HEADER ${n} is set by the prober and cannot be given`;
  const badName = (n: string) => `ERR invalid HEADER name '${n}': must be an HTTP token of 1 to 128 bytes`;
  const long = H + 'a'.repeat(2049 - H.length);
  const UNSAFE = 'whitespace and control characters are not allowed';
  const CREDENTIALS = 'ERR invalid url: credentials are not allowed in the url (put them in a HEADER)';
  const NO_HOST = 'a host is required (scheme://host)';
  const TCP_TAIL = 'nothing may follow host:port in a tcp url';
  const INTERVAL_RANGE = 'ERR INTERVAL must be an integer between 100 and 3600000 (milliseconds)';
  const TIMEOUT_RANGE = 'ERR TIMEOUT must be an integer between 10 and 3599999 (milliseconds)';
  const TIMEOUT_ORDER = 'ERR TIMEOUT must be less than INTERVAL';
  const NOT_ITEM = (item: string) => `'${item}' is neither a status code nor a lo-hi range`;
  const CTL = 'ERR invalid HEADER value for X-A: control characters are not allowed';

  const cases: [string, Arg[], string][] = [
    ['too few arguments', ['o1'], "ERR wrong number of arguments for 'heck.addorigin' command"],
    // id
    ['empty id', ['', H], ID_LEN],
    ['id of 257 bytes', ['i'.repeat(257), H], ID_LEN],
    ['id with a space', ['a b', H], ID_CHARS],
    ['id with a tab', ['a\tb', H], ID_CHARS],
    ['id with a newline', ['a\nb', H], ID_CHARS],
    ['id with NUL', ['a\0b', H], ID_CHARS],
    ['id with DEL', ['a\x7fb', H], ID_CHARS],
    ['id with a C1 control', ['a\u0085b', H], ID_CHARS],
    ['id with a no-break space', ['a\u00a0b', H], ID_CHARS],
    ['id with a line separator', ['a\u2028b', H], ID_CHARS],
    ['id with a BOM', ['\ufeffa', H], ID_CHARS],
    ['id not UTF-8', [Buffer.from([0x61, 0xff]), H], 'ERR invalid origin id: not valid UTF-8'],
    ['id with a surrogate (CESU-8)', [Buffer.from([0xed, 0xa0, 0x80]), H], 'ERR invalid origin id: not valid UTF-8'],
    // url
    ['url not a URL', ['o', 'example.com'], badUrl('example.com', 'not a valid URL')],
    ['url empty', ['o', ''], badUrl('', 'not a valid URL')],
    ['url scheme ftp', ['o', 'ftp://h/'], badUrl('ftp://h/', 'scheme must be http, https or tcp')],
    ['url scheme mailto', ['o', 'mailto:a@b'], badUrl('mailto:a@b', 'scheme must be http, https or tcp')],
    ['url of 2049 bytes', ['o', long], badUrl(long.slice(0, 128), 'longer than 2048 bytes')],
    ['url not UTF-8', ['o', Buffer.from([0x68, 0xff])], badUrl('h\xff', 'not valid UTF-8')],
    ['url with a space', ['o', 'http://h/a b'], badUrl('http://h/a b', UNSAFE)],
    ['url with a tab', ['o', 'http://h/a\tb'], badUrl('http://h/a\tb', UNSAFE)],
    ['url with a leading space', ['o', ' http://h/'], badUrl(' http://h/', UNSAFE)],
    ['url with user and password', ['o', 'http://u:p@h/'], CREDENTIALS],
    ['url with a user', ['o', 'https://u@h/'], CREDENTIALS],
    ['tcp url with a user', ['o', 'tcp://u@h:1'], CREDENTIALS],
    ['http url without //', ['o', 'http:h/'], badUrl('http:h/', NO_HOST)],
    ['http url with ///', ['o', 'http:///h/'], badUrl('http:///h/', NO_HOST)],
    ['tcp url without host', ['o', 'tcp:h:80'], badUrl('tcp:h:80', NO_HOST)],
    ['tcp url with an empty host', ['o', 'tcp://:80'], badUrl('tcp://:80', 'not a valid URL')],
    ['http port 0', ['o', 'http://h:0/'], badUrl('http://h:0/', 'port must be between 1 and 65535')],
    ['tcp port 0', ['o', 'tcp://h:00'], badUrl('tcp://h:00', 'port must be between 1 and 65535')],
    ['http port 65536', ['o', 'http://h:65536/'], badUrl('http://h:65536/', 'not a valid URL')],
    ['http fragment', ['o', 'http://h/#x'], badUrl('http://h/#x', 'a fragment is not allowed')],
    ['http empty fragment', ['o', 'http://h/#'], badUrl('http://h/#', 'a fragment is not allowed')],
    ['tcp without port', ['o', 'tcp://h'], badUrl('tcp://h', 'a tcp url needs a port (tcp://host:port)')],
    ['tcp with a path', ['o', 'tcp://h:1/x'], badUrl('tcp://h:1/x', TCP_TAIL)],
    ['tcp with //', ['o', 'tcp://h:1//'], badUrl('tcp://h:1//', TCP_TAIL)],
    ['tcp with an empty query', ['o', 'tcp://h:1?'], badUrl('tcp://h:1?', TCP_TAIL)],
    ['tcp with a query', ['o', 'tcp://h:1/?a=b'], badUrl('tcp://h:1/?a=b', TCP_TAIL)],
    ['tcp with a fragment', ['o', 'tcp://h:1#'], badUrl('tcp://h:1#', 'a fragment is not allowed')],
    // option syntax
    ['unknown option', ['o', H, 'FOO', '1'], SYNTAX],
    ['option missing its value', ['o', H, 'INTERVAL'], SYNTAX],
    ['option missing its value after another', ['o', H, 'RISE', '2', 'FALL'], SYNTAX],
    ['option given twice', ['o', H, 'INTERVAL', '1000', 'interval', '1000'], SYNTAX],
    ['METHOD given twice', ['o', H, 'METHOD', 'GET', 'METHOD', 'GET'], SYNTAX],
    ['HEADER missing its value', ['o', H, 'HEADER', 'X-A'], SYNTAX],
    ['HEADER alone', ['o', H, 'HEADER'], SYNTAX],
    ['syntax is checked before values', ['o', H, 'INTERVAL', 'abc', 'FOO'], SYNTAX],
    // integers
    ['INTERVAL not a number', ['o', H, 'INTERVAL', 'abc'], NOT_INT],
    ['INTERVAL with a fraction', ['o', H, 'INTERVAL', '1000.5'], NOT_INT],
    ['INTERVAL with a leading zero', ['o', H, 'INTERVAL', '01000'], NOT_INT],
    ['INTERVAL with a plus sign', ['o', H, 'INTERVAL', '+1000'], NOT_INT],
    ['INTERVAL beyond 64 bits', ['o', H, 'INTERVAL', '99999999999999999999'], NOT_INT],
    ['INTERVAL too small', ['o', H, 'INTERVAL', '99'], INTERVAL_RANGE],
    ['INTERVAL too large', ['o', H, 'INTERVAL', '3600001'], INTERVAL_RANGE],
    ['INTERVAL negative', ['o', H, 'INTERVAL', '-1'], INTERVAL_RANGE],
    ['TIMEOUT too small', ['o', H, 'TIMEOUT', '9'], TIMEOUT_RANGE],
    ['TIMEOUT too large', ['o', H, 'TIMEOUT', '3600000'], TIMEOUT_RANGE],
    ['TIMEOUT equal to the default interval', ['o', H, 'TIMEOUT', '5000'], TIMEOUT_ORDER],
    ['TIMEOUT equal to INTERVAL', ['o', H, 'INTERVAL', '1000', 'TIMEOUT', '1000'], TIMEOUT_ORDER],
    ['TIMEOUT over INTERVAL', ['o', H, 'TIMEOUT', '2000', 'INTERVAL', '1000'], TIMEOUT_ORDER],
    ['TIMEOUT not a number', ['o', H, 'TIMEOUT', '1s'], NOT_INT],
    ['RISE 0', ['o', H, 'RISE', '0'], 'ERR RISE must be an integer between 1 and 100'],
    ['FALL 101', ['o', H, 'FALL', '101'], 'ERR FALL must be an integer between 1 and 100'],
    ['RISE not a number', ['o', H, 'RISE', 'two'], NOT_INT],
    // EXPECT
    ['EXPECT empty', ['o', H, 'EXPECT', ''], badExpect('', NOT_ITEM(''))],
    ['EXPECT trailing comma', ['o', H, 'EXPECT', '200,'], badExpect('200,', NOT_ITEM(''))],
    ['EXPECT with a space', ['o', H, 'EXPECT', '200, 204'], badExpect('200, 204', NOT_ITEM(' 204'))],
    ['EXPECT word', ['o', H, 'EXPECT', '2xx'], badExpect('2xx', NOT_ITEM('2xx'))],
    ['EXPECT open range', ['o', H, 'EXPECT', '200-'], badExpect('200-', NOT_ITEM('200-'))],
    ['EXPECT negative', ['o', H, 'EXPECT', '-200'], badExpect('-200', NOT_ITEM('-200'))],
    ['EXPECT 99', ['o', H, 'EXPECT', '99'], badExpect('99', CODES)],
    ['EXPECT 600', ['o', H, 'EXPECT', '200,600'], badExpect('200,600', CODES)],
    ['EXPECT leading zero', ['o', H, 'EXPECT', '0200'], badExpect('0200', CODES)],
    ['EXPECT range past 599', ['o', H, 'EXPECT', '500-600'], badExpect('500-600', CODES)],
    ['EXPECT reversed range', ['o', H, 'EXPECT', '399-300'], badExpect('399-300', "range '399-300' has lo > hi")],
    ['EXPECT 33 items', ['o', H, 'EXPECT', expectItems(33)], badExpect(expectItems(33).slice(0, 128), 'at most 32 items')],
    // METHOD
    ['METHOD POST', ['o', H, 'METHOD', 'POST'], 'ERR METHOD must be GET or HEAD'],
    ['METHOD empty', ['o', H, 'METHOD', ''], 'ERR METHOD must be GET or HEAD'],
    // HEADER
    ['HEADER empty name', ['o', H, 'HEADER', '', 'v'], badName('')],
    ['HEADER name with a space', ['o', H, 'HEADER', 'X Y', 'v'], badName('X Y')],
    ['HEADER name with a colon', ['o', H, 'HEADER', 'X:', 'v'], badName('X:')],
    ['HEADER name not ASCII', ['o', H, 'HEADER', Buffer.from([0xe9]), 'v'], badName('\xe9')],
    ['HEADER name of 129 bytes', ['o', H, 'HEADER', 'N'.repeat(129), 'v'], badName('N'.repeat(128))],
    ['HEADER Content-Length', ['o', H, 'HEADER', 'Content-Length', '0'], owned('Content-Length')],
    ['HEADER transfer-encoding', ['o', H, 'HEADER', 'transfer-encoding', 'chunked'], owned('transfer-encoding')],
    ['HEADER CONNECTION', ['o', H, 'HEADER', 'CONNECTION', 'close'], owned('CONNECTION')],
    ['HEADER Upgrade', ['o', H, 'HEADER', 'Upgrade', 'h2c'], owned('Upgrade')],
    ['HEADER Keep-Alive', ['o', H, 'HEADER', 'Keep-Alive', '5'], owned('Keep-Alive')],
    ['HEADER TE', ['o', H, 'HEADER', 'te', 'trailers'], owned('te')],
    ['HEADER Trailer', ['o', H, 'HEADER', 'Trailer', 'X'], owned('Trailer')],
    ['HEADER Expect', ['o', H, 'HEADER', 'Expect', '100-continue'], owned('Expect')],
    ['HEADER value with CR LF', ['o', H, 'HEADER', 'X-A', 'a\r\nX-B: b'], CTL],
    ['HEADER value with NUL', ['o', H, 'HEADER', 'X-A', 'a\0'], CTL],
    ['HEADER value with DEL', ['o', H, 'HEADER', 'X-A', 'a\x7f'], CTL],
    ['HEADER value of 4097 bytes', ['o', H, 'HEADER', 'X-A', 'v'.repeat(4097)], 'ERR invalid HEADER value for X-A: longer than 4096 bytes'],
    ['33 HEADERs', ['o', H, ...headerArgs(33)], 'ERR at most 32 HEADERs are allowed'],
    ['HEADERs over 8192 bytes', ['o', H, ...headerArgs(3, 'v'.repeat(2727))], 'ERR HEADER names and values may total at most 8192 bytes'],
    ['Host twice', ['o', H, 'HEADER', 'Host', 'a', 'HEADER', 'host', 'b'], 'ERR HEADER Host given more than once'],
    // tcp
    ['tcp with EXPECT', ['o', 'tcp://h:1', 'EXPECT', '200'], HTTP_ONLY],
    ['tcp with METHOD', ['o', 'tcp://h:1', 'METHOD', 'GET'], HTTP_ONLY],
    ['tcp with HEADER', ['o', 'tcp://h:1', 'HEADER', 'X-A', 'b'], HTTP_ONLY],
    ['tcp with an invalid EXPECT', ['o', 'tcp://h:1', 'EXPECT', 'junk'], HTTP_ONLY],
  ];
  for (const [name, args, reply] of cases) test(name, () => assertRejects(args, reply));

  test('HEADERs of exactly 8192 bytes are accepted', () => {
    // 3 × (4-byte name + 2727) = 8193 is one over; take one byte off the last value.
    const args = headerArgs(3, 'v'.repeat(2727));
    args[args.length - 1] = 'v'.repeat(2726);
    assert.equal(parse('o', H, ...args).spec.headers.length, 3);
  });
});

describe('validateOriginId', () => {
  test('returns the id as text', () => assert.equal(validateOriginId(Buffer.from('api.example:443')), 'api.example:443'));
  test('throws the same error as ADDORIGIN', () =>
    assert.throws(() => validateOriginId(Buffer.from('a b')), (e: unknown) => e instanceof CommandError && e.code === 'ERR'));
});

describe('parseExpect and statusExpected', () => {
  test('ranges are sorted and merged', () => {
    assert.deepEqual(parseExpect('204,200,300-399,301'), [[200, 200], [204, 204], [300, 399]]);
    assert.deepEqual(parseExpect('200-299,300-399'), [[200, 399]]);
  });

  test('statusExpected over 200,204,300-399', () => {
    const ranges = parseExpect('200,204,300-399');
    const yes = [200, 204, 300, 350, 399];
    const no = [0, 100, 199, 201, 203, 205, 299, 400, 503, 599, 600];
    for (const s of yes) assert.equal(statusExpected(ranges, s), true, `${s}`);
    for (const s of no) assert.equal(statusExpected(ranges, s), false, `${s}`);
  });

  test('the default accepts 200-399 only', () => {
    const ranges = parseExpect(SPEC_DEFAULTS.expect);
    for (let s = 100; s < 600; s++) assert.equal(statusExpected(ranges, s), s >= 200 && s <= 399, `${s}`);
  });

  const range = fc.tuple(fc.integer({ min: 100, max: 599 }), fc.integer({ min: 100, max: 599 }));
  const items = fc.array(range.map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]), {
    minLength: 1,
    maxLength: 32,
  });
  const text = (rs: [number, number][]) => rs.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');

  test('property: statusExpected is membership in the union of the items', () => {
    fc.assert(
      fc.property(items, fc.integer({ min: 0, max: 700 }), (rs, status) => {
        const covered = rs.some(([lo, hi]) => status >= lo && status <= hi);
        assert.equal(statusExpected(parseExpect(text(rs)), status), covered);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  test('property: the canonical form is sorted, disjoint, non-adjacent and a fixed point', () => {
    fc.assert(
      fc.property(items, (rs) => {
        const canonical = parse('o', H, 'EXPECT', text(rs)).spec.expect;
        assert.equal(parse('o', H, 'EXPECT', canonical).spec.expect, canonical);
        const ranges = parseExpect(canonical);
        for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]![0] > ranges[i - 1]![1] + 1);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe('specFromJson', () => {
  const http = parse('o', 'https://h/x', 'EXPECT', '200,204', 'METHOD', 'HEAD', 'HEADER', 'X-A', 'b').spec;
  const tcp = parse('o', 'tcp://h:1').spec;

  test('round-trips http and tcp specs', () => {
    assert.deepEqual(roundTrip(http), http);
    assert.deepEqual(roundTrip(tcp), tcp);
  });

  test('ignores unknown extra fields', () => {
    const newer = { ...http, vantagePoints: 3, probe: { tls: { sni: 'x' } }, headers: http.headers };
    assert.deepEqual(specFromJson(newer), http);
    assert.equal(Object.hasOwn(specFromJson(newer)!, 'vantagePoints'), false);
  });

  const invalid: [string, Record<string, unknown>][] = [
    ['url missing', { url: undefined }],
    ['url a number', { url: 42 }],
    ['url with a bad scheme', { url: 'ftp://h/' }],
    ['url with credentials', { url: 'http://u:p@h/' }],
    ['url with a lone surrogate', { url: 'http://h/\ud800' }],
    ['url with a newline', { url: 'http://h/\n' }],
    ['intervalMs a string', { intervalMs: '5000' }],
    ['intervalMs too small', { intervalMs: 99, timeoutMs: 50 }],
    ['intervalMs with a fraction', { intervalMs: 5000.5 }],
    ['intervalMs NaN', { intervalMs: NaN }],
    ['intervalMs huge', { intervalMs: 1e21 }],
    ['timeoutMs missing', { timeoutMs: undefined }],
    ['timeoutMs not under intervalMs', { timeoutMs: 5000 }],
    ['timeoutMs too small', { timeoutMs: 9 }],
    ['rise 0', { rise: 0 }],
    ['fall 101', { fall: 101 }],
    ['fall null', { fall: null }],
    ['expect not canonical (order)', { expect: '204,200' }],
    ['expect not canonical (merge)', { expect: '200-299,300-399' }],
    ['expect invalid', { expect: '2xx' }],
    ['expect a list', { expect: [200] }],
    ['method lower case', { method: 'get' }],
    ['method POST', { method: 'POST' }],
    ['headers missing', { headers: undefined }],
    ['headers an object', { headers: { 'X-A': 'b' } }],
    ['header a triple', { headers: [['X-A', 'b', 'c']] }],
    ['header with a number', { headers: [['X-A', 1]] }],
    ['header reserved', { headers: [['Connection', 'close']] }],
    ['header value with CR', { headers: [['X-A', 'a\rb']] }],
    ['header value beyond latin1', { headers: [['X-A', '\u0100']] }],
    ['header name beyond latin1', { headers: [['X-\u0141', 'b']] }],
    ['Host twice', { headers: [['Host', 'a'], ['Host', 'b']] }],
  ];
  for (const [name, change] of invalid) {
    test(`rejects ${name}`, () => assert.equal(specFromJson({ ...http, ...change }), null));
  }

  const invalidTcp: [string, Record<string, unknown>][] = [
    ['expect', { expect: '200' }],
    ['method', { method: 'HEAD' }],
    ['headers', { headers: [['X-A', 'b']] }],
    ['a path', { url: 'tcp://h:1/x' }],
  ];
  for (const [name, change] of invalidTcp) {
    test(`rejects a tcp spec with ${name}`, () => assert.equal(specFromJson({ ...tcp, ...change }), null));
  }

  for (const v of [null, undefined, 'spec', 42, true, [], [http]]) {
    test(`rejects ${JSON.stringify(v) ?? 'undefined'}`, () => assert.equal(specFromJson(v), null));
  }

  test('property: never throws, and what it accepts round-trips unchanged', () => {
    const field = fc.constantFrom('url', 'intervalMs', 'timeoutMs', 'rise', 'fall', 'expect', 'method', 'headers', 'extra');
    fc.assert(
      fc.property(fc.oneof(fc.constant(http), fc.constant(tcp)), field, fc.jsonValue(), (base, key, v) => {
        const got = specFromJson({ ...base, [key]: v });
        if (got !== null) assert.deepEqual(roundTrip(got), got);
      }),
      { seed: SEED, numRuns: 1000 },
    );
    fc.assert(fc.property(fc.jsonValue(), (v) => void specFromJson(v)), { seed: SEED, numRuns: 1000 });
  });
});

describe('parseAddOrigin: property', () => {
  const anyCase = (s: string) =>
    fc
      .array(fc.boolean(), { minLength: s.length, maxLength: s.length })
      .map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
  const num = (min: number, max: number) => fc.integer({ min, max }).map(String);
  const code = fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 100, max: 599 }) }, fc.integer({ min: 95, max: 605 }));
  const expectList = fc
    .array(fc.oneof(code.map(String), fc.tuple(code, code).map(([a, b]) => `${a}-${b}`)), { minLength: 1, maxLength: 6 })
    .map((xs) => xs.join(','));
  const noise = fc.oneof(
    fc.constantFrom('', 'abc', '1.5', '0200', '-1', 'a b', '99999999999999999999'),
    fc.string({ maxLength: 12 }),
    fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
  );
  /** Mostly well-formed values for each option, sometimes noise, sometimes the wrong option name. */
  const optionValue = (name: string, good: fc.Arbitrary<Arg>) =>
    fc.oneof(
      { weight: 20, arbitrary: fc.tuple(anyCase(name), good) },
      fc.tuple(anyCase(name), noise),
      fc.tuple(fc.constant('bogus'), good),
    );
  const headerName = fc.oneof(
    fc.constantFrom('Host', 'host', 'X-Key', 'Accept', 'te', 'Connection', 'X Y', ''),
    fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}$/),
  );
  const group = fc.oneof(
    optionValue('interval', num(90, 20_000)),
    optionValue('timeout', num(5, 6_000)),
    optionValue('rise', num(0, 101)),
    optionValue('fall', num(0, 101)),
    optionValue('expect', expectList),
    optionValue('method', fc.constantFrom('get', 'HEAD', 'Head', 'post')),
    fc.tuple(anyCase('header'), fc.oneof({ weight: 10, arbitrary: headerName }, noise), fc.oneof(fc.string({ maxLength: 20 }), noise)),
    fc.tuple(noise),
  );
  const groups = fc.array(group, { maxLength: 5 }); // repeats are syntax errors too
  const rest = groups.map((gs) => gs.flat());
  const url = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('http://h/', 'tcp://db:5432', 'https://h:8443/?q', 'tcp://[::1]:1/') },
    fc.constantFrom('tcp://db', 'tcp://db:1/x', 'HTTP://H:0', 'ftp://h/', 'http://u@h/', 'http://h/#'),
    { weight: 4, arbitrary: fc.webUrl({ validSchemes: ['http', 'https'], withQueryParameters: true }) },
    fc.webUrl({
      validSchemes: ['http', 'https', 'tcp', 'ftp'],
      withFragments: true,
      withQueryParameters: true,
      authoritySettings: { withPort: true, withUserInfo: true, withIPv6: true },
    }),
    noise,
  );
  const id = fc.oneof({ weight: 10, arbitrary: fc.stringMatching(/^[a-z0-9.:-]{1,12}$/) }, fc.string({ maxLength: 20 }), noise);

  test('returns a spec that round-trips through JSON, or throws a CommandError', () => {
    let accepted = 0;
    fc.assert(
      fc.property(id, url, rest, (i, u, r) => {
        let got: { id: string; spec: OriginSpec };
        try {
          got = parse(i, u, ...r);
        } catch (e) {
          assert.ok(e instanceof CommandError, `not a CommandError: ${String(e)}`);
          assert.ok(e.reply.startsWith('ERR '), e.reply);
          return;
        }
        accepted++;
        assert.ok(got.spec.timeoutMs < got.spec.intervalMs);
        assert.deepEqual(roundTrip(got.spec), got.spec);
      }),
      { seed: SEED, numRuns: 3000 },
    );
    assert.ok(accepted > 500, `only ${accepted} accepted: the generator explores too little`);
  });
});
