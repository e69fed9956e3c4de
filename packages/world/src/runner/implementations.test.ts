/**
 * Issue 14 item 2: every cell names the implementation of each org, a cell that needs what only an in-process
 * org gives is "not observable" (not a failure, not a guess), and the runs of one matrix over two worlds sit
 * side by side in one report (columns per profile and implementation).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { formatHtml } from './html-report.js';
import { formatJunit } from './junit-report.js';
import { joinWorldRuns, matrixExitCode, runMatrix } from './run-matrix.js';
import { formatMatrixTable } from './terminal-table.js';
import { matrixSchema } from './write-report.js';
import type { CellExecutor, CellRun, LoadedScenario, Matrix, MatrixProfile, Scenario } from './types.js';

const expected = { verdict: 'blocked', leaked: 'none', malwareReached: false, traced: 'org', identityShown: 'none', reason: 'r' } as const;
const scenario = (id: string): LoadedScenario => ({
  file: `scenarios/${id}.yaml`,
  scenario: { v: 1, id, title: id, source: { other: 'test' }, description: '', expected: { 'ssmax-org': expected } },
});

/** Answers as expected, except the cells it was told are not observable; names `impl` as org-b's implementation. */
class Fixture implements CellExecutor {
  constructor(
    private readonly impl: string,
    private readonly unobservable: readonly string[] = [],
  ) {}
  run(s: Scenario, _p: MatrixProfile): Promise<CellRun> {
    const implementations = { 'org-a': 'builtin', 'org-b': this.impl };
    if (this.unobservable.includes(s.id))
      return Promise.resolve({ actual: null, events: [], notObservable: 'Cannot use the organisation of org-b.', implementations });
    const { reason: _r, ...actual } = expected;
    return Promise.resolve({ actual, events: [], implementations });
  }
}

async function run(impl: string, unobservable: readonly string[] = [], file = `worlds/${impl}.yaml`): Promise<Matrix> {
  return runMatrix({
    scenarios: [scenario('one'), scenario('two')],
    profiles: ['ssmax-org'],
    executor: new Fixture(impl, unobservable),
    seed: 1,
    clockStart: new Date('2026-01-01T00:00:00Z'),
    meta: { commit: 'c', node: 'v20.0.0', openssl: 'OpenSSL 3', worlds: [{ file, implementations: { 'org-a': 'builtin', 'org-b': impl } }] },
  });
}

describe('implementations in the matrix', () => {
  it('names the implementations in every cell, and a not-observable cell neither passes nor fails the run', async () => {
    const m = await run('process:ref', ['two']);
    expect(m.results.map((r) => [r.scenarioId, r.pass, r.notObservable ?? null, r.implementations?.['org-b']])).toEqual([
      ['one', true, null, 'process:ref'],
      ['two', false, 'Cannot use the organisation of org-b.', 'process:ref'],
    ]);
    expect(matrixExitCode(m)).toBe(0);
    expect(formatMatrixTable(m)).toContain('1 not observable');
    expect(formatJunit(m)).toMatch(/skipped="1"[\s\S]*<skipped message="not observable: Cannot use the organisation of org-b."\/>/);
    const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(matrixSchema());
    expect(validate(JSON.parse(JSON.stringify(m))), JSON.stringify(validate.errors)).toBe(true);
    // A mismatch still fails the run beside a not-observable cell.
    const bad = { ...m, results: m.results.map((r) => (r.scenarioId === 'one' ? { ...r, pass: false, mismatches: ['verdict' as const] } : r)) };
    expect(matrixExitCode(bad)).toBe(1);
  });

  it('puts two implementations of one profile side by side when the runs of two worlds are joined', async () => {
    const joined = joinWorldRuns([await run('builtin', [], 'worlds/a.yaml'), await run('process:ref', [], 'worlds/b.yaml')]);
    expect(joined.results).toHaveLength(4);
    expect(joined.meta.worlds?.map((w) => w.file)).toEqual(['worlds/a.yaml', 'worlds/b.yaml']);
    const html = formatHtml(joined, [scenario('one'), scenario('two')]);
    const data = JSON.parse(/<script type="application\/json" id="matrix-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as {
      columns: { profile: string; label: string }[];
    };
    expect(data.columns).toEqual([
      { profile: 'ssmax-org', label: '' },
      { profile: 'ssmax-org', label: ' {org-b: process:ref}' },
    ]);
    expect(formatJunit(joined)).toContain('one [ssmax-org] {org-b: process:ref}');
    const table = formatMatrixTable(joined);
    expect(table).toMatch(/^scenario +│ org +org1 *$/m);
    expect(table).toContain('1: the cells of the world where org-b: process:ref');
  });
});
