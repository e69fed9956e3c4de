/** Worker-thread entry of {@link InspectionPool}: runs `inspect` on each job it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { inspect } from './inspection.js';
import type { InspectionJob } from './inspection-pool.js';

if (!parentPort) throw new Error('Cannot run the inspection worker. It must be started as a worker thread.');
const port = parentPort;
port.on('message', (job: InspectionJob) => {
  try {
    port.postMessage({ verdict: inspect(job.direction, job.files, job.body, job.policy, job.destination) });
  } catch (e) {
    // inspect() turns hostile input into reasons; anything thrown here is a bug, reported as data.
    port.postMessage({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
});
