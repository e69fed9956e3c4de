/**
 * The matrix across machines (`ssmax run --shard K/N`, `ssmax report merge`), on the model of Playwright's
 * and vitest's `--shard`: every machine loads the same scenarios, computes the same cell plan and runs its
 * own slice of it; the merge joins the slices' matrix.json into the one a whole run writes, and refuses
 * slices that are not of one run.
 *
 * The cut: the cells in the order `runMatrix` runs them (profile-major, because a world is built per
 * profile and reused from cell to cell), cut into N contiguous runs whose sizes differ by at most one. A
 * shard therefore reuses its worlds as a whole run does, and the N shards together build at most N−1
 * worlds more than one machine would. The cut depends only on the scenarios (in load order) and the
 * profiles, never on the machine, its cores or its timing. Shards are balanced by cell count, not by
 * time: a shard whose cells rebuild their world more often (cells that leave state behind) takes longer.
 */
import { createHash } from 'node:crypto';
import { SsmaxError } from '@ssmax/core';
import type { LoadedScenario, Matrix, MatrixMeta, MatrixProfile, MatrixResult, ScenarioSet, ShardTiming } from './types.js';

/** `--shard K/N`: the K-th of N slices (1-based). */
export interface ShardSpec {
  readonly k: number;
  readonly n: number;
}

/** More shards than this is a typo, not a CI matrix. */
const MAX_SHARDS = 1000;

/** Parses `K/N` (1 ≤ K ≤ N ≤ 1000); anything else is a usage error. */
export function parseShard(text: string): ShardSpec {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(text.trim());
  const k = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || k < 1 || n < 1 || k > n || n > MAX_SHARDS)
    throw new SsmaxError('USAGE', `Cannot parse --shard ${text}. It must be K/N with 1 ≤ K ≤ N ≤ ${MAX_SHARDS}, e.g. 2/4.`);
  return { k, n };
}

/** A cell's id in shard metadata and merge errors: `<scenarioId> [<profile>]`, as the progress lines print it. */
export function cellId(scenarioId: string, profile: MatrixProfile): string {
  return `${scenarioId} [${profile}]`;
}

/** One cell of a run's plan; `order` is its place in the report (file order, then profile order). */
export interface PlannedCell {
  readonly s: LoadedScenario;
  readonly p: MatrixProfile;
  readonly order: number;
}

/** Every cell of a run in execution order: profile-major (one world per profile), then file order. */
export function plannedCells(scenarios: readonly LoadedScenario[], profiles: readonly MatrixProfile[]): PlannedCell[] {
  return profiles.flatMap((p, pi) => scenarios.flatMap((s, si) => (s.scenario.expected[p] !== undefined ? [{ s, p, order: si * profiles.length + pi }] : [])));
}

/** Bounds [from, to) of shard k of n over `total` cells: contiguous, sizes differing by at most one. */
function bounds(total: number, { k, n }: ShardSpec): [number, number] {
  return [Math.floor(((k - 1) * total) / n), Math.floor((k * total) / n)];
}

/** The slice of a plan (in execution order) that shard k of n runs. */
export function shardCells<T>(plan: readonly T[], shard: ShardSpec): T[] {
  const [from, to] = bounds(plan.length, shard);
  return plan.slice(from, to);
}

/** The scenario set of a run: ids in load order and a digest of every scenario's content in that order. */
export function scenarioSet(scenarios: readonly LoadedScenario[]): ScenarioSet {
  const h = createHash('sha256');
  for (const s of scenarios) h.update(JSON.stringify(s.scenario)).update('\n');
  return { ids: scenarios.map((s) => s.scenario.id), digest: `sha256:${h.digest('hex')}` };
}

/**
 * The scenarios of a recorded set among `loaded` (e.g. the whole bundled folder when the run took a few of
 * its files), in the set's order, if their content is what the run loaded; otherwise undefined.
 */
export function scenariosOfSet(loaded: readonly LoadedScenario[], set: ScenarioSet): LoadedScenario[] | undefined {
  const byId = new Map(loaded.map((s) => [s.scenario.id, s]));
  const picked = set.ids.map((id) => byId.get(id));
  if (picked.some((s) => s === undefined)) return undefined;
  const found = picked as LoadedScenario[];
  return scenarioSet(found).digest === set.digest ? found : undefined;
}

/** Why a merge was refused (`details.problem` of the usage error). */
export const MERGE_PROBLEMS = {
  /** A report without `meta.shard` (a whole run or an earlier merge). */
  'not-a-shard': 'not the report of one shard',
  /** Shards of different runs: commit, seed, clock start, profiles, scenarios, shard count or environment differ. */
  'meta-mismatch': 'not shards of one run',
  /** A shard's results are not the cells its meta lists. */
  'inconsistent-shard': "a shard's results differ from its cell list",
  /** A cell in more than one report (the same shard given twice). */
  'duplicate-cells': 'a cell in more than one report',
  /** A cell of the run in no report (a shard not given). */
  'missing-cells': 'a cell of the run in no report',
} as const;
export type MergeProblem = keyof typeof MERGE_PROBLEMS;

/** One report to merge and where it was read from (named in errors). */
export interface ShardReport {
  readonly source: string;
  readonly matrix: Matrix;
}

const SHOWN = 20;
const list = (xs: readonly string[]): string => (xs.length <= SHOWN ? xs.join(', ') : `${xs.slice(0, SHOWN).join(', ')} and ${xs.length - SHOWN} more`);

function refuse(problem: MergeProblem, reason: string, details: Record<string, unknown>): SsmaxError {
  return new SsmaxError('USAGE', `Cannot merge the shard reports. ${reason}`, { details: { problem, ...details } });
}

/** Meta fields that are each shard's own; every other field (commit, seed, clock start, profiles, scenario set, environment) is the run's and must be equal. */
const PER_SHARD = new Set(['startedAt', 'durationMs', 'shard', 'shards']);

/** The run's fields of a shard's meta, by name: the shared meta fields plus the shard count and total. */
function runFields(m: MatrixMeta): Map<string, string> {
  const fields = new Map(
    Object.entries(m)
      .filter(([k]) => !PER_SHARD.has(k))
      .map(([k, v]) => [k, k === 'scenarioSet' ? `${m.scenarioSet?.ids.length} scenarios, ${m.scenarioSet?.digest}` : JSON.stringify(v)] as const),
  );
  fields.set('shard.n', String(m.shard?.n));
  fields.set('shard.totalCells', String(m.shard?.totalCells));
  return fields;
}

export interface MergeOptions {
  /**
   * The scenarios of the run, when the merging machine has them (or a folder holding them): used only if
   * they are the shards' scenario set ({@link scenariosOfSet}), to name each missing cell instead of only its shard.
   */
  readonly scenarios?: readonly LoadedScenario[];
}

/**
 * Joins the reports of shards 1..N of one run into the matrix a whole run writes: the same results in the
 * same order (file order, then profile order), so the same summary and exit code. Meta keeps what the
 * shards share, `startedAt` the first shard's start, `durationMs` the span to the last shard's end, and
 * `shards` each shard's own start, time and cell count. Refused with a usage error whose
 * `details.problem` is a {@link MERGE_PROBLEMS} key: reports of different runs (naming each differing
 * field and its values), a report that is not a shard's, a cell in two reports or in none (naming them).
 */
export function mergeShards(parts: readonly ShardReport[], o: MergeOptions = {}): Matrix {
  if (parts.length === 0) throw refuse('missing-cells', 'No report was given.', { missing: [] });
  const notShard = parts.filter((x) => x.matrix.meta.shard === undefined).map((x) => x.source);
  if (notShard.length > 0)
    throw refuse('not-a-shard', `${notShard.join(', ')} ${notShard.length === 1 ? 'is' : 'are'} not the report of a shard (no meta.shard).`, {
      sources: notShard,
    });
  const fields = parts.map((x) => runFields(x.matrix.meta));
  const names = [...new Set(fields.flatMap((f) => [...f.keys()]))];
  const differ = names.flatMap((field) => {
    const seen = new Map<string, string[]>();
    parts.forEach((x, i) => {
      const v = fields[i]!.get(field) ?? 'absent';
      seen.set(v, [...(seen.get(v) ?? []), x.source]);
    });
    return seen.size > 1 ? [{ field, values: Object.fromEntries(seen) }] : [];
  });
  if (differ.length > 0) {
    const says = differ.map(
      (d) =>
        `${d.field}: ${Object.entries(d.values)
          .map(([v, srcs]) => `${v} (${srcs.join(', ')})`)
          .join(' vs ')}`,
    );
    throw refuse('meta-mismatch', `They are not shards of one run; they differ in ${says.join('; ')}.`, { fields: differ });
  }
  const first = parts[0]!.matrix.meta;
  const set = first.scenarioSet;
  if (set === undefined) throw refuse('not-a-shard', `${parts[0]!.source} records no scenario set.`, { sources: [parts[0]!.source] });
  const { n, totalCells } = first.shard!;
  const key = (r: MatrixResult) => cellId(r.scenarioId, r.profile);

  for (const x of parts) {
    const listed = new Set(x.matrix.meta.shard!.cells);
    const got = x.matrix.results.map(key);
    const notRun = [...listed].filter((c) => !got.includes(c));
    const notListed = got.filter((c) => !listed.has(c));
    const twice = got.filter((c, i) => got.indexOf(c) !== i);
    if (notRun.length + notListed.length + twice.length > 0)
      throw refuse(
        'inconsistent-shard',
        `${x.source} (shard ${x.matrix.meta.shard!.k}/${n}) does not hold the cells its meta lists:${notRun.length ? ` no result for ${list(notRun)};` : ''}${notListed.length ? ` results not listed: ${list(notListed)};` : ''}${twice.length ? ` results twice: ${list(twice)};` : ''}`.replace(
          /;$/,
          '.',
        ),
        { source: x.source, notRun, notListed, twice },
      );
  }

  const where = new Map<string, string[]>();
  for (const x of parts) for (const c of x.matrix.meta.shard!.cells) where.set(c, [...(where.get(c) ?? []), x.source]);
  const dups = [...where].filter(([, srcs]) => srcs.length > 1);
  const ks = parts.map((x) => x.matrix.meta.shard!.k);
  const again = [...new Set(ks.filter((k, i) => ks.indexOf(k) !== i))].map(
    (k) =>
      `shard ${k}/${n} was given ${ks.filter((x) => x === k).length} times (${parts
        .filter((x) => x.matrix.meta.shard!.k === k)
        .map((x) => x.source)
        .join(', ')})`,
  );
  if (dups.length > 0 || again.length > 0)
    throw refuse(
      'duplicate-cells',
      [
        ...(dups.length > 0 ? [`${dups.length} cell(s) are in more than one report: ${list(dups.map(([c, srcs]) => `${c} (${srcs.join(', ')})`))}.`] : []),
        ...(again.length > 0 ? [`${again.join('; ')}.`] : []),
      ].join(' '),
      { duplicates: Object.fromEntries(dups) },
    );

  const given = new Set(parts.map((x) => x.matrix.meta.shard!.k));
  const absent = Array.from({ length: n }, (_, i) => i + 1).filter((k) => !given.has(k));
  const same = o.scenarios && scenariosOfSet(o.scenarios, set);
  const plan = same ? plannedCells(same, first.profiles).map((c) => cellId(c.s.scenario.id, c.p)) : undefined;
  const missing = plan?.filter((c) => !where.has(c)) ?? [];
  if (absent.length > 0 || where.size !== totalCells || missing.length > 0) {
    const sizes = absent.map((k) => {
      const [from, to] = bounds(totalCells, { k, n });
      return `${k}/${n} (${to - from} cells)`;
    });
    throw refuse(
      'missing-cells',
      `${totalCells - where.size} of the run's ${totalCells} cells are in no report${absent.length ? `: shard ${sizes.join(', ')} ${absent.length === 1 ? 'was' : 'were'} not given` : ''}${missing.length ? `; missing: ${list(missing)}` : ''}.`,
      { absentShards: absent, missing },
    );
  }

  const row = new Map(set.ids.map((id, i) => [id, i]));
  const col = new Map(first.profiles.map((p, i) => [p, i]));
  const results = parts
    .flatMap((x) => x.matrix.results)
    .map((r) => ({ r, order: (row.get(r.scenarioId) ?? set.ids.length) * first.profiles.length + (col.get(r.profile) ?? 0) }))
    .sort((a, b) => a.order - b.order)
    .map((x) => x.r);
  const shards: ShardTiming[] = parts
    .map((x) => ({
      k: x.matrix.meta.shard!.k,
      n,
      startedAt: x.matrix.meta.startedAt,
      durationMs: x.matrix.meta.durationMs,
      cells: x.matrix.results.length,
    }))
    .sort((a, b) => a.k - b.k);
  const start = Math.min(...shards.map((s) => Date.parse(s.startedAt)));
  const end = Math.max(...shards.map((s) => Date.parse(s.startedAt) + s.durationMs));
  const { shard: _shard, ...shared } = first;
  return {
    meta: { ...shared, startedAt: new Date(start).toISOString(), durationMs: end - start, shards },
    results,
  };
}
