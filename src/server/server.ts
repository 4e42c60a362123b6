import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Dispatcher } from '../commands/dispatch.js';
import type { Config } from '../config.js';
import { errors } from '../commands/errors.js';
import type { Clock, TimerHandle } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import type { PubSubHub } from './pubsub.js';
import { Session } from './session.js';
import { startReading } from './socket-reader.js';

export interface ServerStats {
  connectionsReceived: number;
  rejectedConnections: number;
  netInputBytes: number;
  netOutputBytes: number;
}

/** Accepts RESP clients, enforces maxclients and idle timeouts, and closes gracefully. */
export class RespServer {
  readonly sessions = new Map<number, Session>();
  readonly stats: ServerStats = { connectionsReceived: 0, rejectedConnections: 0, netInputBytes: 0, netOutputBytes: 0 };
  private readonly net: NetServer;
  private nextId = 1;
  private sweeper: TimerHandle | null = null;
  private allClosed: (() => void) | null = null;

  constructor(
    private readonly config: Config,
    private readonly deps: { dispatcher: Dispatcher; hub: PubSubHub; clock: Clock; logger: Logger },
  ) {
    this.net = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  /** Listens on bind:port; resolves with the port actually bound (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen({ port: this.config.port, host: this.config.bind, backlog: 511 }, () => {
        this.net.off('error', reject);
        this.sweeper = this.deps.clock.setInterval(() => this.closeIdleClients(), 1000);
        const addr = this.net.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.config.port);
      });
    });
  }

  /**
   * Stops accepting, lets every client receive the replies it was owed, then closes them. A client
   * that does not read its replies within the grace period is cut off, so shutdown always ends.
   */
  async close(graceMs = 5000): Promise<void> {
    this.sweeper?.cancel();
    this.net.close();
    if (this.sessions.size === 0) return;
    const done = new Promise<void>((resolve) => (this.allClosed = resolve));
    for (const s of this.sessions.values()) s.end();
    const cutoff = this.deps.clock.setTimeout(() => {
      for (const s of this.sessions.values()) s.kill();
    }, graceMs);
    await done;
    cutoff.cancel();
  }

  private accept(accepted: Socket): void {
    this.stats.connectionsReceived++;
    if (this.sessions.size >= this.config.maxclients) {
      this.stats.rejectedConnections++;
      accepted.on('error', () => {});
      accepted.end(`-${errors.maxClients().reply}\r\n`);
      return;
    }
    const id = this.nextId++;
    const config = this.config;
    let session: Session | undefined;
    const { socket } = startReading(accepted, (chunk) => session!.receive(chunk));
    session = new Session(id, socket, {
      dispatcher: this.deps.dispatcher,
      clock: this.deps.clock,
      logger: this.deps.logger,
      readerLimits: {
        get maxBulkLen() { return config.protoMaxBulkLenBytes; },
        get maxQueryBuffer() { return config.clientQueryBufferLimitBytes; },
      },
      authRequired: () => config.requirepass !== '',
      outputLimit: (subscriber) => (subscriber ? config.outputLimitPubsub : config.outputLimitNormal),
      onClose: (s) => this.onSessionClosed(s),
      countIo: (inBytes, outBytes) => {
        this.stats.netInputBytes += inBytes;
        this.stats.netOutputBytes += outBytes;
      },
    });
    this.sessions.set(id, session);
  }

  private onSessionClosed(session: Session): void {
    this.sessions.delete(session.id);
    this.deps.hub.dropAll(session);
    if (this.sessions.size === 0) this.allClosed?.();
  }

  /** Redis' `timeout`: idle clients are closed, subscribers excepted. */
  private closeIdleClients(): void {
    const limitMs = this.config.idleTimeoutSec * 1000;
    if (limitMs === 0) return;
    const now = this.deps.clock.now();
    for (const s of this.sessions.values()) {
      if (s.channels.size + s.patterns.size > 0 || s.idleMs(now) <= limitMs) continue;
      this.deps.logger.debug('client_idle_timeout', { client: s.id, addr: s.remoteAddress });
      s.kill();
    }
  }
}
