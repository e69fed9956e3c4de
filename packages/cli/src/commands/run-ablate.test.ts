import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CellExecutor, type CellRun, type MatrixProfile, type Outcome, type Scenario } from '@ssmax/world';
import { runRunCommand, type ExecutorFactory } from './run.js';
import { SCEN, capture, tempDirs } from '../test-support/run-io.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world that tests only the `ssmax run --ablate` frame
 * (which executors are built, exit codes, report files). It echoes each cell's expectation, changed by
 * the overrides of the defences its world switched off.
 */
class FixtureExecutor implements CellExecutor {
  constructor(private readonly overrides: Record<string, Partial<Outcome>>) {}
  async run(s: Scenario, p: MatrixProfile): Promise<CellRun> {
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: { ...expected, ...this.overrides[`${s.id}#${p}`] }, events: [] };
  }
}

const temp = tempDirs('ssmax-run-ablate-');

/** A factory whose worlds flip the given cells when the named defence is switched off; records each call's ablation. */
function factory(flips: Record<string, Record<string, Partial<Outcome>>>): { make: ExecutorFactory; calls: (readonly string[] | undefined)[] } {
  const calls: (readonly string[] | undefined)[] = [];
  return {
    calls,
    make: (ctx) => {
      calls.push(ctx.ablate);
      return new FixtureExecutor(Object.assign({}, ...(ctx.ablate ?? []).map((id) => flips[id] ?? {})) as Record<string, Partial<Outcome>>);
    },
  };
}

describe('ssmax run --ablate', () => {
  it('writes ablation.json and the Falsifiability section, prints the run time and exits 0 when every credited cell and defence flips', async () => {
    const dir = temp();
    const c = capture();
    const f = factory({
      'mta-sts': { 'i4-starttls-strip-read-files#best-practice': { verdict: 'delivered', leaked: 'files' } },
      'mta-starttls': { 'i4-starttls-strip-read-files#best-practice': { verdict: 'delivered' } },
      ...Object.fromEntries(
        [
          'dmarc-enforcement',
          'domain-authentication',
          'ppap-zip-block',
          'reputation',
          'mailbox-second-factor',
          'external-forwarding-denial',
          'hold-then-send',
          'inbound-inspection',
          'header-section-integrity',
          'dmarc-and-zip-block',
          'dmarc-and-header-section',
        ].map((id) => [id, { 'i4-starttls-strip-read-files#best-practice': { malwareReached: true } }]),
      ),
    });
    const code = await runRunCommand(
      [SCEN('i4-starttls-strip-read-files'), '--profile', 'best-practice', '--report', dir, '--seed', '3', '--ablate'],
      f.make,
      c.io,
    );
    expect(c.err()).not.toContain('ERROR');
    expect(code).toBe(0);
    // The baseline executor has no ablation; then one executor per defence active in best-practice.
    expect(f.calls[0]).toBeUndefined();
    expect(f.calls.slice(1).map((a) => a?.join(','))).toEqual([
      'inbound-inspection',
      'mta-starttls',
      'mta-sts',
      'dmarc-enforcement',
      'domain-authentication',
      'ppap-zip-block',
      'reputation',
      'mailbox-second-factor',
      'external-forwarding-denial',
      'hold-then-send',
      'header-section-integrity',
      'dmarc-and-zip-block',
      'dmarc-and-header-section',
    ]);
    const report = JSON.parse(readFileSync(join(dir, 'ablation.json'), 'utf8')) as {
      defences: { id: string; flipped: unknown[] }[];
      notFalsifiable: unknown[];
      durationMs: number;
    };
    expect(Object.keys(report)).toEqual(['defences', 'notFalsifiable', 'durationMs']);
    expect(report.notFalsifiable).toEqual([]);
    expect(report.defences.find((d) => d.id === 'mta-sts')!.flipped).toEqual([
      { scenarioId: 'i4-starttls-strip-read-files', profile: 'best-practice', field: 'verdict', from: 'not-sent', to: 'delivered' },
      { scenarioId: 'i4-starttls-strip-read-files', profile: 'best-practice', field: 'leaked', from: 'none', to: 'files' },
    ]);
    expect(readFileSync(join(dir, 'matrix.html'), 'utf8')).toContain('<h2>Falsifiability</h2>');
    expect(c.out()).toMatch(/run time \d+\.\d s/);
    expect(c.out()).toContain('ablation.json');
  });

  it('exits 1 and prints both lists when a credited cell flips under no ablation and defences flip nothing', async () => {
    const c = capture();
    const code = await runRunCommand(
      [SCEN('i4-starttls-strip-read-files'), '--profile', 'best-practice', '--report', temp(), '--ablate'],
      factory({ 'mta-sts': {} }).make,
      c.io,
    );
    expect(code).toBe(1);
    expect(c.out()).toContain('Not falsifiable (1)');
    expect(c.out()).toContain('i4-starttls-strip-read-files [best-practice]');
    expect(c.out()).toMatch(/Defences that flip nothing \(13\): .*mta-sts/);
  });

  it('exits 3 when an ablated cell hits a harness error', async () => {
    const c = capture();
    const make: ExecutorFactory = (ctx) =>
      ctx.ablate?.includes('reputation')
        ? {
            run: async () => {
              throw new Error('ECONNREFUSED 127.0.0.9:143');
            },
          }
        : new FixtureExecutor({});
    const code = await runRunCommand([SCEN('i4-starttls-strip-read-files'), '--profile', 'best-practice', '--report', temp(), '--ablate'], make, c.io);
    expect(code).toBe(3);
    expect(c.out()).toContain('error i4-starttls-strip-read-files [best-practice]');
    expect(c.err()).toContain('[reputation 1/1] i4-starttls-strip-read-files [best-practice] ERROR');
  });
});
