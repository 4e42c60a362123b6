import { CommandError, errors } from '../commands/errors.js';
import { parseIntArg } from '../resp/integer.js';

/**
 * An origin's spec: what to probe and how. HECK.ADDORIGIN builds it from its arguments; replication
 * and the store carry it as JSON and read it back through specFromJson, which applies the very same
 * validation, so a spec from a newer or hostile peer is either one this node would accept or nothing.
 */
export interface OriginSpec {
  /** As the user gave it (validated). */
  url: string;
  intervalMs: number;
  /** Always less than intervalMs. */
  timeoutMs: number;
  rise: number;
  fall: number;
  /** Canonical status list: sorted, merged ranges, e.g. `200,204,300-399`. */
  expect: string;
  method: 'GET' | 'HEAD';
  /** In the order given. Shared by specs without headers: never changed in place. */
  headers: readonly [string, string][];
}

/** What HECK.ADDORIGIN leaves out. The default timeout is also capped at half the interval. */
export const SPEC_DEFAULTS = Object.freeze({
  intervalMs: 5000,
  timeoutMs: 2000,
  rise: 2,
  fall: 3,
  expect: '200-399',
  method: 'GET' as const,
});

/** Sorted, non-overlapping, non-adjacent [lo, hi] status ranges. */
export type StatusRanges = readonly (readonly [lo: number, hi: number])[];

const MAX_ID_BYTES = 256;
const MAX_URL_BYTES = 2048;
const MAX_EXPECT_ITEMS = 32;
const MAX_HEADERS = 32;
const MAX_HEADER_NAME_BYTES = 128;
const MAX_HEADER_VALUE_BYTES = 4096;
const MAX_HEADER_BYTES = 8192;

/**
 * Framing and connection headers belong to the prober's HTTP client: a user's value would break
 * connection reuse or the request itself. undici also refuses Expect outright.
 */
const PROBER_HEADERS = new Set(
  'content-length transfer-encoding connection upgrade keep-alive te trailer expect'.split(' '),
);

/** Options that take one value; HEADER takes two and may repeat. */
const OPTIONS = new Set(['interval', 'timeout', 'rise', 'fall', 'expect', 'method']);
const METHODS = new Map<string, OriginSpec['method']>([['get', 'GET'], ['head', 'HEAD']]);

/** Ids and urls end up in logs, JSON events and line formats: no whitespace (Unicode's too), no controls. */
const UNSAFE_CHAR = /[\s\p{Cc}]/u;
/** RFC 9110 token (tchar). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 field-value bytes: no controls but HTAB (undici refuses the others too). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const EXPECT_ITEM = /^(\d+)(?:-(\d+))?$/;
/** 100..599, and no leading zero. */
const STATUS = /^[1-5]\d\d$/;

const fail = (why: string) => new CommandError(`ERR ${why}`);
/** Client bytes come back in the error as sent (the writer is one byte per char and blanks CR/LF), cut short. */
const quote = (b: Buffer) => b.toString('latin1', 0, 128);
const lower = (b: Buffer) => b.toString('latin1').toLowerCase();

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function decodeUtf8(b: Buffer): string | null {
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
}

export function validateOriginId(id: Buffer): string {
  if (id.length === 0 || id.length > MAX_ID_BYTES) throw fail(`invalid origin id: must be 1 to ${MAX_ID_BYTES} bytes`);
  const text = decodeUtf8(id);
  if (text === null) throw fail('invalid origin id: not valid UTF-8');
  if (UNSAFE_CHAR.test(text)) throw fail('invalid origin id: whitespace and control characters are not allowed');
  return text;
}

function parseUrl(raw: Buffer): { url: string; tcp: boolean } {
  const bad = (why: string) => fail(`invalid url '${quote(raw)}': ${why}`);
  if (raw.length > MAX_URL_BYTES) throw bad(`longer than ${MAX_URL_BYTES} bytes`);
  const text = decodeUtf8(raw);
  if (text === null) throw bad('not valid UTF-8');
  // URL() would silently drop tabs and newlines and percent-encode spaces; the url is kept as given.
  if (UNSAFE_CHAR.test(text)) throw bad('whitespace and control characters are not allowed');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a valid URL');
  }
  const tcp = u.protocol === 'tcp:';
  if (!tcp && u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('scheme must be http, https or tcp');
  // URL() also reads `http:host` and `http:///host` as http://host/: insist on the plain form.
  if (u.hostname === '' || !/^[a-z]+:\/\/[^/]/i.test(text)) throw bad('a host is required (scheme://host)');
  // Not quoted: the text holds a secret.
  if (u.username !== '' || u.password !== '') {
    throw fail('invalid url: credentials are not allowed in the url (put them in a HEADER)');
  }
  if (u.port === '0') throw bad('port must be between 1 and 65535');
  // '#' survives in href only as the fragment delimiter (URL() percent-encodes it elsewhere).
  if (u.href.includes('#')) throw bad('a fragment is not allowed');
  if (tcp) {
    if (u.port === '') throw bad('a tcp url needs a port (tcp://host:port)');
    const bare = `tcp://${u.host}`;
    if (u.href !== bare && u.href !== `${bare}/`) throw bad('nothing may follow host:port in a tcp url');
  }
  return { url: text, tcp };
}

/** A comma-separated list of status codes and lo-hi ranges, e.g. `200,204,300-399`. */
export function parseExpect(text: string): StatusRanges {
  const bad = (why: string) => fail(`invalid EXPECT '${text.slice(0, 128)}': ${why}`);
  const items = text.split(',', MAX_EXPECT_ITEMS + 1);
  if (items.length > MAX_EXPECT_ITEMS) throw bad(`at most ${MAX_EXPECT_ITEMS} items`);
  const ranges: [number, number][] = [];
  for (const item of items) {
    const m = EXPECT_ITEM.exec(item);
    if (!m) throw bad(`'${item.slice(0, 128)}' is neither a status code nor a lo-hi range`);
    const lo = m[1]!;
    const hi = m[2] ?? lo;
    if (!STATUS.test(lo) || !STATUS.test(hi)) throw bad('status codes must be between 100 and 599');
    if (+lo > +hi) throw bad(`range '${item}' has lo > hi`);
    ranges.push([+lo, +hi]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of ranges) {
    const last = merged.at(-1);
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return merged;
}

export function statusExpected(ranges: StatusRanges, status: number): boolean {
  return ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

const formatRanges = (ranges: StatusRanges) =>
  ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');

/** Header names and values are byte strings (latin1), as undici writes them to the wire. */
function parseHeader(name: Buffer, value: Buffer): [string, string] {
  const n = name.length <= MAX_HEADER_NAME_BYTES ? name.toString('latin1') : '';
  if (!TOKEN.test(n)) {
    throw fail(`invalid HEADER name '${quote(name)}': must be an HTTP token of 1 to ${MAX_HEADER_NAME_BYTES} bytes`);
  }
  if (PROBER_HEADERS.has(n.toLowerCase())) throw fail(`HEADER ${n} is set by the prober and cannot be given`);
  if (value.length > MAX_HEADER_VALUE_BYTES) {
    throw fail(`invalid HEADER value for ${n}: longer than ${MAX_HEADER_VALUE_BYTES} bytes`);
  }
  const v = value.toString('latin1');
  if (!FIELD_VALUE.test(v)) throw fail(`invalid HEADER value for ${n}: control characters are not allowed`);
  return [n, v];
}

/** The headers of every spec that has none: an empty array apiece would cost 100,000 origins 3 MB. */
const NO_HEADERS: readonly [string, string][] = Object.freeze([]);

function parseHeaders(raw: [Buffer, Buffer][]): readonly [string, string][] {
  if (raw.length === 0) return NO_HEADERS;
  if (raw.length > MAX_HEADERS) throw fail(`at most ${MAX_HEADERS} HEADERs are allowed`);
  const headers = raw.map(([name, value]) => parseHeader(name, value));
  const bytes = raw.reduce((sum, [name, value]) => sum + name.length + value.length, 0);
  if (bytes > MAX_HEADER_BYTES) throw fail(`HEADER names and values may total at most ${MAX_HEADER_BYTES} bytes`);
  // RFC 9112 has servers answer 400 to a second Host: the probe could never succeed.
  if (headers.filter(([n]) => n.toLowerCase() === 'host').length > 1) throw fail('HEADER Host given more than once');
  return headers;
}

type Given = Map<string, Buffer>;

function intOption(given: Given, option: string, min: number, max: number, unit = ''): number | undefined {
  const arg = given.get(option);
  if (arg === undefined) return undefined;
  const n = parseIntArg(arg);
  if (n === null) throw errors.notInteger();
  if (n < min || n > max) throw fail(`${option.toUpperCase()} must be an integer between ${min} and ${max}${unit}`);
  return n;
}

/**
 * `HECK.ADDORIGIN id url [INTERVAL ms] [TIMEOUT ms] [RISE n] [FALL n] [EXPECT codes]
 * [METHOD GET|HEAD] [HEADER name value]...`, args as the command table passes them (args[0] is the
 * name). As Redis does, the option syntax is checked first (unknown, repeated or missing value:
 * syntax error), then the values.
 */
export function parseAddOrigin(args: Buffer[]): { id: string; spec: OriginSpec } {
  if (args.length < 3) throw errors.wrongArity('heck.addorigin');
  const id = validateOriginId(args[1]!);
  const { url, tcp } = parseUrl(args[2]!);
  const given: Given = new Map();
  const rawHeaders: [Buffer, Buffer][] = [];
  for (let i = 3; i < args.length; ) {
    const option = lower(args[i]!);
    if (option === 'header' && i + 2 < args.length) {
      rawHeaders.push([args[i + 1]!, args[i + 2]!]);
      i += 3;
    } else if (OPTIONS.has(option) && !given.has(option) && i + 1 < args.length) {
      given.set(option, args[i + 1]!);
      i += 2;
    } else {
      throw errors.syntax();
    }
  }
  const intervalMs = intOption(given, 'interval', 100, 3_600_000, ' (milliseconds)') ?? SPEC_DEFAULTS.intervalMs;
  const timeout = intOption(given, 'timeout', 10, 3_599_999, ' (milliseconds)');
  if (timeout !== undefined && timeout >= intervalMs) throw fail('TIMEOUT must be less than INTERVAL');
  const timeoutMs = timeout ?? Math.min(SPEC_DEFAULTS.timeoutMs, Math.floor(intervalMs / 2));
  const rise = intOption(given, 'rise', 1, 100) ?? SPEC_DEFAULTS.rise;
  const fall = intOption(given, 'fall', 1, 100) ?? SPEC_DEFAULTS.fall;
  if (tcp && (given.has('expect') || given.has('method') || rawHeaders.length > 0)) {
    throw fail('EXPECT, METHOD and HEADER apply to http(s) origins only');
  }
  const expectArg = given.get('expect');
  const expect = expectArg ? formatRanges(parseExpect(expectArg.toString('latin1'))) : SPEC_DEFAULTS.expect;
  const methodArg = given.get('method');
  const method = methodArg ? METHODS.get(lower(methodArg)) : SPEC_DEFAULTS.method;
  if (!method) throw fail('METHOD must be GET or HEAD');
  const headers = parseHeaders(rawHeaders);
  return { id, spec: { url, intervalMs, timeoutMs, rise, fall, expect, method, headers } };
}

const isStringPair = (h: unknown): h is [string, string] =>
  Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string';

/**
 * Reads a replicated or persisted spec. It is turned back into HECK.ADDORIGIN arguments and parsed,
 * and must come out exactly as it went in (canonical EXPECT, upper-case METHOD, ...); null otherwise.
 * Fields this version does not know are ignored, so newer peers can add some.
 */
export function specFromJson(value: unknown): OriginSpec | null {
  if (typeof value !== 'object' || value === null) return null;
  const { url, intervalMs, timeoutMs, rise, fall, expect, method, headers } = value as Record<string, unknown>;
  if (typeof url !== 'string' || typeof expect !== 'string' || typeof method !== 'string') return null;
  if (![intervalMs, timeoutMs, rise, fall].every(Number.isSafeInteger)) return null;
  if (!Array.isArray(headers) || !headers.every(isStringPair)) return null;
  const latin1 = (s: string) => Buffer.from(s, 'latin1');
  const args = [
    ...['heck.addorigin', 'id'].map(latin1),
    Buffer.from(url, 'utf8'),
    ...['interval', `${intervalMs}`, 'timeout', `${timeoutMs}`, 'rise', `${rise}`, 'fall', `${fall}`].map(latin1),
  ];
  // Defaults are left out, so a tcp spec carrying them passes, as parseAddOrigin would build it.
  if (expect !== SPEC_DEFAULTS.expect) args.push(latin1('expect'), latin1(expect));
  if (method !== SPEC_DEFAULTS.method) args.push(latin1('method'), latin1(method));
  for (const [name, v] of headers) args.push(latin1('header'), latin1(name), latin1(v));
  let spec: OriginSpec;
  try {
    spec = parseAddOrigin(args).spec;
  } catch (e) {
    if (e instanceof CommandError) return null;
    throw e;
  }
  const given = { url, intervalMs, timeoutMs, rise, fall, expect, method, headers };
  return JSON.stringify(spec) === JSON.stringify(given) ? spec : null;
}
