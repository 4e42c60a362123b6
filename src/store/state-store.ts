/**
 * Durable storage of the replicated CRDT state, in `<dir>/state/`. Payloads are opaque: the
 * replication layer encodes them, and because merging them is idempotent, replaying one twice is
 * harmless. Files (their format is in record-file.ts):
 *
 *   snapshot-<gen>.bin   the whole state when log-<gen> was started, ended by a trailer
 *   log-<gen>.bin        payloads appended after that, in order
 *
 * gen is zero-padded decimal (000001), so names sort. Both kinds are created complete through a
 * `.tmp` file, fsync, rename and directory fsync; a log only grows after that. Loading takes the
 * newest snapshot S (if any) and replays every log with gen >= S.
 *
 * Compaction to gen+1: (1) new appends go to log-<gen+1>, created once everything queued for
 * log-<gen> is synced; (2) snapshot-<gen+1> is written with the caller's payloads, which hold all
 * of log-<gen> and before; (3) files with a lower gen are deleted. A crash after (1) replays the
 * old snapshot and both logs; after (2) open() deletes what (3) did not.
 *
 * Only the newest log can end in a torn frame, from a crash during an unacknowledged append
 * (appends are acknowledged once fdatasync'ed); open() cuts it off. Any other damage is an error.
 */

import {
  close,
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsync,
  ftruncateSync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writev,
  writevSync,
} from 'node:fs';
import { readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../runtime/logger.js';
import { writeFileAtomic } from './files.js';
import { fileHeader, frame, FRAME_HEAD_BYTES, HEADER_BYTES, MAX_PAYLOAD_BYTES, readRecordFile, snapshotTrailer } from './record-file.js';

export { StoreCorruptError } from './record-file.js';

export interface StoreStats {
  logBytes: number;
  snapshotBytes: number;
  appends: number;
  syncs: number;
  compactions: number;
  tornTailBytes: number;
}

export interface OpenedStore {
  store: StateStore;
  /** Replay order: the snapshot's, then the logs'. */
  payloads: Buffer[];
}

/** Appends flushed together: one writev, one fdatasync. */
interface Batch {
  gen: number;
  /** The frames, copied one after another into chunks: the filled part of each chunk but the last. */
  buffers: Buffer[];
  /** The chunk being filled, and how far. */
  chunk: Buffer | null;
  used: number;
  bytes: number;
  done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

const DEFAULT_COMPACT_MIN_BYTES = 16 * 1024 * 1024;
const FILE_NAME = /^(log|snapshot)-(\d+)\.bin$/;

const openAsync = promisify(open);
const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);
const SNAPSHOT_SYNC_BYTES = 4 * 1024 * 1024;
const MAX_SYNCS_IN_FLIGHT = 2;

export class StateStore {
  /** Oldest first; appends join the last batch if it is for the current gen. */
  private readonly queue: Batch[] = [];
  /** Written, waiting for their fdatasync (or an earlier one's), oldest first. */
  private readonly syncing: Batch[] = [];
  private flushScheduled = false;
  private rotating = false;
  private failure: Error | null = null;
  private closed = false;
  private compaction: Promise<void> | null = null;
  /** The log new appends go to; ahead of fdGen from compact() until the rotation is done. */
  private gen: number;

  private constructor(
    private readonly dir: string,
    private fd: number,
    private fdGen: number,
    private readonly logger: Logger,
    private readonly compactMinBytes: number,
    readonly stats: StoreStats,
  ) {
    this.gen = fdGen;
  }

  /** Loads <dir>/state: the newest complete snapshot plus the logs written after it. Throws StoreCorruptError. */
  static open(dir: string, options: { logger: Logger; compactMinBytes?: number }): OpenedStore {
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { recursive: true });
    const names = readdirSync(stateDir);
    for (const name of names) if (name.endsWith('.tmp')) rmSync(join(stateDir, name));
    const files = parseNames(names);
    const stats: StoreStats = { logBytes: 0, snapshotBytes: 0, appends: 0, syncs: 0, compactions: 0, tornTailBytes: 0 };
    const payloads: Buffer[] = [];
    const snapshotGen = Math.max(0, ...files.filter((f) => f.kind === 'snapshot').map((f) => f.gen));
    if (snapshotGen > 0) {
      const path = join(stateDir, fileName('snapshot', snapshotGen));
      const data = readFileSync(path);
      for (const p of readRecordFile(data, path, 'S', false).payloads) payloads.push(p);
      stats.snapshotBytes = data.length;
    }
    const logs = files.filter((f) => f.kind === 'log' && f.gen >= snapshotGen).sort((a, b) => a.gen - b.gen);
    for (const [i, log] of logs.entries()) {
      const path = join(stateDir, log.name);
      const data = readFileSync(path);
      const { payloads: logPayloads, end } = readRecordFile(data, path, 'L', i === logs.length - 1);
      for (const p of logPayloads) payloads.push(p);
      stats.logBytes += end;
      if (end < data.length) {
        truncateDurably(path, end);
        stats.tornTailBytes = data.length - end;
        options.logger.warn('log_tail_truncated', { file: path, offset: end, bytes: stats.tornTailBytes });
      }
    }
    // Leftovers of a compaction that stopped after writing snapshot-<snapshotGen>.
    for (const f of files) if (f.gen < snapshotGen) rmSync(join(stateDir, f.name));
    const gen = logs.at(-1)?.gen ?? Math.max(snapshotGen, 1);
    const logPath = join(stateDir, fileName('log', gen));
    if (logs.length === 0) {
      writeFileAtomic(logPath, fileHeader('L'));
      stats.logBytes = HEADER_BYTES;
    }
    const fd = openSync(logPath, 'a');
    const minBytes = options.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
    return { store: new StateStore(stateDir, fd, gen, options.logger, minBytes, stats), payloads };
  }

  /** Queues a payload for the log (a copy of it); written and fsynced in the next group commit. */
  append(payload: Buffer): void {
    this.assertUsable();
    if (payload.length > MAX_PAYLOAD_BYTES) {
      throw new RangeError(`a state record of ${payload.length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte cap`);
    }
    const batch = this.openBatch();
    addFrame(batch, payload);
    batch.bytes += FRAME_HEAD_BYTES + payload.length;
    this.stats.logBytes += FRAME_HEAD_BYTES + payload.length;
    this.stats.appends++;
  }

  /** Resolves once everything appended before this call is on disk; rejects for good once a write or sync failed. */
  synced(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return (this.queue.at(-1) ?? this.syncing.at(-1))?.done ?? Promise.resolve();
  }

  /** True when the log has grown past max(compactMinBytes, the last snapshot's size). */
  shouldCompact(): boolean {
    return this.stats.logBytes > Math.max(this.compactMinBytes, this.stats.snapshotBytes);
  }

  /**
   * Writes a snapshot of the payloads the chunks yield and retires older files. New appends go to
   * a new log from this call on, and the chunks are read after it, so they may come from the
   * caller's live state (a lazy iterable).
   */
  async compact(chunks: Iterable<Buffer[]>): Promise<void> {
    this.assertUsable();
    if (this.compaction) throw new Error('a compaction is already running');
    const gen = ++this.gen;
    const rotation = this.openBatch();
    const retired = this.stats.logBytes;
    this.stats.logBytes = HEADER_BYTES;
    this.compaction = this.writeSnapshot(gen, rotation, chunks);
    try {
      await this.compaction;
      this.stats.compactions++;
    } catch (e) {
      this.stats.logBytes += retired; // the old logs still hold the state
      throw e;
    } finally {
      this.compaction = null;
    }
  }

  /** Waits for pending writes to be synced, then closes the files; rejects if the store failed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compaction?.catch(() => {}); // its caller hears about a failure
    try {
      await this.synced();
    } finally {
      await closeAsync(this.fd);
    }
  }

  private assertUsable(): void {
    if (this.failure) throw new Error(`the state store failed: ${this.failure.message}`, { cause: this.failure });
    if (this.closed) throw new Error('the state store is closed');
  }

  /** The batch appends join now: the last queued one if it is for this.gen, else a new one. */
  private openBatch(): Batch {
    const last = this.queue.at(-1);
    if (last?.gen === this.gen) return last;
    const batch = newBatch(this.gen);
    this.queue.push(batch);
    this.scheduleFlush();
    return batch;
  }

  /**
   * Flushes once the event loop has read every client that had data this turn (setImmediate runs
   * after the poll phase), so their writes share one write and one fdatasync.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes the oldest queued batch and starts its fdatasync, while fewer than two are in flight:
   * the clients acknowledged by one group send their next writes while the other group is on its
   * way to the disk, so groups stay full, and the disk commits both in one journal flush when it
   * can. The write itself is synchronous (a copy into the page cache, as Redis writes its AOF):
   * the log stays in append order without a trip through the threadpool, and only fdatasync, the
   * wait for the disk, runs off the event loop. Groups are acknowledged in order.
   */
  private flush(): void {
    while (!this.failure && !this.rotating && this.syncing.length < MAX_SYNCS_IN_FLIGHT) {
      const batch = this.queue[0];
      if (!batch) return;
      if (batch.gen !== this.fdGen) {
        if (this.syncing.length > 0) return; // the old log's syncs end first, then flush() again
        this.rotating = true;
        this.rotate(batch.gen).then(
          () => {
            this.rotating = false;
            this.flush();
          },
          (e: unknown) => this.fail(e as Error),
        );
        return;
      }
      this.queue.shift();
      if (batch.bytes === 0 && this.syncing.length === 0) {
        batch.resolve(); // a rotation's batch that nothing joined
        continue;
      }
      this.syncing.push(batch);
      closeChunk(batch);
      try {
        checkWritten(join(this.dir, fileName('log', this.fdGen)), writevSync(this.fd, batch.buffers), batch.bytes);
      } catch (e) {
        return this.fail(e as Error);
      }
      fdatasync(this.fd, (e) => {
        if (e) return this.fail(e);
        this.stats.syncs++;
        this.settle(batch);
        this.scheduleFlush();
      });
    }
  }

  /** A sync covers everything written before it started: resolves `synced` and every group before it. */
  private settle(synced: Batch): void {
    if (!this.syncing.includes(synced)) return; // settled by a later sync that ended first
    for (;;) {
      const batch = this.syncing.shift()!;
      batch.resolve();
      if (batch === synced) return;
    }
  }

  /** Runs once every batch for the old log is synced, so only the newest log can have a torn tail. */
  private async rotate(gen: number): Promise<void> {
    const path = join(this.dir, fileName('log', gen));
    await writeAtomic(path, (write) => write([fileHeader('L')]));
    const old = this.fd;
    this.fd = await openAsync(path, 'a');
    this.fdGen = gen;
    await closeAsync(old);
  }

  /**
   * The chunks are read after the rotation and written one at a time, so a large state is
   * framed without stalling the clients (what changes meanwhile is in the new log as well).
   */
  private async writeSnapshot(gen: number, rotation: Batch, chunks: Iterable<Buffer[]>): Promise<void> {
    await rotation.done;
    const path = join(this.dir, fileName('snapshot', gen));
    let count = 0;
    this.stats.snapshotBytes = await writeAtomic(path, async (write) => {
      await write([fileHeader('S')]);
      for (const chunk of chunks) {
        if (chunk.some((p) => p.length > MAX_PAYLOAD_BYTES)) throw new RangeError(`a state record is over the ${MAX_PAYLOAD_BYTES}-byte cap`);
        await write(chunk.flatMap(frame));
        count += chunk.length;
      }
      await write([snapshotTrailer(count)]);
    });
    for (const f of parseNames(await readdir(this.dir))) if (f.gen < gen) await unlink(join(this.dir, f.name));
    this.logger.info('state_compacted', { file: path, payloads: count, bytes: this.stats.snapshotBytes });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.logger.error('state_store_failed', { error: error.message });
    for (const batch of [...this.syncing.splice(0), ...this.queue.splice(0)]) batch.reject(error);
  }
}

function newBatch(gen: number): Batch {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // nobody may be waiting; synced() and append() report the failure anyway
  return { gen, buffers: [], chunk: null, used: 0, bytes: 0, done, resolve, reject };
}

/**
 * Appended frames are copied into chunks rather than queued as they are: 100,000 health writes in
 * one turn (a detail flush) would otherwise hold 200,000 Buffer objects on the V8 heap until
 * written (~20 MB, and the heap limit grows with them). Chunks grow with the batch, so a group
 * commit of a few records takes a few KiB, and a large batch's chunks are big enough for malloc to
 * map them apart and give them back when freed (bin/heck-server's MALLOC_MMAP_THRESHOLD_).
 */
const BATCH_CHUNK_MIN_BYTES = 4 * 1024;
const BATCH_CHUNK_MAX_BYTES = 1024 * 1024;

function addFrame(batch: Batch, payload: Buffer): void {
  const [head, body] = frame(payload);
  const n = head.length + body.length;
  if (batch.chunk === null || batch.used + n > batch.chunk.length) {
    closeChunk(batch);
    const size = Math.min(BATCH_CHUNK_MAX_BYTES, Math.max(BATCH_CHUNK_MIN_BYTES, batch.bytes));
    batch.chunk = Buffer.allocUnsafeSlow(Math.max(size, n));
  }
  head.copy(batch.chunk, batch.used);
  body.copy(batch.chunk, batch.used + head.length);
  batch.used += n;
}

/** Ends the chunk being filled: its filled part joins the buffers to write. */
function closeChunk(batch: Batch): void {
  if (batch.chunk !== null) batch.buffers.push(batch.chunk.subarray(0, batch.used));
  batch.chunk = null;
  batch.used = 0;
}

function fileName(kind: 'log' | 'snapshot', gen: number): string {
  return `${kind}-${String(gen).padStart(6, '0')}.bin`;
}

function parseNames(names: string[]): { name: string; kind: string; gen: number }[] {
  return names.flatMap((name) => {
    const m = FILE_NAME.exec(name);
    return m ? [{ name, kind: m[1]!, gen: Number(m[2]) }] : [];
  });
}

function truncateDurably(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** files.ts' writeFileAtomic without blocking the event loop; returns the file's size. */
/**
 * Creates a file through a temporary one (written by `fill`, fsynced, renamed, directory fsynced).
 * Every SNAPSHOT_SYNC_BYTES written are flushed on the way: one large final fsync would hold the
 * log's fsyncs (and so every acknowledgement) behind it on the same disk. Returns the size.
 */
async function writeAtomic(path: string, fill: (write: (buffers: Buffer[]) => Promise<void>) => Promise<void>): Promise<number> {
  const tmp = `${path}.tmp`;
  const fd = await openAsync(tmp, 'w', 0o600);
  let size = 0;
  let unsynced = 0;
  try {
    await fill(async (buffers) => {
      const n = buffers.reduce((sum, b) => sum + b.length, 0);
      checkWritten(tmp, (await writevAsync(fd, buffers)).bytesWritten, n);
      size += n;
      unsynced += n;
      if (unsynced < SNAPSHOT_SYNC_BYTES) return;
      unsynced = 0;
      await fdatasyncAsync(fd);
    });
    await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
  await rename(tmp, path);
  const dir = await openAsync(dirname(path), 'r');
  try {
    await fsyncAsync(dir);
  } finally {
    await closeAsync(dir);
  }
  return size;
}

/** A write that stops early (disk full, file size limit) reports how far it got, not an error. */
function checkWritten(path: string, written: number, expected: number): void {
  if (written !== expected) throw new Error(`short write to ${path}: ${written} of ${expected} bytes (disk full?)`);
}

