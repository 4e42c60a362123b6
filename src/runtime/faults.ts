import type { Clock, TimerHandle } from './clock.js';
import { TransportError, type Address, type Transport } from '../transport/transport.js';

/**
 * Fault injection for chaos runs on real processes (`--fault-injection yes`, off by default; then
 * HECK.FAULT drives it). A partition drops this node's bus traffic to the given bus addresses: a
 * packet vanishes, a request times out as over a dead link. The harness blocks both directions by
 * telling the nodes on each side. A skew shifts this node's wall clock (HLC stamps, verdict
 * times), not its timers, as an NTP step would.
 */
export class Faults {
  private readonly blocked = new Set<string>();
  private skewMs = 0;

  partition(peers: Address[]): void {
    for (const p of peers) this.blocked.add(key(p));
  }

  heal(): void {
    this.blocked.clear();
  }

  skew(ms: number): void {
    this.skewMs = ms;
  }

  get state(): { blocked: string[]; skewMs: number } {
    return { blocked: [...this.blocked].sort(), skewMs: this.skewMs };
  }

  clock(inner: Clock): Clock {
    return {
      now: () => inner.now(),
      wallNow: () => inner.wallNow() + this.skewMs,
      setTimeout: (fn, ms): TimerHandle => inner.setTimeout(fn, ms),
      setInterval: (fn, ms): TimerHandle => inner.setInterval(fn, ms),
    };
  }

  transport(inner: Transport, clock: Clock): Transport {
    const cut = (a: Address) => this.blocked.has(key(a));
    return {
      local: inner.local,
      sendPacket: (to, data) => {
        if (!cut(to)) inner.sendPacket(to, data);
      },
      onPacket: (handler) =>
        inner.onPacket((from, data) => {
          if (!cut(from)) handler(from, data);
        }),
      request: (to, data, timeoutMs) =>
        cut(to)
          ? new Promise<Buffer>((_, reject) =>
              clock.setTimeout(() => reject(new TransportError('TIMEOUT', `no reply from ${key(to)} (partitioned)`)), timeoutMs),
            )
          : inner.request(to, data, timeoutMs),
      onRequest: (handler) => inner.onRequest(handler),
      close: () => inner.close(),
    };
  }
}

const key = (a: Address) => `${a.host}:${a.port}`;
