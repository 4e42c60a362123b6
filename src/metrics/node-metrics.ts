import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { InfoSection } from '../commands/server.js';
import type { Command } from '../commands/table.js';
import { STATUSES, type HealthRecord } from '../probe/health.js';
import type { Labels, MetricFamily } from './prometheus.js';

/** What a node shows Prometheus: the figures INFO shows, and a few only /metrics has. */
export interface MetricsSources {
  /** The INFO sections: their figures are the one source for INFO and /metrics alike. */
  info(): InfoSection[];
  commands(): Iterable<CommandView>;
  verdicts(): Iterable<VerdictView>;
}

/** Only what /metrics reads of a command and of a verdict record. */
type CommandView = Pick<Command, 'fullName' | 'stats'>;
type VerdictView = { readonly value: Pick<HealthRecord, 'status'> | null };
type InfoValue = string | number;

/** A family built from INFO fields: one field, or one field per label set. */
interface InfoMetric {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  fields: string | [field: string, labels: Labels][];
  /** For fields that are not numbers; others go through Number() (INFO prints CPU seconds as text). */
  value?: (v: InfoValue) => number;
}

const counter = (name: string, help: string, fields: InfoMetric['fields']): InfoMetric => ({ name, type: 'counter', help, fields });
const gauge = (name: string, help: string, fields: InfoMetric['fields']): InfoMetric => ({ name, type: 'gauge', help, fields });
const inOut = (inField: string, outField: string): [string, Labels][] => [[inField, { direction: 'in' }], [outField, { direction: 'out' }]];

/** INFO field names -> Prometheus families. An INFO field not listed here is not exported. */
export const FROM_INFO: readonly InfoMetric[] = [
  // Server, Clients, Stats, Memory, CPU, Persistence
  gauge('heck_uptime_seconds', 'Seconds since the node started.', 'uptime_in_seconds'),
  gauge('heck_connected_clients', 'RESP client connections open now.', 'connected_clients'),
  gauge('heck_max_clients', 'The maxclients setting.', 'maxclients'),
  gauge('heck_pubsub_clients', 'Clients subscribed to at least one channel or pattern.', 'pubsub_clients'),
  counter('heck_connections_received_total', 'RESP connections accepted.', 'total_connections_received'),
  counter('heck_connections_rejected_total', 'RESP connections refused (maxclients).', 'rejected_connections'),
  counter('heck_commands_processed_total', 'Commands run, all commands together.', 'total_commands_processed'),
  counter('heck_error_replies_total', 'Error replies sent.', 'total_error_replies'),
  counter('heck_net_input_bytes_total', 'Bytes read from RESP clients.', 'total_net_input_bytes'),
  counter('heck_net_output_bytes_total', 'Bytes written to RESP clients.', 'total_net_output_bytes'),
  gauge('heck_pubsub_channels', 'Channels with at least one subscriber.', 'pubsub_channels'),
  gauge('heck_pubsub_patterns', 'Patterns with at least one subscriber.', 'pubsub_patterns'),
  gauge('heck_process_resident_memory_bytes', 'Resident set size of the process.', 'used_memory_rss'),
  gauge('heck_memory_used_bytes', 'V8 heap in use plus memory held outside it (INFO used_memory).', 'used_memory'),
  gauge('heck_process_heap_total_bytes', 'V8 heap allocated.', 'used_memory_heap_total'),
  counter('heck_process_cpu_seconds_total', 'CPU time used by the process, by mode.', [['used_cpu_user', { mode: 'user' }], ['used_cpu_sys', { mode: 'system' }]]),
  gauge('heck_state_log_bytes', 'Size of the state log on disk.', 'state_log_bytes'),
  gauge('heck_state_snapshot_bytes', 'Size of the state snapshot on disk.', 'state_snapshot_bytes'),
  counter('heck_state_appends_total', 'Records appended to the state log.', 'state_appends'),
  counter('heck_state_fsyncs_total', 'fdatasync calls on the state log (one per group commit).', 'state_fsyncs'),
  counter('heck_state_compactions_total', 'State log compactions into a snapshot.', 'state_compactions'),
  { ...gauge('heck_state_write_failed', '1 once a write to the state log has failed (writes are refused), else 0.', 'aof_last_write_status'), value: (v) => (v === 'ok' ? 0 : 1) },
  // Heck: membership
  gauge('heck_members', 'Cluster members this node knows of, itself included, by state.',
    (['alive', 'suspect', 'dead', 'left'] as const).map((state): [string, Labels] => [`members_${state}`, { state }])),
  gauge('heck_incarnation', "This node's SWIM incarnation number.", 'incarnation'),
  gauge('heck_local_health_score', 'Lifeguard local health (0 = healthy; higher stretches timeouts).', 'local_health_score'),
  gauge('heck_gossip_queue', 'Broadcasts waiting to be piggybacked on the bus.', 'gossip_queue'),
  counter('heck_bus_packets_total', 'Cluster bus packets, by direction.', inOut('bus_packets_in', 'bus_packets_out')),
  counter('heck_bus_bytes_total', 'Cluster bus bytes, by direction.', inOut('bus_bytes_in', 'bus_bytes_out')),
  counter('heck_bus_malformed_packets_total', 'Bus packets dropped as malformed (or not decryptable).', 'bus_malformed'),
  counter('heck_push_pulls_total', 'Membership push-pull state exchanges.', 'push_pulls'),
  // Heck: origins and probing
  gauge('heck_origins', 'Origins in the replicated set.', 'origins'),
  gauge('heck_origin_tombstones', 'Removed origins still remembered (tombstones).', 'origin_tombstones'),
  gauge('heck_origins_owned', 'Origins this node probes.', 'origins_owned'),
  gauge('heck_probe_self_suspect', '1 while this node suspects its own prober (most of its origins failing at once), else 0.', 'probe_self_suspect'),
  counter('heck_probes_total', 'Probes this node made.', 'probe_probes'),
  counter('heck_probe_failures_total', 'Probes this node made that failed.', 'probe_failures'),
  counter('heck_probe_transitions_total', "Status changes this node's probes caused.", 'probe_transitions'),
  counter('heck_probes_skipped_total', 'Probes skipped (too many in flight).', 'probe_skipped'),
  counter('heck_second_opinions_asked_total', 'Second opinions this node asked for while suspecting itself.', 'probe_opinions_asked'),
  counter('heck_second_opinions_overruled_total', 'Second opinions that found the origin up, overruling this node.', 'probe_opinions_overruled'),
  counter('heck_second_opinions_held_total', 'Down verdicts held back for want of a second opinion.', 'probe_verdicts_held'),
  counter('heck_second_opinions_given_total', 'Second opinions this node gave to peers.', 'probe_opinions_given'),
  // Heck: replication
  counter('heck_replication_deltas_sent_total', 'Changes sent as deltas on the gossip.', 'deltas_sent'),
  counter('heck_replication_deltas_received_total', 'Deltas received.', 'deltas_received'),
  counter('heck_replication_deltas_applied_total', 'Received deltas that changed the state.', 'deltas_applied'),
  counter('heck_replication_deltas_too_large_total', 'Changes too large for a packet, left to anti-entropy.', 'deltas_too_large'),
  counter('heck_anti_entropy_rounds_total', 'Anti-entropy exchanges this node started and completed.', 'exchanges'),
  counter('heck_anti_entropy_rounds_failed_total', 'Anti-entropy exchanges this node started that failed.', 'exchanges_failed'),
  counter('heck_anti_entropy_rounds_answered_total', 'Anti-entropy exchanges peers started with this node.', 'exchanges_answered'),
  counter('heck_anti_entropy_bytes_total', 'Anti-entropy payload bytes, by direction.', inOut('exchange_bytes_in', 'exchange_bytes_out')),
  counter('heck_anti_entropy_records_repaired_total', 'Records anti-entropy brought to this node.', 'records_repaired'),
  counter('heck_anti_entropy_records_dropped_total', "Own records dropped because the cluster removed them while this node was away.", 'records_dropped'),
  counter('heck_tombstones_collected_total', 'Tombstones garbage-collected after tombstone-grace.', 'tombstones_collected'),
];

/** The FROM_INFO families, from the INFO sections as INFO would print them now. */
export function fromInfo(sections: InfoSection[]): MetricFamily[] {
  const fields = new Map<string, InfoValue>();
  for (const section of sections) for (const [k, v] of section.fields()) fields.set(k, v);
  const info: MetricFamily = {
    name: 'heck_node_info',
    type: 'gauge',
    help: 'Always 1; the labels describe the node.',
    samples: [{ labels: { node_id: String(fields.get('node_id') ?? ''), version: String(fields.get('heck_version') ?? ''), profile: String(fields.get('profile') ?? '') }, value: 1 }],
  };
  return [info, ...FROM_INFO.map((m) => {
    const wanted = typeof m.fields === 'string' ? [[m.fields, {}] as [string, Labels]] : m.fields;
    const samples = wanted.filter(([f]) => fields.has(f)).map(([f, labels]) => ({ labels, value: (m.value ?? Number)(fields.get(f)!) }));
    return { name: m.name, type: m.type, help: m.help, samples };
  })];
}

/** Commands as a summary without quantiles: count and total time, from the dispatcher's own tally. */
export function commandFamilies(commands: Iterable<CommandView>): MetricFamily[] {
  const duration: MetricFamily = { name: 'heck_command_duration_seconds', type: 'summary', help: 'Time spent running each command; _count is the calls that ran.', samples: [] };
  const rejected: MetricFamily = { name: 'heck_command_rejected_calls_total', type: 'counter', help: 'Calls refused before running (arity, authentication, subscribed context).', samples: [] };
  const failed: MetricFamily = { name: 'heck_command_failed_calls_total', type: 'counter', help: 'Calls that ran and replied with an error.', samples: [] };
  for (const c of commands) {
    const labels = { command: c.fullName };
    duration.samples.push({ suffix: '_sum', labels, value: c.stats.usec / 1e6 }, { suffix: '_count', labels, value: c.stats.calls });
    rejected.samples.push({ labels, value: c.stats.rejectedCalls });
    failed.samples.push({ labels, value: c.stats.failedCalls });
  }
  return [duration, rejected, failed];
}

/** Verdicts by status; removed ones (tombstones) carry no value and are not counted. */
export function verdictFamily(verdicts: Iterable<VerdictView>): MetricFamily {
  const counts = new Map<string, number>(STATUSES.map((s) => [s, 0]));
  for (const e of verdicts) if (e.value) counts.set(e.value.status, counts.get(e.value.status)! + 1);
  return {
    name: 'heck_verdicts',
    type: 'gauge',
    help: 'Verdicts this node holds (its own and replicated), by status.',
    samples: [...counts].map(([status, value]) => ({ labels: { status }, value })),
  };
}

/** Open file descriptors, from /proc (Linux); none elsewhere, so the family is left out. */
function openFds(): MetricFamily {
  const family: MetricFamily = { name: 'heck_process_open_fds', type: 'gauge', help: 'Open file descriptors.', samples: [] };
  try {
    // readdirSync holds one descriptor of its own for the directory while it lists it.
    family.samples.push({ value: readdirSync('/proc/self/fd').length - 1 });
  } catch {
    // not Linux
  }
  return family;
}

const LOOP_DELAY_RESOLUTION_MS = 10;

/** Everything /metrics serves. Owns an event-loop delay monitor while it exists: stop() it. */
export class NodeMetrics {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  constructor(private readonly sources: MetricsSources) {
    this.loopDelay.enable();
  }

  collect(): MetricFamily[] {
    return [
      ...fromInfo(this.sources.info()),
      verdictFamily(this.sources.verdicts()),
      ...commandFamilies(this.sources.commands()),
      ...this.loopDelayFamilies(),
      openFds(),
    ];
  }

  stop(): void {
    this.loopDelay.disable();
  }

  /**
   * Event-loop delay since the previous scrape (the monitor is reset on each, as prom-client does):
   * a cumulative p99 would stop moving after the first hour. NaN when the window saw no sample.
   */
  private loopDelayFamilies(): MetricFamily[] {
    const h = this.loopDelay;
    // The monitor records the time between its own timer's ticks: the delay is what exceeds the tick.
    const seconds = (ns: number) => (h.count === 0 ? NaN : Math.max(0, ns / 1e9 - LOOP_DELAY_RESOLUTION_MS / 1e3));
    const families: MetricFamily[] = [
      { name: 'heck_event_loop_delay_p50_seconds', type: 'gauge', help: 'Median event-loop delay since the previous scrape.', samples: [{ value: seconds(h.percentile(50)) }] },
      { name: 'heck_event_loop_delay_p99_seconds', type: 'gauge', help: '99th percentile event-loop delay since the previous scrape.', samples: [{ value: seconds(h.percentile(99)) }] },
      { name: 'heck_event_loop_delay_max_seconds', type: 'gauge', help: 'Longest event-loop delay since the previous scrape.', samples: [{ value: seconds(h.max) }] },
    ];
    h.reset();
    return families;
  }
}
