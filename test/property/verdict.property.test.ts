import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { healthFromJson, UNKNOWN_HEALTH, type HealthRecord } from '../../src/probe/health.js';
import { applyProbe, type Thresholds, type Transition } from '../../src/probe/verdict.js';

/**
 * The rise/fall machine over random thresholds and result sequences: the status changes exactly when
 * a run of like results reaches its threshold, and a hand-off through the replicated record (a JSON
 * round trip to a new owner) changes nothing.
 */
const RUNS = { numRuns: 300 };
const T0 = 1_700_000_000_000;

const specArb = fc.record({ rise: fc.integer({ min: 1, max: 8 }), fall: fc.integer({ min: 1, max: 8 }) });
const resultsArb = fc.array(fc.boolean(), { maxLength: 120 });

const probe = (good: boolean, i: number) => ({ ok: good, reason: good ? 'ok' : 'timeout', latencyMs: i % 50, at: T0 + i });

function feed(start: HealthRecord, spec: Thresholds, results: boolean[], from: number, owner: string) {
  let record = start;
  const transitions: (Transition & { i: number })[] = [];
  results.forEach((good, k) => {
    const out = applyProbe(record, spec, probe(good, from + k), owner);
    record = out.record;
    if (out.transition) transitions.push({ i: from + k, ...out.transition });
  });
  return { record, transitions };
}

describe('rise/fall', () => {
  test('the status changes exactly when a run of like results reaches rise or fall', () => {
    fc.assert(
      fc.property(specArb, resultsArb, (spec, results) => {
        let record = UNKNOWN_HEALTH;
        let run = 0;
        results.forEach((good, i) => {
          run = i > 0 && results[i - 1] === good ? run + 1 : 1;
          const target = good ? 'up' : 'down';
          const due = run === (good ? spec.rise : spec.fall) && record.status !== target;
          const out = applyProbe(record, spec, probe(good, i), 'a');
          assert.deepEqual(out.transition, due ? { from: record.status, to: target } : null);
          assert.equal(out.record.status, due ? target : record.status);
          assert.equal(good ? out.record.successes : out.record.failures, Math.min(run, good ? spec.rise : spec.fall));
          assert.equal(good ? out.record.failures : out.record.successes, 0);
          record = out.record;
        });
      }),
      RUNS,
    );
  });

  test('a new owner continuing from the replicated record ends as an uninterrupted run would', () => {
    fc.assert(
      fc.property(specArb, resultsArb, fc.nat(), (spec, results, cut) => {
        const at = cut % (results.length + 1);
        const whole = feed(UNKNOWN_HEALTH, spec, results, 0, 'a');
        const first = feed(UNKNOWN_HEALTH, spec, results.slice(0, at), 0, 'a');
        const replicated = healthFromJson(JSON.parse(JSON.stringify(first.record)));
        assert.ok(replicated);
        const rest = feed(replicated, spec, results.slice(at), at, 'b');
        assert.deepEqual([...first.transitions, ...rest.transitions], whole.transitions);
        // Only the prober's name tells the two runs apart.
        const lastBy = at < results.length ? 'b' : whole.record.checkedBy;
        assert.deepEqual(rest.record, { ...whole.record, checkedBy: lastBy });
      }),
      RUNS,
    );
  });
});
