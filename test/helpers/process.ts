import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, from dist/test/helpers/. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HECK_SERVER = join(ROOT, 'bin', 'heck-server');

export interface NodeProcess {
  child: ChildProcess;
  port: number;
  /** Cluster bus port (UDP and TCP), from the `listening` line. */
  busPort: number;
  /** Node id, from the `listening` line. */
  id: string;
  /** The data directory (--dir). */
  dir: string;
  /** Every log line printed so far, parsed. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<number | string>;
}

const DEFAULT_START_MS = 20_000;

export interface StartOptions {
  /**
   * Data directory to use instead of a fresh temporary one. It is kept when the process exits
   * (a restart with the same --dir finds its node id and peers); the caller removes it.
   */
  dir?: string;
  /**
   * Gets the child as soon as it exists, before it listens: a caller that kills every process it
   * started (by pid, in an after hook) can do so even if the start never completes.
   */
  onSpawn?: (child: ChildProcess) => void;
  /** A process that has neither listened nor exited after this long is killed and the start fails. */
  startMs?: number;
  /**
   * Node flags to run dist/src/main.js with instead of bin/heck-server's own (e.g. `--cpu-prof`,
   * which NODE_OPTIONS does not allow).
   */
  nodeFlags?: string[];
}

/**
 * Starts `bin/heck-server` as a real process on a free port (--port 0) and waits for its
 * `listening` log line, which carries the port it bound. Without `options.dir` the data directory
 * is a fresh temporary one, deleted when the process exits.
 */
export async function startNodeProcess(
  args: string[] = [],
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<NodeProcess> {
  const keepDir = options.dir !== undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'heck-proc-'));
  const settings = ['--port', '0', '--bus-port', '0', '--dir', dir, ...args];
  const [command, argv] = options.nodeFlags
    ? ['node', [...options.nodeFlags, join(ROOT, 'dist', 'src', 'main.js'), ...settings]]
    : [HECK_SERVER, settings];
  const child = spawn(command, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  options.onSpawn?.(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => {
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
      resolve(code ?? signal ?? -1);
    }),
  );
  const startMs = options.startMs ?? DEFAULT_START_MS;
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`heck-server (pid ${child.pid}) neither listened nor exited within ${startMs} ms: ${stderr}`));
    }, startMs);
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          logs.push(rec);
          if (rec.event === 'listening') {
            clearTimeout(timer);
            resolve(rec);
          }
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`heck-server exited (${code}) before listening: ${stderr}`));
    });
  });
  return {
    child,
    port: listening.port as number,
    busPort: listening.bus_port as number,
    id: listening.id as string,
    dir,
    logs,
    exited,
    stderr: () => stderr,
    stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
