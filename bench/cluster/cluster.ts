import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { startNodeProcess, type NodeProcess } from '../../test/helpers/process.js';
import { describeReply, infoMap, originView } from '../../test/helpers/origins.js';
import { ErrorReply, RespClient, type Reply } from '../../test/helpers/resp-client.js';

/** One Heck process of the chaos cluster; `proc` and `client` change when it restarts. */
export interface ChaosNode {
  name: string;
  dir: string;
  proc: NodeProcess;
  client: RespClient;
  /** false after kill or leave, until a restart. */
  running: boolean;
  stopped: boolean;
}

/** What one node says about one origin. */
export interface OriginState {
  status: string;
  owner: string;
}

const POLL_MS = 100;

/** Every node process any cluster here started and that has not exited, for killLiveNodes(). */
const live = new Set<NodeProcess>();

/** SIGKILLs (by pid) every node process still running: for a harness interrupted midway. */
export function killLiveNodes(): void {
  for (const p of live) {
    try {
      process.kill(p.child.pid!, 'SIGCONT');
      process.kill(p.child.pid!, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * N real `heck-server` processes on 127.0.0.1 with fault injection on, driven the way an operator
 * (and a failing machine) would: kill -9, SIGSTOP/SIGCONT, restarts, joins, graceful leaves, bus
 * partitions and clock skew through HECK.FAULT. Every process is started here and killed by pid.
 */
export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  private counter = 0;
  /**
   * Ports are fixed per node, below Linux's ephemeral range (32768 and up): a restart must find
   * its ports free, and an ephemeral one can meanwhile be the local end of any outgoing
   * connection. Each run starts at its own offset, so concurrent runs rarely meet.
   */
  private nextPort = 20_000 + (process.pid % 300) * 40;

  constructor(private readonly profile: 'lan' | 'local' = 'lan') {}

  /** Starts n nodes and has them meet; resolves once each sees all n alive. */
  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.add();
    await this.meshed();
  }

  /** Starts one more node and has it meet the first running one (a join). */
  async add(): Promise<ChaosNode> {
    const name = `n${this.counter++}`;
    const dir = mkdtempSync(join(tmpdir(), `heck-chaos-${name}-`));
    let started: Awaited<ReturnType<ChaosCluster['spawn']>> | undefined;
    for (let attempt = 0; !started; attempt++) {
      const port = this.nextPort;
      this.nextPort += 2;
      started = await this.spawn(dir, { port, busPort: port + 1 }).catch((e: unknown) => {
        // Another program holds one of the two: take the next pair.
        if (attempt < 10 && /EADDRINUSE/.test(String(e))) return undefined;
        throw e;
      });
    }
    const node = { name, dir, ...started, running: true, stopped: false };
    const seed = this.running().find((x) => x !== node);
    this.nodes.push(node);
    if (seed) await this.call(node, 'CLUSTER', 'MEET', '127.0.0.1', String(seed.proc.port), String(seed.proc.busPort));
    return node;
  }

  /** A restart reuses the node's ports, as a real one does: its peers know it there. */
  private async spawn(dir: string, ports: { port: number; busPort: number }): Promise<{ proc: NodeProcess; client: RespClient }> {
    const settings = ['--profile', this.profile, '--fault-injection', 'yes', '--port', String(ports.port), '--bus-port', String(ports.busPort)];
    const proc = await startNodeProcess(settings, {}, { dir });
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return { proc, client: await RespClient.open(proc.port) };
  }

  running(): ChaosNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** Running and not SIGSTOPped: the nodes that can answer. */
  answering(): ChaosNode[] {
    return this.nodes.filter((n) => n.running && !n.stopped);
  }

  async call(node: ChaosNode, ...args: string[]): Promise<Reply> {
    const r = await node.client.call(...args);
    if (r instanceof ErrorReply) throw new Error(`${node.name}: ${args.join(' ')}: ${r.message}`);
    return r;
  }

  /** kill -9. */
  async kill(node: ChaosNode): Promise<void> {
    node.client.close();
    process.kill(node.proc.child.pid!, 'SIGKILL');
    await node.proc.exited;
    node.running = false;
  }

  /** SIGTERM: a graceful leave. */
  async leave(node: ChaosNode): Promise<void> {
    node.client.close();
    await node.proc.stop();
    node.running = false;
  }

  /** SIGSTOP for `ms`, then SIGCONT (a long GC pause, a VM migration). */
  async freeze(node: ChaosNode, ms: number): Promise<void> {
    process.kill(node.proc.child.pid!, 'SIGSTOP');
    node.stopped = true;
    await pause(ms);
    process.kill(node.proc.child.pid!, 'SIGCONT');
    node.stopped = false;
  }

  /** Starts a stopped node again from its data directory; it rejoins by itself. */
  async restart(node: ChaosNode): Promise<void> {
    Object.assign(node, await this.spawn(node.dir, node.proc), { running: true, stopped: false });
  }

  /** Cuts the bus between two groups, both ways. */
  async partition(a: ChaosNode[], b: ChaosNode[]): Promise<void> {
    const bus = (xs: ChaosNode[]) => xs.map((x) => `127.0.0.1:${x.proc.busPort}`);
    for (const x of a) await this.call(x, 'HECK.FAULT', 'PARTITION', ...bus(b));
    for (const x of b) await this.call(x, 'HECK.FAULT', 'PARTITION', ...bus(a));
  }

  async heal(): Promise<void> {
    for (const x of this.answering()) await this.call(x, 'HECK.FAULT', 'HEAL');
  }

  async skew(node: ChaosNode, ms: number): Promise<void> {
    await this.call(node, 'HECK.FAULT', 'SKEW', String(ms));
  }

  /** Polls until `check` holds on the answering nodes; returns how long it took (ms). */
  async until(check: () => Promise<boolean>, what: string, limitMs: number): Promise<number> {
    const started = performance.now();
    while (!(await check())) {
      if (performance.now() - started > limitMs) throw new Error(`not within ${limitMs} ms: ${what}`);
      await pause(POLL_MS);
    }
    return performance.now() - started;
  }

  /** Every answering node sees exactly the answering nodes alive. */
  async meshed(limitMs = 60_000): Promise<number> {
    return this.until(async () => {
      const want = String(this.answering().length);
      for (const n of this.answering()) {
        if (infoMap(await this.call(n, 'CLUSTER', 'INFO')).get('cluster_alive_nodes') !== want) return false;
      }
      return true;
    }, 'every node sees the others alive', limitMs);
  }

  /** Each answering node's view of every origin, by id. */
  async views(): Promise<Map<string, OriginState>[]> {
    const out: Map<string, OriginState>[] = [];
    for (const n of this.answering()) {
      const all = await this.call(n, 'HECK.ALL');
      if (!Array.isArray(all)) throw new Error(`${n.name}: HECK.ALL: ${describeReply(all)}`);
      const view = new Map<string, OriginState>();
      for (const o of all) {
        const v = originView(o);
        view.set(v.get('id') as string, { status: v.get('status') as string, owner: v.get('owner') as string });
      }
      out.push(view);
    }
    return out;
  }

  /** Resident memory (kB) and open file descriptors of each running node, by name. */
  resources(): Map<string, { rssKb: number; fds: number }> {
    const out = new Map<string, { rssKb: number; fds: number }>();
    for (const n of this.running()) {
      const pid = n.proc.child.pid!;
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      out.set(n.name, { rssKb: Number(rss ?? 0), fds: readdirSync(`/proc/${pid}/fd`).length });
    }
    return out;
  }

  /** Kills every process still running (by pid) and removes the data directories. */
  async close(): Promise<void> {
    for (const n of this.nodes) {
      n.client.close();
      const c = n.proc.child;
      if (c.exitCode === null && c.signalCode === null) {
        if (n.stopped) process.kill(c.pid!, 'SIGCONT');
        process.kill(c.pid!, 'SIGKILL');
      }
    }
    await Promise.all(this.nodes.map((n) => n.proc.exited));
    for (const n of this.nodes) rmSync(n.dir, { recursive: true, force: true });
  }
}
