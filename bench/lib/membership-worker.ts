/**
 * Worker-thread entry of the membership bench: runs simulator jobs sent by the main thread, one at
 * a time (virtual time, so sharing the CPU with another worker cannot change their figures), and
 * posts each result back. One worker per lane, so modules load once: a rebuild of dist/ by someone
 * else halfway through a run cannot mix code versions within the simulator phase.
 */
import { parentPort } from 'node:worker_threads';
import { runSimJob, type SimJob } from './membership-sim.js';

const port = parentPort;
if (!port) throw new Error('membership-worker.js runs as a worker thread only');
port.on('message', (job: SimJob) => {
  runSimJob(job, (line) => port.postMessage({ log: line })).then(
    (result) => port.postMessage({ result }),
    (e: unknown) => port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
