import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InfoSection } from '../../../src/commands/server.js';
import { CommandStats } from '../../../src/commands/table.js';
import { commandFamilies, FROM_INFO, fromInfo, NodeMetrics, verdictFamily } from '../../../src/metrics/node-metrics.js';
import type { MetricFamily } from '../../../src/metrics/prometheus.js';

const section = (name: string, fields: [string, string | number][]): InfoSection => ({ name, inDefault: true, fields: () => fields });
const family = (families: MetricFamily[], name: string) => families.find((f) => f.name === name);

describe('fromInfo', () => {
  const families = fromInfo([
    section('Server', [['heck_version', '1.2.3'], ['uptime_in_seconds', 12]]),
    section('CPU', [['used_cpu_user', '1.500000'], ['used_cpu_sys', '0.250000']]),
    section('Persistence', [['aof_last_write_status', 'err']]),
    section('Heck', [['node_id', 'n"1'], ['profile', 'local'], ['members_alive', 3], ['members_dead', 1], ['probe_probes', 9], ['bus_bytes_in', 100], ['bus_bytes_out', 200]]),
  ]);

  test('an INFO field becomes a sample of its family, under the Prometheus name', () => {
    assert.deepEqual(family(families, 'heck_probes_total')?.samples, [{ labels: {}, value: 9 }]);
    assert.deepEqual(family(families, 'heck_uptime_seconds')?.samples, [{ labels: {}, value: 12 }]);
  });

  test('fields of one family become labels; fields INFO does not show are left out', () => {
    assert.deepEqual(family(families, 'heck_members')?.samples, [
      { labels: { state: 'alive' }, value: 3 },
      { labels: { state: 'dead' }, value: 1 },
    ]);
    assert.deepEqual(family(families, 'heck_bus_bytes_total')?.samples, [
      { labels: { direction: 'in' }, value: 100 },
      { labels: { direction: 'out' }, value: 200 },
    ]);
    assert.deepEqual(family(families, 'heck_probe_failures_total')?.samples, []);
  });

  test('text fields: CPU seconds as numbers, the write status as 0/1, the node as info labels', () => {
    assert.deepEqual(family(families, 'heck_process_cpu_seconds_total')?.samples.map((s) => s.value), [1.5, 0.25]);
    assert.deepEqual(family(families, 'heck_state_write_failed')?.samples.map((s) => s.value), [1]);
    assert.deepEqual(family(families, 'heck_node_info')?.samples, [{ labels: { node_id: 'n"1', version: '1.2.3', profile: 'local' }, value: 1 }]);
  });
});

describe('naming conventions', () => {
  const stats = Object.assign(new CommandStats(), { calls: 4, usec: 2_500, rejectedCalls: 1, failedCalls: 2 });
  const all = [
    ...FROM_INFO.map((m) => ({ name: m.name, type: m.type })),
    ...commandFamilies([{ fullName: 'ping', stats }]),
    verdictFamily([]),
  ];

  test('every family is heck_-prefixed, every counter ends in _total and nothing else does', () => {
    for (const f of all) {
      assert.match(f.name, /^heck_[a-z0-9_]+$/, f.name);
      assert.equal(f.name.endsWith('_total'), f.type === 'counter', f.name);
    }
  });

  test('FROM_INFO names each INFO field once', () => {
    const fields = FROM_INFO.flatMap((m) => (typeof m.fields === 'string' ? [m.fields] : m.fields.map(([f]) => f)));
    assert.equal(new Set(fields).size, fields.length);
  });
});

test('commandFamilies: a summary of calls and seconds, and the rejected and failed counters', () => {
  const stats = Object.assign(new CommandStats(), { calls: 4, usec: 2_500, rejectedCalls: 1, failedCalls: 2 });
  const [duration, rejected, failed] = commandFamilies([{ fullName: 'config|get', stats }]);
  const labels = { command: 'config|get' };
  assert.deepEqual(duration!.samples, [{ suffix: '_sum', labels, value: 0.0025 }, { suffix: '_count', labels, value: 4 }]);
  assert.deepEqual(rejected!.samples, [{ labels, value: 1 }]);
  assert.deepEqual(failed!.samples, [{ labels, value: 2 }]);
});

test('verdictFamily: every status, counted; tombstones ignored', () => {
  const v = (status: 'up' | 'down' | 'unknown') => ({ value: { status } });
  const f = verdictFamily([v('up'), v('up'), v('down'), { value: null }]);
  assert.deepEqual(f.samples, [
    { labels: { status: 'up' }, value: 2 },
    { labels: { status: 'down' }, value: 1 },
    { labels: { status: 'unknown' }, value: 0 },
  ]);
});

test('NodeMetrics: event-loop delay gauges, and the open descriptors on Linux', () => {
  const metrics = new NodeMetrics({ info: () => [], commands: () => [], verdicts: () => [] });
  try {
    const families = metrics.collect();
    for (const name of ['heck_event_loop_delay_p50_seconds', 'heck_event_loop_delay_p99_seconds', 'heck_event_loop_delay_max_seconds']) {
      const value = family(families, name)!.samples[0]!.value;
      assert.ok(Number.isNaN(value) || value >= 0, `${name} = ${value}`);
    }
    if (process.platform === 'linux') assert.ok(family(families, 'heck_process_open_fds')!.samples[0]!.value > 0);
  } finally {
    metrics.stop();
  }
});
