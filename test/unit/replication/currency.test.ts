import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { afterExchange, inherited, isCurrent, NEVER_SYNCED, staleNextTo, type Currency } from '../../../src/replication/currency.js';

/**
 * The tombstone rule's currency (src/replication/currency.ts, docs/replication.md "Tombstones and
 * the grace period") as truth tables: isCurrent, staleNextTo and afterExchange over the cases
 * that matter, then properties over random currencies.
 */
const DAY = 86_400_000;
const HOUR = 3_600_000;
const GRACE = 7 * DAY;
const NOW = 1_700_000_000_000;

const c = (syncedAt: number, since: number): Currency => ({ syncedAt, since });

/** Named currencies, as of NOW. */
const FRESH = NEVER_SYNCED;
/** Two fresh nodes that synced with each other an hour ago: current, history from then. */
const NEW_PAIR = c(NOW - HOUR, NOW - HOUR);
/** A node of a cluster whose history began 40 days ago, synced a second ago. */
const CLUSTER = c(NOW - 1000, NOW - 40 * DAY);
/** Away (off, or alone) for 10 days; its history began 40 days ago. */
const AWAY = c(NOW - 10 * DAY, NOW - 40 * DAY);
/** Away for 20 days; its history began 60 days ago. */
const AWAY_LONGER = c(NOW - 20 * DAY, NOW - 60 * DAY);
/** Stale, and without history (a copy of a stale replica whose own since was unknown). */
const STALE_NO_HISTORY = c(NOW - 10 * DAY, 0);
/** Current, with a history that starts 5 days ago: after AWAY was last in sync. */
const LATE_HISTORY = c(NOW - 1000, NOW - 5 * DAY);

describe('currency: isCurrent', () => {
  const cases: [string, Currency, boolean][] = [
    ['never synced (holds nothing the cluster could have forgotten)', FRESH, true],
    ['synced a second ago', CLUSTER, true],
    ['synced exactly a grace period ago', c(NOW - GRACE, NOW - 30 * DAY), true],
    ['synced a millisecond longer ago', c(NOW - GRACE - 1, NOW - 30 * DAY), false],
    ['away 10 days', AWAY, false],
    ['stale without history', STALE_NO_HISTORY, false],
    ['synced "in the future" (a peer whose clock runs ahead)', c(NOW + 365 * DAY, NOW), true],
  ];
  for (const [name, cur, expected] of cases) {
    test(`${name}: ${expected ? 'current' : 'stale'}`, () => assert.equal(isCurrent(cur, NOW, GRACE), expected));
  }
});

describe('currency: staleNextTo(self, peer) — only a stale replica next to a current peer whose history reaches back before its syncedAt', () => {
  const cases: [string, Currency, Currency, boolean][] = [
    ['fresh / fresh', FRESH, FRESH, false],
    ['fresh next to a current cluster', FRESH, CLUSTER, false],
    ['current next to a current cluster', CLUSTER, CLUSTER, false],
    ['current next to a stale node', CLUSTER, AWAY, false],
    ['stale next to a current peer with old history', AWAY, CLUSTER, true],
    ['stale next to a current peer whose history starts exactly at its syncedAt', AWAY, c(NOW - 1000, AWAY.syncedAt), true],
    ['stale next to a current peer whose history starts a millisecond after its syncedAt', AWAY, c(NOW - 1000, AWAY.syncedAt + 1), false],
    ['stale next to a current peer whose history starts later (new nodes)', AWAY, LATE_HISTORY, false],
    ['stale next to two fresh nodes that synced with each other', AWAY, NEW_PAIR, false],
    ['stale next to a fresh peer (no history)', AWAY, FRESH, false],
    ['stale next to a current peer without history', AWAY, c(NOW - 1000, 0), false],
    ['stale next to a stale peer with older history', AWAY, AWAY_LONGER, false],
    ['stale next to a later but still stale peer', AWAY_LONGER, AWAY, false],
    ['stale next to a copy of itself', AWAY, { ...AWAY }, false],
    ['stale without history next to a current cluster', STALE_NO_HISTORY, CLUSTER, true],
    ['stale next to a peer whose clock runs ahead (current)', AWAY, c(NOW + 365 * DAY, NOW - 40 * DAY), true],
    ['just stale (grace + 1 ms) next to a current cluster', c(NOW - GRACE - 1, NOW - 30 * DAY), CLUSTER, true],
    ['just current (exactly the grace) next to a current cluster', c(NOW - GRACE, NOW - 30 * DAY), CLUSTER, false],
  ];
  for (const [name, self, peer, expected] of cases) {
    test(`${name}: ${expected}`, () => assert.equal(staleNextTo(self, peer, NOW, GRACE), expected));
  }
});

describe('currency: afterExchange(self, peer, reconciled) — self\'s currency after a complete exchange', () => {
  const cases: [string, Currency, Currency, boolean, Currency][] = [
    ['fresh / fresh: current, history from now', FRESH, FRESH, false, c(NOW, NOW)],
    ['fresh copies a current cluster: current, with its history', FRESH, CLUSTER, false, c(NOW, CLUSTER.since)],
    ['fresh copies a stale node: inherits its staleness (its syncedAt), without history', FRESH, AWAY, false, c(AWAY.syncedAt, 0)],
    ['fresh copies a stale node without history: the same', FRESH, STALE_NO_HISTORY, false, STALE_NO_HISTORY],
    ['fresh with history (a new pair) copies a stale node: stays current, its history kept', NEW_PAIR, AWAY, false, c(NOW, NEW_PAIR.since)],
    ['a current cluster node takes a stale node\'s records: stays current', CLUSTER, AWAY, false, c(NOW, CLUSTER.since)],
    ['current / current: now, the earlier history', NEW_PAIR, CLUSTER, false, c(NOW, CLUSTER.since)],
    ['current / current, the other way round', CLUSTER, NEW_PAIR, false, c(NOW, CLUSTER.since)],
    ['current / fresh: now, its own history', CLUSTER, FRESH, false, c(NOW, CLUSTER.since)],
    ['stale next to a current peer with old history, reconciled: now, the peer\'s history', AWAY, CLUSTER, true, c(NOW, CLUSTER.since)],
    ['stale next to a current peer whose history starts later: joins it', AWAY, LATE_HISTORY, false, c(NOW, LATE_HISTORY.since)],
    ['stale next to two new nodes: joins them', AWAY, NEW_PAIR, false, c(NOW, NEW_PAIR.since)],
    ['stale next to a fresh peer (which inherits instead): unchanged', AWAY, FRESH, false, AWAY],
    ['stale next to a current peer without history: unchanged', AWAY, c(NOW - 1000, 0), false, AWAY],
    ['stale next to a current peer that could have checked it but did not reconcile it: unchanged', AWAY, CLUSTER, false, AWAY],
    ['both stale: now, the earliest history', AWAY, AWAY_LONGER, false, c(NOW, AWAY_LONGER.since)],
    ['both stale, the other way round', AWAY_LONGER, AWAY, false, c(NOW, AWAY_LONGER.since)],
    ['both stale, self with history, the peer without (a copy): now, its own history', AWAY, STALE_NO_HISTORY, false, c(NOW, AWAY.since)],
    ['both stale, self without history (a copy), the peer with: now, a history of its own from now', STALE_NO_HISTORY, AWAY, false, c(NOW, NOW)],
    ['a copy next to the stale node it copied: now, a history of its own from now', inherited(AWAY), AWAY, false, c(NOW, NOW)],
    ['the stale node next to its copy: now, its own history', AWAY, inherited(AWAY), false, c(NOW, AWAY.since)],
    ['both stale, neither with history (two copies): now, history from now', STALE_NO_HISTORY, { ...STALE_NO_HISTORY }, false, c(NOW, NOW)],
    ['reconciled (whatever the peer\'s currency): now, the peer\'s history', AWAY, c(NOW - 1000, NOW - 9 * DAY), true, c(NOW, NOW - 9 * DAY)],
  ];
  for (const [name, self, peer, reconciled, expected] of cases) {
    test(name, () => assert.deepEqual(afterExchange(self, peer, reconciled, NOW, GRACE), expected));
  }

  test('pure: the inputs are not changed', () => {
    const peer = { ...AWAY };
    const self = { ...FRESH };
    afterExchange(self, peer, false, NOW, GRACE);
    assert.deepEqual(peer, AWAY);
    assert.deepEqual(self, FRESH);
  });

  test('inherited(): the peer\'s syncedAt, no history', () => {
    assert.deepEqual(inherited(AWAY), c(AWAY.syncedAt, 0));
    assert.equal(isCurrent(inherited(AWAY), NOW, GRACE), false, 'as stale as the peer');
  });
});

describe('currency: properties over random currencies', () => {
  /** A currency as replicas hold them: never synced, or synced at some time with a history from no later. */
  const currencyArb: fc.Arbitrary<Currency> = fc.oneof(
    fc.constant(NEVER_SYNCED),
    fc
      .record({ age: fc.integer({ min: 0, max: 30 * DAY }), history: fc.integer({ min: 0, max: 60 * DAY }), known: fc.boolean() })
      .map(({ age, history, known }) => c(NOW - age, known ? NOW - age - history : 0)),
  );
  /** An exchange as anti-entropy runs it: the requester reconciles exactly when it is stale next to the peer. */
  const after = (self: Currency, peer: Currency) => afterExchange(self, peer, staleNextTo(self, peer, NOW, GRACE), NOW, GRACE);
  const current = (x: Currency) => isCurrent(x, NOW, GRACE);

  test('staleNextTo is never true both ways, and only for a stale self next to a current peer', () => {
    fc.assert(
      fc.property(currencyArb, currencyArb, (a, b) => {
        const ab = staleNextTo(a, b, NOW, GRACE);
        assert.ok(!(ab && staleNextTo(b, a, NOW, GRACE)));
        if (ab) assert.ok(!current(a) && current(b) && b.since > 0);
      }),
      { seed: 0xc0, numRuns: 2000 },
    );
  });

  test('after an exchange: synced no later than now; a current replica with syncedAt > 0 has a history, from no later than that', () => {
    fc.assert(
      fc.property(currencyArb, currencyArb, (self, peer) => {
        const out = after(self, peer);
        assert.ok(out.syncedAt <= NOW);
        if (current(out) && out.syncedAt > 0) assert.ok(out.since > 0 && out.since <= out.syncedAt, JSON.stringify({ self, peer, out }));
      }),
      { seed: 0xc1, numRuns: 2000 },
    );
  });

  test('a current replica with history stays current, and keeps a history at least as old, whoever the peer', () => {
    fc.assert(
      fc.property(currencyArb, currencyArb, (self, peer) => {
        fc.pre(current(self) && self.since > 0);
        const out = after(self, peer);
        assert.equal(out.syncedAt, NOW);
        assert.ok(out.since <= self.since);
      }),
      { seed: 0xc2, numRuns: 2000 },
    );
  });

  test('a stale replica becomes current only by reconciling, by joining a peer whose history could not check it, or next to another stale one', () => {
    fc.assert(
      fc.property(currencyArb, currencyArb, (self, peer) => {
        fc.pre(!current(self));
        const out = after(self, peer);
        if (!current(out)) {
          assert.deepEqual(out, self, 'a stale replica that stays stale keeps its currency');
          return;
        }
        const reconciled = staleNextTo(self, peer, NOW, GRACE);
        const joined = current(peer) && peer.since > self.syncedAt;
        const bothStale = !current(peer);
        assert.ok(reconciled || joined || bothStale, JSON.stringify({ self, peer, out }));
      }),
      { seed: 0xc3, numRuns: 2000 },
    );
  });

  test('two current replicas, or two stale ones alike (both with history, or both without), end with the same currency whichever initiated', () => {
    fc.assert(
      fc.property(currencyArb, currencyArb, (a, b) => {
        fc.pre(current(a) === current(b) && (current(a) || (a.since === 0) === (b.since === 0)));
        assert.deepEqual(after(a, b), after(b, a));
      }),
      { seed: 0xc4, numRuns: 2000 },
    );
  });

  test('only a replica that is current and has a history gives one (since <= a stale replica\'s syncedAt) to another', () => {
    // The copy-of-itself trap: a history that reaches back before a stale replica's syncedAt must
    // come from a replica that held the state all along, never from a copy (which may be partial).
    fc.assert(
      fc.property(currencyArb, currencyArb, (self, peer) => {
        fc.pre(!current(self) && self.since === 0);
        const out = after(self, peer);
        if (out.since > 0 && out.since <= self.syncedAt) assert.ok(current(peer) && peer.since === out.since, JSON.stringify({ self, peer, out }));
      }),
      { seed: 0xc5, numRuns: 2000 },
    );
  });
});
