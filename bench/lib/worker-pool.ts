import { Worker } from 'node:worker_threads';

/** The gist of an error: its first two lines (a child's stderr can run to a stack trace). */
export const firstLines = (text: string) => text.split('\n').filter((l) => l.trim()).slice(0, 2).join(' / ');

/** Every worker thread still running, so a bench's exit hook can end them. */
const workers = new Set<Worker>();

export function terminateWorkers(): Promise<unknown> {
  return Promise.allSettled([...workers].map((w) => w.terminate()));
}

/** A worker thread that runs the jobs it is given one after another; it may post `{log}` lines. */
class Lane<J, R> {
  private readonly worker: Worker;
  private pending: { resolve: (r: R) => void; reject: (e: Error) => void } | undefined;

  constructor(script: URL, log: (line: string) => void) {
    this.worker = new Worker(script);
    workers.add(this.worker);
    this.worker.on('message', (m: { log?: string; result?: R; error?: string }) => {
      if (m.log) log(m.log);
      if (m.result) this.settle(null, m.result);
      if (m.error) this.settle(new Error(`sim job failed: ${m.error}`));
    });
    this.worker.on('error', (e) => this.settle(e));
    this.worker.on('exit', (code) => {
      workers.delete(this.worker);
      this.settle(new Error(`sim worker exited (${code})`));
    });
  }

  run(job: J): Promise<R> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(job);
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }

  private settle(err: Error | null, result?: R): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    if (err) p.reject(err);
    else p.resolve(result!);
  }
}

/** Runs jobs on `concurrency` worker threads of `script`, in the order given; results in job order. */
export async function runPool<J, R>(script: URL, jobs: J[], concurrency: number, log: (line: string) => void): Promise<R[]> {
  const results: R[] = new Array(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, jobs.length) }, () => new Lane<J, R>(script, log));
  try {
    await Promise.all(
      lanes.map(async (lane) => {
        while (next < jobs.length) {
          const i = next++;
          results[i] = await lane.run(jobs[i]!);
        }
      }),
    );
  } finally {
    await Promise.all(lanes.map((l) => l.close()));
  }
  return results;
}
