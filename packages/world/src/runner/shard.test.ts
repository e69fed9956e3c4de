import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SsmaxError } from '@ssmax/core';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';
import { matrixExitCode, parseProfiles, runMatrix } from './run-matrix.js';
import { cellId, mergeShards, parseShard, plannedCells, scenarioSet, shardCells, type ShardReport } from './shard.js';
import { matrixSchema, writeReport } from './write-report.js';
import type { CellExecutor, CellRun, LoadedScenario, Matrix, MatrixProfile, MatrixResult, Outcome, Scenario } from './types.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world, used ONLY to test the shard frame (slicing,
 * merging, refusals). It answers each cell with the scenario's expected outcome unless told otherwise; it
 * proves nothing about security outcomes (packages/cli/src/commands/report.test.ts merges real runs).
 */
class FixtureExecutor implements CellExecutor {
  readonly calls: string[] = [];
  constructor(
    private readonly overrides: Record<string, Partial<Outcome>> = {},
    private readonly failing: ReadonlySet<string> = new Set(),
  ) {}
  async run(s: Scenario, p: MatrixProfile): Promise<CellRun> {
    this.calls.push(cellId(s.id, p));
    if (this.failing.has(cellId(s.id, p))) throw new SsmaxError('CONTAINER_ERROR', 'Cannot start the world. Fixture failure.');
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: { ...expected, ...this.overrides[cellId(s.id, p)] }, events: [] };
  }
}

const META = { commit: 'abc123def456', node: process.version, openssl: 'OpenSSL 3.0.19 (fixture)' };
const CLOCK = new Date('2026-12-01T00:00:00Z');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'ssmax-shard-'));
  dirs.push(d);
  return d;
};

const bundled = loadScenarios([BUNDLED_SCENARIOS]);
const ALL = parseProfiles([]);

/** Comparable content of a result: everything but the timing (and an error's stack below its first line). */
const content = (r: MatrixResult) => {
  const { durationMs: _d, ...rest } = r;
  return { ...rest, ...(r.error !== undefined ? { error: r.error.split('\n')[0] } : {}) };
};

function run(scenarios: readonly LoadedScenario[], profiles: readonly MatrixProfile[], ex: CellExecutor, shard?: { k: number; n: number }, seed = 11) {
  return runMatrix({ scenarios, profiles, executor: ex, seed, clockStart: CLOCK, meta: META, ...(shard ? { shard } : {}) });
}

async function shardsOf(n: number, scenarios: readonly LoadedScenario[], profiles: readonly MatrixProfile[], ex: () => CellExecutor): Promise<ShardReport[]> {
  const out: ShardReport[] = [];
  for (let k = 1; k <= n; k++) out.push({ source: `shard-${k}`, matrix: await run(scenarios, profiles, ex(), { k, n }) });
  return out;
}

/** The usage error a refused merge throws, with its problem. */
function refusal(f: () => unknown): { problem: unknown; message: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SsmaxError);
    expect((e as SsmaxError).code).toBe('USAGE');
    return { problem: (e as SsmaxError).details['problem'], message: (e as SsmaxError).message };
  }
  throw new Error('the merge was not refused');
}

describe('parseShard', () => {
  it('reads K/N and refuses K outside 1..N, zero, missing parts and other text', () => {
    expect(parseShard('2/4')).toEqual({ k: 2, n: 4 });
    expect(parseShard('1/1')).toEqual({ k: 1, n: 1 });
    for (const bad of ['0/4', '5/4', '4', '/4', '2/0', 'a/b', '2/4/1', '-1/4', '1.5/4', '2/1001'])
      expect(() => parseShard(bad), bad).toThrow(/Cannot parse --shard .*K\/N/);
  });
});

describe('shardCells', () => {
  const plan = plannedCells(bundled, ALL).map((c) => cellId(c.s.scenario.id, c.p));

  it('puts every cell of the bundled matrix in exactly one shard, in contiguous runs of sizes differing by at most one, for N = 1..5', () => {
    expect(plan.length).toBeGreaterThan(300);
    for (let n = 1; n <= 5; n++) {
      const shards = Array.from({ length: n }, (_, i) => shardCells(plan, { k: i + 1, n }));
      // Concatenated in k order they are the plan itself: a partition with nothing lost, repeated or reordered.
      expect(shards.flat(), `N=${n}`).toEqual(plan);
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes), `N=${n} sizes ${sizes.join(',')}`).toBeLessThanOrEqual(1);
    }
  });

  it('cuts the same way for the same scenarios and profiles, however they were loaded', () => {
    const again = loadScenarios([BUNDLED_SCENARIOS], tmpdir()).map((s) => ({ ...s, scenario: JSON.parse(JSON.stringify(s.scenario)) as Scenario }));
    for (let k = 1; k <= 4; k++)
      expect(shardCells(plannedCells(again, ALL), { k, n: 4 }).map((c) => cellId(c.s.scenario.id, c.p))).toEqual(shardCells(plan, { k, n: 4 }));
    expect(scenarioSet(again)).toEqual(scenarioSet(bundled));
  });

  it('keeps world reuse: N shards together start at most N−1 more profile runs (worlds) than one machine does', () => {
    const profileRuns = (cells: readonly string[]) => cells.filter((c, i) => i === 0 || c.split(' [')[1] !== cells[i - 1]!.split(' [')[1]).length;
    const whole = profileRuns(plan);
    expect(whole).toBe(ALL.length);
    for (let n = 1; n <= 5; n++) {
      const sum = Array.from({ length: n }, (_, i) => profileRuns(shardCells(plan, { k: i + 1, n }))).reduce((a, b) => a + b, 0);
      expect(sum, `N=${n}`).toBeLessThanOrEqual(whole + n - 1);
    }
  });

  it('gives empty shards, not an error, when there are more shards than cells', () => {
    expect([1, 2, 3].map((k) => shardCells(['a', 'b'], { k, n: 3 }))).toEqual([[], ['a'], ['b']]);
  });
});

describe('runMatrix with a shard', () => {
  it("runs only its slice and records k/n, its cell ids, the run's cell total and the scenario set in a schema-valid matrix.json", async () => {
    const ex = new FixtureExecutor();
    const profiles = parseProfiles(['plain-ppap,ssmax-org']);
    const m = await run(bundled, profiles, ex, { k: 2, n: 3 });
    const plan = plannedCells(bundled, profiles).map((c) => cellId(c.s.scenario.id, c.p));
    const mine = shardCells(plan, { k: 2, n: 3 });
    expect(ex.calls).toEqual(mine);
    expect(m.meta.shard).toEqual({ k: 2, n: 3, totalCells: plan.length, cells: mine });
    expect(m.meta.scenarioSet).toEqual(scenarioSet(bundled));
    expect(m.meta.scenarioSet!.ids).toHaveLength(bundled.length);
    expect(new Set(m.results.map((r) => cellId(r.scenarioId, r.profile)))).toEqual(new Set(mine));
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    ajv.addFormat('date-time', (v: string) => !Number.isNaN(Date.parse(v)));
    const validate = ajv.compile(matrixSchema());
    const json = JSON.parse(readFileSync(writeReport(tempDir(), m, bundled).json, 'utf8')) as unknown;
    expect(validate(json) ? [] : validate.errors).toEqual([]);
    const merged = mergeShards(await shardsOf(3, bundled, profiles, () => new FixtureExecutor()));
    expect(validate(JSON.parse(JSON.stringify(merged))) ? [] : validate.errors).toEqual([]);
  });
});

describe('mergeShards', () => {
  const profiles = parseProfiles(['plain-ppap,best-practice,ssmax-org']);
  const overrides = { 'b-insider-with-card-and-pin [ssmax-org]': { traced: 'sender' as const } };
  const failing = new Set(['i5-passive-capture-between-mtas [best-practice]']);

  it("gives a whole run's results in its order, its exit code and the shards' timing when every shard is given, for N = 1..5", async () => {
    const whole = await run(bundled, profiles, new FixtureExecutor(overrides, failing));
    expect(matrixExitCode(whole)).toBe(3);
    for (let n = 1; n <= 5; n++) {
      const parts = await shardsOf(n, bundled, profiles, () => new FixtureExecutor(overrides, failing));
      // Given in any order.
      const merged = mergeShards([...parts].reverse());
      expect(merged.results.map(content), `N=${n}`).toEqual(whole.results.map(content));
      expect(matrixExitCode(merged)).toBe(matrixExitCode(whole));
      expect(merged.meta.shard).toBeUndefined();
      expect(merged.meta.shards!.map((s) => [s.k, s.n, s.cells])).toEqual(parts.map((p) => [p.matrix.meta.shard!.k, n, p.matrix.results.length]));
      const { startedAt: _s, durationMs: _d, shards: _sh, ...shared } = merged.meta;
      const { startedAt: _s2, durationMs: _d2, ...wholeShared } = whole.meta;
      expect(shared).toEqual(wholeShared);
    }
  });

  it('takes the first start and the span to the last end as the merged time', async () => {
    const parts = await shardsOf(2, bundled.slice(0, 4), profiles, () => new FixtureExecutor());
    const at = (p: ShardReport, startedAt: string, durationMs: number): ShardReport => ({
      ...p,
      matrix: { ...p.matrix, meta: { ...p.matrix.meta, startedAt, durationMs } },
    });
    const merged = mergeShards([at(parts[0]!, '2026-12-01T10:00:00.000Z', 60_000), at(parts[1]!, '2026-12-01T10:00:30.000Z', 120_000)]);
    expect(merged.meta.startedAt).toBe('2026-12-01T10:00:00.000Z');
    expect(merged.meta.durationMs).toBe(150_000);
    expect(merged.meta.shards!.map((s) => s.durationMs)).toEqual([60_000, 120_000]);
  });

  it('refuses shards of different runs and names each differing field with its values and reports', async () => {
    const few = bundled.slice(0, 6);
    const a = await shardsOf(2, few, profiles, () => new FixtureExecutor());
    const otherSeed: ShardReport = { source: 'other-seed', matrix: await run(few, profiles, new FixtureExecutor(), { k: 2, n: 2 }, 12) };
    const seed = refusal(() => mergeShards([a[0]!, otherSeed]));
    expect(seed.problem).toBe('meta-mismatch');
    expect(seed.message).toContain('seed: 11 (shard-1) vs 12 (other-seed)');

    const withMeta = (p: ShardReport, source: string, meta: Partial<Matrix['meta']>): ShardReport => ({
      source,
      matrix: { ...p.matrix, meta: { ...p.matrix.meta, ...meta } },
    });
    const commit = refusal(() => mergeShards([a[0]!, withMeta(a[1]!, 'later', { commit: 'fedcba987654' })]));
    expect(commit.problem).toBe('meta-mismatch');
    expect(commit.message).toMatch(/commit: "abc123def456" \(shard-1\) vs "fedcba987654" \(later\)/);

    const prof = refusal(() => mergeShards([a[0]!, withMeta(a[1]!, 'two-profiles', { profiles: ['plain-ppap', 'ssmax-org'] })]));
    expect(prof.message).toContain('profiles:');

    // One scenario's content changed (same ids): the digest differs.
    const edited = few.map((s, i) => (i === 3 ? { ...s, scenario: { ...s.scenario, description: `${s.scenario.description} (edited)` } } : s));
    const b2: ShardReport = { source: 'edited', matrix: await run(edited, profiles, new FixtureExecutor(), { k: 2, n: 2 }) };
    const set = refusal(() => mergeShards([a[0]!, b2]));
    expect(set.problem).toBe('meta-mismatch');
    expect(set.message).toMatch(/scenarioSet: 6 scenarios, sha256:[0-9a-f]{64} \(shard-1\) vs 6 scenarios, sha256:[0-9a-f]{64} \(edited\)/);

    const n3 = await shardsOf(3, few, profiles, () => new FixtureExecutor());
    const count = refusal(() => mergeShards([a[0]!, n3[1]!, n3[2]!]));
    expect(count.message).toContain('shard.n: 2 (shard-1) vs 3 (shard-2, shard-3)');
  });

  it('refuses a shard given twice and names the cells in two reports', async () => {
    const parts = await shardsOf(3, bundled.slice(0, 6), profiles, () => new FixtureExecutor());
    const again = { ...parts[1]!, source: 'copy-of-2' };
    const r = refusal(() => mergeShards([...parts, again]));
    expect(r.problem).toBe('duplicate-cells');
    const first = parts[1]!.matrix.meta.shard!.cells[0]!;
    expect(r.message).toContain(`${first} (shard-2, copy-of-2)`);
    expect(r.message).toContain('shard 2/3 was given 2 times (shard-2, copy-of-2)');
  });

  it('refuses a missing shard, naming it and, given the same scenarios, each of its cells', async () => {
    const few = bundled.slice(0, 6);
    const parts = await shardsOf(3, few, profiles, () => new FixtureExecutor());
    const lost = parts[2]!.matrix.meta.shard!.cells;
    const r = refusal(() => mergeShards([parts[0]!, parts[1]!]));
    expect(r.problem).toBe('missing-cells');
    expect(r.message).toContain(
      `${lost.length} of the run's ${parts[0]!.matrix.meta.shard!.totalCells} cells are in no report: shard 3/3 (${lost.length} cells) was not given`,
    );
    // The merging machine's whole scenario folder holds the run's six: their cells are named.
    const named = refusal(() => mergeShards([parts[0]!, parts[1]!], { scenarios: bundled }));
    for (const c of lost) expect(named.message).toContain(c);
    // Not when one of them has other content there: the cells of another plan would be guesses.
    const edited = bundled.map((s) => (s.scenario.id === few[5]!.scenario.id ? { ...s, scenario: { ...s.scenario, title: 'edited' } } : s));
    const unnamed = refusal(() => mergeShards([parts[0]!, parts[1]!], { scenarios: edited }));
    expect(unnamed.message).toContain('shard 3/3');
    for (const c of lost) expect(unnamed.message).not.toContain(c);
  });

  it("refuses a whole run's report and a shard whose results are not the cells it lists", async () => {
    const few = bundled.slice(0, 4);
    const parts = await shardsOf(2, few, profiles, () => new FixtureExecutor());
    const whole: ShardReport = { source: 'whole', matrix: await run(few, profiles, new FixtureExecutor()) };
    expect(refusal(() => mergeShards([whole, ...parts]))).toEqual({
      problem: 'not-a-shard',
      message: expect.stringContaining('whole is not the report of a shard') as unknown,
    });
    const dropped = parts[1]!.matrix.results[0]!;
    const cut: ShardReport = { ...parts[1]!, matrix: { ...parts[1]!.matrix, results: parts[1]!.matrix.results.slice(1) } };
    const r = refusal(() => mergeShards([parts[0]!, cut]));
    expect(r.problem).toBe('inconsistent-shard');
    expect(r.message).toContain(`no result for ${cellId(dropped.scenarioId, dropped.profile)}`);
  });
});
