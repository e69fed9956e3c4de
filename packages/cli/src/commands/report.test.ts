import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createMatrixExecutor,
  loadScenarios,
  type CellExecutor,
  type CellRun,
  type Matrix,
  type MatrixProfile,
  type MatrixResult,
  type Outcome,
  type Scenario,
} from '@ssmax/world';
import { runRunCommand, type ExecutorFactory } from './run.js';
import { runReportCommand } from './report.js';
import { SCEN, capture, tempDirs } from '../test-support/run-io.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world that tests only the `--shard` and `report merge`
 * frame (arguments, refusals, exit codes). It echoes each cell's expectation unless overridden. The last
 * test merges shards run in real worlds.
 */
class FixtureExecutor implements CellExecutor {
  constructor(private readonly overrides: Record<string, Partial<Outcome>> = {}) {}
  async run(s: Scenario, p: MatrixProfile): Promise<CellRun> {
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: { ...expected, ...this.overrides[`${s.id}#${p}`] }, events: [] };
  }
}

const temp = tempDirs('ssmax-report-');
const FIXED = ['--seed', '21', '--clock-start', '2026-12-01T00:00:00Z'];
const TWO = [SCEN('i2-direct-to-mx-spoof-encrypted-zip'), SCEN('i7-planted-forwarding-rule')];
/** `report merge`'s option naming the same two scenario files. */
const WITH_TWO = TWO.flatMap((f) => ['--scenarios', f]);
const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'matrix.json'), 'utf8')) as Matrix;
/** What a cell concluded: everything but its timing, its journey (timestamps, message ids) and an error's stack. */
const concluded = (r: MatrixResult) => ({
  cell: `${r.scenarioId} [${r.profile}]`,
  file: r.file,
  expected: r.expected,
  actual: r.actual,
  pass: r.pass,
  mismatches: r.mismatches,
  error: r.error?.split('\n')[0],
});

/** Runs shards 1..n of `args` with a fresh executor each (as separate machines would); returns their report folders. */
async function shards(n: number, args: readonly string[], factory: ExecutorFactory): Promise<string[]> {
  const dirs: string[] = [];
  for (let k = 1; k <= n; k++) {
    const dir = temp();
    const c = capture();
    const code = await runRunCommand([...args, '--shard', `${k}/${n}`, '--report', dir], factory, c.io);
    expect(code, c.err()).toBeLessThanOrEqual(1);
    dirs.push(dir);
  }
  return dirs;
}

describe('ssmax run --shard', () => {
  it('exits 2 without --seed or --clock-start, with --ablate, or with a malformed K/N', async () => {
    const cases: [string[], RegExp][] = [
      [['--shard', '1/2', '--seed', '3'], /Cannot run shard 1\/2 without --seed and --clock-start/],
      [['--shard', '1/2', '--clock-start', '2026-12-01T00:00:00Z'], /without --seed and --clock-start/],
      [['--shard', '1/2', ...FIXED, '--ablate'], /Cannot use --shard with --ablate/],
      [['--shard', '3/2', ...FIXED], /Cannot parse --shard 3\/2/],
      [['--shard', '1/2', '--shard', '2/2', ...FIXED], /--shard\. It was given 2 times/],
    ];
    for (const [args, message] of cases) {
      const c = capture();
      expect(await runRunCommand([...TWO, ...args, '--report', temp()], () => new FixtureExecutor(), c.io), args.join(' ')).toBe(2);
      expect(c.err()).toMatch(message);
    }
  });

  it('writes only its slice with shard meta, says so on stderr and compares only its own cells', async () => {
    const whole = temp();
    expect(await runRunCommand([...TWO, ...FIXED, '--report', whole], () => new FixtureExecutor(), capture().io)).toBe(0);
    const dir = temp();
    const c = capture();
    const code = await runRunCommand(
      [...TWO, ...FIXED, '--shard', '2/2', '--report', dir, '--compare', join(whole, 'matrix.json')],
      () => new FixtureExecutor({ 'i7-planted-forwarding-rule#ssmax-org': { leaked: 'files' } }),
      c.io,
    );
    expect(code).toBe(1);
    const m = read(dir);
    expect(m.meta.shard).toMatchObject({ k: 2, n: 2, totalCells: 16 });
    expect(m.results.map((r) => `${r.scenarioId} [${r.profile}]`).sort()).toEqual([...m.meta.shard!.cells].sort());
    expect(m.results).toHaveLength(8);
    expect(c.err()).toContain('= 16 cells · shard 2/2: 8 cells');
    // The one changed cell, and not the eight cells shard 1 ran elsewhere as "absent".
    expect(c.out()).toContain('1 cell(s) changed:\n  i7-planted-forwarding-rule [ssmax-org]: ');
    expect(c.out()).not.toContain('absent');
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('(seed 21, shard 2/2)');
    expect(readFileSync(join(dir, 'matrix.html'), 'utf8')).toContain('shard 2/2: 8 of the run');
  });
});

describe('ssmax report merge', () => {
  it('writes the whole run’s matrix.json, junit.xml and matrix.html and exits with its code when the shards are merged', async () => {
    const overrides = { 'i7-planted-forwarding-rule#ssmax-paper': { leaked: 'files' as const } };
    const whole = temp();
    expect(await runRunCommand([...TWO, ...FIXED, '--report', whole], () => new FixtureExecutor(overrides), capture().io)).toBe(1);
    const parts = await shards(3, [...TWO, ...FIXED], () => new FixtureExecutor(overrides));
    const out = temp();
    const c = capture();
    expect(await runReportCommand(['merge', ...parts, '--out', out, ...WITH_TWO], c.io)).toBe(1);
    expect(c.err()).toBe('');
    const merged = read(out);
    expect(merged.results.map(concluded)).toEqual(read(whole).results.map(concluded));
    expect(merged.meta.shards?.map((s) => `${s.k}/${s.n}:${s.cells}`)).toEqual(['1/3:5', '2/3:5', '3/3:6']);
    expect(c.out()).toContain('✗ i7-planted-forwarding-rule [ssmax-paper]');
    expect(c.out()).toContain('merged 3 shards: 16 cells');
    // The <testsuites> totals (junit-report.ts writes them as tests="…" failures="…" errors="…").
    const count = (dir: string) =>
      /<testsuites [^>]*tests="(\d+)" failures="(\d+)" errors="(\d+)"/.exec(readFileSync(join(dir, 'junit.xml'), 'utf8'))?.slice(1);
    expect(count(out)).toEqual(count(whole));
    expect(count(out)).toEqual(['16', '1', '0']);
    const html = readFileSync(join(out, 'matrix.html'), 'utf8');
    expect(html).toContain('15 of 16 cells as expected');
    expect(html).toContain('merged from 3 shards');
    // Descriptions come only from the scenario files, and only when they are the ones the shards ran.
    const description = loadScenarios([TWO[1]!])[0]!.scenario.description.slice(0, 40);
    expect(html).toContain(JSON.stringify(description).slice(1, -1));
    // The default, the bundled folder, holds the two scenarios as they ran: no note.
    const bundled = capture();
    expect(await runReportCommand(['merge', ...parts, '--out', temp()], bundled.io)).toBe(1);
    expect(bundled.err()).toBe('');
    // A folder where one of them reads otherwise is not used, and says so.
    const changed = temp();
    writeFileSync(join(changed, 'i2-direct-to-mx-spoof-encrypted-zip.yaml'), readFileSync(TWO[0]!, 'utf8'));
    writeFileSync(join(changed, 'i7-planted-forwarding-rule.yaml'), readFileSync(TWO[1]!, 'utf8').replace(/^title: .*$/m, 'title: changed since'));
    const other = capture();
    const elsewhere = temp();
    expect(await runReportCommand(['merge', ...parts, '--out', elsewhere, '--scenarios', changed], other.io)).toBe(1);
    expect(other.err()).toContain('are not the ones the shards ran; matrix.html shows titles only');
    expect(readFileSync(join(elsewhere, 'matrix.html'), 'utf8')).not.toContain(JSON.stringify(description).slice(1, -1));
  });

  it('exits 2 and names the field when the shards are of different runs, and the cells when a shard is given twice or missing', async () => {
    const a = await shards(2, [...TWO, ...FIXED], () => new FixtureExecutor());
    const b = await shards(2, [...TWO, '--seed', '22', '--clock-start', '2026-12-01T00:00:00Z'], () => new FixtureExecutor());
    const seed = capture();
    expect(await runReportCommand(['merge', a[0]!, b[1]!, '--out', temp()], seed.io)).toBe(2);
    expect(seed.err()).toContain(`seed: 21 (${a[0]}) vs 22 (${b[1]})`);

    const twice = capture();
    expect(await runReportCommand(['merge', a[0]!, a[1]!, a[1]!, '--out', temp()], twice.io)).toBe(2);
    const first = read(a[1]!).meta.shard!.cells[0]!;
    expect(twice.err()).toContain(`${first} (${a[1]}, ${a[1]})`);

    const missing = capture();
    expect(await runReportCommand(['merge', a[0]!, '--out', temp(), ...WITH_TWO], missing.io)).toBe(2);
    expect(missing.err()).toContain('shard 2/2 (8 cells) was not given');
    for (const cell of read(a[1]!).meta.shard!.cells) expect(missing.err()).toContain(cell);

    const whole = temp();
    await runRunCommand([...TWO, ...FIXED, '--report', whole], () => new FixtureExecutor(), capture().io);
    const notShard = capture();
    expect(await runReportCommand(['merge', whole, a[1]!, '--out', temp()], notShard.io)).toBe(2);
    expect(notShard.err()).toContain('is not the report of a shard');

    const broken = join(temp(), 'matrix.json');
    writeFileSync(broken, '{"meta":');
    const bad = capture();
    expect(await runReportCommand(['merge', broken, '--out', temp()], bad.io)).toBe(2);
    expect(bad.err()).toContain('It is not JSON');
    const none = capture();
    expect(await runReportCommand(['merge'], none.io)).toBe(2);
    expect(none.err()).toContain('usage: ssmax report merge');
  });

  it(
    'gives the same verdicts per cell as a whole run with the same seed when shards run in real worlds',
    async () => {
      // Three quick scenarios under a conventional and an SSMAX profile: 6 cells; 3 shards of 2, the middle one
      // crossing from plain-ppap to ssmax-org, the last one starting inside ssmax-org (a world the whole run reuses).
      const args = [
        SCEN('baseline-member-confidential-file'),
        SCEN('c-non-member-encrypted-zip-malware'),
        SCEN('i5-passive-capture-between-mtas'),
        '--profile',
        'plain-ppap,ssmax-org',
        '--seed',
        '5',
        '--clock-start',
        '2026-12-01T00:00:00Z',
      ];
      const real: ExecutorFactory = (ctx) => createMatrixExecutor({ seed: ctx.seed, log: ctx.log });
      const whole = temp();
      const w = capture();
      const wholeCode = await runRunCommand([...args, '--report', whole], real, w.io);
      expect(wholeCode, w.err()).toBeLessThanOrEqual(1);
      const parts = await shards(3, args, real);
      expect(parts.map((d) => read(d).meta.shard!.cells)).toEqual([
        ['baseline-member-confidential-file [plain-ppap]', 'c-non-member-encrypted-zip-malware [plain-ppap]'],
        ['i5-passive-capture-between-mtas [plain-ppap]', 'baseline-member-confidential-file [ssmax-org]'],
        ['c-non-member-encrypted-zip-malware [ssmax-org]', 'i5-passive-capture-between-mtas [ssmax-org]'],
      ]);
      const out = temp();
      const c = capture();
      const code = await runReportCommand(['merge', ...parts, '--out', out], c.io);
      expect(code, c.err()).toBe(wholeCode);
      const merged = read(out);
      expect(merged.results.map(concluded)).toEqual(read(whole).results.map(concluded));
      expect(merged.results.every((r) => r.actual !== null)).toBe(true);
      // The cells conclude differently (a merge that mixed them up could not match by chance).
      expect(new Set(merged.results.map((r) => JSON.stringify(r.actual))).size).toBeGreaterThan(2);
      expect(merged.meta.seed).toBe(5);
    },
    // Seven world builds in all (two for the whole run, five for the shards), one at a time.
    600_000,
  );
});
