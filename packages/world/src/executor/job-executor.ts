/**
 * One job of `ssmax run --jobs N`: a {@link CellExecutor} whose worlds live in a child process of their own
 * (job-process.ts). SoftHSM2 reads its configuration once per process, so worlds that run side by side
 * need processes side by side; each job's worlds take their own /24 on loopback and their own storage.
 * The parent sends one cell at a time over IPC and gets back the cell's run, its log lines, or its fault
 * (with the child's stack, so the report reads as a one-process run's).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SsmaxError } from '@ssmax/core';
import type { CellContext, CellExecutor, CellRun, MatrixProfile, Scenario } from '../runner/types.js';
import type { WorldConfig } from '../world-config.js';

/** What a job's MatrixExecutor is made with (the serialisable part of MatrixExecutorOptions). */
export interface JobExecutorOptions {
  /** Which job this is: k of n (1-based). */
  readonly job: { readonly k: number; readonly n: number };
  readonly seed?: number;
  readonly retryMs?: number;
  readonly ablate?: readonly string[];
  readonly netPrefix?: string;
  readonly storageDir?: string;
  readonly templates?: boolean;
  /** The world of the cells (`ssmax run --world FILE`); default the matrix world. */
  readonly world?: WorldConfig;
  /** Lines the job process writes outside any cell (its stderr). */
  readonly log?: (line: string) => void;
}

/** Parent → job. */
export type ToJob =
  | { readonly type: 'start'; readonly options: Omit<JobExecutorOptions, 'log' | 'job'> }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly scenario: Scenario;
      readonly profile: MatrixProfile;
      readonly seed: number;
      readonly clockOffsetMs: number;
    }
  | { readonly type: 'close' };

/** Job → parent. */
export type FromJob =
  | { readonly type: 'log'; readonly id: number; readonly line: string }
  | { readonly type: 'result'; readonly id: number; readonly run: CellRun }
  | { readonly type: 'fault'; readonly id: number; readonly name: string; readonly message: string; readonly stack?: string }
  | { readonly type: 'closed' };

interface Pending {
  readonly resolve: (r: CellRun) => void;
  readonly reject: (e: Error) => void;
  readonly log: (line: string) => void;
  readonly cell: string;
}

const ENTRY = fileURLToPath(new URL('./job-process.js', import.meta.url));

export class JobExecutor implements CellExecutor {
  #child: ChildProcess | undefined;
  #next = 0;
  readonly #pending = new Map<number, Pending>();
  #closed: (() => void) | undefined;

  constructor(private readonly o: JobExecutorOptions) {}

  get #name(): string {
    return `job ${this.o.job.k}/${this.o.job.n}`;
  }

  #start(): ChildProcess {
    if (!existsSync(ENTRY)) throw new SsmaxError('INTERNAL', `Cannot start ${this.#name}. ${ENTRY} does not exist: build the world package (npm run build).`);
    const child = fork(ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let rest = '';
    const out = this.o.log ?? ((l: string) => void process.stderr.write(`${l}\n`));
    child.stderr!.on('data', (c: Buffer) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) out(`[${this.#name}] ${l}`);
    });
    child.on('message', (m: FromJob) => {
      if (m.type === 'closed') return this.#closed?.();
      const p = this.#pending.get(m.id);
      if (!p) return;
      if (m.type === 'log') return p.log(`[${this.#name}] ${m.line}`);
      this.#pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.run);
      else p.reject(Object.assign(new Error(m.message), { name: m.name, ...(m.stack !== undefined ? { stack: m.stack } : {}) }));
    });
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(new SsmaxError('INTERNAL', `Cannot run ${p.cell} in ${this.#name}. Its process exited (${signal ?? `code ${code}`}) during the cell.`));
      }
      this.#closed?.();
    });
    const { job: _job, log: _log, ...options } = this.o;
    child.send({ type: 'start', options } satisfies ToJob);
    return child;
  }

  run(scenario: Scenario, profile: MatrixProfile, ctx: CellContext): Promise<CellRun> {
    // A job that died with a cell is started again for the next one (its worlds were in the dead process).
    const child = (this.#child ??= this.#start());
    const id = ++this.#next;
    return new Promise<CellRun>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, log: ctx.log, cell: `${scenario.id} [${profile}]` });
      child.send({ type: 'run', id, scenario, profile, seed: ctx.seed, clockOffsetMs: ctx.clock().getTime() - Date.now() } satisfies ToJob);
    });
  }

  /** Closes the job's worlds and ends its process (killed if it has not ended 60 s later). */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      this.#closed = () => {
        clearTimeout(timer);
        resolve();
      };
      child.send({ type: 'close' } satisfies ToJob);
    });
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
}
