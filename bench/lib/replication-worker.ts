/**
 * Worker-thread entry of the replication bench: runs the jobs the main thread sends, one at a time
 * (simulator jobs run on virtual time, so sharing a core cannot change their figures), and posts
 * each result back. One worker per lane, so the code loads once per lane.
 */
import { parentPort } from 'node:worker_threads';
import { runSimJob, type SimJob } from './replication-sim.js';

const port = parentPort;
if (!port) throw new Error('replication-worker.js runs as a worker thread only');
port.on('message', (job: SimJob) => {
  runSimJob(job, (line) => port.postMessage({ log: line })).then(
    (result) => port.postMessage({ result }),
    (e: unknown) => port.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
