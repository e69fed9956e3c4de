/**
 * `ssmax run [files or folders…] [--profile P[,P…]] [--report DIR] [--compare OLD.json] [--seed N]
 * [--clock-start ISO] [--shard K/N] [--jobs N] [--ablate]`: runs the scenario matrix (with `--shard`, the K-th
 * of N slices of its cells, runner/shard.ts; `ssmax report merge` joins the slices) through a cell executor
 * per job (`--jobs`: that many worlds side by side, each job a contiguous part of the cells) and writes the
 * report; with `--ablate` it then runs the cells that credit a defence once per defence switched off
 * (runner/ablation.ts) and writes ablation.json and matrix.html's "Falsifiability" section.
 * Exit codes: 0 every cell as expected (and, with --ablate, every credited cell falsifiable and every
 * defence flipping a cell), 1 otherwise, 2 usage or invalid scenario, 3 infrastructure.
 */
import { randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import {
  BUNDLED_SCENARIOS,
  REPO_ROOT,
  MATRIX_COSTS,
  ablationExitCode,
  compareMatrices,
  formatAblation,
  runAblation,
  environmentMeta,
  formatChanges,
  formatMatrixTable,
  loadScenarios,
  matrixExitCode,
  parseProfiles,
  readMatrix,
  runMatrix,
  writeReport,
  cellId,
  parseShard,
  plannedCells,
  shardCells,
  type CellExecutor,
  type MatrixMeta,
  type MatrixResult,
} from '@ssmax/world';
import { many, one, parseArgs } from '../args.js';
import { DEFENCES, implementationName, joinWorldRuns, loadWorldConfig, parseDefenceIds, type Matrix, type WorldConfig } from '@ssmax/world';
import { runAblationJobs } from './ablate-jobs.js';

/**
 * Builds the executor for one run (worlds may be kept between cells; `close` releases them). With
 * `ablate`, its worlds run with those defences switched off (world/src/defences.ts ids). With `job`, it is
 * job k of n running side by side with the others (`--jobs`): its worlds must not share anything with
 * theirs (a process, addresses, storage).
 */
export type ExecutorFactory = (ctx: {
  readonly seed: number;
  readonly clockStart: Date;
  readonly log: (line: string) => void;
  readonly ablate?: readonly string[];
  readonly job?: { readonly k: number; readonly n: number };
  /** The world of the cells (`--world FILE`); default the bundled matrix world. */
  readonly world?: WorldConfig;
}) => CellExecutor | Promise<CellExecutor>;

/** How the command is wired where it runs. */
export interface RunDefaults {
  /** Jobs of the matrix when `--jobs` is not given (the `ssmax` binary: the number of cores; default 1). */
  readonly jobs?: number;
}

export interface RunIo {
  readonly stdout: { write(s: string): void };
  readonly stderr: { write(s: string): void };
  /** Wall clock (tests pin it). */
  readonly now?: () => Date;
  /** Overrides commit/node/openssl/oracles in meta (tests). */
  readonly meta?: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'>;
}

export const RUN_USAGE = `usage: ssmax run [files or folders…] [--world FILE…] [--profile P[,P…]] [--report DIR] [--compare OLD.json] [--seed N] [--clock-start ISO] [--jobs N] [--shard K/N | --ablate]
  files/folders   scenario YAML/JSON files or folders of them (default: the bundled scenarios/)
  --world FILE    run the cells in this world (its orgs may be outside implementations,
                  docs/IMPLEMENTING.md); given twice or more, the matrix runs once per world and the
                  report shows the implementations side by side (not with --shard or --ablate)
  --profile       plain-ppap, best-practice, smime-e2e, ssmax-paper, ssmax-org, ssmax-esp-out, ssmax-esp-in, ssmax-plus (default: all)
  --report DIR    where matrix.json, junit.xml and matrix.html go (default: reports/latest/)
  --compare F     list the cells whose actual outcome differs from an earlier matrix.json
  --seed N        run seed (default: random; recorded in matrix.json so a run can be repeated)
  --clock-start   start of the simulated clock, ISO 8601 (default: now; recorded)
  --shard K/N     run only the K-th of N slices of the cells (needs --seed and --clock-start, the same for
                  every shard); \`ssmax report merge\` joins the shards' reports into the whole run's
  --ablate        after the matrix, rerun each cell that credits a defence with each defence of its
                  profile switched off in turn; writes ablation.json and a Falsifiability section
  --jobs N        run N worlds side by side, each in a process of its own, each on a contiguous part
                  of the cells (of the shard, with --shard); the results are those of --jobs 1
                  (default: the number of cores). With --ablate, the ablation's defences are shared
                  out over N processes too (there the default is 1)
  --ablate-only IDS  with --ablate: only these defences (ids in world/src/defences.ts)
  --baseline F    with --ablate: take the baseline from this matrix.json (same scenarios, profiles,
                  --seed and --clock-start) instead of running it
exit: 0 all cells as expected · 1 a mismatch (--ablate: also a cell no ablation flips, or a defence
      that flips nothing) · 2 usage or invalid scenario · 3 infrastructure (a cell the harness could not run)
`;

const defaultIo: RunIo = {
  stdout: { write: (s) => void process.stdout.write(s) },
  stderr: { write: (s) => void process.stderr.write(s) },
};

function parseSeed(v: string | undefined): number {
  if (v === undefined) return randomInt(0, 2 ** 32 - 1);
  if (!/^\d+$/.test(v) || Number(v) > 2 ** 32 - 1) throw new SsmaxError('USAGE', `Cannot parse --seed ${v}. It must be an integer from 0 to 4294967295.`);
  return Number(v);
}

function parseClock(v: string | undefined, now: Date): Date {
  if (v === undefined) return now;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new SsmaxError('USAGE', `Cannot parse --clock-start ${v}. It must be an ISO 8601 date-time.`);
  return d;
}

/** Runs the command; returns the exit code. Never throws: errors are reported on stderr and mapped to 2 or 3. */
export async function runRunCommand(argv: string[], executorFactory?: ExecutorFactory, io: RunIo = defaultIo, defaults: RunDefaults = {}): Promise<number> {
  let executors: CellExecutor[] = [];
  try {
    const args = parseArgs(argv, {
      values: ['profile', 'report', 'compare', 'seed', 'clock-start', 'jobs', 'ablate-only', 'baseline', 'shard', 'world'],
      flags: ['help', 'ablate'],
    });
    if (args.flags.has('help')) {
      io.stdout.write(RUN_USAGE);
      return 0;
    }
    const now = io.now ?? (() => new Date());
    const shardArg = one(args, 'shard');
    const shard = shardArg === undefined ? undefined : parseShard(shardArg);
    if (shard && args.flags.has('ablate'))
      throw new SsmaxError(
        'USAGE',
        `Cannot use --shard with --ablate. The ablation reruns the credited cells of the whole matrix; run it unsharded (--jobs shares it out).`,
      );
    // A default seed is random and a default clock start is this machine's now: shards would be slices of different runs.
    if (shard && (one(args, 'seed') === undefined || one(args, 'clock-start') === undefined))
      throw new SsmaxError(
        'USAGE',
        `Cannot run shard ${shard.k}/${shard.n} without --seed and --clock-start. Every shard of one run must be given the same ones.`,
      );
    const profiles = parseProfiles(many(args, 'profile'));
    const worlds = await Promise.all(many(args, 'world').map(async (file) => ({ file, config: await loadWorldConfig(file) })));
    if (worlds.length > 0 && (shard || args.flags.has('ablate') || one(args, 'baseline') !== undefined))
      throw new SsmaxError('USAGE', 'Cannot use --world with --shard, --ablate or --baseline. Run the world unsharded and without ablation.');
    const seed = parseSeed(one(args, 'seed'));
    const clockStart = parseClock(one(args, 'clock-start'), now());
    const reportDir = resolve(one(args, 'report') ?? resolve(REPO_ROOT, 'reports/latest'));
    const comparePath = one(args, 'compare');
    const previous = comparePath === undefined ? undefined : readMatrix(comparePath);
    const scenarios = loadScenarios(args.positionals.length > 0 ? args.positionals : [BUNDLED_SCENARIOS]);
    if (executorFactory === undefined) {
      throw new SsmaxError('INTERNAL', 'Cannot run the matrix. No cell executor is wired in (packages/world provides it).');
    }
    const jobsArg = one(args, 'jobs');
    if (jobsArg !== undefined && (!/^\d+$/.test(jobsArg) || Number(jobsArg) < 1 || Number(jobsArg) > 16))
      throw new SsmaxError('USAGE', `Cannot parse --jobs ${jobsArg}. It must be an integer from 1 to 16.`);
    // The ablation shares its defences out only when asked: its jobs start this command again, and an
    // injected executor (tests) has no command to start.
    const jobs = Number(jobsArg ?? 1);
    const onlyArg = one(args, 'ablate-only');
    const baselinePath = one(args, 'baseline');
    if ((onlyArg !== undefined || baselinePath !== undefined) && !args.flags.has('ablate'))
      throw new SsmaxError('USAGE', 'Cannot use --ablate-only or --baseline without --ablate.');
    const selected =
      onlyArg === undefined
        ? DEFENCES
        : (() => {
            const ids = parseDefenceIds(
              onlyArg
                .split(',')
                .map((x) => x.trim())
                .filter((x) => x !== ''),
            );
            return DEFENCES.filter((d) => ids.includes(d.id));
          })();
    const log = (line: string) => io.stderr.write(`  ${line}\n`);
    const plan = plannedCells(scenarios, profiles);
    const cellCount = shard ? shardCells(plan, shard).length : plan.length;
    // No job without a cell.
    const matrixJobs = Math.max(1, Math.min(Number(jobsArg ?? defaults.jobs ?? 1), 16, cellCount));
    io.stderr.write(
      `ssmax run: ${scenarios.length} scenarios × ${profiles.length} profiles = ${plan.length} cells${shard ? ` · shard ${shard.k}/${shard.n}: ${cellCount} cells` : ''}${baselinePath === undefined && matrixJobs > 1 ? ` · ${matrixJobs} jobs` : ''} · seed ${seed} · clock ${clockStart.toISOString()}\n`,
    );
    const matrix: Matrix =
      baselinePath !== undefined
        ? readMatrix(baselinePath)
        : await (async () => {
            // One run per world file (or one in the bundled matrix world); each cell names its implementations.
            const runs: Matrix[] = [];
            for (const w of worlds.length > 0 ? worlds : [undefined]) {
              if (w) io.stderr.write(`ssmax run: world ${w.file}: ${w.config.orgs.map((o) => `${o.id} ${implementationName(o.implementation)}`).join(', ')}\n`);
              for (let k = 1; k <= matrixJobs; k++)
                executors.push(
                  await executorFactory({ seed, clockStart, log, ...(w ? { world: w.config } : {}), ...(matrixJobs > 1 ? { job: { k, n: matrixJobs } } : {}) }),
                );
              runs.push(await runWorld(w));
              const done = executors;
              executors = [];
              await Promise.all(done.map(async (x) => x.close?.()));
            }
            return joinWorldRuns(runs);
          })();
    async function runWorld(w: { file: string; config: WorldConfig } | undefined): Promise<Matrix> {
      return runMatrix({
        scenarios,
        profiles,
        executor: executors,
        // Jobs of about equal time: a cell that replaces its world, or a job's first world of a profile, weighs more.
        cost: MATRIX_COSTS,
        seed,
        clockStart,
        now,
        meta: {
          ...(io.meta ?? environmentMeta()),
          ...(w
            ? { worlds: [{ file: w.file, implementations: Object.fromEntries(w.config.orgs.map((o) => [o.id, implementationName(o.implementation)])) }] }
            : {}),
        },
        log,
        ...(shard ? { shard } : {}),
        onCell: (r, i, n) => {
          const mark = r.notObservable !== undefined ? 'NOT OBSERVABLE' : r.actual === null ? 'ERROR' : r.pass ? 'ok' : 'MISMATCH';
          io.stderr.write(
            `[${String(i + 1).padStart(String(n).length)}/${n}] ${r.scenarioId} [${r.profile}] ${mark}${r.error ? `: ${r.error}` : ''}${r.notObservable ? `: ${r.notObservable}` : ''} (${r.durationMs} ms)\n`,
          );
        },
      });
    }
    if (baselinePath !== undefined && (matrix.meta.seed !== seed || matrix.meta.clockStart !== clockStart.toISOString())) {
      throw new SsmaxError(
        'USAGE',
        `Cannot use ${baselinePath} as the baseline. It was run with seed ${matrix.meta.seed} and clock ${matrix.meta.clockStart}, this run has seed ${seed} and clock ${clockStart.toISOString()}.`,
      );
    }
    if (!args.flags.has('ablate')) {
      const paths = writeReport(reportDir, matrix, scenarios);
      io.stdout.write(formatMatrixTable(matrix));
      // A shard compares only its own cells: the others are not gone, they run elsewhere.
      const mine = new Set(matrix.meta.shard?.cells);
      const before = previous && shard ? { ...previous, results: previous.results.filter((r) => mine.has(cellId(r.scenarioId, r.profile))) } : previous;
      if (before !== undefined) io.stdout.write(formatChanges(compareMatrices(before, matrix)));
      io.stdout.write(`report: ${paths.json}\n        ${paths.junit}\n        ${paths.html}\n`);
      return matrixExitCode(matrix);
    }
    const done = executors;
    executors = [];
    await Promise.all(done.map(async (x) => x.close?.()));
    const factory = executorFactory;
    const t0 = now().getTime();
    const ablation =
      jobs > 1
        ? await (async () => {
            const base = writeReport(resolve(reportDir, 'baseline'), matrix, scenarios);
            return runAblationJobs({
              jobs,
              scenarios,
              scenarioArgs: args.positionals,
              profiles,
              defences: selected,
              baseline: matrix,
              baselinePath: base.json,
              seed,
              clockStart,
              reportDir,
              stderr: io.stderr,
              now,
            });
          })()
        : await runAblation({
            defences: selected,
            scenarios,
            profiles,
            baseline: matrix,
            executorFor: (d) => factory({ seed, clockStart, log, ablate: [d.id] }),
            seed,
            clockStart,
            now,
            meta: io.meta ?? environmentMeta(),
            log,
            onDefence: (d, n) => io.stderr.write(`ssmax run --ablate: ${d.id} switched off: ${n} credited cell(s)\n`),
            onCell: (d, r: MatrixResult, i, n) => {
              const mark = r.actual === null ? 'ERROR' : 'ran';
              io.stderr.write(
                `  [${d.id} ${String(i + 1).padStart(String(n).length)}/${n}] ${r.scenarioId} [${r.profile}] ${mark}${r.error ? `: ${r.error.split('\n')[0]}` : ''} (${r.durationMs} ms)\n`,
              );
            },
          });
    const paths = writeReport(reportDir, matrix, scenarios, ablation.report);
    io.stdout.write(formatMatrixTable(matrix));
    if (previous !== undefined) io.stdout.write(formatChanges(compareMatrices(previous, matrix)));
    io.stdout.write(formatAblation(ablation));
    io.stdout.write(
      `ablation: ${ablation.cells} ablated cell(s) in ${Math.round((now().getTime() - t0) / 1000)} s${jobs > 1 ? ` over ${jobs} jobs` : ''}; with the baseline ${Math.round(ablation.report.durationMs / 1000)} s\n`,
    );
    io.stdout.write(`report: ${paths.json}\n        ${paths.junit}\n        ${paths.html}\n        ${paths.ablation}\n`);
    return ablationExitCode(matrix, ablation.report);
  } catch (err) {
    const usage = err instanceof SsmaxError && (err.category === 'usage' || err.category === 'malformed');
    const code = err instanceof SsmaxError ? err.code : 'INTERNAL';
    io.stderr.write(`ssmax run: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (usage && err instanceof SsmaxError && err.code === 'USAGE' && /Unknown option|needs a value|takes no value/.test(err.message))
      io.stderr.write(RUN_USAGE);
    return usage ? 2 : 3;
  } finally {
    await Promise.all(
      executors.map(async (x) => {
        try {
          await x.close?.();
        } catch (e) {
          io.stderr.write(`ssmax run: cannot close the executor: ${String(e)}\n`);
        }
      }),
    );
  }
}
