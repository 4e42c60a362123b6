import { startNodeProcess, type NodeProcess } from '../../test/helpers/process.js';

/** Heck nodes a bench started, tracked so an interrupted run can still stop them (by pid). */
const running = new Set<NodeProcess>();

const START_TIMEOUT_MS = 20_000;

export function livePids(): number[] {
  return [...running].map((p) => p.child.pid).filter((p): p is number => typeof p === 'number');
}

/** Starts bin/heck-server with these settings (a start that hangs is killed by startNodeProcess). */
export async function startTracked(args: string[]): Promise<NodeProcess> {
  const proc = await startNodeProcess(args, {}, { startMs: START_TIMEOUT_MS });
  running.add(proc);
  return proc;
}

export async function killAll(procs: NodeProcess[]): Promise<void> {
  await Promise.all(
    procs.map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
      running.delete(p);
    }),
  );
}

/** Stops every Heck node still running (SIGKILL, by pid); for interrupts. */
export function killRunning(): Promise<void> {
  return killAll([...running]);
}

/** Rejects once `ms` pass without `p` settling (a bench step that must not hang the run). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, expired]);
  } finally {
    clearTimeout(timer);
  }
}
