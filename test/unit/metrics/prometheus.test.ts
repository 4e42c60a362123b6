import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode, escapeHelp, escapeLabelValue, formatValue, type MetricFamily } from '../../../src/metrics/prometheus.js';

describe('encode', () => {
  test('a counter and a gauge: HELP, TYPE, then the samples', () => {
    const families: MetricFamily[] = [
      { name: 'heck_probes_total', type: 'counter', help: 'Probes made.', samples: [{ value: 42 }] },
      {
        name: 'heck_members',
        type: 'gauge',
        help: 'Members by state.',
        samples: [{ labels: { state: 'alive' }, value: 3 }, { labels: { state: 'dead' }, value: 0 }],
      },
    ];
    assert.equal(
      encode(families),
      '# HELP heck_probes_total Probes made.\n' +
        '# TYPE heck_probes_total counter\n' +
        'heck_probes_total 42\n' +
        '# HELP heck_members Members by state.\n' +
        '# TYPE heck_members gauge\n' +
        'heck_members{state="alive"} 3\n' +
        'heck_members{state="dead"} 0\n',
    );
  });

  test('a summary without quantiles: _sum and _count under one TYPE line', () => {
    const labels = { command: 'client|list' };
    const text = encode([{
      name: 'heck_command_duration_seconds',
      type: 'summary',
      help: 'Time.',
      samples: [{ suffix: '_sum', labels, value: 0.25 }, { suffix: '_count', labels, value: 7 }],
    }]);
    assert.equal(
      text,
      '# HELP heck_command_duration_seconds Time.\n' +
        '# TYPE heck_command_duration_seconds summary\n' +
        'heck_command_duration_seconds_sum{command="client|list"} 0.25\n' +
        'heck_command_duration_seconds_count{command="client|list"} 7\n',
    );
  });

  test('several labels keep their order; an empty label set prints no braces', () => {
    const text = encode([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { b: '1', a: '2' }, value: 1 }, { labels: {}, value: 2 }] }]);
    assert.match(text, /^x\{b="1",a="2"\} 1$/m);
    assert.match(text, /^x 2$/m);
  });

  test('label values escape backslash, double quote and line feed; nothing else', () => {
    const text = encode([{ name: 'x', type: 'gauge', help: 'h', samples: [{ labels: { v: 'a\\b"c\nd\te{}=,' }, value: 1 }] }]);
    assert.equal(text.split('\n')[2], 'x{v="a\\\\b\\"c\\nd\te{}=,"} 1');
  });

  test('HELP escapes backslash and line feed but not double quotes', () => {
    const text = encode([{ name: 'x', type: 'gauge', help: 'say "hi"\\n\nnext', samples: [{ value: 1 }] }]);
    assert.equal(text.split('\n')[0], '# HELP x say "hi"\\\\n\\nnext');
  });

  test('a family without samples is left out', () => {
    assert.equal(encode([{ name: 'x', type: 'gauge', help: 'h', samples: [] }]), '');
  });

  test('a repeated family, a bad metric name or a bad label name is a bug, not output', () => {
    const f = (name: string, labels = {}): MetricFamily => ({ name, type: 'gauge', help: 'h', samples: [{ labels, value: 1 }] });
    assert.throws(() => encode([f('x'), f('x')]), /appears twice/);
    assert.throws(() => encode([f('1x')]), /invalid metric name/);
    assert.throws(() => encode([f('a-b')]), /invalid metric name/);
    assert.throws(() => encode([f('x', { 'a-b': 'v' })]), /invalid label name/);
    assert.throws(() => encode([f('x', { __name__: 'v' })]), /invalid label name/);
  });
});

describe('formatValue', () => {
  test('NaN and infinities by the names Prometheus parses', () => {
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
  });

  test('finite numbers in a float syntax Go parses', () => {
    assert.equal(formatValue(0), '0');
    assert.equal(formatValue(-0), '0');
    assert.equal(formatValue(-3), '-3');
    assert.equal(formatValue(0.000123), '0.000123');
    assert.equal(formatValue(1e-7), '1e-7');
    assert.equal(formatValue(2 ** 53), '9007199254740992');
    assert.equal(formatValue(1.5e300), '1.5e+300');
  });

  test('in a sample line', () => {
    assert.match(encode([{ name: 'x', type: 'gauge', help: 'h', samples: [{ value: NaN }] }]), /^x NaN$/m);
  });
});

describe('escape helpers', () => {
  test('are the identity on ordinary text', () => {
    assert.equal(escapeHelp('Probes made (total).'), 'Probes made (total).');
    assert.equal(escapeLabelValue('client|list'), 'client|list');
  });
});
