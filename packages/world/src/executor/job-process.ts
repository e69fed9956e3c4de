/**
 * The process of one `ssmax run --jobs N` job (started by job-executor.ts with an IPC channel): a
 * {@link createMatrixExecutor} of its own, running the cells the parent sends, one at a time. It closes its
 * worlds and ends when told to, or when the parent goes away.
 */
import { createMatrixExecutor } from './matrix-executor.js';
import type { CellExecutor } from '../runner/types.js';
import type { FromJob, ToJob } from './job-executor.js';

let executor: CellExecutor | undefined;
let queue: Promise<void> = Promise.resolve();

const send = (m: FromJob): void => void process.send?.(m);

async function handle(m: ToJob): Promise<void> {
  if (m.type === 'start') {
    executor = createMatrixExecutor({ ...m.options, log: (line) => process.stderr.write(`${line}\n`) });
    return;
  }
  if (m.type === 'close') {
    await executor?.close?.();
    executor = undefined;
    send({ type: 'closed' });
    process.disconnect?.();
    return;
  }
  const { id } = m;
  try {
    if (!executor) throw new Error('Cannot run the cell. The job was not started.');
    const run = await executor.run(m.scenario, m.profile, {
      seed: m.seed,
      clock: () => new Date(Date.now() + m.clockOffsetMs),
      log: (line) => send({ type: 'log', id, line }),
    });
    send({ type: 'result', id, run });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ type: 'fault', id, name: err.name, message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) });
  }
}

process.on('message', (m: ToJob) => {
  queue = queue.then(() => handle(m));
});
// The parent is gone (killed, or it closed the channel): stop the worlds (Dovecot, clamd) before leaving.
process.on('disconnect', () => {
  queue = queue.then(async () => {
    await executor?.close?.().catch(() => undefined);
    process.exit(0);
  });
});
