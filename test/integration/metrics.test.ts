/**
 * `--metrics-port`: a real `bin/heck-server` serving GET /metrics in the Prometheus text format
 * 0.0.4, read with a strict parser; the figures move with the node; anything else is a 404; the
 * endpoint closes with the node.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { startNodeProcess, type NodeProcess } from '../helpers/process.js';
import { RespClient, SimpleString } from '../helpers/resp-client.js';
import { within } from '../helpers/run.js';

const HOST = '127.0.0.1';
const ARGS = ['--probing', 'no', '--metrics-port', '0'];

let node: NodeProcess;
let metricsPort: number;

/** The effective metrics port, from the `listening` log line (asked for any free one). */
const metricsPortOf = (p: NodeProcess) => p.logs.find((r) => r.event === 'listening')!.metrics_port as number;

before(async () => {
  node = await startNodeProcess(ARGS);
  metricsPort = metricsPortOf(node);
});

after(async () => {
  const code = await within(node.stop(), 5_000, 'heck-server exiting', () => node.child.kill('SIGKILL'));
  assert.equal(code, 0);
});

interface Response {
  status: number;
  contentType: string | undefined;
  body: string;
}

function http(path: string, method = 'GET', port = metricsPort): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: res.headers['content-type'], body }));
    });
    req.on('error', reject).end();
  });
}

// ---------------------------------------------------------------------------------------------
// A strict reader of the text format: HELP then TYPE open a family; every sample line belongs to
// the family opened last, under a name its type allows; each series appears once.

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  help: string;
  type: string;
  samples: Series[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const SUFFIXES: Record<string, string[]> = {
  counter: [''], gauge: [''], untyped: [''], summary: ['', '_sum', '_count'], histogram: ['_bucket', '_sum', '_count'],
};

const unescape = (s: string) => s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text ?? '';
  while (rest !== '') {
    const m = LABEL.exec(rest);
    assert.ok(m, `label syntax: ${rest}`);
    assert.ok(!(m[1]! in labels), `label ${m[1]} once`);
    labels[m[1]!] = unescape(m[2]!);
    rest = rest.slice(m[0].length);
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  assert.match(text, FLOAT);
  return Number(text);
}

function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the last line ends with a line feed');
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: { name: string; family: Family } | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = HELP_LINE.exec(line))) {
      assert.ok(!families.has(m[1]!), `${m[1]} described once`);
      current = { name: m[1]!, family: { help: unescape(m[2]!), type: '', samples: [] } };
      families.set(m[1]!, current.family);
    } else if ((m = TYPE_LINE.exec(line))) {
      assert.equal(m[1], current?.name, `TYPE ${m[1]} right after its HELP`);
      assert.equal(current!.family.type, '', `one TYPE for ${m[1]}`);
      current!.family.type = m[2]!;
    } else {
      m = SAMPLE_LINE.exec(line);
      assert.ok(m, `a HELP, TYPE or sample line: ${JSON.stringify(line)}`);
      assert.ok(current?.family.type, `sample ${m[1]} after a TYPE line`);
      const name = m[1]!;
      assert.ok(name.startsWith(current.name) && SUFFIXES[current.family.type]!.includes(name.slice(current.name.length)),
        `sample ${name} belongs to family ${current.name} (${current.family.type})`);
      const labels = parseLabels(m[2]);
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      assert.ok(!series.has(key), `series ${key} once`);
      series.add(key);
      current.family.samples.push({ name, labels, value: parseValue(m[3]!) });
    }
  }
  return families;
}

async function scrape(): Promise<Map<string, Family>> {
  const res = await http('/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(res.body);
}

/** The value of one series; fails if the family or the series is missing. */
function valueOf(families: Map<string, Family>, family: string, sample: string, labels: Record<string, string> = {}): number {
  const f = families.get(family);
  assert.ok(f, `family ${family}`);
  const s = f.samples.find((x) => x.name === sample && JSON.stringify(x.labels) === JSON.stringify(labels));
  assert.ok(s, `${sample}${JSON.stringify(labels)}`);
  return s.value;
}

// ---------------------------------------------------------------------------------------------

test('GET /metrics parses: every sample in a TYPEd, described, heck_ family; counters end in _total', async () => {
  const families = await scrape();
  for (const [name, f] of families) {
    assert.match(name, /^heck_/);
    assert.ok(f.help.length > 0, `${name} has HELP text`);
    assert.equal(name.endsWith('_total'), f.type === 'counter', `${name} is a ${f.type}`);
  }
  const expected = [
    'heck_probes_total', 'heck_probe_failures_total', 'heck_verdicts', 'heck_probe_transitions_total',
    'heck_second_opinions_asked_total', 'heck_second_opinions_overruled_total', 'heck_second_opinions_held_total',
    'heck_second_opinions_given_total', 'heck_members', 'heck_bus_bytes_total', 'heck_bus_packets_total',
    'heck_anti_entropy_rounds_total', 'heck_origins', 'heck_origins_owned', 'heck_command_duration_seconds',
    'heck_event_loop_delay_p50_seconds', 'heck_event_loop_delay_p99_seconds', 'heck_event_loop_delay_max_seconds',
    'heck_process_resident_memory_bytes', 'heck_process_heap_total_bytes', 'heck_connected_clients',
  ];
  if (process.platform === 'linux') expected.push('heck_process_open_fds');
  for (const name of expected) assert.ok(families.get(name)?.samples.length, `${name} present`);
  assert.equal(valueOf(families, 'heck_members', 'heck_members', { state: 'alive' }), 1, 'the node itself');
  assert.deepEqual(families.get('heck_verdicts')!.samples.map((s) => s.labels.status), ['up', 'down', 'unknown']);
  assert.equal(valueOf(families, 'heck_node_info', 'heck_node_info', { node_id: node.id, version: families.get('heck_node_info')!.samples[0]!.labels.version!, profile: 'lan' }), 1);
});

test('a PING moves the ping counter by one, and the client shows as connected', async () => {
  const count = (f: Map<string, Family>) => valueOf(f, 'heck_command_duration_seconds', 'heck_command_duration_seconds_count', { command: 'ping' });
  const before = await scrape();
  const client = await RespClient.open(node.port);
  try {
    assert.deepEqual(await client.call('PING'), new SimpleString('PONG'));
    const afterPing = await scrape();
    assert.equal(count(afterPing), count(before) + 1);
    assert.equal(valueOf(afterPing, 'heck_commands_processed_total', 'heck_commands_processed_total'),
      valueOf(before, 'heck_commands_processed_total', 'heck_commands_processed_total') + 1, 'a scrape is not a command');
    assert.ok(valueOf(afterPing, 'heck_command_duration_seconds', 'heck_command_duration_seconds_sum', { command: 'ping' }) >= 0);
    assert.equal(valueOf(afterPing, 'heck_connected_clients', 'heck_connected_clients'), 1);
  } finally {
    client.close();
  }
});

test('CONFIG GET metrics-port answers the port bound, not 0', async () => {
  const client = await RespClient.open(node.port);
  try {
    assert.deepEqual(await client.call('CONFIG', 'GET', 'metrics-port'), ['metrics-port', String(metricsPort)]);
  } finally {
    client.close();
  }
});

test('anything but GET /metrics is a 404; query parameters are ignored', async () => {
  for (const path of ['/', '/metrics/', '/metricsx', '/favicon.ico', '/Metrics']) {
    assert.equal((await http(path)).status, 404, path);
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
    assert.equal((await http('/metrics', method)).status, 404, method);
  }
  assert.equal((await http('/metrics?name[]=heck_probes_total')).status, 200);
});

test('a request with oversized headers is refused with 431 and the connection closed', async () => {
  const socket = connect(metricsPort, HOST);
  let received = '';
  socket.setEncoding('utf8').on('data', (d: string) => (received += d));
  socket.write(`GET /metrics HTTP/1.1\r\nHost: ${HOST}\r\nX-Filler: ${'a'.repeat(16 * 1024)}\r\n\r\n`);
  await within(once(socket, 'close'), 5_000, 'server closing the connection', () => socket.destroy());
  assert.match(received, /^HTTP\/1\.1 431 /);
});

test('SHUTDOWN closes the metrics endpoint too, even with a keep-alive connection open', async () => {
  const other = await startNodeProcess(ARGS);
  const port = metricsPortOf(other);
  try {
    // A scraper's keep-alive connection, served and now idle.
    const socket = connect(port, HOST);
    socket.write(`GET /metrics HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const [first] = (await once(socket, 'data')) as [Buffer];
    assert.match(first.toString(), /^HTTP\/1\.1 200 /);
    socket.resume();
    const socketClosed = once(socket, 'close');

    const client = await RespClient.open(other.port);
    client.send('SHUTDOWN');
    assert.equal(await within(other.exited, 5_000, 'heck-server exiting', () => other.child.kill('SIGKILL')), 0);
    await socketClosed;
    await assert.rejects(http('/metrics', 'GET', port), { code: 'ECONNREFUSED' });
  } finally {
    other.child.kill('SIGKILL');
  }
});
