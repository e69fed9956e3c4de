/**
 * The runner's side of parser-worker.ts: one worker thread at a time runs the parser targets in turn. A worker
 * that stays silent for {@link WATCHDOG_MS} is terminated and its case counted as a hang; one that dies (an
 * uncaught error, out of memory under its resourceLimits) has its case counted as a crash. Either way a new worker
 * (with a new corpus) carries on from the next case.
 */
import { Worker } from 'node:worker_threads';
import type { HostSeeds } from './corpus.js';
import { HANG_MS, type TargetTally } from './outcome.js';
import { CURRENT_INPUT_BYTES, type FromWorker, type ParserWorkerData, type ToWorker } from './parser-protocol.js';

/** Silence after which a worker is taken for hung (a case that returns after > 2 s is a hang anyway). */
const WATCHDOG_MS = 4 * HANG_MS;
/** Cases asked for per message: small enough that a time budget is not overshot by much. */
const CHUNK = 16;
/** Heap a worker may use before V8 stops it (a parser that allocates without bound is a crash, not a hang). */
const WORKER_HEAP_MB = 1536;

export interface ParserLimit {
  readonly cases?: number;
  readonly deadline?: number;
}

/** The fuzz machinery failed (not a target): the run stops instead of counting it. */
export class FuzzHarnessError extends Error {
  override readonly name = 'FuzzHarnessError';
}

type Ended = { readonly kind: 'crash' | 'hang'; readonly errorType: string; readonly detail: string };

class WorkerHandle {
  readonly worker: Worker;
  readonly current = new SharedArrayBuffer(8 + CURRENT_INPUT_BYTES);
  #listener: ((m: FromWorker) => void) | undefined;
  #ended: ((e: Ended) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  dead = false;

  constructor(seed: number, host: HostSeeds, from: number) {
    const workerData: ParserWorkerData = { seed, host, from, current: this.current };
    this.worker = new Worker(new URL('./parser-worker.js', import.meta.url), {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', (m: FromWorker) => {
      this.#arm();
      this.#listener?.(m);
    });
    this.worker.on('error', (e: Error & { code?: string }) => this.#end({ kind: 'crash', errorType: e.code ?? e.constructor.name, detail: e.message }));
    this.worker.on('exit', (code) => this.#end({ kind: 'crash', errorType: 'WorkerExit', detail: `the worker exited with code ${code}` }));
  }

  #end(e: Ended): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.#timer);
    this.#ended?.(e);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#end({ kind: 'hang', errorType: 'Timeout', detail: `no answer from the parser worker within ${WATCHDOG_MS} ms` });
      void this.worker.terminate();
    }, WATCHDOG_MS);
  }

  /** Sends `m` and feeds every answer to `on` until `on` returns true (resolves) or the worker ends (rejects). */
  exchange(m: ToWorker, on: (m: FromWorker) => boolean, watchdog = true): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#listener = (x) => {
        if (x.type === 'harness-error') {
          this.#listener = undefined;
          clearTimeout(this.#timer);
          reject(new FuzzHarnessError(`Cannot run the parser worker. ${x.message}`));
        } else if (on(x)) {
          this.#listener = undefined;
          clearTimeout(this.#timer);
          resolve();
        }
      };
      this.#ended = (e) => reject(Object.assign(new Error(e.detail), { ended: e }));
      if (watchdog) this.#arm();
      this.worker.postMessage(m);
    });
  }

  /** The case the worker was running when it ended, and its input. */
  inFlight(): { index: number; input: Uint8Array } {
    const h = new Int32Array(this.current, 0, 2);
    return { index: h[0]!, input: new Uint8Array(this.current, 8, h[1]!).slice() };
  }

  async stop(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.#timer);
    this.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    await Promise.race([new Promise((r) => this.worker.once('exit', r)), new Promise((r) => setTimeout(r, 2000))]);
    await this.worker.terminate();
  }
}

/** Runs the parser targets through worker threads, restarting a worker after a crash or a hang. */
export class ParserRunner {
  #handle: WorkerHandle | undefined;

  constructor(
    private readonly seed: number,
    private readonly host: HostSeeds,
  ) {}

  async #start(from: number): Promise<WorkerHandle> {
    const h = new WorkerHandle(this.seed, this.host, from);
    // The corpus takes a few RSA keys and signatures: no watchdog until the worker says it is ready.
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          h.worker.off('message', onMessage);
          resolve();
        }
      };
      h.worker.on('message', onMessage);
      h.worker.once('error', reject);
      h.worker.once('exit', (code) => reject(new Error(`Cannot start the parser worker. It exited with code ${code} before its corpus was ready.`)));
    });
    this.#handle = h;
    return h;
  }

  /** Starts the first worker (and its corpus) now rather than at the first target. */
  async start(): Promise<void> {
    if (!this.#handle || this.#handle.dead) await this.#start(0);
  }

  async run(name: string, limit: ParserLimit, tally: TargetTally): Promise<void> {
    let next = 0;
    const more = () => (limit.cases === undefined || tally.cases < limit.cases) && (limit.deadline === undefined || Date.now() < limit.deadline);
    while (more()) {
      const h = this.#handle && !this.#handle.dead ? this.#handle : await this.#start(next);
      try {
        await h.exchange({ type: 'target', name }, (m) => m.type === 'opened', false);
        while (more()) {
          const count = limit.cases === undefined ? CHUNK : Math.min(CHUNK, limit.cases - tally.cases);
          await h.exchange({ type: 'run', count }, (m) => {
            if (m.type === 'case') {
              tally.add(m.index, m.result, () => m.input);
              next = m.index + 1;
            } else if (m.type === 'chunk') {
              tally.maxHeapMb = Math.max(tally.maxHeapMb ?? 0, m.heapMb);
              return true;
            }
            return false;
          });
        }
      } catch (e) {
        const ended = (e as { ended?: Ended }).ended;
        if (!ended) throw e;
        const { index, input } = h.inFlight();
        const at = Math.max(index, next);
        tally.add(
          at,
          { outcome: ended.kind, ms: ended.kind === 'hang' ? WATCHDOG_MS : 0, reached: [], errorType: ended.errorType, detail: ended.detail },
          () => input,
        );
        next = at + 1;
        this.#handle = undefined;
        // The next worker starts its stream at `next` for this target.
        await h.worker.terminate();
        this.#handle = await this.#start(next);
      }
    }
  }

  async close(): Promise<void> {
    await this.#handle?.stop();
  }
}
