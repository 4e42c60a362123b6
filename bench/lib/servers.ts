import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startNodeProcess } from '../../test/helpers/process.js';

export type ServerName = 'redis' | 'heck';

/** A server under test: where to send load, whose /proc entry to read, and how to end it. */
export interface Server {
  readonly name: ServerName;
  readonly port: number;
  readonly pid: number;
  /** Where its data lives. */
  readonly dir: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** Rejects after ms with a message; the timer is unref'd so it never keeps the process alive. */
export async function deadline(ms: number, what: string): Promise<never> {
  await delay(ms, undefined, { ref: false });
  throw new Error(`${what} took longer than ${ms} ms`);
}

/** SIGTERM, then SIGKILL if the process has not exited within STOP_TIMEOUT_MS. */
export async function terminate(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  try {
    await Promise.race([exited, deadline(STOP_TIMEOUT_MS, `stopping pid ${child.pid}`)]);
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

/** A port free right now on loopback; redis-server cannot pick its own (port 0 disables TCP there). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** redis-server without persistence, or with what `extraArgs` turn on (e.g. an AOF). */
export async function startRedis(extraArgs: string[] = []): Promise<Server> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'heck-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, ...extraArgs];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      rmSync(dir, { recursive: true, force: true });
      resolve();
    }),
  );
  let log = '';
  const ready = new Promise<void>((resolve, reject) => {
    // Keep draining both pipes for the whole run so Redis never blocks on a full pipe.
    child.stdout!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Ready to accept connections')) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    child.once('error', reject);
    void exited.then(() => reject(new Error(`redis-server exited before it was ready:\n${log}`)));
  });
  try {
    await Promise.race([ready, deadline(START_TIMEOUT_MS, 'starting redis-server')]);
  } catch (e) {
    await terminate(child, exited);
    throw e;
  }
  return { name: 'redis', port, pid: child.pid!, dir, stop: () => terminate(child, exited) };
}

/** A Heck node with these settings (and these node flags instead of bin/heck-server's, if given). */
export async function startHeck(args: string[] = [], nodeFlags?: string[]): Promise<Server> {
  const node = await startNodeProcess(args, {}, { startMs: START_TIMEOUT_MS, ...(nodeFlags ? { nodeFlags } : {}) });
  // bin/heck-server execs node, so the child is the server; prefer the pid it logs in case that changes.
  const listening = node.logs.find((r) => r.event === 'listening');
  const pid = typeof listening?.pid === 'number' ? listening.pid : node.child.pid!;
  return { name: 'heck', port: node.port, pid, dir: node.dir, stop: () => terminate(node.child, node.exited) };
}
