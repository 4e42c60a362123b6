import net from 'node:net';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import { parseExpect, statusExpected, type OriginSpec } from './spec.js';

/** Enough to see a response is real; an endless or huge body is cut here, never buffered. */
const MAX_BODY_BYTES = 64 * 1024;

export interface HttpOutcome {
  ok: boolean;
  reason: string;
  /** Time to response headers: the body is read only to free the connection, so it is left out. */
  latencyMs: number;
}

/**
 * One HTTP(S) request as the spec describes it. Redirects are not followed (undici 7's request
 * follows none): a 3xx is judged by EXPECT like any status. Rejects with the transport's error, or
 * with the signal's reason once it aborts, which also covers reading the body.
 */
export async function probeHttp(
  dispatcher: Dispatcher,
  spec: OriginSpec,
  userAgent: string,
  signal: AbortSignal,
  now: () => number,
): Promise<HttpOutcome> {
  const url = new URL(spec.url);
  const headers = spec.headers.flat();
  if (!spec.headers.some(([name]) => name.toLowerCase() === 'user-agent')) headers.push('User-Agent', userAgent);
  const started = now();
  // undici takes SNI from a Host header when one is given; a Host override must not move SNI.
  // It reads `servername` from the request options at run time, but its types leave it out.
  const options: Parameters<typeof request>[1] & { servername?: string } = {
    dispatcher,
    method: spec.method,
    headers,
    signal,
    servername: sniFor(url),
  };
  const res = await request(url, options);
  const latencyMs = now() - started;
  await drain(res.body);
  // undici hands a connection back to its pool one event-loop turn after the response ends; waiting
  // for that turn lets the next probe of this origin reuse it instead of opening another.
  await nextLoopTurn();
  const ok = statusExpected(parseExpect(spec.expect), res.statusCode);
  return { ok, reason: ok ? 'ok' : `status ${res.statusCode}`, latencyMs };
}

/**
 * SNI carries names only, so an IP literal gets none of its own: undici then sends a Host override
 * as SNI, the one name the spec gives for that address.
 */
function sniFor(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) === 0 ? host : undefined;
}

/**
 * Reads the body to its end so the connection can be reused, but no further than MAX_BODY_BYTES:
 * past that, leaving the loop destroys the body, and undici closes the connection with it.
 */
async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read >= MAX_BODY_BYTES) break;
  }
}
