/**
 * ProbeEngine on a virtual clock with a fake prober (DESIGN.md sections 4 and 5): one probe per
 * interval for an owned origin, none for one another member owns, ownership following
 * setMembers() at once, rise/fall with transitions written at once and detail only at the flush,
 * removal, a new owner continuing from the replicated counters, and maxInFlight.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { ProbeEngine } from '../../../src/probe/engine.js';
import { UNKNOWN_HEALTH, type HealthRecord } from '../../../src/probe/health.js';
import type { OriginSpec } from '../../../src/probe/spec.js';
import type { ProbeResult } from '../../../src/probe/verdict.js';
import { OwnershipTable } from '../../../src/ownership/rendezvous.js';
import { Replica } from '../../../src/replication/replica.js';
import { silentLogger } from '../../../src/runtime/logger.js';
import { SeededRandom } from '../../../src/runtime/random.js';
import { VirtualClock } from '../../../src/runtime/virtual-clock.js';

const ME = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const INTERVAL = 1000;
const RISE = 2;
const FALL = 3;

function spec(url: string, intervalMs = INTERVAL): OriginSpec {
  return { url, intervalMs, timeoutMs: intervalMs / 2, rise: RISE, fall: FALL, expect: '200-399', method: 'GET', headers: [] };
}

/** Origin ids whose owner over {ME, OTHER} is `owner`. */
function idsOwnedBy(owner: string, n: number, prefix = 'o'): string[] {
  const table = new OwnershipTable([ME, OTHER]);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `${prefix}-${i}`;
    if (table.owner(id) === owner) out.push(id);
  }
  return out;
}

interface Rig {
  clock: VirtualClock;
  replica: Replica;
  engine: ProbeEngine;
  /** Probe calls per url. */
  calls: Map<string, number>;
  /** Whether each url answers ok (default true). */
  answers: Map<string, boolean>;
  /** Local writes to the health set per id. */
  healthWrites: Map<string, number>;
  /** Advances the clock in small steps, letting probe promises settle after each. */
  step(ms: number): Promise<void>;
  /** Steps until the url has had `n` probe calls in total (and their results are applied). */
  untilCalls(url: string, n: number, maxMs?: number): Promise<void>;
  probesOf(url: string): number;
}

function rig(options: { maxInFlight?: number; detailFlushMs?: number; hang?: boolean } = {}): Rig {
  const clock = new VirtualClock();
  const replica = new Replica({
    nodeId: ME,
    wallNow: () => clock.wallNow(),
    tombstoneGraceMs: 24 * 3600_000,
    maxClockAheadMs: 60_000,
    persist: () => {},
  });
  const calls = new Map<string, number>();
  const answers = new Map<string, boolean>();
  const healthWrites = new Map<string, number>();
  replica.health.onChange((after, _before, source) => {
    if (source === 'local') healthWrites.set(after.id, (healthWrites.get(after.id) ?? 0) + 1);
  });
  const prober = {
    probe: (s: OriginSpec, now: () => number): Promise<ProbeResult> => {
      calls.set(s.url, (calls.get(s.url) ?? 0) + 1);
      if (options.hang) return new Promise<ProbeResult>(() => {});
      const ok = answers.get(s.url) ?? true;
      return Promise.resolve({ ok, reason: ok ? 'ok' : 'status 503', latencyMs: 1, at: now() });
    },
  };
  const engine = new ProbeEngine({
    nodeId: ME,
    origins: replica.origins,
    health: replica.health,
    prober,
    clock,
    random: new SeededRandom(0xe1e),
    logger: silentLogger,
    maxInFlight: options.maxInFlight ?? 100,
    detailFlushMs: options.detailFlushMs ?? 60_000,
  });
  const probesOf = (url: string) => calls.get(url) ?? 0;
  const STEP = 10;
  const step = async (ms: number) => {
    for (let t = 0; t < ms; t += STEP) {
      clock.advance(Math.min(STEP, ms - t));
      await tick();
    }
  };
  const untilCalls = async (url: string, n: number, maxMs = 10 * INTERVAL) => {
    for (let t = 0; probesOf(url) < n; t += 1) {
      assert.ok(t < maxMs, `${url}: ${n} probes within ${maxMs} ms (had ${probesOf(url)})`);
      clock.advance(1);
      await tick();
    }
    await tick();
  };
  return { clock, replica, engine, calls, answers, healthWrites, step, untilCalls, probesOf };
}

/** A running engine next to OTHER, with `n` origins OTHER owns (none probed here yet). */
async function probedByOther(n: number, prefix: string): Promise<{ r: Rig; ids: string[] }> {
  const r = rig();
  r.engine.setMembers([OTHER]);
  const ids = idsOwnedBy(OTHER, n, prefix);
  for (const id of ids) r.replica.origins.add(id, spec(`http://${id}/`));
  r.engine.start();
  await r.step(2 * INTERVAL);
  assert.equal(r.engine.owned, 0);
  return { r, ids };
}

describe('ProbeEngine', () => {
  test('an owned origin is probed once per interval; one another member owns never is', async () => {
    const r = rig();
    const [mine] = idsOwnedBy(ME, 1);
    const [theirs] = idsOwnedBy(OTHER, 1);
    r.engine.setMembers([OTHER]);
    r.replica.origins.add(mine!, spec('http://mine/'));
    r.replica.origins.add(theirs!, spec('http://theirs/'));
    r.engine.start();
    assert.equal(r.engine.owned, 1);
    assert.deepEqual(r.engine.owners(mine!), [ME]);
    assert.deepEqual(r.engine.owners(theirs!), [OTHER]);
    await r.step(20 * INTERVAL);
    const n = r.probesOf('http://mine/');
    assert.ok(n >= 19 && n <= 21, `probes of an owned origin over 20 intervals: ${n}`);
    assert.equal(r.probesOf('http://theirs/'), 0, 'an origin owned by another member is never probed');
    assert.equal(r.engine.stats.probes, n);
    r.engine.stop();
  });

  test('setMembers moving ownership away stops probes at once; moving it back starts them', async () => {
    const r = rig();
    const [id] = idsOwnedBy(OTHER, 1);
    const url = 'http://moving/';
    r.replica.origins.add(id!, spec(url));
    r.engine.start(); // alone: this node owns everything
    assert.equal(r.engine.owned, 1);
    await r.step(5 * INTERVAL);
    const before = r.probesOf(url);
    assert.ok(before >= 4 && before <= 6, `probed while owned: ${before}`);
    r.engine.setMembers([OTHER]);
    assert.equal(r.engine.owned, 0, 'handed over at once');
    await r.step(5 * INTERVAL);
    assert.equal(r.probesOf(url), before, 'no probe after the hand-over');
    r.engine.setMembers([]);
    assert.equal(r.engine.owned, 1, 'taken back at once');
    await r.step(5 * INTERVAL);
    const again = r.probesOf(url) - before;
    assert.ok(again >= 4 && again <= 6, `probed again once owned: ${again}`);
    r.engine.stop();
  });

  test('rise/fall: a transition is written at once, probes that change no status only at the detail flush', async () => {
    const FLUSH = 60_000;
    const r = rig({ detailFlushMs: FLUSH });
    const id = 'flappy';
    const url = 'http://flappy/';
    r.replica.origins.add(id, spec(url));
    r.engine.start();
    const status = () => r.replica.health.set.value(id)?.status;
    const writes = () => r.healthWrites.get(id) ?? 0;

    // unknown -> up after exactly `rise` successes, written at once.
    await r.untilCalls(url, RISE - 1);
    assert.equal(status(), undefined, `not up after ${RISE - 1} success`);
    assert.equal(writes(), 0);
    await r.untilCalls(url, RISE);
    assert.equal(status(), 'up', `up after ${RISE} successes`);
    assert.equal(writes(), 1);

    // More successes change no status: nothing written.
    await r.untilCalls(url, RISE + 2);
    assert.equal(writes(), 1, 'successes that change nothing are not written yet');

    // up -> down after exactly `fall` failures; the first fall-1 are not written.
    r.answers.set(url, false);
    const base = r.probesOf(url);
    for (let k = 1; k < FALL; k++) {
      await r.untilCalls(url, base + k);
      assert.equal(status(), 'up', `still up after ${k} failure(s)`);
      assert.equal(writes(), 1, `failure ${k} not written before the flush`);
    }
    await r.untilCalls(url, base + FALL);
    assert.equal(status(), 'down', `down right after failure ${FALL}`);
    assert.equal(writes(), 2, 'the transition is written at once');
    const rec = r.replica.health.set.value(id)!;
    assert.equal(rec.failures, FALL);
    assert.equal(rec.reason, 'status 503');
    assert.equal(rec.checkedBy, ME);
    assert.equal(r.engine.stats.transitions, 2);
    assert.ok(r.clock.now() < FLUSH, 'all of that before the first detail flush');

    // One more failure: only freshness changed (counters capped, same reason): not written at the
    // next flush, only at every sixth, and this node's own readers see it at once.
    await r.untilCalls(url, base + FALL + 1);
    const lastCheckBefore = r.replica.health.set.value(id)!.lastCheck;
    assert.ok(r.engine.latest(id)!.lastCheck > lastCheckBefore, 'the owner sees its newest check');
    assert.equal(writes(), 2);
    await r.step(FLUSH - r.clock.now() + 1);
    assert.equal(writes(), 2, 'freshness alone waits for the sixth flush');
    await r.step(5 * FLUSH);
    assert.ok(writes() >= 3, `freshness is written at the sixth flush (writes ${writes()})`);
    const flushed = r.replica.health.set.value(id)!;
    assert.equal(flushed.status, 'down');
    assert.ok(flushed.lastCheck > lastCheckBefore, 'the flushed record carries the later check');

    // One success while down changes the counters (no transition): written at the next flush,
    // not the sixth.
    r.answers.set(url, true);
    const before = writes();
    await r.untilCalls(url, r.probesOf(url) + 1);
    r.answers.set(url, false);
    assert.equal(writes(), before);
    await r.step(FLUSH + 1);
    assert.equal(writes(), before + 1, 'a counter change is written at the next flush');
    assert.equal(r.replica.health.set.value(id)!.status, 'down');
    r.engine.stop();
  });

  test('removing the origin stops its probes', async () => {
    const r = rig();
    const url = 'http://gone/';
    r.replica.origins.add('gone', spec(url));
    r.engine.start();
    await r.step(3 * INTERVAL);
    const n = r.probesOf(url);
    assert.ok(n >= 2, `probed while present: ${n}`);
    r.replica.origins.remove('gone');
    assert.equal(r.engine.owned, 0);
    await r.step(5 * INTERVAL);
    assert.equal(r.probesOf(url), n, 'no probe after removal');
    r.engine.stop();
  });

  test('a new owner continues from the replicated counters', async () => {
    const r = rig();
    const [id] = idsOwnedBy(OTHER, 1);
    const url = 'http://inherited/';
    r.engine.setMembers([OTHER]);
    r.replica.origins.add(id!, spec(url));
    const replicated: HealthRecord = {
      ...UNKNOWN_HEALTH,
      status: 'up',
      successes: 0,
      failures: FALL - 1,
      lastCheck: r.clock.wallNow(),
      lastChange: r.clock.wallNow() - 60_000,
      reason: 'status 503',
      checkedBy: OTHER,
    };
    r.replica.health.add(id!, replicated);
    r.answers.set(url, false);
    r.engine.start();
    await r.step(3 * INTERVAL);
    assert.equal(r.probesOf(url), 0, 'not probed while the other member owns it');
    r.engine.setMembers([]); // the other member is gone: this node takes over
    await r.untilCalls(url, 1);
    const rec = r.replica.health.set.value(id!)!;
    assert.equal(rec.status, 'down', 'one failure on top of fall-1 replicated ones flips it');
    assert.equal(rec.failures, FALL);
    assert.equal(rec.checkedBy, ME);
    assert.equal(r.engine.stats.transitions, 1);
    r.engine.stop();
  });

  test('origins taken over from a member that is gone are probed within a quarter interval', async () => {
    const { r, ids: orphans } = await probedByOther(20, 'orphan');
    r.engine.setMembers([]); // OTHER died
    await r.step(INTERVAL / 4);
    for (const id of orphans) assert.equal(r.probesOf(`http://${id}/`), 1, `${id} probed within a quarter interval`);
    r.engine.stop();
  });

  test('an origin this node learns late (added long ago, as by a joiner) is overdue; a new one is spread over an interval', async () => {
    const r = rig();
    r.engine.start();
    await r.step(INTERVAL);
    const old = Array.from({ length: 20 }, (_, i) => `late-${i}`);
    for (const id of old) {
      const value = spec(`http://${id}/`);
      const stamp = { wall: r.clock.wallNow() - 60_000, counter: 0, node: OTHER };
      r.replica.origins.merge({ id, stamp, removed: false, value, bytes: Buffer.from(JSON.stringify(value)) });
    }
    const fresh = Array.from({ length: 40 }, (_, i) => `new-${i}`);
    for (const id of fresh) r.replica.origins.add(id, spec(`http://${id}/`));
    await r.step(INTERVAL / 4);
    for (const id of old) assert.equal(r.probesOf(`http://${id}/`), 1, `${id} probed within a quarter interval`);
    const early = fresh.filter((id) => r.probesOf(`http://${id}/`) > 0).length;
    assert.ok(early < fresh.length / 2, `new origins spread over the interval: ${early} of ${fresh.length} in its first quarter`);
    r.engine.stop();
  });

  test('while its owner is suspect, the best-ranked member not suspect stands in; it stops when the owner refutes', async () => {
    const { r, ids: theirs } = await probedByOther(10, 'suspect');
    r.engine.setMembers([OTHER], [OTHER]);
    assert.equal(r.engine.owned, 10, 'this node stands in for the suspect');
    assert.deepEqual(r.engine.owners(theirs[0]!), [OTHER], 'ownership itself does not change');
    await r.step(INTERVAL / 4);
    for (const id of theirs) assert.equal(r.probesOf(`http://${id}/`), 1, `${id} probed within a quarter interval`);
    r.engine.setMembers([OTHER], []);
    assert.equal(r.engine.owned, 0, 'the owner refuted: back to it');
    const probes = [...r.calls.values()].reduce((a, b) => a + b, 0);
    await r.step(2 * INTERVAL);
    assert.equal([...r.calls.values()].reduce((a, b) => a + b, 0), probes, 'no more probes here');
    r.engine.stop();
  });

  test('maxInFlight: probes due beyond the limit are skipped and counted', async () => {
    const LIMIT = 2;
    const N = 5;
    const r = rig({ maxInFlight: LIMIT, hang: true });
    for (let i = 0; i < N; i++) r.replica.origins.add(`hung-${i}`, spec(`http://hung-${i}/`));
    r.engine.start();
    const INTERVALS = 4;
    await r.step(INTERVALS * INTERVAL);
    const started = [...r.calls.values()].reduce((a, b) => a + b, 0);
    assert.equal(started, LIMIT, 'only maxInFlight probes ever start');
    assert.equal(r.engine.stats.probes, 0, 'none completes');
    const due = started + r.engine.stats.skipped;
    assert.ok(
      due >= N * INTERVALS - N && due <= N * INTERVALS + N,
      `every due probe either started or was skipped: ${started} + ${r.engine.stats.skipped}`,
    );
    assert.ok(r.engine.stats.skipped >= N * (INTERVALS - 1) - LIMIT, `skipped: ${r.engine.stats.skipped}`);
    r.engine.stop();
  });
});

describe('ProbeEngine: a node that suspects itself (docs/probing.md)', () => {
  /** `n` origins this node owns next to OTHER, all up, all failing this node's probes from now on. */
  function outage(n: number, failing = n) {
    const r = rig();
    r.engine.setMembers([OTHER]);
    const asked: string[] = [];
    const ids = idsOwnedBy(ME, n, 'mass');
    ids.forEach((id, i) => {
      const url = `http://${id}/`;
      r.replica.origins.add(id, spec(url));
      r.replica.health.add(id, { ...UNKNOWN_HEALTH, status: 'up', successes: RISE, reason: 'ok', checkedBy: ME });
      if (i < failing) r.answers.set(url, false);
    });
    const run = async (peer: (id: string) => Promise<ProbeResult | null>) => {
      r.engine.askPeer = (peerId, id) => {
        assert.equal(peerId, OTHER, 'the origin’s next owner is asked');
        asked.push(id);
        return peer(id);
      };
      r.engine.start();
      await r.step((FALL + 2) * INTERVAL);
      r.engine.stop();
    };
    const statuses = () => ids.map((id) => r.replica.health.set.value(id)!.status);
    return { r, ids, asked, run, statuses };
  }
  const answer = (ok: boolean) => async (): Promise<ProbeResult> => ({ ok, reason: ok ? 'ok' : 'timeout', latencyMs: 3, at: 1 });

  test('most origins failing at once: a peer that sees them up overrules this node, nothing goes down', async () => {
    const o = outage(10);
    await o.run(answer(true));
    assert.equal(o.r.engine.selfCheck.suspect, true);
    assert.deepEqual(o.statuses(), Array(10).fill('up'));
    assert.ok(o.asked.length >= 10, `asked ${o.asked.length}`);
    assert.equal(o.r.engine.stats.opinionsOverruled, o.asked.length);
    assert.equal(o.r.engine.stats.transitions, 0);
  });

  test('a peer that confirms the failures lets them go down, with the peer as checked_by', async () => {
    const o = outage(10);
    const condemned: HealthRecord[] = [];
    o.r.replica.health.onChange((after, before) => {
      if (after.value?.status === 'down' && before?.value?.status !== 'down') condemned.push(after.value);
    });
    await o.run(answer(false));
    assert.deepEqual(o.statuses(), Array(10).fill('down'));
    assert.equal(condemned.length, 10);
    for (const rec of condemned) assert.deepEqual([rec.checkedBy, rec.reason], [OTHER, 'timeout']);
    assert.equal(o.r.engine.stats.opinionsOverruled, 0);
  });

  test('no answer from the peer: the verdict is held (nothing written), not decided alone', async () => {
    const o = outage(10);
    await o.run(async () => {
      throw new Error('unreachable');
    });
    assert.deepEqual(o.statuses(), Array(10).fill('up'));
    assert.ok(o.r.engine.stats.verdictsHeld >= 10);
  });

  test('a few failing origins among many are condemned as usual, without asking', async () => {
    const o = outage(20, 3);
    await o.run(answer(true));
    assert.equal(o.r.engine.selfCheck.suspect, false);
    assert.deepEqual(o.asked, []);
    assert.deepEqual(o.statuses().filter((s) => s === 'down').length, 3);
  });

  test('a node alone has nobody to ask and decides alone', async () => {
    const o = outage(10);
    o.r.engine.setMembers([]);
    await o.run(answer(true));
    assert.deepEqual(o.asked, []);
    assert.deepEqual(o.statuses(), Array(10).fill('down'));
  });
});
