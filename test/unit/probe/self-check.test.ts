/**
 * SelfCheck (docs/probing.md): suspicion of this node's own probing follows the share of owned,
 * not-down origins whose latest probe failed, with a band between entering and leaving.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SelfCheck } from '../../../src/probe/self-check.js';

const options = { minFailing: 5, enterRatio: 0.5, exitRatio: 0.25 };
const ids = (n: number, from = 0) => [...Array(n).keys()].map((i) => `o${i + from}`);

function watching(n: number) {
  const changes: boolean[] = [];
  const check = new SelfCheck(options, (suspect) => changes.push(suspect));
  for (const id of ids(n)) check.observe(id, true, false);
  return { check, changes };
}

describe('SelfCheck', () => {
  test('half of the owned origins failing makes the node suspect itself; fewer does not', () => {
    const { check, changes } = watching(20);
    for (const id of ids(9)) check.observe(id, false, false);
    assert.equal(check.suspect, false);
    check.observe('o9', false, false);
    assert.equal(check.suspect, true);
    assert.deepEqual(changes, [true]);
  });

  test('a few failures never count as a mass failure, whatever the share', () => {
    const { check } = watching(6);
    for (const id of ids(4)) check.observe(id, false, false);
    assert.equal(check.suspect, false, '4 of 6 failing is below minFailing');
  });

  test('origins already down say nothing about the prober', () => {
    const { check } = watching(20);
    for (const id of ids(15)) check.observe(id, false, true);
    assert.equal(check.suspect, false);
  });

  test('suspicion ends only below the exit ratio (a band, no flapping at the edge)', () => {
    const { check, changes } = watching(20);
    for (const id of ids(12)) check.observe(id, false, false);
    assert.equal(check.suspect, true);
    for (const id of ids(6)) check.observe(id, true, false); // 6 of 20 still failing: 30%
    assert.equal(check.suspect, true);
    check.observe('o6', true, false); // 5 of 20: 25%, still inside the band
    assert.equal(check.suspect, true);
    check.observe('o7', true, false); // 4 of 20: below minFailing
    assert.equal(check.suspect, false);
    assert.deepEqual(changes, [true, false]);
  });

  test('forgetting failing origins (handed over or removed) can end suspicion', () => {
    const { check } = watching(10);
    for (const id of ids(6)) check.observe(id, false, false);
    assert.equal(check.suspect, true);
    for (const id of ids(3)) check.forget(id);
    assert.equal(check.suspect, false);
  });

  test('repeating a result changes nothing; an unknown id forgotten is harmless', () => {
    const { check } = watching(10);
    for (let i = 0; i < 5; i++) check.observe('o1', false, false);
    check.forget('nope');
    assert.equal(check.suspect, false);
  });
});
