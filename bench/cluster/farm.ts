import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The origin farm of the chaos harness: one HTTP server on 127.0.0.1 whose every path is an
 * origin. It records the time of every probe per origin and which node sent it (the id prefix in
 * Heck's User-Agent), and fails origins on cue (503). It sees the system as an origin operator
 * would: how often, how regularly and by how many nodes each origin is probed.
 */
export class OriginFarm {
  /** Per path: probe times (ms, performance.now()) and the index of the prober in `probers`. */
  private readonly times = new Map<string, number[]>();
  private readonly by = new Map<string, number[]>();
  private readonly probers: string[] = [];
  private readonly failing = new Set<string>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<OriginFarm> {
    const server = createServer({ keepAlive: true });
    server.keepAliveTimeout = 65_000;
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    const farm = new OriginFarm(server, port);
    server.on('request', (req, res) => {
      const path = req.url ?? '/';
      farm.record(path, /\(node ([0-9a-f]+)\)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '?');
      res.writeHead(farm.failing.has(path) ? 503 : 200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
    return farm;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  fail(paths: Iterable<string>): void {
    for (const p of paths) this.failing.add(p);
  }

  recover(): void {
    this.failing.clear();
  }

  private record(path: string, prober: string): void {
    let k = this.probers.indexOf(prober);
    if (k < 0) k = this.probers.push(prober) - 1;
    const times = this.times.get(path) ?? [];
    const by = this.by.get(path) ?? [];
    times.push(performance.now());
    by.push(k);
    this.times.set(path, times);
    this.by.set(path, by);
  }

  /** Probes of one origin in [from, to). */
  probesIn(path: string, from: number, to: number): number {
    const t = this.times.get(path) ?? [];
    let n = 0;
    for (const x of t) if (x >= from && x < to) n++;
    return n;
  }

  /** Node id prefixes that probed the origin in [from, to). */
  probersIn(path: string, from: number, to: number): Set<string> {
    const t = this.times.get(path) ?? [];
    const by = this.by.get(path) ?? [];
    const out = new Set<string>();
    t.forEach((x, i) => x >= from && x < to && out.add(this.probers[by[i]!]!));
    return out;
  }

  /**
   * Gaps between consecutive probes of one origin inside [from, to], the window's edges counting
   * as probes: an origin not probed at all in a 10 s window has a 10 s gap.
   */
  gaps(path: string, from: number, to: number): number[] {
    const out: number[] = [];
    let last = from;
    for (const x of this.times.get(path) ?? []) {
      if (x < from || x > to) continue;
      out.push(x - last);
      last = x;
    }
    out.push(to - last);
    return out;
  }

  /** Forgets probes before `t` (long soaks keep memory flat). */
  forgetBefore(t: number): void {
    for (const [path, times] of this.times) {
      const keep = times.findIndex((x) => x >= t);
      const cut = keep < 0 ? times.length : keep;
      times.splice(0, cut);
      this.by.get(path)!.splice(0, cut);
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
