import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import { DEFENCES, type DefenceSpec } from '../defences.js';
import {
  ablationExitCode,
  cellFlips,
  cellsForDefence,
  creditedCells,
  creditReasons,
  creditsDefence,
  deadDefences,
  defencesFor,
  formatAblation,
  notFalsifiable,
  runAblation,
  type AblationReport,
  type DefenceAblation,
} from './ablation.js';
import { formatHtml } from './html-report.js';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';
import { parseProfiles, runMatrix } from './run-matrix.js';
import type { CellExecutor, CellRun, Matrix, MatrixProfile, MatrixResult, Outcome, Scenario } from './types.js';

/**
 * FixtureExecutor: a deterministic stand-in for the world, used ONLY to test the ablation frame (which
 * cells run, how flips are computed, the exit code). It answers each cell with the scenario's expected
 * outcome unless told otherwise; it proves nothing about the defences themselves (their switches are
 * tested against the real services beside them, e.g. sim-org ablation.test.ts).
 */
class FixtureExecutor implements CellExecutor {
  readonly calls: string[] = [];
  closed = false;
  constructor(
    private readonly overrides: Record<string, Partial<Outcome>> = {},
    private readonly failing: ReadonlySet<string> = new Set(),
  ) {}
  async run(s: Scenario, p: MatrixProfile): Promise<CellRun> {
    const key = `${s.id}#${p}`;
    this.calls.push(key);
    if (this.failing.has(key)) throw new SsmaxError('CONTAINER_ERROR', 'Cannot reach the recipient mailbox. Fixture failure.');
    const { reason: _r, ...expected } = s.expected[p]!;
    return { actual: { ...expected, ...this.overrides[key] }, events: [] };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const META = { commit: 'abc123def456', node: process.version, openssl: 'OpenSSL 3 (fixture)', oracles: { openssl: '3.0.19', node: process.version } };
const file = (id: string) => join(BUNDLED_SCENARIOS, `${id}.yaml`);
const bundled = loadScenarios([BUNDLED_SCENARIOS]);
const byId = (id: string): Scenario => bundled.find((s) => s.scenario.id === id)!.scenario;
const defence = (id: string): DefenceSpec => DEFENCES.find((d) => d.id === id)!;
const baselineOf = (scenarios = bundled, profiles = parseProfiles([]), ex: CellExecutor = new FixtureExecutor()): Promise<Matrix> =>
  runMatrix({ scenarios, profiles, executor: ex, seed: 5, clockStart: new Date('2025-01-01T00:00:00Z'), meta: META });

/** A scenario built for one rule: no attacker, one benign file, delivered with nothing credited. */
function synthetic(over: Record<string, unknown>, expected: Partial<Outcome>): Scenario {
  const cell = {
    verdict: 'delivered',
    leaked: 'none',
    malwareReached: false,
    traced: 'none',
    identityShown: 'unverified',
    reason: 'test',
    ...expected,
  } as const;
  return {
    v: 1,
    id: 'synthetic',
    title: 't',
    source: { other: 'test' },
    description: 'd',
    attacker: null,
    payload: { files: [{ kind: 'invoice-pdf', name: 'a.pdf' }], body: 'business' },
    ...over,
    expected: { 'ssmax-org': cell },
  } as Scenario;
}

describe('creditsDefence', () => {
  it('credits a defence when the mail is blocked, not sent or flagged', () => {
    expect(creditsDefence(byId('i2-direct-to-mx-spoof-encrypted-zip'), 'ssmax-paper')).toBe(true);
    expect(creditsDefence(byId('b-colleague-spoof-via-org-server'), 'ssmax-org')).toBe(true);
    expect(creditsDefence(byId('baseline-non-member-plain-mail'), 'ssmax-paper')).toBe(true);
    expect(creditsDefence(synthetic({}, { verdict: 'flagged' }), 'ssmax-org')).toBe(true);
  });

  it('credits nothing when an honest or mistaken mail is simply delivered, traced or not', () => {
    expect(creditsDefence(byId('baseline-member-confidential-file'), 'ssmax-org')).toBe(false);
    expect(creditsDefence(byId('i8-misdelivery-to-member-org'), 'ssmax-paper')).toBe(false);
    expect(creditsDefence(synthetic({}, { traced: 'sender' }), 'ssmax-org')).toBe(false);
    expect(creditsDefence(synthetic({}, {}), 'ssmax-org')).toBe(false);
  });

  it("credits nothing for a mail its own scenario's outage stops (the recipient MX down for the whole cell)", () => {
    expect(creditsDefence(byId('recipient-mta-down-beyond-retry-window'), 'ssmax-plus')).toBe(false);
    expect(creditsDefence(synthetic({ setup: { receivingMtaDown: true } }, { verdict: 'not-sent' }), 'ssmax-org')).toBe(false);
    expect(creditsDefence(synthetic({}, { verdict: 'not-sent' }), 'ssmax-org')).toBe(true);
  });

  it('credits keeping malware away only when the scenario carries a malicious file or swaps one in', () => {
    const attacked = { attacker: { foothold: 'network', steps: [{ capability: 'spoof-direct', params: { spoofedFrom: 'a@b.example' } }] } };
    expect(creditReasons(synthetic({ payload: { files: [{ kind: 'eicar', name: 'x.com' }] } }, {}), 'ssmax-org')).toEqual(['malware kept from the recipient']);
    expect(creditsDefence(synthetic({ payload: { files: [{ kind: 'invoice-pdf', name: 'x.pdf' }] } }, {}), 'ssmax-org')).toBe(false);
    const swap = {
      attacker: {
        foothold: 'on-path',
        steps: [{ capability: 'on-path-mta', params: { service: 'org-b/mta-in', tamper: { kind: 'swap', replacement: 'eicar' } } }],
      },
    };
    expect(creditReasons(synthetic(swap, { leaked: 'files' }), 'ssmax-org')).toEqual(['malware kept from the recipient']);
    expect(creditsDefence(synthetic(attacked, {}), 'ssmax-org')).toBe(false);
  });

  it('credits a leak below the files only when the attacker eavesdrops', () => {
    expect(creditReasons(byId('i6-stolen-mailbox-password'), 'ssmax-org')).toEqual(['leaked only body']);
    expect(creditReasons(byId('i5-passive-capture-between-mtas'), 'best-practice')).toEqual(['leaked only none']);
    // The on-path attacker got the files: no leak credit (and nothing else is credited here).
    expect(creditsDefence(byId('i4-starttls-strip-read-files'), 'plain-ppap')).toBe(false);
    const takeover = (read: boolean) =>
      synthetic({ attacker: { foothold: 'org-mail-server', steps: [{ capability: 'org-server-takeover', params: { readPassingMail: read } }] } }, {});
    expect(creditReasons(takeover(true), 'ssmax-org')).toEqual(['leaked only none']);
    expect(creditReasons(takeover(false), 'ssmax-org')).toEqual([]);
  });

  it('counts a replay as eavesdropping when it captured off a link, not when it replays a copy it received itself', () => {
    expect(creditReasons(byId('replay-captured-mail-same-recipient'), 'ssmax-org')).toEqual(['leaked only body']);
    expect(creditsDefence(byId('replay-signed-mail-to-other-recipient'), 'plain-ppap')).toBe(false);
  });

  it('credits no defence for tracing alone (issue 9: verdict, leak and malware are the claims a defence makes)', () => {
    // The insider's own card-signed mail is delivered with its malware: traced to the insider, but no defence stopped anything.
    expect(creditReasons(byId('b-insider-with-card-and-pin'), 'ssmax-org')).toEqual([]);
    expect(creditsDefence(byId('b-insider-with-card-and-pin'), 'best-practice')).toBe(false);
  });
});

describe('ablation cell selection', () => {
  it('selects, per defence, only credited cells of the profiles where it is active', async () => {
    const base = await baselineOf();
    const credited = creditedCells(bundled, parseProfiles([]), base);
    const sts = cellsForDefence(defence('mta-sts'), credited);
    expect(new Set(sts.map((c) => c.profile))).toEqual(new Set(['best-practice']));
    expect(sts).toContainEqual({ scenarioId: 'i4-starttls-strip-read-files', profile: 'best-practice' });
    expect(sts).not.toContainEqual({ scenarioId: 'baseline-member-confidential-file', profile: 'best-practice' });
    expect(sts.every((c) => creditsDefence(byId(c.scenarioId), c.profile))).toBe(true);
    const manifest = cellsForDefence(defence('manifest-check'), credited);
    expect(manifest.some((c) => c.profile === 'ssmax-paper')).toBe(false);
    expect(manifest).toContainEqual({ scenarioId: 'i1-server-takeover-invoice-fraud', profile: 'ssmax-org' });
  });

  it('leaves out credited cells whose baseline could not run', async () => {
    const scenarios = loadScenarios([file('i2-direct-to-mx-spoof-encrypted-zip')]);
    const base = await baselineOf(
      scenarios,
      parseProfiles(['ssmax-org,ssmax-paper']),
      new FixtureExecutor({}, new Set(['i2-direct-to-mx-spoof-encrypted-zip#ssmax-org'])),
    );
    expect(creditedCells(scenarios, parseProfiles(['ssmax-org,ssmax-paper']), base)).toEqual([
      { scenarioId: 'i2-direct-to-mx-spoof-encrypted-zip', profile: 'ssmax-paper' },
    ]);
  });

  it('runs only the defences active in the selected profiles', () => {
    const ids = defencesFor(['smime-e2e']).map((d) => d.id);
    expect(ids).toContain('smime-whole-message');
    expect(ids).toContain('from-signer-binding');
    expect(ids).not.toContain('msa-signer-check');
    expect(ids).not.toContain('mta-sts');
  });
});

describe('cellFlips', () => {
  const result = (actual: Outcome | null, error?: string): MatrixResult => ({
    scenarioId: 's',
    file: 's.yaml',
    title: 't',
    profile: 'ssmax-org',
    expected: { verdict: 'blocked', leaked: 'none', malwareReached: false, traced: 'org', identityShown: 'none', reason: '' },
    actual,
    pass: false,
    mismatches: [],
    events: [],
    durationMs: 1,
    ...(error ? { error } : {}),
  });
  const blocked: Outcome = { verdict: 'blocked', leaked: 'none', malwareReached: false, traced: 'org', identityShown: 'none' };

  it('lists each differing field from the baseline actual to the ablated actual', () => {
    expect(cellFlips(result(blocked), result({ ...blocked, verdict: 'delivered', malwareReached: true }))).toEqual({
      flips: [
        { scenarioId: 's', profile: 'ssmax-org', field: 'verdict', from: 'blocked', to: 'delivered' },
        { scenarioId: 's', profile: 'ssmax-org', field: 'malwareReached', from: false, to: true },
      ],
    });
    expect(cellFlips(result(blocked), result(blocked))).toEqual({ flips: [] });
  });

  it('reports a harness error in the ablated cell as an error, never a flip', () => {
    expect(cellFlips(result(blocked), result(null, 'HarnessError: IMAP gone'))).toEqual({
      error: { scenarioId: 's', profile: 'ssmax-org', error: 'HarnessError: IMAP gone' },
    });
  });
});

describe('runAblation', () => {
  const scenarios = loadScenarios([file('i4-starttls-strip-read-files'), file('i6-stolen-mailbox-password'), file('baseline-member-confidential-file')]);
  const profiles = parseProfiles(['best-practice']);

  async function ablate(flipsFor: (d: DefenceSpec) => Record<string, Partial<Outcome>>, failing: (d: DefenceSpec) => ReadonlySet<string> = () => new Set()) {
    const base = await baselineOf(scenarios, profiles);
    const executors = new Map<string, FixtureExecutor>();
    const run = await runAblation({
      scenarios,
      profiles,
      baseline: base,
      executorFor: (d) => {
        const ex = new FixtureExecutor(flipsFor(d), failing(d));
        executors.set(d.id, ex);
        return ex;
      },
      seed: 5,
      clockStart: new Date('2025-01-01T00:00:00Z'),
      meta: META,
    });
    return { base, run, executors };
  }

  it('reruns only credited cells per defence, reports each flip and lists unflipped cells and dead defences', async () => {
    const { base, run, executors } = await ablate((d): Record<string, Partial<Outcome>> =>
      d.id === 'mta-sts' ? { 'i4-starttls-strip-read-files#best-practice': { verdict: 'delivered', leaked: 'files' } } : {},
    );
    // Only best-practice defences ran, each on the two credited cells (the honest baseline mail credits nothing).
    expect([...executors.keys()].sort()).toEqual(
      defencesFor(profiles)
        .map((d) => d.id)
        .sort(),
    );
    for (const ex of executors.values()) {
      expect(ex.calls.sort()).toEqual(['i4-starttls-strip-read-files#best-practice', 'i6-stolen-mailbox-password#best-practice']);
      expect(ex.closed).toBe(true);
    }
    expect(run.skipped).toContain('msa-signer-check');
    const sts = run.report.defences.find((d) => d.id === 'mta-sts')!;
    expect(sts.flipped).toEqual([
      { scenarioId: 'i4-starttls-strip-read-files', profile: 'best-practice', field: 'verdict', from: 'not-sent', to: 'delivered' },
      { scenarioId: 'i4-starttls-strip-read-files', profile: 'best-practice', field: 'leaked', from: 'none', to: 'files' },
    ]);
    expect(sts.description).toBe(defence('mta-sts').description);
    expect(run.report.notFalsifiable).toEqual([{ scenarioId: 'i6-stolen-mailbox-password', profile: 'best-practice' }]);
    expect(deadDefences(run.report)).not.toContain('mta-sts');
    expect(deadDefences(run.report)).toContain('mailbox-second-factor');
    expect(ablationExitCode(base, run.report)).toBe(1);
    expect(Object.keys(run.report)).toEqual(['defences', 'notFalsifiable', 'durationMs']);
    expect(Object.keys(sts)).toEqual(['id', 'description', 'flipped']);
    const text = formatAblation(run);
    expect(text).toContain('Not falsifiable (1)');
    expect(text).toContain('i6-stolen-mailbox-password [best-practice]');
    expect(text).toMatch(/Defences that flip nothing \(\d+\): .*mailbox-second-factor/);
    expect(text).toMatch(/run time \d+\.\d s/);
  });

  it('exits 0 when every credited cell flips and every defence flips a cell', async () => {
    const { base, run } = await ablate(() => ({
      'i4-starttls-strip-read-files#best-practice': { malwareReached: true },
      'i6-stolen-mailbox-password#best-practice': { leaked: 'files' },
    }));
    expect(run.report.notFalsifiable).toEqual([]);
    expect(deadDefences(run.report)).toEqual([]);
    expect(run.cells).toBe(2 * defencesFor(profiles).length);
    expect(ablationExitCode(base, run.report)).toBe(0);
  });

  it('exits 3 and keeps the cell out of notFalsifiable when an ablated cell hits a harness error', async () => {
    const { base, run } = await ablate(
      (d): Record<string, Partial<Outcome>> => (d.id === 'mta-sts' ? { 'i4-starttls-strip-read-files#best-practice': { leaked: 'files' } } : {}),
      (d) => (d.id === 'mailbox-second-factor' ? new Set(['i6-stolen-mailbox-password#best-practice']) : new Set()),
    );
    const mfa = run.report.defences.find((d) => d.id === 'mailbox-second-factor')!;
    expect(mfa.errors).toHaveLength(1);
    expect(mfa.errors![0]).toMatchObject({ scenarioId: 'i6-stolen-mailbox-password', profile: 'best-practice' });
    expect(mfa.errors![0]!.error).toContain('Fixture failure');
    expect(mfa.flipped).toEqual([]);
    expect(run.report.notFalsifiable).toEqual([]);
    expect(ablationExitCode(base, run.report)).toBe(3);
  });
});

describe('ablationExitCode', () => {
  const report = (over: Partial<AblationReport> = {}): AblationReport => ({
    defences: [{ id: 'x', description: 'd', flipped: [{ scenarioId: 's', profile: 'ssmax-org', field: 'verdict', from: 'blocked', to: 'delivered' }] }],
    notFalsifiable: [],
    durationMs: 1,
    ...over,
  });

  it('exits 1 when the baseline differs from its expectations, 3 when a baseline cell errored', async () => {
    const scenarios = loadScenarios([file('i2-direct-to-mx-spoof-encrypted-zip')]);
    const ok = await baselineOf(scenarios);
    expect(ablationExitCode(ok, report())).toBe(0);
    const bad = await baselineOf(
      scenarios,
      parseProfiles([]),
      new FixtureExecutor({ 'i2-direct-to-mx-spoof-encrypted-zip#ssmax-org': { verdict: 'delivered' } }),
    );
    expect(ablationExitCode(bad, report())).toBe(1);
    const err = await baselineOf(scenarios, parseProfiles([]), new FixtureExecutor({}, new Set(['i2-direct-to-mx-spoof-encrypted-zip#ssmax-org'])));
    expect(ablationExitCode(err, report())).toBe(3);
  });

  it('exits 1 for a dead defence or a cell no ablation flips', async () => {
    const ok = await baselineOf(loadScenarios([file('i2-direct-to-mx-spoof-encrypted-zip')]));
    expect(ablationExitCode(ok, report({ notFalsifiable: [{ scenarioId: 's', profile: 'ssmax-org' }] }))).toBe(1);
    expect(ablationExitCode(ok, report({ defences: [...report().defences, { id: 'dead', description: 'd', flipped: [] }] }))).toBe(1);
  });
});

describe('notFalsifiable', () => {
  it('keeps a credited cell that flipped under no defence', () => {
    const cells = [
      { scenarioId: 'a', profile: 'ssmax-org' as const },
      { scenarioId: 'b', profile: 'ssmax-org' as const },
    ];
    const lines: DefenceAblation[] = [
      { id: 'x', description: '', flipped: [{ scenarioId: 'a', profile: 'ssmax-org', field: 'verdict', from: 'blocked', to: 'delivered' }] },
    ];
    expect(notFalsifiable(cells, lines)).toEqual([{ scenarioId: 'b', profile: 'ssmax-org' }]);
  });
});

describe('formatHtml Falsifiability section', () => {
  it('shows each defence with its flips and the unflipped cells, escaped', async () => {
    const m = await baselineOf(loadScenarios([file('i2-direct-to-mx-spoof-encrypted-zip')]));
    const html = formatHtml(m, [], {
      defences: [
        {
          id: 'org-signature-check',
          description: '(7) <verifies>',
          flipped: [{ scenarioId: 'i2-direct-to-mx-spoof-encrypted-zip', profile: 'ssmax-esp-in', field: 'verdict', from: 'blocked', to: 'flagged' }],
        },
        { id: 'reputation', description: 'scores', flipped: [] },
      ],
      notFalsifiable: [{ scenarioId: 'i2-direct-to-mx-spoof-encrypted-zip', profile: 'ssmax-org' }],
      durationMs: 12_000,
    });
    expect(html).toContain('<h2>Falsifiability</h2>');
    expect(html).toContain('(7) &lt;verifies&gt;');
    expect(html).not.toContain('<verifies>');
    expect(html).toContain('i2-direct-to-mx-spoof-encrypted-zip [ssmax-esp-in]: verdict: blocked → flagged');
    expect(html).toContain('flips nothing');
    expect(html).toContain('1 credited cell(s) flip under no ablation');
    expect(formatHtml(m, [])).not.toContain('Falsifiability');
  });
});
