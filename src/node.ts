import { mkdirSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { clusterCommands } from './commands/cluster.js';
import { heckCommands } from './commands/heck.js';
import { Dispatcher } from './commands/dispatch.js';
import { connectionCommands } from './commands/connection.js';
import { pubsubCommands } from './commands/pubsub.js';
import { serverCommands, type InfoSection } from './commands/server.js';
import { CommandTable } from './commands/table.js';
import type { Config } from './config.js';
import { startMetricsServer } from './metrics/server.js';
import { Membership } from './membership/membership.js';
import { PROFILES } from './membership/profile.js';
import { SystemClock, type Clock } from './runtime/clock.js';
import { Faults } from './runtime/faults.js';
import { faultCommands } from './commands/fault.js';
import { CryptoRandom, type Random } from './runtime/random.js';
import type { Logger } from './runtime/logger.js';
import { PubSubHub } from './server/pubsub.js';
import { RespServer } from './server/server.js';
import { loadOrCreateNodeId } from './store/identity.js';
import { loadPeers, savePeers } from './store/peers.js';
import { StateStore } from './store/state-store.js';
import { Replica } from './replication/replica.js';
import { REPLICATION_PROFILES, Replicator } from './replication/replicator.js';
import { EVENTS_CHANNEL, originEvent, ORIGINS_CHANNEL, statusEvent } from './replication/events.js';
import { connectProbing } from './probe/cluster.js';
import { ProbeEngine } from './probe/engine.js';
import { createProber } from './probe/prober.js';
import { Keyring } from './transport/keyring.js';
import { MAX_SECURE_PACKET_BYTES, SecureTransport } from './transport/secure.js';
import { MAX_PACKET_BYTES, type Transport } from './transport/transport.js';
import { UdpTcpTransport } from './transport/udp-tcp.js';
import { HECK_VERSION, REDIS_COMPAT_VERSION } from './version.js';

export interface NodeOptions {
  logger: Logger;
  clock?: Clock;
  random?: Random;
  configFile?: string | null;
  /** Called once when the node has stopped on its own (SHUTDOWN). */
  onStopped?: () => void;
}

export interface RunningNode {
  readonly port: number;
  readonly busPort: number;
  readonly id: string;
  readonly hub: PubSubHub;
  readonly membership: Membership;
  readonly replica: Replica;
  readonly replicator: Replicator;
  /** Graceful stop: no new clients, replies owed are sent, then every connection closes. */
  stop(): Promise<void>;
}

/** A peer's clock this far ahead of ours is not followed (see Hlc). */
const MAX_CLOCK_AHEAD_MS = 60_000;
const COMPACT_CHECK_MS = 5_000;
const MAX_PROBES_IN_FLIGHT = 2_000;
const PROBE_DETAIL_FLUSH_MS = 10_000;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The composition root: the one place where the real clock, randomness and sockets are created and
 * wired to the components that only know their narrow interfaces.
 */
export async function startNode(config: Config, options: NodeOptions): Promise<RunningNode> {
  // Chaos runs reach inside through HECK.FAULT; without the setting nothing is wrapped.
  const faults = config.faultInjection ? new Faults() : null;
  const baseClock = options.clock ?? new SystemClock();
  const clock = faults ? faults.clock(baseClock) : baseClock;
  const random = options.random ?? new CryptoRandom();
  const { logger } = options;
  mkdirSync(config.dir, { recursive: true });
  const nodeId = loadOrCreateNodeId(config.dir, random);

  // The replicated state, replayed from disk before anything can change it.
  const loadStart = clock.now();
  const { store, payloads } = StateStore.open(config.dir, { logger });
  let writeFailure: string | null = null;
  const replica = new Replica({
    nodeId,
    wallNow: () => clock.wallNow(),
    tombstoneGraceMs: config.tombstoneGraceSec * 1000,
    maxClockAheadMs: MAX_CLOCK_AHEAD_MS,
    persist: (payload) => store.append(payload),
  });
  const skipped = replica.load(payloads);
  logger.info('state_loaded', {
    origins: replica.origins.set.size,
    records: replica.origins.set.records + replica.health.set.records,
    skipped,
    ms: Math.round(clock.now() - loadStart),
  });
  // Every write of one group commit shares its promise: wrapped once per group, not per command.
  let group: Promise<void> | null = null;
  let groupDurable: Promise<void> = Promise.resolve();
  const durable = (): Promise<void> => {
    const synced = store.synced();
    if (synced !== group) {
      group = synced;
      groupDurable = synced.catch((e: unknown) => {
        writeFailure ??= String((e as Error)?.message ?? e);
        throw e;
      });
    }
    return groupDurable;
  };

  const startedAt = clock.now();
  const runId = random.bytes(20).toString('hex');
  const hub = new PubSubHub();
  replica.origins.onChange((after, before) => {
    if (!hub.hasReceivers(ORIGINS_CHANNEL)) return;
    const event = originEvent(after, before);
    if (event) hub.publish(ORIGINS_CHANNEL, event);
  });
  // Every node announces each status change it learns, from its own probe or from a peer.
  replica.health.onChange((after, before) => {
    if (!hub.hasReceivers(EVENTS_CHANNEL)) return;
    const event = statusEvent(after, before);
    if (event) hub.publish(EVENTS_CHANNEL, event);
  });
  const prober = createProber({ nodeId });
  const engine = new ProbeEngine({
    nodeId,
    origins: replica.origins,
    health: replica.health,
    prober,
    clock,
    random,
    logger,
    maxInFlight: MAX_PROBES_IN_FLIGHT,
    detailFlushMs: PROBE_DETAIL_FLUSH_MS,
  });
  let stopping: Promise<void> | null = null;

  const table = new CommandTable();
  const dispatcher = new Dispatcher(table, clock, logger);
  const server = new RespServer(config, { dispatcher, hub, clock, logger });

  const membershipFields = (): [string, string | number][] => {
    if (!membership) return [];
    const members = membership.list();
    const count = (state: string) => members.filter((x) => x.state === state).length;
    const st = membership.stats;
    return [
      ['members_alive', count('alive')],
      ['members_suspect', count('suspect')],
      ['members_dead', count('dead')],
      ['members_left', count('left')],
      ['incarnation', membership.get(nodeId)?.incarnation ?? 0],
      ['local_health_score', membership.awarenessScore()],
      ['gossip_queue', membership.queuedBroadcasts()],
      ['bus_packets_in', st.packetsIn],
      ['bus_packets_out', st.packetsOut],
      ['bus_bytes_in', st.bytesIn],
      ['bus_bytes_out', st.bytesOut],
      ['bus_malformed', st.malformed],
      ['push_pulls', st.pushPulls],
    ];
  };

  const sections = (): InfoSection[] => {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const uptime = Math.floor((clock.now() - startedAt) / 1000);
    const sessions = [...server.sessions.values()];
    const buffers = sessions.map((s) => s.memory());
    const human = (n: number) => `${(n / 1024 / 1024).toFixed(2)}M`;
    return [
      { name: 'Server', inDefault: true, fields: () => [
        ['redis_version', REDIS_COMPAT_VERSION],
        ['heck_version', HECK_VERSION],
        ['redis_mode', 'standalone'],
        ['os', `${platform()} ${release()} ${arch()}`],
        ['arch_bits', arch().includes('64') ? 64 : 32],
        ['process_id', process.pid],
        ['run_id', runId],
        ['tcp_port', config.port],
        ['uptime_in_seconds', uptime],
        ['uptime_in_days', Math.floor(uptime / 86400)],
        ['executable', process.argv[1] ?? ''],
        ['config_file', options.configFile ?? ''],
        ['node_version', process.version],
      ] },
      { name: 'Clients', inDefault: true, fields: () => [
        ['connected_clients', sessions.length],
        ['maxclients', config.maxclients],
        ['client_recent_max_input_buffer', Math.max(0, ...buffers.map((b) => b.queryBuffer))],
        ['client_recent_max_output_buffer', Math.max(0, ...buffers.map((b) => b.outputBuffer))],
        ['blocked_clients', 0],
        ['pubsub_clients', sessions.filter((s) => s.channels.size + s.patterns.size > 0).length],
      ] },
      { name: 'Memory', inDefault: true, fields: () => [
        ['used_memory', mem.heapUsed + mem.external],
        ['used_memory_human', human(mem.heapUsed + mem.external)],
        ['used_memory_rss', mem.rss],
        ['used_memory_rss_human', human(mem.rss)],
        ['used_memory_heap_total', mem.heapTotal],
        ['used_memory_array_buffers', mem.arrayBuffers],
        ['maxmemory', 0],
        ['mem_allocator', 'v8'],
      ] },
      { name: 'Persistence', inDefault: true, fields: () => [
        ['loading', 0],
        ['rdb_changes_since_last_save', 0],
        ['aof_enabled', 1],
        ['aof_last_write_status', writeFailure === null ? 'ok' : 'err'],
        ['state_log_bytes', store.stats.logBytes],
        ['state_snapshot_bytes', store.stats.snapshotBytes],
        ['state_appends', store.stats.appends],
        ['state_fsyncs', store.stats.syncs],
        ['state_compactions', store.stats.compactions],
      ] },
      { name: 'Stats', inDefault: true, fields: () => [
        ['total_connections_received', server.stats.connectionsReceived],
        ['total_commands_processed', dispatcher.totalCommands],
        ['total_net_input_bytes', server.stats.netInputBytes],
        ['total_net_output_bytes', server.stats.netOutputBytes],
        ['rejected_connections', server.stats.rejectedConnections],
        ['pubsub_channels', hub.channelCount()],
        ['pubsub_patterns', hub.patternCount()],
        ['total_error_replies', [...table.errorStats.values()].reduce((a, b) => a + b, 0)],
      ] },
      { name: 'Replication', inDefault: true, fields: () => [
        ['role', 'master'],
        ['connected_slaves', 0],
        ['master_repl_offset', 0],
      ] },
      { name: 'CPU', inDefault: true, fields: () => [
        ['used_cpu_sys', (cpu.system / 1e6).toFixed(6)],
        ['used_cpu_user', (cpu.user / 1e6).toFixed(6)],
        ['used_cpu_sys_children', '0.000000'],
        ['used_cpu_user_children', '0.000000'],
      ] },
      { name: 'Commandstats', inDefault: false, fields: () =>
        table.everything().filter((c) => c.stats.calls + c.stats.rejectedCalls + c.stats.failedCalls > 0).map((c) => {
          const s = c.stats;
          const perCall = s.calls ? s.usec / s.calls : 0;
          return [`cmdstat_${c.fullName}`, `calls=${s.calls},usec=${Math.round(s.usec)},usec_per_call=${perCall.toFixed(2)},rejected_calls=${s.rejectedCalls},failed_calls=${s.failedCalls}`];
        }) },
      { name: 'Errorstats', inDefault: true, fields: () =>
        [...table.errorStats].map(([code, count]) => [`errorstat_${code}`, `count=${count}`]) },
      { name: 'Cluster', inDefault: true, fields: () => [['cluster_enabled', 0]] },
      { name: 'Keyspace', inDefault: true, fields: () => [] },
      { name: 'Heck', inDefault: true, fields: () => [
        ['heck_version', HECK_VERSION],
        ['node_id', nodeId],
        ['profile', config.profile],
        ['bus_port', config.busPort],
        ['data_dir', config.dir],
        ['cluster_key', config.clusterKey ? 'on' : 'off'],
        ...membershipFields(),
        ['origins', replica.origins.set.size],
        ['origin_tombstones', replica.origins.set.records - replica.origins.set.size],
        ['verdicts', replica.health.set.size],
        ['origins_owned', engine.owned],
        ['probe_self_suspect', engine.selfCheck.suspect ? 1 : 0],
        ...Object.entries(engine.stats).map(([k, v]): [string, number] => [`probe_${snake(k)}`, v]),
        ...Object.entries(replicator?.stats ?? {}).map(([k, v]): [string, number] => [snake(k), v]),
      ] },
    ];
  };

  // Stop reading requests at once (nothing after SHUTDOWN runs), leave the cluster so peers learn
  // immediately, and let clients have the replies they are owed.
  const stopSteps: (() => Promise<void>)[] = [];
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const clientsClosed = server.close();
      for (const step of stopSteps) await step();
      await clientsClosed;
      logger.info('stopped');
    })();
    return stopping;
  };

  table.register(connectionCommands({
      requirepass: () => config.requirepass,
      hub,
      clients: () => server.sessions.values(),
      now: () => clock.now(),
  }));
  table.register(serverCommands({
      table,
      config,
      infoSections: sections,
      configChanged(names) {
        if (names.includes('log-level')) logger.setLevel(config.logLevel);
        logger.info('config_set', { settings: names.join(',') });
      },
      resetStats() {
        table.resetStats();
        dispatcher.totalCommands = 0;
        Object.assign(server.stats, { connectionsReceived: 0, rejectedConnections: 0, netInputBytes: 0, netOutputBytes: 0 });
      },
      dbsize: () => replica.origins.set.size,
      wallNow: () => clock.wallNow(),
      shutdown() {
        logger.info('shutdown_requested', { by: 'SHUTDOWN command' });
        void stop().then(() => options.onStopped?.());
      },
  }));
  table.register(pubsubCommands(hub));
  table.register(heckCommands({
    origins: replica.origins,
    health: replica.health,
    durable,
    writeError: () => writeFailure,
    owners: (id) => engine.owners(id),
    latest: (id) => engine.latest(id),
    wallNow: () => clock.wallNow(),
  }));
  if (faults) table.register(faultCommands(faults));
  let membership: Membership | undefined;
  let replicator: Replicator | undefined;
  table.register(clusterCommands({
    myId: nodeId,
    members: () => membership?.list() ?? [],
    digest: () => membership?.digest() ?? '',
    meet: (bus) => void membership?.join([bus]),
    forget: (id) => membership?.forget(id) ?? false,
    wallNow: () => clock.wallNow(),
    infoLines: () => [
      ['cluster_origins', replica.origins.set.size],
      ['cluster_origins_owned', engine.owned],
      ['cluster_origins_digest', replica.origins.set.liveDigest()],
    ],
  }));

  // The effective ports, for CONFIG GET, INFO and the bus, when the node was asked for any free one.
  config.port = await server.listen();
  let transport: Transport;
  try {
    transport = await UdpTcpTransport.start({ bind: config.bind, port: config.busPort, clock, logger });
  } catch (e) {
    await server.close();
    throw e;
  }
  config.busPort = transport.local.port;
  if (faults) transport = faults.transport(transport, clock);
  const keyring = Keyring.fromSetting(config.clusterKey);
  if (keyring) transport = new SecureTransport(transport, keyring, config.clusterName);
  membership = new Membership({
    transport,
    clock,
    random,
    logger,
    config: PROFILES[config.profile],
    self: { id: nodeId, host: config.bind, port: config.port, busPort: config.busPort },
    packetBudget: keyring ? MAX_SECURE_PACKET_BYTES : MAX_PACKET_BYTES,
  });
  const m = membership;
  // Known peers are rewritten when membership changes (at most once a second), so a restarted
  // node finds its cluster again without a CLUSTER MEET.
  let peersDirty = false;
  m.onChange(() => (peersDirty = true));
  const peerSaver = clock.setInterval(() => {
    if (!peersDirty) return;
    peersDirty = false;
    const peers = m.list().filter((x) => x.id !== nodeId && x.state !== 'left');
    savePeers(config.dir, peers.map((x) => ({ id: x.id, host: x.host, busPort: x.busPort })));
  }, 1000);
  m.start();
  void m.join(loadPeers(config.dir, logger));

  const r = new Replicator({
    replica,
    bus: {
      broadcastUser: (c, p, k) => m.broadcastUser(c, p, k),
      onUser: (c, h) => m.onUser(c, h),
      requestUser: (id, c, p) => m.requestUser(id, c, p),
      onUserRequest: (c, h) => m.onUserRequest(c, h),
      alivePeers: () => m.list().filter((x) => x.id !== nodeId && x.state === 'alive').map((x) => x.id),
      hasLivePeers: () => m.livePeerCount() > 0,
    },
    clock,
    random,
    logger,
    timers: REPLICATION_PROFILES[config.profile],
  });
  replicator = r;
  r.start();
  connectProbing({ membership: m, clock, engine, spec: (id) => replica.origins.set.value(id), prober, wallNow: () => clock.wallNow() });
  if (config.probing) engine.start();
  // The log is folded into a snapshot once it outgrows the state it describes.
  const compactor = clock.setInterval(() => {
    if (!store.shouldCompact()) return;
    store.compact(replica.snapshotChunks()).catch((e: unknown) => logger.error('compaction_failed', { error: String(e) }));
  }, COMPACT_CHECK_MS);

  stopSteps.push(async () => {
    m.leave();
    m.stop();
    r.stop();
    engine.stop();
    await prober.close();
    peerSaver.cancel();
    compactor.cancel();
    await transport.close();
    await store.close();
  });
  // Prometheus reads the figures INFO shows. Opened last: if it cannot listen, stop() undoes the rest.
  if (config.metricsPort !== null) {
    const sources = { info: sections, commands: () => table.everything(), verdicts: () => replica.health.set.entries() };
    const metrics = await startMetricsServer({ bind: config.bind, port: config.metricsPort, logger, sources }).catch(async (e: unknown) => {
      await stop();
      throw e;
    });
    config.metricsPort = metrics.port;
    stopSteps.push(() => metrics.close());
  }
  logger.info('listening', { id: nodeId, bind: config.bind, port: config.port, bus_port: config.busPort, metrics_port: config.metricsPort ?? undefined, profile: config.profile, version: HECK_VERSION });
  return { port: config.port, busPort: config.busPort, id: nodeId, hub, membership: m, replica, replicator: r, stop };
}
