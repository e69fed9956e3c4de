/**
 * runMatrix with several executors (`ssmax run --jobs N`): contiguous parts of the cells run side by side,
 * and the matrix is the one a single executor writes. A deterministic stand-in answers the cells; the
 * real worlds side by side are tested through the command (cli run-jobs.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '@ssmax/core';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';
import { cutByCost, runMatrix, type CellCosts } from './run-matrix.js';
import { cellId, plannedCells, shardCells, type ShardSpec } from './shard.js';
import { MATRIX_PROFILES, type CellExecutor, type CellRun, type MatrixProfile, type MatrixResult, type Scenario } from './types.js';

const scenarios = loadScenarios([BUNDLED_SCENARIOS]);
const plan = plannedCells(scenarios, MATRIX_PROFILES).map((c) => cellId(c.s.scenario.id, c.p));
const META = { commit: 'test', node: process.version, openssl: 'n/a' };

/** Echoes each cell's expectation (one cell fails with a fault), after a pause, and counts cells in flight. */
class Echo implements CellExecutor {
  static inFlight = 0;
  static maxInFlight = 0;
  readonly cells: string[] = [];
  async run(s: Scenario, p: MatrixProfile, ctx: { seed: number }): Promise<CellRun> {
    this.cells.push(cellId(s.id, p));
    Echo.inFlight++;
    Echo.maxInFlight = Math.max(Echo.maxInFlight, Echo.inFlight);
    await new Promise((r) => setTimeout(r, ctx.seed % 3));
    Echo.inFlight--;
    if (s.id === 'i7-planted-forwarding-rule' && p === 'best-practice') throw new SsmaxError('IO_ERROR', 'Cannot read the mailbox. Fixture fault.');
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: expected, events: [] };
  }
}

/** Everything a cell concluded (not its timing; the fault's first line, not its stack's frames). */
const concluded = (r: MatrixResult) => ({ ...r, durationMs: 0, error: r.error?.split('\n')[0] });

async function run(jobs: number, shard?: ShardSpec, cost?: CellCosts) {
  Echo.inFlight = 0;
  Echo.maxInFlight = 0;
  const executors = Array.from({ length: jobs }, () => new Echo());
  const m = await runMatrix({
    scenarios,
    profiles: MATRIX_PROFILES,
    executor: jobs === 1 ? executors[0]! : executors,
    seed: 9,
    clockStart: new Date('2026-12-01T00:00:00Z'),
    meta: META,
    ...(shard ? { shard } : {}),
    ...(cost ? { cost } : {}),
  });
  return { m, executors, maxInFlight: Echo.maxInFlight };
}

describe('runMatrix with several executors', () => {
  it.each([2, 3, 7])('writes the matrix of one executor when %i run contiguous parts of the cells side by side', async (jobs) => {
    const one = await run(1);
    const many = await run(jobs);
    expect(many.m.results.map(concluded)).toEqual(one.m.results.map(concluded));
    expect(many.m.results.some((r) => r.error !== undefined)).toBe(true);
    // Each executor ran one contiguous part of the execution order, sizes differing by at most one.
    expect(many.executors.map((e) => e.cells)).toEqual(Array.from({ length: jobs }, (_, k) => shardCells(plan, { k: k + 1, n: jobs })));
    expect(many.executors.flatMap((e) => e.cells)).toEqual(plan);
    expect(many.maxInFlight).toBe(jobs);
    expect(one.maxInFlight).toBe(1);
  });

  it('cuts a shard’s cells into the parts when combined with --shard', async () => {
    const shard = { k: 2, n: 3 };
    const mine = shardCells(plan, shard);
    const one = await run(1, shard);
    const two = await run(2, shard);
    expect(two.executors.map((e) => e.cells)).toEqual([shardCells(mine, { k: 1, n: 2 }), shardCells(mine, { k: 2, n: 2 })]);
    expect(two.m.results.map(concluded)).toEqual(one.m.results.map(concluded));
    expect(two.m.meta.shard?.cells).toEqual(one.m.meta.shard?.cells);
  });

  it('cuts the parts to about equal cost, not count, when given what each cell costs', async () => {
    // A made-up cost: ssmax-* cells weigh five times as much.
    const cost: CellCosts = { cell: (_s, p) => (p.startsWith('ssmax') ? 5 : 1) };
    const one = await run(1);
    const two = await run(2, undefined, cost);
    expect(two.m.results.map(concluded)).toEqual(one.m.results.map(concluded));
    const weights = two.executors.map((e) => e.cells.reduce((n, c) => n + (c.includes('[ssmax') ? 5 : 1), 0));
    expect(Math.abs(weights[0]! - weights[1]!)).toBeLessThanOrEqual(5);
    // Not a cut by count: the cheap conventional cells fill the first part.
    expect(two.executors[0]!.cells.length).toBeGreaterThan(two.executors[1]!.cells.length + 50);
    expect(two.executors.flatMap((e) => e.cells)).toEqual(plan);
  });

  it.each([
    [[1, 1, 1, 1, 1, 1], 3, [2, 2, 2]],
    [[9, 1, 1, 1, 1, 1, 1, 1, 1, 1], 2, [1, 9]],
    [[1, 1, 1, 1, 1, 9], 2, [5, 1]],
    [[5, 5], 3, [1, 1, 0]],
    [[0, 0, 0, 7], 2, [3, 1]],
    [[3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3], 4, [2, 4, 4, 2]],
  ])('cutByCost(%j, %i) gives parts of %j cells', (costs, n, sizes) => {
    const cells = costs.map((c, i) => ({ i, c }));
    const parts = cutByCost(cells, n, (x) => x.c);
    expect(parts.map((p) => p.length)).toEqual(sizes);
    expect(parts.flat()).toEqual(cells);
  });

  it.each([
    ['aaaabb', 0, [3, 3]],
    ['aaaabb', 10, [4, 2]],
    ['aaabbb', 10, [3, 3]],
    ['abbbbbbbbb', 3, [4, 6]],
  ])('cutByCost of groups %s, each start costing %i, gives parts of %j cells', (groups, start, sizes) => {
    const cells = [...groups].map((g, i) => ({ i, g }));
    const parts = cutByCost(
      cells,
      2,
      () => 1,
      (x) => x.g,
      () => start,
    );
    expect(parts.map((p) => p.length)).toEqual(sizes);
  });

  it('refuses an empty list of executors', async () => {
    await expect(runMatrix({ scenarios, profiles: ['plain-ppap'], executor: [], seed: 1, clockStart: new Date(), meta: META })).rejects.toThrow(
      /No cell executor/,
    );
  });
});
