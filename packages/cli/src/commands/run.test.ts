import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CellExecutor, type CellRun, type MatrixProfile, type Outcome, type Scenario } from '@ssmax/world';
import { runRunCommand } from './run.js';
import { SCEN, capture, tempDirs } from '../test-support/run-io.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world that tests only the `ssmax run` frame
 * (arguments, exit codes, report files). It echoes each cell's expectation unless overridden.
 */
class FixtureExecutor implements CellExecutor {
  closed = false;
  constructor(
    private readonly overrides: Record<string, Partial<Outcome>> = {},
    private readonly throwOn?: string,
  ) {}
  async run(s: Scenario, p: MatrixProfile): Promise<CellRun> {
    if (`${s.id}#${p}` === this.throwOn) throw new Error('world did not start');
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: { ...expected, ...this.overrides[`${s.id}#${p}`] }, events: [] };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const temp = tempDirs('ssmax-run-cli-');

describe('ssmax run', () => {
  it('exits 0, prints the table and writes the three report files when every cell matches', async () => {
    const dir = temp();
    const c = capture();
    const ex = new FixtureExecutor();
    const code = await runRunCommand(
      [SCEN('i2-direct-to-mx-spoof-encrypted-zip'), SCEN('i8-misdelivery-to-non-member'), '--report', dir, '--seed', '17'],
      () => ex,
      c.io,
    );
    expect(code).toBe(0);
    expect(ex.closed).toBe(true);
    for (const f of ['matrix.json', 'junit.xml', 'matrix.html']) expect(existsSync(join(dir, f))).toBe(true);
    const m = JSON.parse(readFileSync(join(dir, 'matrix.json'), 'utf8')) as { meta: { seed: number }; results: unknown[] };
    expect(m.meta.seed).toBe(17);
    expect(m.results).toHaveLength(8 + 7);
    expect(c.out()).toMatch(/i2-direct-to-mx-spoof-encrypted-zip\s+│ D-M- {3}B--- {3}D-M- /);
    expect(c.out()).toContain('15/15 cells match.');
    expect(c.err()).toContain('[15/15]');
  });

  it('exits 1 and names the cell when an outcome differs', async () => {
    const c = capture();
    const code = await runRunCommand(
      [SCEN('i7-planted-forwarding-rule'), '--report', temp(), '--profile', 'ssmax-paper,best-practice'],
      () => new FixtureExecutor({ 'i7-planted-forwarding-rule#ssmax-paper': { leaked: 'files' } }),
      c.io,
    );
    expect(code).toBe(1);
    expect(c.out()).toContain('✗ i7-planted-forwarding-rule [ssmax-paper]: expected Db-s got DF-s (leaked: body → files)');
  });

  it('exits 2 with the file and field when a scenario is invalid', async () => {
    const dir = temp();
    const bad = join(dir, 'i7-planted-forwarding-rule.yaml');
    writeFileSync(bad, readFileSync(SCEN('i7-planted-forwarding-rule'), 'utf8').replace('leaked: body', 'leaked: everything'));
    const c = capture();
    const code = await runRunCommand([dir, '--report', temp()], () => new FixtureExecutor(), c.io);
    expect(code).toBe(2);
    expect(c.err()).toMatch(/i7-planted-forwarding-rule\.yaml: \/expected\/ssmax-paper\/leaked must be equal to one of the allowed values/);
  });

  it('exits 2 on an unknown option or profile', async () => {
    const a = capture();
    expect(await runRunCommand(['--colour'], () => new FixtureExecutor(), a.io)).toBe(2);
    expect(a.err()).toContain('usage: ssmax run');
    const b = capture();
    expect(await runRunCommand(['--profile', 'ssmax'], () => new FixtureExecutor(), b.io)).toBe(2);
    expect(b.err()).toContain('Unknown profile(s) ssmax');
  });

  it('exits 3 when the executor throws, and still writes the report', async () => {
    const dir = temp();
    const c = capture();
    const code = await runRunCommand(
      [SCEN('i7-planted-forwarding-rule'), '--report', dir],
      () => new FixtureExecutor({}, 'i7-planted-forwarding-rule#smime-e2e'),
      c.io,
    );
    expect(code).toBe(3);
    expect(c.err()).toContain('ERROR: Error: world did not start');
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('type="infrastructure"');
  });

  it('exits 3 when no executor is wired in', async () => {
    const c = capture();
    expect(await runRunCommand([SCEN('i7-planted-forwarding-rule'), '--report', temp()], undefined, c.io)).toBe(3);
    expect(c.err()).toContain('No cell executor is wired in');
  });

  it('lists the cells whose actual changed with --compare', async () => {
    const dir = temp();
    const first = join(dir, 'old');
    copyFileSync(SCEN('i6-stolen-mailbox-password'), join(dir, 'i6-stolen-mailbox-password.yaml'));
    expect(await runRunCommand([join(dir, 'i6-stolen-mailbox-password.yaml'), '--report', first], () => new FixtureExecutor(), capture().io)).toBe(0);
    const c = capture();
    const code = await runRunCommand(
      [join(dir, 'i6-stolen-mailbox-password.yaml'), '--report', join(dir, 'new'), '--compare', join(first, 'matrix.json')],
      () => new FixtureExecutor({ 'i6-stolen-mailbox-password#best-practice': { leaked: 'files' } }),
      c.io,
    );
    expect(code).toBe(1);
    expect(c.out()).toContain('1 cell(s) changed:\n  i6-stolen-mailbox-password [best-practice]: D--o → DF-o (leaked)');
  });
});
