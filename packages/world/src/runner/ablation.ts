/**
 * Falsifiability (`ssmax run --ablate`): a matrix cell that credits a defence must be able to fail. After
 * the normal matrix (the baseline), each defence of defences.ts is switched off in turn and only the cells
 * that credit a defence, in the profiles where that defence acts, run again; every compared field that
 * differs from the baseline is a flip. A credited cell that no ablation flips is not falsifiable, and a
 * defence that flips nothing is dead or has no scenario: both make the run exit 1.
 *
 * The selection, the flip computation and the exit code are pure functions; {@link runAblation} drives
 * an injected executor per defence (the real one is `createMatrixExecutor({ ablate: [id] })`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFENCES, type DefenceSpec } from '../defences.js';
import { capabilityByName } from '../capabilities/index.js';
import { BUNDLED_SCENARIOS } from './load-scenarios.js';
import { runMatrix } from './run-matrix.js';
import { OUTCOME_FIELDS } from './types.js';
import type { CellExecutor, Leak, LoadedScenario, Matrix, MatrixMeta, MatrixProfile, MatrixResult, Outcome, Scenario } from './types.js';

/** A cell of the matrix. */
export interface CellRef {
  readonly scenarioId: string;
  readonly profile: MatrixProfile;
}

/** One compared field that an ablation changed: `from` the baseline actual, `to` the ablated actual. */
export interface AblationFlip extends CellRef {
  readonly field: keyof Outcome;
  readonly from: Outcome[keyof Outcome];
  readonly to: Outcome[keyof Outcome];
}

/** An ablated cell the executor could not run (a harness error, not a verdict). */
export interface AblationError extends CellRef {
  readonly error: string;
}

/** One defence's line of ablation.json. `errors` is present only when some of its cells failed to run. */
export interface DefenceAblation {
  readonly id: string;
  readonly description: string;
  readonly flipped: readonly AblationFlip[];
  readonly errors?: readonly AblationError[];
}

/** ablation.json. */
export interface AblationReport {
  readonly defences: readonly DefenceAblation[];
  /** Cells whose expected outcome credits a defence and that no ablation flipped. */
  readonly notFalsifiable: readonly CellRef[];
  /** The whole `--ablate` run: baseline matrix plus every ablation. */
  readonly durationMs: number;
}

interface Step {
  readonly capability: string;
  readonly params?: Record<string, unknown>;
}

const LEAK_ORDER: readonly Leak[] = ['none', 'metadata', 'body', 'files'];

let bundledMalicious: ReadonlySet<string> | undefined;

/** Payload kinds marked `malicious` in payload-kinds.json of `dir` (default the bundled scenarios/). */
export function maliciousKinds(dir: string = BUNDLED_SCENARIOS): ReadonlySet<string> {
  if (dir === BUNDLED_SCENARIOS && bundledMalicious) return bundledMalicious;
  const data = JSON.parse(readFileSync(join(dir, 'payload-kinds.json'), 'utf8')) as { kinds: { kind: string; malicious: boolean }[] };
  const set = new Set(data.kinds.filter((k) => k.malicious).map((k) => k.kind));
  if (dir === BUNDLED_SCENARIOS) bundledMalicious = set;
  return set;
}

function stepsOf(s: Scenario): readonly Step[] {
  const a = s['attacker'] as { steps?: readonly Step[] } | null | undefined;
  return a?.steps ?? [];
}

/**
 * Why the expected outcome of (scenario, profile) credits a defence, one reason per claim; empty when it
 * credits none. A claim: the mail was stopped or marked (`blocked`, `not-sent`, `flagged`); no malware
 * reached the recipient although the scenario carries a malicious file or swaps one in; the attacker got
 * less than the files it eavesdropped for. Tracing is not a claim a defence makes by itself (it is what
 * the evidence names), so a cell credits no defence by `traced` alone. A mail the scenario's own outage
 * stops (`setup.receivingMtaDown`: nothing can reach the MX) is not a defence's claim either: it checks
 * how the sender is told (a DSN, never clear text), which no switch can turn into a delivery.
 */
export function creditReasons(
  scenario: Scenario,
  profile: MatrixProfile,
  expected: Outcome | undefined = scenario.expected[profile],
  malicious: ReadonlySet<string> = maliciousKinds(),
): string[] {
  if (!expected) return [];
  const reasons: string[] = [];
  const outage = (scenario['setup'] as { receivingMtaDown?: boolean } | undefined)?.receivingMtaDown === true;
  if (expected.verdict !== 'delivered' && !outage) reasons.push(`verdict ${expected.verdict}`);
  const steps = stepsOf(scenario);
  const files = ((scenario['payload'] as { files?: readonly { kind: string }[] } | undefined)?.files ?? []).map((f) => f.kind);
  const swaps = steps.some((st) => (st.params?.['tamper'] as { kind?: string } | undefined)?.kind === 'swap');
  if (!expected.malwareReached && (files.some((k) => malicious.has(k)) || swaps)) reasons.push('malware kept from the recipient');
  const recipientOrg = (scenario['recipient'] as { org?: string } | undefined)?.org;
  const eavesdrops = steps.some((st) => capabilityByName(st.capability)?.eavesdrops?.(st.params ?? {}, recipientOrg) === true);
  if (eavesdrops && LEAK_ORDER.indexOf(expected.leaked) < LEAK_ORDER.indexOf('files')) reasons.push(`leaked only ${expected.leaked}`);
  return reasons;
}

/** Whether the expected outcome of (scenario, profile) credits a defence ({@link creditReasons}). */
export function creditsDefence(scenario: Scenario, profile: MatrixProfile, expected: Outcome | undefined = scenario.expected[profile]): boolean {
  return creditReasons(scenario, profile, expected).length > 0;
}

const key = (c: CellRef): string => `${c.scenarioId}\u0000${c.profile}`;

/** The cells of the run that credit a defence and whose baseline ran (an errored baseline cell cannot be compared). */
export function creditedCells(scenarios: readonly LoadedScenario[], profiles: readonly MatrixProfile[], baseline: Matrix): CellRef[] {
  const ran = new Set(baseline.results.filter((r) => r.actual !== null).map(key));
  const out: CellRef[] = [];
  for (const { scenario: s } of scenarios) {
    for (const p of profiles) {
      const c = { scenarioId: s.id, profile: p };
      if (s.expected[p] !== undefined && creditsDefence(s, p) && ran.has(key(c))) out.push(c);
    }
  }
  return out;
}

/** The credited cells one defence runs: those in the profiles where it is active. */
export function cellsForDefence(defence: Pick<DefenceSpec, 'profiles'>, credited: readonly CellRef[]): CellRef[] {
  return credited.filter((c) => (defence.profiles as readonly string[]).includes(c.profile));
}

/** The defences that act in at least one of `profiles` (the others have nothing to run). */
export function defencesFor(profiles: readonly MatrixProfile[], defences: readonly DefenceSpec[] = DEFENCES): DefenceSpec[] {
  return defences.filter((d) => d.profiles.some((p) => (profiles as readonly string[]).includes(p)));
}

/** What one ablated cell changed against its baseline: the differing compared fields, or its harness error. */
export function cellFlips(baseline: MatrixResult, ablated: MatrixResult): { flips: AblationFlip[] } | { error: AblationError } {
  const c = { scenarioId: ablated.scenarioId, profile: ablated.profile };
  if (ablated.actual === null) return { error: { ...c, error: ablated.error ?? 'the executor returned no outcome' } };
  if (baseline.actual === null) return { error: { ...c, error: `the baseline cell has no outcome: ${baseline.error ?? 'unknown'}` } };
  const a = ablated.actual;
  const b = baseline.actual;
  return { flips: OUTCOME_FIELDS.filter((f) => a[f] !== b[f]).map((f) => ({ ...c, field: f, from: b[f], to: a[f] })) };
}

/** One defence's report line from its ablated results. */
export function defenceAblation(defence: Pick<DefenceSpec, 'id' | 'description'>, baseline: Matrix, ablated: readonly MatrixResult[]): DefenceAblation {
  const base = new Map(baseline.results.map((r) => [key(r), r]));
  const flipped: AblationFlip[] = [];
  const errors: AblationError[] = [];
  for (const r of ablated) {
    const b = base.get(key(r));
    const out = b ? cellFlips(b, r) : { error: { scenarioId: r.scenarioId, profile: r.profile, error: 'no baseline cell' } };
    if ('error' in out) errors.push(out.error);
    else flipped.push(...out.flips);
  }
  return { id: defence.id, description: defence.description, flipped, ...(errors.length > 0 ? { errors } : {}) };
}

/**
 * Credited cells that no defence flipped. A cell with an errored ablation and no flip is left out: it is
 * undetermined, and the run exits 3 for the error.
 */
export function notFalsifiable(credited: readonly CellRef[], defences: readonly DefenceAblation[]): CellRef[] {
  const flipped = new Set(defences.flatMap((d) => d.flipped.map(key)));
  const errored = new Set(defences.flatMap((d) => (d.errors ?? []).map(key)));
  return credited.filter((c) => !flipped.has(key(c)) && !errored.has(key(c)));
}

/** Defences of the report that flipped no cell. */
export function deadDefences(report: Pick<AblationReport, 'defences'>): string[] {
  return report.defences.filter((d) => d.flipped.length === 0).map((d) => d.id);
}

/**
 * Exit code of `ssmax run --ablate`: 3 when a baseline or ablated cell hit a harness error; else 1 when
 * the baseline differs from its expectations, a credited cell is not falsifiable or a defence flips
 * nothing; else 0.
 */
export function ablationExitCode(baseline: Matrix, report: AblationReport): 0 | 1 | 3 {
  if (baseline.results.some((r) => r.error !== undefined) || report.defences.some((d) => (d.errors ?? []).length > 0)) return 3;
  if (!baseline.results.every((r) => r.pass)) return 1;
  return report.notFalsifiable.length > 0 || deadDefences(report).length > 0 ? 1 : 0;
}

export interface RunAblationOptions {
  readonly scenarios: readonly LoadedScenario[];
  readonly profiles: readonly MatrixProfile[];
  /** The normal matrix of the same scenarios, profiles, seed and clock. */
  readonly baseline: Matrix;
  /** An executor whose worlds run with this one defence switched off; closed after its cells. */
  readonly executorFor: (defence: DefenceSpec) => CellExecutor | Promise<CellExecutor>;
  readonly seed: number;
  readonly clockStart: Date;
  readonly meta: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'>;
  /** Default: every row of defences.ts. */
  readonly defences?: readonly DefenceSpec[];
  readonly now?: () => Date;
  readonly log?: (line: string) => void;
  /** Called before a defence's cells run. */
  readonly onDefence?: (defence: DefenceSpec, cells: number) => void;
  readonly onCell?: (defence: DefenceSpec, result: MatrixResult, index: number, total: number) => void;
}

export interface AblationRun {
  readonly report: AblationReport;
  /** Defences active in none of the selected profiles: not run, not in the report. */
  readonly skipped: readonly string[];
  /** Ablated cells run in all. */
  readonly cells: number;
}

/** Keeps only `cells` of the scenarios (the other profiles' expectations dropped), for runMatrix. */
function restrict(scenarios: readonly LoadedScenario[], cells: readonly CellRef[]): LoadedScenario[] {
  const want = new Set(cells.map(key));
  return scenarios.flatMap((l) => {
    const expected = Object.fromEntries(
      Object.entries(l.scenario.expected).filter(([p]) => want.has(key({ scenarioId: l.scenario.id, profile: p as MatrixProfile }))),
    );
    return Object.keys(expected).length > 0 ? [{ ...l, scenario: { ...l.scenario, expected } }] : [];
  });
}

/**
 * Runs every defence's credited cells with that defence switched off (one executor per defence, cells
 * with the baseline's per-cell seeds) and builds ablation.json. Executor faults in a cell are errors in
 * the report, never flips.
 */
export async function runAblation(o: RunAblationOptions): Promise<AblationRun> {
  const now = o.now ?? (() => new Date());
  const t0 = now().getTime();
  const all = o.defences ?? DEFENCES;
  const active = defencesFor(o.profiles, all);
  const credited = creditedCells(o.scenarios, o.profiles, o.baseline);
  const lines: DefenceAblation[] = [];
  let cells = 0;
  for (const d of active) {
    const mine = cellsForDefence(d, credited);
    o.onDefence?.(d, mine.length);
    if (mine.length === 0) {
      lines.push({ id: d.id, description: d.description, flipped: [] });
      continue;
    }
    const executor = await o.executorFor(d);
    let m: Matrix;
    try {
      m = await runMatrix({
        scenarios: restrict(o.scenarios, mine),
        profiles: o.profiles,
        executor,
        seed: o.seed,
        clockStart: o.clockStart,
        now,
        meta: o.meta,
        ...(o.log ? { log: (l: string) => o.log!(`[${d.id}] ${l}`) } : {}),
        ...(o.onCell ? { onCell: (r: MatrixResult, i: number, n: number) => o.onCell!(d, r, i, n) } : {}),
      });
    } finally {
      await executor.close?.();
    }
    cells += m.results.length;
    lines.push(defenceAblation(d, o.baseline, m.results));
  }
  const report: AblationReport = {
    defences: lines,
    notFalsifiable: notFalsifiable(credited, lines),
    durationMs: o.baseline.meta.durationMs + (now().getTime() - t0),
  };
  return { report, skipped: all.filter((d) => !active.includes(d)).map((d) => d.id), cells };
}

/** Human-readable summary for the terminal. */
export function formatAblation(run: AblationRun): string {
  const r = run.report;
  const out: string[] = ['', 'Falsifiability (ablation):'];
  for (const d of r.defences) {
    const cellsFlipped = new Set(d.flipped.map(key)).size;
    out.push(
      `  ${d.flipped.length === 0 ? '✗' : '✓'} ${d.id.padEnd(28)} ${cellsFlipped} cell(s) flipped${d.errors?.length ? `, ${d.errors.length} error(s)` : ''}`,
    );
    for (const e of d.errors ?? []) out.push(`      error ${e.scenarioId} [${e.profile}]: ${e.error}`);
  }
  if (run.skipped.length > 0) out.push(`  not run (active in none of the selected profiles): ${run.skipped.join(', ')}`);
  const dead = deadDefences(r);
  if (dead.length > 0) out.push(`Defences that flip nothing (${dead.length}): ${dead.join(', ')}`);
  if (r.notFalsifiable.length > 0) {
    out.push(`Not falsifiable (${r.notFalsifiable.length}): credited cells no ablation flipped:`);
    for (const c of r.notFalsifiable) out.push(`  ${c.scenarioId} [${c.profile}]`);
  }
  if (dead.length === 0 && r.notFalsifiable.length === 0) out.push('Every credited cell flips under some ablation, and every defence flips a cell.');
  out.push(`${run.cells} ablated cell(s); run time ${(r.durationMs / 1000).toFixed(1)} s (baseline included).`);
  return `${out.join('\n')}\n`;
}
