import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { healthFromJson, UNKNOWN_HEALTH, type HealthRecord, type Status } from '../../../src/probe/health.js';
import { applyProbe, type Thresholds } from '../../../src/probe/verdict.js';

const T0 = 1_700_000_000_000;
const ok = (at = T0) => ({ ok: true, reason: 'ok', latencyMs: 12, at });
const fail = (at = T0) => ({ ok: false, reason: 'timeout', latencyMs: 2000, at });

const record = (status: Status, successes = 0, failures = 0): HealthRecord => ({
  ...UNKNOWN_HEALTH,
  status,
  successes,
  failures,
});

/** Feeds results (true = success) one a millisecond apart; returns the end record and every transition. */
function run(start: HealthRecord, spec: Thresholds, results: boolean[]) {
  let r = start;
  const transitions: string[] = [];
  results.forEach((good, i) => {
    const out = applyProbe(r, spec, good ? ok(T0 + i) : fail(T0 + i), 'node-a');
    r = out.record;
    if (out.transition) transitions.push(`${i}:${out.transition.from}->${out.transition.to}`);
  });
  return { record: r, transitions };
}

describe('applyProbe transitions', () => {
  const spec = { rise: 2, fall: 3 };
  const cases: [name: string, start: HealthRecord, result: boolean, status: Status, changed: boolean][] = [
    ['unknown, 1st success of 2', record('unknown'), true, 'unknown', false],
    ['unknown, 2nd success of 2 -> up', record('unknown', 1), true, 'up', true],
    ['unknown, 2nd failure of 3', record('unknown', 0, 1), false, 'unknown', false],
    ['unknown, 3rd failure of 3 -> down', record('unknown', 0, 2), false, 'down', true],
    ['up, success', record('up', 2), true, 'up', false],
    ['up, 2nd failure of 3', record('up', 0, 1), false, 'up', false],
    ['up, 3rd failure of 3 -> down', record('up', 0, 2), false, 'down', true],
    ['down, failure', record('down', 0, 3), false, 'down', false],
    ['down, 1st success of 2', record('down', 0, 3), true, 'down', false],
    ['down, 2nd success of 2 -> up', record('down', 1), true, 'up', true],
  ];
  for (const [name, start, good, status, changed] of cases) {
    test(name, () => {
      const out = applyProbe(start, spec, good ? ok() : fail(), 'node-a');
      assert.equal(out.record.status, status);
      assert.deepEqual(out.transition, changed ? { from: start.status, to: status } : null);
      assert.equal(out.record.lastChange, changed ? T0 : start.lastChange);
    });
  }

  test('rise 1 and fall 1 decide on the first result', () => {
    assert.equal(applyProbe(UNKNOWN_HEALTH, { rise: 1, fall: 1 }, ok(), 'n').record.status, 'up');
    assert.equal(applyProbe(UNKNOWN_HEALTH, { rise: 1, fall: 1 }, fail(), 'n').record.status, 'down');
    assert.deepEqual(run(UNKNOWN_HEALTH, { rise: 1, fall: 1 }, [true, false, true]).transitions, [
      '0:unknown->up',
      '1:up->down',
      '2:down->up',
    ]);
  });

  test('a new origin goes up only at the rise-th success, and down at the fall-th failure', () => {
    assert.deepEqual(run(UNKNOWN_HEALTH, spec, [true, true, false, false, false, true, true]).transitions, [
      '1:unknown->up',
      '4:up->down',
      '6:down->up',
    ]);
  });

  test('a result of the other kind resets the counter', () => {
    const out = run(UNKNOWN_HEALTH, spec, [false, false, true, false, false, true]);
    assert.equal(out.record.status, 'unknown');
    assert.deepEqual(out.transitions, []);
    assert.equal(out.record.successes, 1);
    assert.equal(out.record.failures, 0);
  });
});

describe('applyProbe flapping and caps', () => {
  test('alternating results never transition with rise >= 2 and fall >= 2', () => {
    for (const start of [record('unknown'), record('up', 2), record('down', 0, 2)]) {
      for (const first of [true, false]) {
        const results = Array.from({ length: 200 }, (_, i) => (i % 2 === 0) === first);
        const out = run(start, { rise: 2, fall: 2 }, results);
        assert.deepEqual(out.transitions, []);
        assert.equal(out.record.status, start.status);
      }
    }
  });

  test('counters stop at their threshold', () => {
    const spec = { rise: 3, fall: 4 };
    assert.equal(run(UNKNOWN_HEALTH, spec, Array(1000).fill(true)).record.successes, 3);
    assert.equal(run(UNKNOWN_HEALTH, spec, Array(1000).fill(false)).record.failures, 4);
  });

  test('a counter beyond the threshold (a lowered rise) is brought back to it', () => {
    const out = applyProbe(record('up', 50), { rise: 2, fall: 3 }, ok(), 'n');
    assert.equal(out.record.successes, 2);
    assert.equal(out.transition, null);
  });
});

describe('applyProbe record fields', () => {
  test('lastCheck, latency, reason and checkedBy follow every probe; lastChange only transitions', () => {
    const start = { ...record('up', 2), lastChange: 5, lastCheck: 6 };
    const out = applyProbe(start, { rise: 2, fall: 3 }, { ok: false, reason: 'status 503', latencyMs: 40, at: T0 }, 'node-b');
    assert.deepEqual(out.record, {
      status: 'up',
      successes: 0,
      failures: 1,
      lastCheck: T0,
      lastChange: 5,
      latencyMs: 40,
      reason: 'status 503',
      checkedBy: 'node-b',
    });
  });

  test('the record stays one that peers accept: whole latency, bounded reason', () => {
    const out = applyProbe(UNKNOWN_HEALTH, { rise: 2, fall: 3 }, { ok: false, reason: 'x'.repeat(500), latencyMs: 12.6, at: T0 }, 'n');
    assert.equal(out.record.latencyMs, 13);
    assert.equal(out.record.reason.length, 200);
    assert.deepEqual(healthFromJson(JSON.parse(JSON.stringify(out.record))), out.record);
  });

  test('does not modify the record it is given', () => {
    const start = record('unknown', 1);
    const copy = { ...start };
    applyProbe(start, { rise: 2, fall: 3 }, ok(), 'n');
    assert.deepEqual(start, copy);
  });
});
