/**
 * Inspection off the event loop (issue 10 item 3). Opening archives, inflating and scanning is CPU
 * work; done in an SMTP server's DATA handler it stops the server answering every other session for as
 * long as it takes. {@link inspectOffThread} runs {@link inspect} in a small pool of worker threads, each
 * with a bounded heap, and terminates a worker that overruns the policy's time limit: the mail then
 * counts as uninspectable and the server has kept answering throughout.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import {
  DEFAULT_INSPECTION_POLICY,
  DEFAULT_INSPECTION_TIME_LIMIT_MS,
  type InspectedFile,
  type InspectionDestination,
  type InspectionDirection,
  type InspectionPolicy,
  type InspectionVerdict,
} from './inspection.js';
import { SimOrgError } from './errors.js';
import type { MalwareScanner } from './clamd.js';
import { engineReasons } from './malware-engine.js';

/** What one job sends to a worker: the arguments of {@link inspect}, all structured-cloneable data. */
export interface InspectionJob {
  direction: InspectionDirection;
  files: readonly InspectedFile[];
  body: string;
  policy: Partial<InspectionPolicy>;
  destination: InspectionDestination;
}

/** Heap a worker may use; a bomb that gets past the archive budget exhausts this, not the server. */
export const WORKER_HEAP_MB = 512;
/** Time a worker gets beyond the policy's own limit (inspect stops itself between files) before it is killed. */
export const GRACE_MS = 2_000;

/**
 * The compiled worker. Under the test runner this module is loaded from `src/*.ts`, which a worker
 * thread cannot run, so the worker comes from the package's build (`npm test` builds first).
 */
function workerUrl(): URL {
  const here = new URL('./inspection-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return here;
  const built = new URL('../dist/inspection-worker.js', import.meta.url);
  if (!existsSync(fileURLToPath(built))) {
    throw new SimOrgError('INSPECTION_UNAVAILABLE', `Cannot start the inspection worker. ${fileURLToPath(built)} is missing: run npm run build.`);
  }
  return built;
}

interface Pending {
  job: InspectionJob;
  resolve: (v: InspectionVerdict) => void;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

function uninspectable(detail: string, policy: Partial<InspectionPolicy>): InspectionVerdict {
  const action = policy.uninspectable ?? DEFAULT_INSPECTION_POLICY.uninspectable;
  return { action, reasons: [{ rule: 'uninspectable', detail, action, code: 'UNINSPECTABLE' }] };
}

/** A fixed number of inspection workers, shared by every organisation in the process. */
export class InspectionPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];

  constructor(private readonly size = Math.max(2, Math.min(4, availableParallelism()))) {}

  /** Inspects one mail in a worker; resolves with a verdict, never rejects for hostile input or a dead worker. */
  run(job: InspectionJob): Promise<InspectionVerdict> {
    return new Promise((resolve) => {
      this.queue.push({ job, resolve });
      this.pump();
    });
  }

  /** Stops every worker (tests; a process exiting does not need it, the workers are unref'd). */
  async close(): Promise<void> {
    const all = this.slots.splice(0);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) {
        slot = { worker: this.spawn(), busy: false };
        this.slots.push(slot);
      }
      if (!slot) return;
      this.start(slot, this.queue.shift()!);
    }
  }

  private spawn(): Worker {
    // execArgv: [] — the worker must not inherit the parent's `--input-type` / `-e` (a process started
    // with `node --input-type=module -e …` would otherwise give workers that cannot start).
    const w = new Worker(workerUrl(), { execArgv: [], resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    w.unref();
    return w;
  }

  private start(slot: Slot, p: Pending): void {
    slot.busy = true;
    const limit = (p.job.policy.timeLimitMs ?? DEFAULT_INSPECTION_TIME_LIMIT_MS) + GRACE_MS;
    let done = false;
    const finish = (v: InspectionVerdict, replace: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      slot.worker.off('message', onMessage);
      slot.worker.off('error', onError);
      slot.worker.off('exit', onExit);
      if (replace) {
        void slot.worker.terminate();
        const i = this.slots.indexOf(slot);
        if (i >= 0) this.slots.splice(i, 1);
      } else {
        slot.busy = false;
      }
      p.resolve(v);
      this.pump();
    };
    const onMessage = (m: { verdict?: InspectionVerdict; error?: string }) =>
      finish(m.verdict ?? uninspectable(`inspection failed: ${m.error ?? 'no verdict'}`, p.job.policy), m.verdict === undefined);
    const onError = (e: Error) => finish(uninspectable(`inspection worker failed: ${e.message}`, p.job.policy), true);
    const onExit = (code: number) => finish(uninspectable(`inspection worker exited with code ${code}`, p.job.policy), true);
    const timer = setTimeout(() => finish(uninspectable(`inspection did not finish within ${limit} ms; the worker was stopped`, p.job.policy), true), limit);
    slot.worker.on('message', onMessage);
    slot.worker.on('error', onError);
    slot.worker.on('exit', onExit);
    slot.worker.postMessage(p.job);
  }
}

let shared: InspectionPool | undefined;

/** The engines beside the worker's rules (issue 16). */
export interface InspectionEngines {
  /**
   * The malware engine of inbound inspection: every file is scanned by it as well, the rules it covers
   * do not run (InspectionPolicy `malwareEngine: 'clamav'`), and an engine fault makes the file
   * uninspectable. Without one, inbound inspection runs only our own rules.
   */
  readonly scanner?: MalwareScanner;
}

const RANK: Record<InspectionVerdict['action'], number> = { allow: 0, flag: 1, block: 2 };

/**
 * {@link inspect} on a worker thread of the process-wide pool, with the policy's time limit enforced
 * by terminating the worker. Same verdicts as `inspect`; a worker that dies or overruns gives an
 * `uninspectable` verdict instead of an exception. Inbound, with `engines.scanner`, the malware engine
 * scans the same files meanwhile and its reasons join the verdict.
 */
export async function inspectOffThread(
  direction: InspectionDirection,
  files: readonly InspectedFile[],
  body: string,
  policy: Partial<InspectionPolicy> = {},
  destination: InspectionDestination = {},
  engines: InspectionEngines = {},
): Promise<InspectionVerdict> {
  shared ??= new InspectionPool();
  const scanner = direction === 'inbound' ? engines.scanner : undefined;
  if (!scanner) return shared.run({ direction, files, body, policy, destination });
  const pol = { ...DEFAULT_INSPECTION_POLICY, ...policy, malwareEngine: 'clamav' as const };
  const [ours, theirs] = await Promise.all([
    shared.run({ direction, files, body, policy: { ...policy, malwareEngine: 'clamav' }, destination }),
    files.length > 0 ? engineReasons(scanner, files, pol, pol.timeLimitMs ?? DEFAULT_INSPECTION_TIME_LIMIT_MS) : Promise.resolve([]),
  ]);
  const reasons = [...theirs, ...ours.reasons];
  const action = reasons.reduce<InspectionVerdict['action']>((a, r) => (RANK[r.action] > RANK[a] ? r.action : a), 'allow');
  return { action, reasons, scannedBy: `${scanner.engine} (${scanner.description}) and the file name and type rules` };
}
