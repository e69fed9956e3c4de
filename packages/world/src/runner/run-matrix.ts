import { createHash } from 'node:crypto';
import { SsmaxError } from '@ssmax/core';
import type { JourneyEvent as OrgJourneyEvent } from '@ssmax/sim-org';
import { OUTCOME_FIELDS, MATRIX_PROFILES } from './types.js';
import type { CellExecutor, JourneyEvent, LoadedScenario, Matrix, MatrixMeta, MatrixResult, Outcome, MatrixProfile } from './types.js';
import { cellId, plannedCells, scenarioSet, shardCells, type ShardSpec } from './shard.js';

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

export interface RunMatrixOptions {
  readonly scenarios: readonly LoadedScenario[];
  readonly profiles: readonly MatrixProfile[];
  readonly executor: CellExecutor;
  readonly seed: number;
  /** Start of the simulated clock (recorded in meta). */
  readonly clockStart: Date;
  /** Wall clock for startedAt and durations (injected for tests). */
  readonly now?: () => Date;
  readonly meta: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'>;
  /** Called once per cell as it finishes (progress output). */
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
  for (const [i, { s, p, order }] of cells.entries()) {
    const expected = s.scenario.expected[p]!;
    const t0 = now().getTime();
    let result: MatrixResult;
    try {
      const run = await o.executor.run(s.scenario, p, { seed: cellSeed(o.seed, s.scenario.id, p), clock, log: (l) => log(`[${s.scenario.id} ${p}] ${l}`) });
      const actual: Outcome = {
        verdict: run.actual.verdict,
        leaked: run.actual.leaked,
        malwareReached: run.actual.malwareReached,
        traced: run.actual.traced,
        identityShown: run.actual.identityShown,
      };
      const mismatches = compareOutcome(expected, actual);
      result = {
        scenarioId: s.scenario.id,
        file: s.file,
        title: s.scenario.title,
        profile: p,
        expected,
        actual,
        pass: mismatches.length === 0,
        mismatches,
        events: run.events.map(normalizeJourneyEvent),
        durationMs: now().getTime() - t0,
      };
    } catch (err) {
      // A harness fault, not a verdict: the report keeps the whole stack.
      const msg = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
      result = {
        scenarioId: s.scenario.id,
        file: s.file,
        title: s.scenario.title,
        profile: p,
        expected,
        actual: null,
        pass: false,
        mismatches: [],
        events: [],
        error: msg,
        durationMs: now().getTime() - t0,
      };
    }
    results.push({ order, result });
    o.onCell?.(result, i, cells.length);
  }
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

/** Exit code of a finished matrix: 3 if any cell hit an infrastructure fault, else 1 on any mismatch, else 0. */
export function matrixExitCode(m: Matrix): 0 | 1 | 3 {
  if (m.results.some((r) => r.error !== undefined)) return 3;
  return m.results.every((r) => r.pass) ? 0 : 1;
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
