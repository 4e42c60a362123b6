import net from 'node:net';
import type { Dispatcher } from 'undici';
import { parseExpect, statusExpected, type OriginSpec, type StatusRanges } from './spec.js';

/** Enough to see a response is real; an endless or huge body is cut here, never buffered. */
const MAX_BODY_BYTES = 64 * 1024;

export interface HttpOutcome {
  ok: boolean;
  reason: string;
  /** Time to response headers: the body is read only to free the connection, so it is left out. */
  latencyMs: number;
}

/**
 * One HTTP(S) request as the spec describes it (`url` is spec.url, parsed once by the caller),
 * bounded by spec.timeoutMs from connect to the last body byte. Redirects are not followed: a 3xx
 * is judged by EXPECT like any status. Resolves with the verdict of a response or with a timeout;
 * rejects with the transport's error.
 *
 * It runs on undici's dispatch() with a handler of its own rather than request(): no body stream,
 * no AbortController, no parsed response headers, which a probe never reads. That is most of a
 * probe's cost at thousands of probes a second.
 */
export function probeHttp(
  dispatcher: Dispatcher,
  spec: OriginSpec,
  url: URL,
  userAgent: UserAgentHeader,
  now: () => number,
  /** Close the connection after the response instead of keeping it for the next probe. */
  closeAfter: boolean,
): Promise<HttpOutcome> {
  return new Promise((resolve, reject) => {
    const handler = new ProbeHandler(expectedStatuses(spec.expect), now, spec.timeoutMs, resolve, reject);
    dispatcher.dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: spec.method,
        headers: requestHeaders(spec, userAgent),
        reset: closeAfter,
        // The deadline covers the whole exchange; undici's own (300 s) timers would only add cost.
        headersTimeout: 0,
        bodyTimeout: 0,
        // undici takes SNI from a Host header when one is given; a Host override must not move SNI.
        // It reads `servername` from the request options at run time, but its types leave it out.
        servername: sniFor(url),
      } as Dispatcher.DispatchOptions,
      handler,
    );
  });
}

/** Thrown into undici for a request whose probe timed out before it got a connection. */
const LATE = new Error('probe deadline passed before a connection was free');
/** Passed to undici's abort: only the handler sees them, so they carry no stack worth taking. */
const DEADLINE = new Error('probe deadline');
const BODY_CUT = new Error('probe body cut');

/**
 * undici's handler interface as its own request() uses it (onConnect ... onComplete). Its newer
 * controller interface is wrapped into this one per request, parsing every response's headers.
 */
class ProbeHandler implements Dispatcher.DispatchHandler {
  private abort: ((err: Error) => void) | null = null;
  private settled = false;
  private completed = false;
  private timedOut = false;
  private status = 0;
  private latencyMs = 0;
  private bodyBytes = 0;
  private readonly started: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly expect: StatusRanges,
    private readonly now: () => number,
    timeoutMs: number,
    private readonly resolve: (outcome: HttpOutcome) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.started = now();
    this.timer = setTimeout(() => this.expire(), timeoutMs);
  }

  onConnect(abort: (err?: Error) => void): void {
    // A request that waited for a pooled connection past its deadline is withdrawn by a throw,
    // which undici turns into onError and a request dropped from its queue. Aborting instead
    // would close the connection it was about to get, and under load, every one in turn.
    if (this.settled) throw LATE;
    this.abort = abort;
  }

  onHeaders(statusCode: number): boolean {
    // 1xx interim responses come before the real one.
    if (statusCode >= 200 && this.status === 0) {
      this.status = statusCode;
      this.latencyMs = this.now() - this.started;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bodyBytes += chunk.length;
    // Past the cap the connection is given up: aborting closes it, and onError settles the probe.
    if (this.bodyBytes >= MAX_BODY_BYTES) this.abort!(BODY_CUT);
    return true;
  }

  onComplete(): void {
    this.completed = true;
    clearTimeout(this.timer);
    // undici hands the connection back to its pool in a setImmediate queued during this call;
    // settling after it lets the next probe of this origin reuse it instead of opening another.
    process.nextTick(() => setImmediate(() => this.settle()));
  }

  onError(err: Error): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    if (this.timedOut) this.settle();
    else if (err === BODY_CUT) this.settle();
    else {
      this.settled = true;
      this.reject(err);
    }
  }

  /**
   * The deadline passed. Timers run before the event loop reads its sockets, so behind a busy loop
   * a response that came in time may still be waiting unread: the verdict waits for the reads of
   * this turn (setImmediate runs after them), or this node's own lag would pass for the origin's,
   * and each false timeout would close a healthy connection, making the lag worse.
   */
  private expire(): void {
    setImmediate(() => {
      if (this.completed || this.settled) return;
      this.timedOut = true;
      // On the wire, the request can only be abandoned with its connection; still queued, it is
      // withdrawn when it reaches one (onConnect).
      if (this.abort) this.abort(DEADLINE);
      else this.settle();
    });
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timedOut) return this.resolve({ ok: false, reason: 'timeout', latencyMs: this.now() - this.started });
    const ok = statusExpected(this.expect, this.status);
    this.resolve({ ok, reason: ok ? 'ok' : `status ${this.status}`, latencyMs: this.latencyMs });
  }
}

/** Parsed EXPECT lists by their canonical text: a few distinct ones serve every origin. */
const expectCache = new Map<string, StatusRanges>();
const EXPECT_CACHE_MAX = 64;

function expectedStatuses(expect: string): StatusRanges {
  let ranges = expectCache.get(expect);
  if (!ranges) {
    if (expectCache.size >= EXPECT_CACHE_MAX) expectCache.clear();
    ranges = parseExpect(expect);
    expectCache.set(expect, ranges);
  }
  return ranges;
}

/** `['User-Agent', value]`, made once per prober: undici only reads a request's header list. */
export type UserAgentHeader = [name: 'User-Agent', value: string];

/** The spec's headers, then the User-Agent unless the spec sets one. */
function requestHeaders(spec: OriginSpec, userAgent: UserAgentHeader): string[] {
  if (spec.headers.length === 0) return userAgent;
  const headers = spec.headers.flat();
  if (!spec.headers.some(([name]) => name.toLowerCase() === 'user-agent')) headers.push(...userAgent);
  return headers;
}

/**
 * SNI carries names only, so an IP literal gets none of its own: undici then sends a Host override
 * as SNI, the one name the spec gives for that address.
 */
function sniFor(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) === 0 ? host : undefined;
}
