import { createHash } from 'node:crypto';
import { SsmaxError } from '@ssmax/core';
import type { JourneyEvent as OrgJourneyEvent } from '@ssmax/sim-org';
import { OUTCOME_FIELDS, MATRIX_PROFILES } from './types.js';
import type { CellExecutor, JourneyEvent, LoadedScenario, Matrix, MatrixMeta, MatrixResult, Outcome, MatrixProfile, Scenario } from './types.js';
import { cellId, plannedCells, scenarioSet, shardCells, type PlannedCell, type ShardSpec } from './shard.js';

/** Compared fields that differ between expected and actual (`reason` is never compared). */
export function compareOutcome(expected: Outcome, actual: Outcome): (keyof Outcome)[] {
  return OUTCOME_FIELDS.filter((f) => expected[f] !== actual[f]);
}

/** Parses `--profile P[,P…]` values; unknown names are a usage error. */
export function parseProfiles(values: readonly string[]): MatrixProfile[] {
  if (values.length === 0) return [...MATRIX_PROFILES];
  const names = values
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = names.filter((n) => !(MATRIX_PROFILES as readonly string[]).includes(n));
  if (bad.length > 0) throw new SsmaxError('USAGE', `Cannot select profiles. Unknown profile(s) ${bad.join(', ')}; known: ${MATRIX_PROFILES.join(', ')}.`);
  return MATRIX_PROFILES.filter((p) => names.includes(p));
}

/** A cell's seed: derived from the run seed and the cell's name, so one cell can be rerun alone. */
export function cellSeed(runSeed: number, scenarioId: string, profile: MatrixProfile): number {
  return createHash('sha256').update(`${runSeed}:${scenarioId}:${profile}`).digest().readUInt32BE(0);
}

/** Accepts the runner's journey shape or sim-org's journey line (`files`/`detail`) and returns the runner's. */
export function normalizeJourneyEvent(e: JourneyEvent | OrgJourneyEvent | Record<string, unknown>): JourneyEvent {
  const r = e as Record<string, unknown>;
  const payload = (r['payload'] ?? r['files'] ?? 'none') as JourneyEvent['payload'];
  const note = (r['note'] ?? r['detail']) as string | undefined;
  const outcome = r['outcome'] as string | undefined;
  return {
    messageId: String(r['messageId'] ?? ''),
    actor: String(r['actor']),
    procedure: Number(r['procedure'] ?? 0),
    at: String(r['at']),
    checks: ((r['checks'] ?? []) as JourneyEvent['checks']).map((c) => ({
      name: c.name,
      result: c.result,
      ...(c.detail !== undefined ? { detail: c.detail } : {}),
    })),
    payload,
    ...(note !== undefined ? { note } : {}),
    ...(outcome !== undefined ? { outcome } : {}),
  };
}

/** What cells cost relative to each other, for cutting a matrix into parts of about equal time ({@link RunMatrixOptions.cost}). */
export interface CellCosts {
  /** One cell (e.g. more when its world is replaced after it). */
  readonly cell: (scenario: Scenario, profile: MatrixProfile) => number;
  /** A part's first world of a profile (an executor builds one per profile and reuses it); default 0. */
  readonly world?: (profile: MatrixProfile) => number;
}

export interface RunMatrixOptions {
  readonly scenarios: readonly LoadedScenario[];
  readonly profiles: readonly MatrixProfile[];
  /**
   * Runs the cells. With several (`ssmax run --jobs N`), the cells (of the shard, with `shard`) are cut into
   * as many contiguous parts in execution order, sizes differing by at most one, and the parts run side by
   * side, one per executor; the results are the same as one executor's, in the same order.
   */
  readonly executor: CellExecutor | readonly CellExecutor[];
  /**
   * With several executors: what cells cost relative to each other (e.g. the matrix executor's
   * `MATRIX_COSTS`), so the parts are cut to about equal cost rather than equal counts. It changes only
   * which executor runs a cell, never a result.
   */
  readonly cost?: CellCosts;
  readonly seed: number;
  /** Start of the simulated clock (recorded in meta). */
  readonly clockStart: Date;
  /** Wall clock for startedAt and durations (injected for tests). */
  readonly now?: () => Date;
  readonly meta: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles' | 'worlds'>;
  /** Called once per cell as it finishes (progress output); `index` counts finished cells. */
  readonly onCell?: (result: MatrixResult, index: number, total: number) => void;
  readonly log?: (line: string) => void;
  /** Run only this slice of the cells (`ssmax run --shard K/N`, runner/shard.ts); meta.shard says which. */
  readonly shard?: ShardSpec;
}

/**
 * Runs every (scenario, profile) cell the scenario does not omit through the injected executor,
 * profile-major (all cells of one profile, then the next) so an executor can reuse one world per
 * profile; the results come back in file order then profile order whatever the execution order.
 * An executor that throws marks the cell with `error` (actual null, pass false) and the run goes on,
 * so one broken world does not hide the rest of the matrix.
 */
export async function runMatrix(o: RunMatrixOptions): Promise<Matrix> {
  const now = o.now ?? (() => new Date());
  const startedAt = now();
  // Profile-major: a real world per profile takes tens of seconds to build (one SoftHSM2 per process).
  const plan = plannedCells(o.scenarios, o.profiles);
  const cells = o.shard ? shardCells(plan, o.shard) : plan;
  const results: { order: number; result: MatrixResult }[] = [];
  const log = o.log ?? (() => {});
  // The simulated clock: starts at clockStart and follows the wall clock from there, per cell.
  const clockOffset = o.clockStart.getTime() - startedAt.getTime();
  const clock = () => new Date(now().getTime() + clockOffset);
  const runOne = async (executor: CellExecutor, { s, p }: PlannedCell): Promise<MatrixResult> => {
    const expected = s.scenario.expected[p]!;
    // What names the cell in every result, whatever its outcome.
    const cell = { scenarioId: s.scenario.id, file: s.file, title: s.scenario.title, profile: p, expected };
    const t0 = now().getTime();
    try {
      const run = await executor.run(s.scenario, p, { seed: cellSeed(o.seed, s.scenario.id, p), clock, log: (l) => log(`[${s.scenario.id} ${p}] ${l}`) });
      const implementations = run.implementations ? { implementations: run.implementations } : {};
      if (run.actual === null || run.notObservable !== undefined)
        return {
          ...cell,
          actual: null,
          pass: false,
          mismatches: [],
          events: run.events.map(normalizeJourneyEvent),
          notObservable: run.notObservable ?? 'The executor returned no outcome and no reason.',
          ...implementations,
          durationMs: now().getTime() - t0,
        };
      const actual: Outcome = {
        verdict: run.actual.verdict,
        leaked: run.actual.leaked,
        malwareReached: run.actual.malwareReached,
        traced: run.actual.traced,
        identityShown: run.actual.identityShown,
      };
      const mismatches = compareOutcome(expected, actual);
      return {
        ...cell,
        actual,
        pass: mismatches.length === 0,
        mismatches,
        events: run.events.map(normalizeJourneyEvent),
        ...implementations,
        durationMs: now().getTime() - t0,
      };
    } catch (err) {
      // A harness fault, not a verdict: the report keeps the whole stack.
      const msg = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
      return {
        ...cell,
        actual: null,
        pass: false,
        mismatches: [],
        events: [],
        error: msg,
        durationMs: now().getTime() - t0,
      };
    }
  };
  const executors = Array.isArray(o.executor) ? (o.executor as readonly CellExecutor[]) : [o.executor as CellExecutor];
  if (executors.length === 0) throw new SsmaxError('USAGE', 'Cannot run the matrix. No cell executor was given.');
  // Contiguous parts keep each executor's cells grouped by profile, so each reuses its worlds as one executor would.
  const cost = o.cost;
  const cut = cost
    ? cutByCost(
        cells,
        executors.length,
        (c) => cost.cell(c.s.scenario, c.p),
        (c) => c.p,
        (p) => cost.world?.(p) ?? 0,
      )
    : executors.map((_, k) => shardCells(cells, { k: k + 1, n: executors.length }));
  const parts = executors.map((executor, k) => ({ executor, cells: cut[k]! }));
  await Promise.all(
    parts.map(async ({ executor, cells: mine }) => {
      for (const cell of mine) {
        const result = await runOne(executor, cell);
        results.push({ order: cell.order, result });
        o.onCell?.(result, results.length - 1, cells.length);
      }
    }),
  );
  return {
    meta: {
      ...o.meta,
      startedAt: startedAt.toISOString(),
      seed: o.seed,
      clockStart: o.clockStart.toISOString(),
      profiles: [...o.profiles],
      durationMs: now().getTime() - startedAt.getTime(),
      scenarioSet: scenarioSet(o.scenarios),
      ...(o.shard ? { shard: { ...o.shard, totalCells: plan.length, cells: cells.map((c) => cellId(c.s.scenario.id, c.p)) } } : {}),
    },
    results: results.sort((a, b) => a.order - b.order).map((r) => r.result),
  };
}

/**
 * Cuts `cells` into `n` contiguous parts so that the costliest part costs as little as possible (exactly,
 * by dynamic programming): a part costs its cells, plus `groupCost` of each group (a profile) it starts, so
 * a cut inside a group is charged for the group's second start (a second world of that profile) and falls
 * on a group boundary when that is about as even. Every part has a cell while cells remain; with fewer
 * cells than parts, one cell each and the last parts empty. Ties go to the latest cut.
 */
export function cutByCost<T, G = string>(
  cells: readonly T[],
  n: number,
  cost: (cell: T) => number,
  group?: (cell: T) => G,
  groupCost: (group: G) => number = () => 0,
): T[][] {
  const m = cells.length;
  if (m <= n) return Array.from({ length: n }, (_, k) => (k < m ? [cells[k]!] : []));
  const g = group ? cells.map(group) : cells.map(() => undefined);
  const start = g.map((x) => (x === undefined ? 0 : Math.max(0, groupCost(x))));
  // W: cell costs so far; C: start costs of the groups begun after the first cell so far.
  const W = [0];
  const C = [0];
  cells.forEach((c, i) => {
    W.push(W[i]! + Math.max(0, cost(c)));
    C.push(C[i]! + (i > 0 && g[i] !== g[i - 1] ? start[i]! : 0));
  });
  const slice = (j: number, i: number): number => W[i]! - W[j]! + start[j]! + C[i]! - C[j + 1]!;
  // best[k][i]: the least costliest-part cost of cutting cells [0, i) into k + 1 parts; from[k][i]: where its last part starts.
  const best: number[][] = [Array.from({ length: m + 1 }, (_, i) => (i === 0 ? 0 : slice(0, i)))];
  const from: number[][] = [Array.from({ length: m + 1 }, () => 0)];
  for (let k = 1; k < n; k++) {
    best.push(Array.from({ length: m + 1 }, () => Infinity));
    from.push(Array.from({ length: m + 1 }, () => 0));
    for (let i = k + 1; i <= m; i++)
      for (let j = k; j < i; j++) {
        const v = Math.max(best[k - 1]![j]!, slice(j, i));
        if (v <= best[k]![i]!) {
          best[k]![i] = v;
          from[k]![i] = j;
        }
      }
  }
  const parts: T[][] = [];
  let i = m;
  for (let k = n - 1; k >= 0; k--) {
    const j = from[k]![i]!;
    parts.unshift(cells.slice(j, i));
    i = j;
  }
  return parts;
}

/**
 * Exit code of a finished matrix: 3 if any cell hit an infrastructure fault, else 1 on any mismatch, else 0.
 * A cell not observable for an outside implementation is neither (it is listed, not counted).
 */
export function matrixExitCode(m: Matrix): 0 | 1 | 3 {
  if (m.results.some((r) => r.error !== undefined)) return 3;
  return m.results.every((r) => r.pass || r.notObservable !== undefined) ? 0 : 1;
}

/**
 * One report of the runs of the same scenarios over several worlds (`ssmax run --world A --world B`): the
 * cells of each run in turn (each names its implementations, so matrix.html shows them side by side), the
 * first run's meta with every run's worlds and the runs' total time.
 */
export function joinWorldRuns(runs: readonly Matrix[]): Matrix {
  if (runs.length === 0) throw new SsmaxError('USAGE', 'Cannot join the runs of several worlds. There is none.');
  if (runs.length === 1) return runs[0]!;
  const first = runs[0]!;
  const worlds = runs.flatMap((r) => r.meta.worlds ?? []);
  return {
    meta: { ...first.meta, durationMs: runs.reduce((t, r) => t + r.meta.durationMs, 0), ...(worlds.length > 0 ? { worlds } : {}) },
    results: runs.flatMap((r) => r.results),
  };
}

export interface CellChange {
  readonly scenarioId: string;
  readonly profile: MatrixProfile;
  readonly before: Outcome | null | 'absent';
  readonly after: Outcome | null | 'absent';
  readonly fields: readonly (keyof Outcome)[];
}

/** Cells whose actual outcome differs between an earlier matrix and this one (including cells added or gone). */
export function compareMatrices(before: Matrix, after: Matrix): CellChange[] {
  const key = (r: MatrixResult) => `${r.scenarioId}\u0000${r.profile}`;
  const old = new Map(before.results.map((r) => [key(r), r]));
  const changes: CellChange[] = [];
  for (const r of after.results) {
    const o = old.get(key(r));
    old.delete(key(r));
    if (o === undefined) {
      changes.push({ scenarioId: r.scenarioId, profile: r.profile, before: 'absent', after: r.actual, fields: [] });
      continue;
    }
    const fields = o.actual && r.actual ? compareOutcome(o.actual, r.actual) : o.actual === r.actual ? [] : [...OUTCOME_FIELDS];
    if (fields.length > 0) changes.push({ scenarioId: r.scenarioId, profile: r.profile, before: o.actual, after: r.actual, fields });
  }
  for (const o of old.values()) changes.push({ scenarioId: o.scenarioId, profile: o.profile, before: o.actual, after: 'absent', fields: [] });
  return changes;
}
