import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import { HECK_VERSION } from '../version.js';
import { probeHttp, type UserAgentHeader } from './http-prober.js';
import type { OriginSpec } from './spec.js';
import { probeTcp } from './tcp-prober.js';
import type { ProbeResult } from './verdict.js';

export interface ProberOptions {
  /** This node's id; its first 12 characters go into the User-Agent so origins can tell who probes them. */
  nodeId: string;
  /** Name resolution (default: the system's, dns.lookup); tests resolve without the network. */
  lookup?: LookupFunction;
  /** Pooled connections per origin: enough for overlapping probes, few enough not to look like load. */
  maxConnectionsPerOrigin?: number;
  /** Open connections past which probes close theirs after the response (see MAX_KEPT_CONNECTIONS). */
  maxKeptConnections?: number;
}

export interface Prober {
  /**
   * Probes once. Never rejects: every failure is a result with `ok` false and a short, stable reason.
   * `latencyMs` is the time to response headers (http) or to connect (tcp), or to the failure.
   */
  probe(spec: OriginSpec, now: () => number): Promise<ProbeResult>;
  /** Lets in-flight probes finish (each is bounded by its timeout), then closes pooled connections. */
  close(): Promise<void>;
}

const DEFAULT_MAX_CONNECTIONS = 4;
/** Probes come every few seconds: keep idle connections across intervals (a server's hint wins). */
const KEEP_ALIVE_MS = 60_000;
/**
 * Keep-alive costs a socket and an undici pool (~20 KB with its queue) per origin host: 100,000
 * origins on distinct hosts would hold 100,000 descriptors, past a typical limit, and gigabytes.
 * Past this many open connections, probes close theirs after the response, as HAProxy's checks
 * always do: a fresh connection per probe for the origins beyond it, memory and descriptors bounded
 * by the probes in flight.
 */
const MAX_KEPT_CONNECTIONS = 2048;
const MAX_REASON_CHARS = 59;

export function createProber(options: ProberOptions): Prober {
  const agent = new Agent({
    connections: options.maxConnectionsPerOrigin ?? DEFAULT_MAX_CONNECTIONS,
    keepAliveTimeout: KEEP_ALIVE_MS,
    keepAliveMaxTimeout: KEEP_ALIVE_MS,
    ...(options.lookup ? { connect: { lookup: options.lookup } } : {}),
  });
  const maxKept = options.maxKeptConnections ?? MAX_KEPT_CONNECTIONS;
  let open = 0;
  agent.on('connect', () => open++).on('disconnect', () => open--);
  const userAgent: UserAgentHeader = ['User-Agent', `Heck/${HECK_VERSION} (node ${options.nodeId.slice(0, 12)})`];
  let closed = false;

  async function probe(spec: OriginSpec, now: () => number): Promise<ProbeResult> {
    const started = now();
    let outcome: Outcome;
    if (closed) {
      outcome = failed('prober closed', started, now);
    } else {
      try {
        const url = new URL(spec.url);
        outcome = url.protocol === 'tcp:' ? await probeTcpWithin(url, spec.timeoutMs, started, now) : await probeHttp(agent, spec, url, userAgent, now, open >= maxKept);
      } catch (err) {
        outcome = failed(failureReason(err), started, now);
      }
    }
    return { ok: outcome.ok, reason: outcome.reason, latencyMs: outcome.latencyMs, at: now() };
  }

  /** TCP probes are rare next to HTTP ones: an AbortController makes their deadline. */
  async function probeTcpWithin(url: URL, timeoutMs: number, started: number, now: () => number): Promise<Outcome> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('probe timeout')), timeoutMs);
    try {
      await probeTcp(url, deadline.signal, options.lookup);
      return { ok: true, reason: 'ok', latencyMs: now() - started };
    } catch (err) {
      // Whatever the error says, once the deadline has passed the probe timed out.
      return failed(deadline.signal.aborted ? 'timeout' : failureReason(err), started, now);
    } finally {
      clearTimeout(timer);
    }
  }

  async function close(): Promise<void> {
    closed = true;
    await agent.close();
  }

  return { probe, close };
}

/** A result before its completion time is stamped. */
type Outcome = Omit<ProbeResult, 'at'>;

const failed = (reason: string, started: number, now: () => number): Outcome => ({ ok: false, reason, latencyMs: now() - started });

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  // undici's "other side closed": the server hung up before a whole response.
  UND_ERR_SOCKET: 'connection reset',
  ENOTFOUND: 'dns failure',
  EAI_AGAIN: 'dns failure',
  EAI_FAIL: 'dns failure',
  EAI_NODATA: 'dns failure',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  EHOSTDOWN: 'host unreachable',
  // Below our deadline only if the OS or undici gives up first.
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
};

/** OpenSSL verify codes (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, ...) and Node's TLS codes. */
const TLS_CODE = /^ERR_(SSL|TLS)_|CERT|CRL|^HOSTNAME_MISMATCH$|^INVALID_(CA|PURPOSE)$|^PATH_LENGTH_EXCEEDED$/;

/** A stable few words for a failed probe; the raw message goes nowhere (it varies by version). */
function failureReason(err: unknown): string {
  const coded = findCoded(err);
  if (!coded) return 'error';
  const { code, message } = coded;
  const known = REASONS[code];
  if (known) return known;
  // OpenSSL's verify messages are short and fixed (`certificate has expired`); the rest is cut.
  if (TLS_CODE.test(code)) return `tls error ${message.split(':')[0]!.trim() || code}`.slice(0, MAX_REASON_CHARS);
  return `error ${code}`.slice(0, MAX_REASON_CHARS);
}

interface Coded {
  code: string;
  message: string;
}

/** The first error with a code along the cause chain, or in an AggregateError's errors (happy eyeballs). */
function findCoded(err: unknown, depth = 0): Coded | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const { code, message, cause, errors } = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && code !== '') return { code, message: typeof message === 'string' ? message : '' };
  for (const inner of Array.isArray(errors) ? errors : []) {
    const found = findCoded(inner, depth + 1);
    if (found) return found;
  }
  return findCoded(cause, depth + 1);
}
