import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { RespClient, plain, ErrorReply, type Reply } from '../../test/helpers/resp-client.js';

/** Reads INFO <section> on an open connection. */
export async function info(c: RespClient, section: string): Promise<string> {
  const reply = plain(await c.call('INFO', section));
  if (typeof reply !== 'string') throw new Error(`INFO ${section} replied ${describe(reply)}`);
  return reply;
}

/** Reads INFO <section> over a short-lived connection. */
export async function infoOnce(port: number, section: string): Promise<string> {
  const c = await RespClient.open(port);
  try {
    return await info(c, section);
  } finally {
    c.close();
  }
}

export function infoField(text: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim();
}

/**
 * Checks the server answers what the load sends (inline PING, array PING, ECHO) correctly, so a
 * fast error reply can't pass for throughput. Returns what was wrong, if anything.
 */
export async function preflight(port: number): Promise<string[]> {
  const c = await RespClient.open(port);
  const problems: string[] = [];
  const expect = (what: string, got: Reply, want: string) => {
    if (plain(got) !== want) problems.push(`${what}: expected ${JSON.stringify(want)}, got ${describe(got)}`);
  };
  try {
    c.write('PING\r\n');
    expect('inline PING', await c.read(), 'PONG');
    expect('PING', await c.call('PING'), 'PONG');
    expect('ECHO hello', await c.call('ECHO', 'hello'), 'hello');
  } finally {
    c.close();
  }
  return problems;
}

function describe(r: Reply): string {
  if (r instanceof ErrorReply) return `error "${r.message}"`;
  const v = plain(r);
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Opens count idle connections, in batches so the listen backlog (511 in both servers) never overflows. */
export async function openIdle(port: number, count: number, batch = 100): Promise<Socket[]> {
  const sockets: Socket[] = [];
  try {
    while (sockets.length < count) {
      const n = Math.min(batch, count - sockets.length);
      sockets.push(...(await Promise.all(Array.from({ length: n }, () => connectOne(port)))));
    }
  } catch (e) {
    await closeAll(sockets);
    throw e;
  }
  return sockets;
}

function connectOne(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => {
      s.off('error', reject);
      // Later errors (a reset at shutdown) must not crash the bench.
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

export async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()).destroy()))));
}

/**
 * Polls INFO clients until connected_clients reaches atLeast: a client-side 'connect' only means
 * the kernel completed the handshake, not that the server accepted the connection yet. One probe
 * connection throughout, counted in atLeast, so a probe still closing can't inflate the count.
 */
export async function waitForClients(port: number, atLeast: number, timeoutMs = 15_000): Promise<number> {
  const probe = await RespClient.open(port);
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      const seen = Number(infoField(await info(probe, 'clients'), 'connected_clients'));
      if (seen >= atLeast) return seen;
      if (Date.now() > until) throw new Error(`server on port ${port} shows ${seen} clients, expected >= ${atLeast}`);
      await delay(20);
    }
  } finally {
    probe.close();
  }
}
