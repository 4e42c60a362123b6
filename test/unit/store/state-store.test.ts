import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { silentLogger, type LogFields, type Logger } from '../../../src/runtime/logger.js';
import { SeededRandom } from '../../../src/runtime/random.js';
import { fileHeader, frame, MAX_PAYLOAD_BYTES, snapshotTrailer } from '../../../src/store/record-file.js';
import { StateStore, StoreCorruptError, type OpenedStore } from '../../../src/store/state-store.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'heck-state-'));
  dirs.push(dir);
  return dir;
}

function recordingLogger(): Logger & { warnings: { event: string; fields?: LogFields }[] } {
  const warnings: { event: string; fields?: LogFields }[] = [];
  return { ...silentLogger, warnings, warn: (event, fields) => void warnings.push({ event, fields }) };
}

const open = (dir: string, logger: Logger = silentLogger, compactMinBytes?: number): OpenedStore => StateStore.open(dir, { logger, compactMinBytes });
const texts = (payloads: Buffer[]) => payloads.map((p) => p.toString());
const stateFile = (dir: string, name: string) => join(dir, 'state', name);
const list = (dir: string) => readdirSync(join(dir, 'state')).sort();
/** A frame's head: length, lengthcrc, crc (record-file.ts; spelled out, as the disk format is). */
const HEAD = 12;

/** Opens, appends each text, waits for the sync, closes. */
async function write(dir: string, ...items: string[]): Promise<void> {
  const { store } = open(dir);
  for (const item of items) store.append(Buffer.from(item));
  await store.close();
}

/** Replaces the state directory's contents, as a crash would have left them. */
function restore(dir: string, files: Record<string, Buffer>): void {
  rmSync(join(dir, 'state'), { recursive: true });
  mkdirSync(join(dir, 'state'));
  for (const [name, data] of Object.entries(files)) writeFileSync(stateFile(dir, name), data);
}

async function reopened(dir: string): Promise<string[]> {
  const { store, payloads } = open(dir);
  await store.close();
  return texts(payloads);
}

describe('StateStore', () => {
  test('a missing directory opens empty, with state/log-000001.bin holding only its header', async () => {
    const dir = join(tempDir(), 'data');
    const { store, payloads } = open(dir);
    assert.deepEqual(payloads, []);
    assert.deepEqual(list(dir), ['log-000001.bin']);
    assert.deepEqual(readFileSync(stateFile(dir, 'log-000001.bin')), fileHeader('L'));
    assert.equal(store.stats.logBytes, 8);
    await store.close();
  });

  test('appended payloads come back in order after close and reopen, across sessions', async () => {
    const dir = tempDir();
    await write(dir, 'one', '', 'three');
    await write(dir, 'four');
    const { store, payloads } = open(dir);
    assert.deepEqual(texts(payloads), ['one', '', 'three', 'four']);
    assert.equal(store.stats.logBytes, statSync(stateFile(dir, 'log-000001.bin')).size);
    await store.close();
  });

  test('appends made between two syncs are written and synced as one group', async () => {
    const { store } = open(tempDir());
    for (let i = 0; i < 100; i++) store.append(Buffer.from(`p${i}`));
    await store.synced();
    assert.equal(store.stats.appends, 100);
    assert.equal(store.stats.syncs, 1);
    await store.close();
  });

  test('appends made anywhere in one turn of the event loop (across microtasks) are one group', async () => {
    const { store } = open(tempDir());
    for (let i = 0; i < 10; i++) {
      store.append(Buffer.from(`p${i}`));
      await null; // as clients read in one poll phase, each callback followed by its microtasks
    }
    await store.synced();
    assert.equal(store.stats.syncs, 1);
    await store.close();
  });

  test('synced() resolves in append order, and with nothing pending resolves on the next tick', async () => {
    const { store } = open(tempDir());
    const order: number[] = [];
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      store.append(Buffer.from([i]));
      waits.push(store.synced().then(() => order.push(i)));
      if (i === 2) await waits[i]; // later appends go in a second group
    }
    await Promise.all(waits);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.equal(store.stats.syncs, 2);
    let resolved = false;
    const idle = store.synced().then(() => (resolved = true));
    assert.equal(resolved, false);
    await idle;
    assert.equal(store.stats.syncs, 2);
    await store.close();
  });

  test('synced() called while a group is being synced also waits for the appends queued behind it', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    store.append(Buffer.from('a'));
    await new Promise(setImmediate); // after the store's flush of 'a': its fdatasync is in flight
    const first = store.synced();
    let firstDone = false;
    void first.then(() => (firstDone = true));
    store.append(Buffer.from('b'));
    const second = store.synced();
    assert.notEqual(second, first); // 'b' is in a group of its own
    await second;
    assert.equal(firstDone, true); // groups are acknowledged in order
    const log = readFileSync(join(dir, 'state', 'log-000001.bin'));
    assert.ok(log.subarray(-1).equals(Buffer.from('b')), 'written before synced() resolved');
    await store.close();
  });

  test('a last frame cut at any length is a torn tail: truncated, logged, and the log keeps working', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'the last frame, which a crash cuts');
    const path = stateFile(dir, 'log-000001.bin');
    const whole = readFileSync(path);
    const lastStart = whole.length - HEAD - 'the last frame, which a crash cuts'.length;
    for (let cut = lastStart + 1; cut < whole.length; cut++) {
      writeFileSync(path, whole.subarray(0, cut));
      const logger = recordingLogger();
      const { store, payloads } = open(dir, logger);
      assert.deepEqual(texts(payloads), ['alpha', 'bravo'], `cut at ${cut}`);
      assert.equal(statSync(path).size, lastStart);
      assert.equal(store.stats.tornTailBytes, cut - lastStart);
      assert.deepEqual(logger.warnings, [{ event: 'log_tail_truncated', fields: { file: path, offset: lastStart, bytes: cut - lastStart } }]);
      store.append(Buffer.from('after'));
      await store.close();
      assert.deepEqual(await reopened(dir), ['alpha', 'bravo', 'after']);
    }
  });

  test('a checksum failure in the last frame, ending at the end of the file, is a torn tail', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'charlie');
    const path = stateFile(dir, 'log-000001.bin');
    const data = readFileSync(path);
    data[data.length - 1]! ^= 1;
    writeFileSync(path, data);
    const { store, payloads } = open(dir);
    assert.deepEqual(texts(payloads), ['alpha', 'bravo']);
    assert.equal(store.stats.tornTailBytes, HEAD + 'charlie'.length);
    await store.close();
  });

  test('zeros from any point of the last frame on (its head included) are a torn tail: truncated to the frame before', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'charlie');
    const path = stateFile(dir, 'log-000001.bin');
    const whole = readFileSync(path);
    const lastStart = whole.length - HEAD - 'charlie'.length;
    for (let from = lastStart; from < whole.length; from++) {
      writeFileSync(path, Buffer.from(whole).fill(0, from));
      const { store, payloads } = open(dir);
      assert.deepEqual(texts(payloads), ['alpha', 'bravo'], `zeros from ${from}`);
      assert.equal(store.stats.tornTailBytes, HEAD + 'charlie'.length);
      await store.close();
      assert.equal(statSync(path).size, lastStart);
    }
  });

  test('zeros after the last frame are a torn tail', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo');
    const path = stateFile(dir, 'log-000001.bin');
    const size = statSync(path).size;
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(4096)]));
    assert.deepEqual(await reopened(dir), ['alpha', 'bravo']);
    assert.equal(statSync(path).size, size);
  });

  test('a checksum failure in a middle frame is corruption, named by file and offset, and nothing is truncated', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'charlie');
    const path = stateFile(dir, 'log-000001.bin');
    const data = readFileSync(path);
    const bravoAt = 8 + HEAD + 'alpha'.length;
    data[bravoAt + HEAD]! ^= 1; // the first byte of "bravo"
    writeFileSync(path, data);
    assert.throws(
      () => open(dir),
      (e: Error) => e instanceof StoreCorruptError && e.code === 'STORE_CORRUPT' && e.message.startsWith(`${path}: a frame fails its checksum (at byte ${bravoAt})`),
    );
    assert.deepEqual(readFileSync(path), data);
  });

  test('a flipped bit in the length field of a middle frame of the newest log is corruption, and nothing is truncated', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'charlie', 'delta');
    const path = stateFile(dir, 'log-000001.bin');
    const whole = readFileSync(path);
    const bravoAt = 8 + HEAD + 'alpha'.length;
    for (let bit = 0; bit < 32; bit++) {
      const data = Buffer.from(whole);
      data[bravoAt + (bit >> 3)]! ^= 1 << (bit & 7); // most of these make "bravo" run past the end of the file
      writeFileSync(path, data);
      assert.throws(
        () => open(dir),
        (e: Error) =>
          e instanceof StoreCorruptError && e.code === 'STORE_CORRUPT' && e.message.startsWith(`${path}: a frame length fails its checksum (at byte ${bravoAt})`),
        `bit ${bit}`,
      );
      assert.deepEqual(readFileSync(path), data, `bit ${bit}: nothing truncated`);
    }
  });

  test('a flipped bit in the length field of the last frame is corruption too, while the same frame cut short is a torn tail', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo', 'charlie');
    const path = stateFile(dir, 'log-000001.bin');
    const whole = readFileSync(path);
    const lastStart = whole.length - HEAD - 'charlie'.length;
    for (let bit = 0; bit < 32; bit++) {
      const data = Buffer.from(whole);
      data[lastStart + (bit >> 3)]! ^= 1 << (bit & 7);
      writeFileSync(path, data);
      assert.throws(
        () => open(dir),
        (e: Error) => e instanceof StoreCorruptError && e.message.startsWith(`${path}: a frame length fails its checksum (at byte ${lastStart})`),
        `bit ${bit} (the frame ${lastStart + HEAD + data.readUInt32BE(lastStart) > data.length ? 'runs past' : 'ends before'} the end of the file)`,
      );
      assert.deepEqual(readFileSync(path), data, `bit ${bit}: nothing truncated`);
    }
    writeFileSync(path, whole.subarray(0, whole.length - 1)); // a genuine torn tail: the head checks, the payload is cut
    const logger = recordingLogger();
    const { store, payloads } = open(dir, logger);
    assert.deepEqual(texts(payloads), ['alpha', 'bravo']);
    assert.equal(statSync(path).size, lastStart);
    assert.deepEqual(logger.warnings, [{ event: 'log_tail_truncated', fields: { file: path, offset: lastStart, bytes: HEAD + 'charlie'.length - 1 } }]);
    await store.close();
  });

  test('a bad magic is corruption', async () => {
    const dir = tempDir();
    await write(dir, 'alpha');
    const path = stateFile(dir, 'log-000001.bin');
    const data = readFileSync(path);
    data.write('HACK', 0, 'latin1');
    writeFileSync(path, data);
    assert.throws(() => open(dir), (e: Error) => e instanceof StoreCorruptError && e.message.includes(path) && e.message.includes('(at byte 0)'));
  });

  test('append() refuses a payload over the 64 MiB cap', async () => {
    const { store } = open(tempDir());
    assert.throws(() => store.append(Buffer.alloc(MAX_PAYLOAD_BYTES + 1)), RangeError);
    await store.close();
  });

  test('compact, then reopen: the snapshot payloads, then later appends; older files are gone', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    store.append(Buffer.from('a'));
    store.append(Buffer.from('b'));
    await store.compact([[Buffer.from('state:ab')]]);
    store.append(Buffer.from('c'));
    await store.compact([[Buffer.from('state:abc')]]);
    store.append(Buffer.from('d'));
    assert.equal(store.stats.compactions, 2);
    await store.close();
    assert.deepEqual(list(dir), ['log-000003.bin', 'snapshot-000003.bin']);
    const again = open(dir);
    assert.deepEqual(texts(again.payloads), ['state:abc', 'd']);
    assert.equal(again.store.stats.snapshotBytes, statSync(stateFile(dir, 'snapshot-000003.bin')).size);
    await again.store.close();
  });

  test('appends made during a compaction survive it, and a second compaction meanwhile is refused', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    store.append(Buffer.from('a'));
    const compaction = store.compact([[Buffer.from('state:a')]]);
    store.append(Buffer.from('x'));
    await assert.rejects(store.compact([[]]), /already running/);
    await store.synced();
    store.append(Buffer.from('y'));
    await compaction;
    store.append(Buffer.from('z'));
    await store.close();
    assert.deepEqual(await reopened(dir), ['state:a', 'x', 'y', 'z']);
  });

  test('a crash at any step of a compaction leaves a set that reloads every payload', async () => {
    const dir = tempDir();
    const snap = (name: string) => readFileSync(stateFile(dir, name));
    const first = open(dir).store;
    first.append(Buffer.from('a'));
    await first.compact([[Buffer.from('a')]]);
    first.append(Buffer.from('b'));
    await first.close();
    const before = { 'snapshot-000002.bin': snap('snapshot-000002.bin'), 'log-000002.bin': snap('log-000002.bin') };
    const second = open(dir).store;
    await second.compact([[Buffer.from('a'), Buffer.from('b')]]);
    second.append(Buffer.from('c'));
    await second.close();
    const after = { 'snapshot-000003.bin': snap('snapshot-000003.bin'), 'log-000003.bin': snap('log-000003.bin') };
    const crashes: [string, Record<string, Buffer>, string[]][] = [
      ['new log not yet renamed', { ...before, 'log-000003.bin.tmp': fileHeader('L') }, ['a', 'b']],
      ['new log created, no snapshot yet', { ...before, 'log-000003.bin': after['log-000003.bin'] }, ['a', 'b', 'c']],
      ['snapshot written, not renamed', { ...before, 'log-000003.bin': after['log-000003.bin'], 'snapshot-000003.bin.tmp': after['snapshot-000003.bin'] }, ['a', 'b', 'c']],
      ['snapshot renamed, old files not deleted', { ...before, ...after }, ['a', 'b', 'c']],
      ['snapshot renamed, old files partly deleted', { 'log-000002.bin': before['log-000002.bin'], ...after }, ['a', 'b', 'c']],
    ];
    for (const [step, files, expected] of crashes) {
      restore(dir, files);
      const { store, payloads } = open(dir);
      assert.deepEqual(texts(payloads), expected, step);
      const left = list(dir);
      assert.ok(!left.some((name) => name.endsWith('.tmp')), step);
      if ('snapshot-000003.bin' in files) assert.deepEqual(left, ['log-000003.bin', 'snapshot-000003.bin'], step);
      store.append(Buffer.from('d'));
      await store.close();
      assert.deepEqual(await reopened(dir), [...expected, 'd'], step);
    }
  });

  test('a torn tail in a log that is not the newest is corruption', async () => {
    const dir = tempDir();
    await write(dir, 'alpha', 'bravo');
    const log1 = readFileSync(stateFile(dir, 'log-000001.bin'));
    const { store } = open(dir);
    await store.compact([[Buffer.from('alpha'), Buffer.from('bravo')]]);
    await store.close();
    restore(dir, { 'log-000001.bin': log1.subarray(0, log1.length - 2), 'log-000002.bin': fileHeader('L') });
    assert.throws(() => open(dir), (e: Error) => e instanceof StoreCorruptError && e.message.includes('log-000001.bin'));
  });

  test('a damaged snapshot is corruption', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    await store.compact([[Buffer.from('alpha'), Buffer.from('bravo')]]);
    await store.close();
    const path = stateFile(dir, 'snapshot-000002.bin');
    const whole = readFileSync(path);
    const flipped = Buffer.from(whole);
    flipped[8 + HEAD + 2]! ^= 1; // inside "alpha"
    const frames = [Buffer.from('alpha'), Buffer.from('bravo')].flatMap(frame);
    const damaged = [flipped, whole.subarray(0, whole.length - (HEAD + 4)), whole.subarray(0, whole.length - 1), Buffer.concat([fileHeader('S'), ...frames, snapshotTrailer(3)])];
    for (const data of damaged) {
      writeFileSync(path, data);
      assert.throws(() => open(dir), (e: Error) => e instanceof StoreCorruptError && e.message.startsWith(path));
    }
  });

  test('shouldCompact() is true once the log outgrows both compactMinBytes and the last snapshot', async () => {
    const { store } = open(tempDir(), silentLogger, 100);
    store.append(Buffer.alloc(80)); // 8 + 12 + 80 = 100: not past
    assert.equal(store.shouldCompact(), false);
    store.append(Buffer.alloc(0));
    assert.equal(store.shouldCompact(), true);
    const compaction = store.compact([[Buffer.alloc(300)]]);
    assert.equal(store.shouldCompact(), false, 'not while compacting');
    await compaction;
    assert.equal(store.stats.snapshotBytes, 8 + HEAD + 300 + HEAD + 4);
    store.append(Buffer.alloc(300)); // 8 + 312 = 320: past 100, not past the snapshot's 336
    assert.equal(store.shouldCompact(), false);
    store.append(Buffer.alloc(5)); // 320 + 17 = 337
    assert.equal(store.shouldCompact(), true);
    await store.close();
    const byDefault = open(tempDir()).store; // compactMinBytes 16 MiB
    byDefault.append(Buffer.alloc(1024 * 1024));
    assert.equal(byDefault.shouldCompact(), false);
    await byDefault.close();
  });

  test('a write that fails (file size limit) rejects synced() for good; the torn write is cut on reopen', async () => {
    const dir = tempDir();
    const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    const script = `
      import { StateStore } from ${url('../../../src/store/state-store.js')};
      import { silentLogger } from ${url('../../../src/runtime/logger.js')};
      const { store } = StateStore.open(${JSON.stringify(dir)}, { logger: silentLogger });
      const out = [];
      const note = (p) => p.then(() => out.push('ok'), (e) => out.push(e.message));
      store.append(Buffer.alloc(65536, 1));
      await note(store.synced());
      await note(store.synced());
      try { store.append(Buffer.from('x')); out.push('appended'); } catch (e) { out.push(e.message); }
      await note(store.close());
      console.log(JSON.stringify(out));`;
    // Writes past 8 blocks of 512 (dash) or 1024 bytes (bash) fail; Node ignores SIGXFSZ.
    const child = spawnSync('sh', ['-c', 'ulimit -f 8 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const [first, second, append, close] = JSON.parse(child.stdout) as string[];
    const written = Number(/short write to .*log-000001\.bin: (\d+) of 65548 bytes/.exec(first!)?.[1]); // 65536 + a 12-byte head
    assert.ok(written > 0, first);
    assert.equal(second, first);
    assert.match(append!, /^the state store failed: short write/);
    assert.equal(close, first);
    const { store, payloads } = open(dir);
    assert.deepEqual(payloads, []);
    assert.equal(store.stats.tornTailBytes, written);
    await store.close();
  });

  test('random appends, compactions and crashes: everything synced before the cut survives', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const random = new SeededRandom(seed);
      const dir = tempDir();
      let state: Buffer[] = []; // the caller's state: what it appended, in order
      let logStart = 0; // state[logStart..] is in the newest log
      let mustSurvive = 0;
      for (let round = 0; round < 4; round++) {
        const { store, payloads } = open(dir);
        const ids = payloads.map((p) => p.readUInt32BE(0));
        const kept = new Set(ids).size;
        assert.ok(kept >= mustSurvive, `seed ${seed} round ${round}: ${kept} payloads back, ${mustSurvive} were synced`);
        assert.ok(ids.every((id, i) => id < kept && payloads[i]!.equals(state[id]!)), `seed ${seed} round ${round}: not a prefix`);
        state = state.slice(0, kept);
        let compaction: Promise<void> | undefined;
        for (let op = 0; op < 40; op++) {
          const r = random.next();
          if (r < 0.7) {
            const payload = Buffer.concat([Buffer.alloc(4), random.bytes(random.next() < 0.05 ? 5000 : random.int(200))]);
            payload.writeUInt32BE(state.length);
            state.push(payload);
            store.append(payload);
          } else if (r < 0.85) {
            await store.synced();
          } else if (r < 0.95 && !compaction) {
            compaction = store.compact([state.slice()]).finally(() => (compaction = undefined));
            logStart = state.length;
          } else {
            await compaction;
          }
        }
        await compaction;
        await store.close();
        // The crash: the newest log's end, from a random point, never reached the disk (cut off or zeros).
        const newest = list(dir).filter((name) => name.startsWith('log-')).at(-1)!;
        const data = readFileSync(stateFile(dir, newest));
        const cut = 8 + random.int(data.length - 8 + 1);
        writeFileSync(stateFile(dir, newest), random.next() < 0.5 ? data.subarray(0, cut) : Buffer.concat([data.subarray(0, cut), Buffer.alloc(data.length - cut)]));
        // Frames wholly before the cut had been synced when the crash came.
        const frameEnds = state.slice(logStart).map((p) => HEAD + p.length);
        for (let i = 1; i < frameEnds.length; i++) frameEnds[i]! += frameEnds[i - 1]!;
        assert.equal(8 + (frameEnds.at(-1) ?? 0), data.length, 'the newest log holds what was appended since the last compaction');
        mustSurvive = logStart + frameEnds.filter((end) => 8 + end <= cut).length;
      }
    }
  });
});
