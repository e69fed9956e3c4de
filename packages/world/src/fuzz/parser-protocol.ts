/** The messages between parser-runner.ts and parser-worker.ts, and the worker's start data. */
import type { HostSeeds } from './corpus.js';
import type { CaseResult } from './outcome.js';

/** What the runner sends. */
export type ToWorker = { readonly type: 'target'; readonly name: string } | { readonly type: 'run'; readonly count: number } | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'ready'; readonly corpusMs: number }
  | { readonly type: 'opened'; readonly name: string; readonly from: number }
  | { readonly type: 'case'; readonly index: number; readonly result: CaseResult; readonly input?: Uint8Array }
  | { readonly type: 'chunk'; readonly heapMb: number }
  /** The harness itself failed (a generator, the corpus, a target that would not open): not a case's outcome. */
  | { readonly type: 'harness-error'; readonly message: string };

export interface ParserWorkerData {
  readonly seed: number;
  readonly host: HostSeeds;
  /** Index of the first case to run of the first target opened (after a restart). */
  readonly from: number;
  /** Int32 index, Int32 length, then up to CURRENT_INPUT_BYTES of the case being run. */
  readonly current: SharedArrayBuffer;
}

export const CURRENT_INPUT_BYTES = 1 << 20;
