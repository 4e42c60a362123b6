import assert from 'node:assert/strict';
import { parseReply, type RespClient } from './resp-client.js';

/**
 * Byte-level helpers for the conformance tests: encode requests and the exact replies Redis 7.0
 * sends, and compare them byte for byte. Every string here is ASCII or latin1, one char per byte.
 */

export const REDIS_VERSION = '7.0.15';

/** A RESP bulk string. */
export function bulk(s: string): string {
  return `$${s.length}\r\n${s}\r\n`;
}

/** A request (or a reply) as an array of bulk strings. */
export function cmd(...args: string[]): string {
  return `*${args.length}\r\n${args.map(bulk).join('')}`;
}

export const simple = (s: string) => `+${s}\r\n`;
export const err = (s: string) => `-${s}\r\n`;
export const int = (n: number) => `:${n}\r\n`;

/** Pub/sub frames: `*` arrays in RESP2, `>` pushes in RESP3. */
export function frame(proto: 2 | 3, ...items: (string | number | null)[]): string {
  const head = `${proto === 3 ? '>' : '*'}${items.length}\r\n`;
  return (
    head +
    items
      .map((i) => (i === null ? (proto === 3 ? '_\r\n' : '$-1\r\n') : typeof i === 'number' ? int(i) : bulk(i)))
      .join('')
  );
}

/** HELLO's reply, byte-exact (networking.c helloCommand). */
export function helloReply(proto: 2 | 3, id: number): string {
  const pairs =
    bulk('server') + bulk('redis') +
    bulk('version') + bulk(REDIS_VERSION) +
    bulk('proto') + int(proto) +
    bulk('id') + int(id) +
    bulk('mode') + bulk('standalone') +
    bulk('role') + bulk('master') +
    bulk('modules') + '*0\r\n';
  return (proto === 3 ? '%7\r\n' : '*14\r\n') + pairs;
}

/**
 * Reads exactly as many bytes as `expected` has and compares them. Short expectations are read
 * byte by byte so that a different (shorter) reply fails at once instead of waiting for bytes
 * that never come.
 */
export async function expectBytes(c: RespClient, expected: string, message?: string): Promise<void> {
  if (expected.length > 4096) {
    assert.equal(await c.readBytes(expected.length), expected, message);
    return;
  }
  let got = '';
  for (let i = 0; i < expected.length; i++) {
    let ch: string;
    try {
      ch = await c.readBytes(1);
    } catch {
      assert.equal(got + ' [connection closed]', expected, message);
      return;
    }
    got += ch;
    if (ch === expected[i]) continue;
    // Show the rest of the offending line too.
    while (!got.endsWith('\n') && got.length < i + 300) {
      try {
        got += await c.readBytes(1);
      } catch {
        break;
      }
    }
    assert.equal(got, expected, message);
  }
}

/** The server must send exactly `expected` and then close the connection. */
export async function expectClose(c: RespClient, expected: string, message?: string): Promise<void> {
  assert.equal(await c.readUntilClosed(), expected, message);
  assert.ok(c.isClosed);
}

/** Sends a PING and expects exactly +PONG next: proves nothing unexpected was queued before it. */
export async function expectPong(c: RespClient): Promise<void> {
  c.write('PING\r\n');
  await expectBytes(c, '+PONG\r\n');
}

/** `key:value` fields of an INFO text. */
export function infoFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** `k=v` fields of one CLIENT LIST / CLIENT INFO line. */
export function clientFields(line: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of line.trim().split(' ')) {
    const eq = part.indexOf('=');
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return fields;
}

/**
 * Repeats `probe` (each call a full request/reply round trip with the server) until it returns
 * true. Synchronises on replies, never on timers; fails after `max` rounds.
 */
export async function until(probe: () => Promise<boolean>, what: string, max = 2000): Promise<void> {
  for (let i = 0; i < max; i++) if (await probe()) return;
  assert.fail(`condition never held after ${max} round trips: ${what}`);
}

/** Reads exactly one reply and returns its raw bytes (read byte by byte: for replies of a few KB). */
export async function readRawReply(c: RespClient): Promise<string> {
  let raw = '';
  for (;;) {
    raw += await c.readBytes(1);
    if (raw.endsWith('\n') && parseReply(Buffer.from(raw, 'latin1'))?.end === raw.length) return raw;
  }
}
