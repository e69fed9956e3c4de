/** The seven defence profiles (columns of the matrix); see scenarios/README.md. */
export const MATRIX_PROFILES = ['plain-ppap', 'best-practice', 'smime-e2e', 'ssmax-paper', 'ssmax-org', 'ssmax-esp-out', 'ssmax-esp-in', 'ssmax-plus'] as const;
export type MatrixProfile = (typeof MATRIX_PROFILES)[number];

export type Verdict = 'delivered' | 'flagged' | 'blocked' | 'not-sent';
export type Leak = 'none' | 'metadata' | 'body' | 'files';
export type Traced = 'none' | 'org' | 'sender' | 'sender-revoked';
export type IdentityShown = 'none' | 'unverified' | 'domain-authenticated' | 'signature-valid' | 'identity-proofed';

/** What a cell produced (or is expected to produce). These five fields are compared. */
export interface Outcome {
  readonly verdict: Verdict;
  readonly leaked: Leak;
  readonly malwareReached: boolean;
  readonly traced: Traced;
  readonly identityShown: IdentityShown;
}

/** Fields of {@link Outcome} compared between expected and actual (`reason` is for readers only). */
export const OUTCOME_FIELDS = ['verdict', 'leaked', 'malwareReached', 'traced', 'identityShown'] as const satisfies readonly (keyof Outcome)[];

export interface ExpectedCell extends Outcome {
  readonly reason: string;
}

/** One hop of a mail's journey, as the HTML report draws it. */
export interface JourneyEvent {
  readonly messageId: string;
  /** "<org id>/<service>", e.g. "org-a/msa", or "attacker/on-path". */
  readonly actor: string;
  /** SSMAX procedure number (paper §6); 0 for a hop outside SSMAX. */
  readonly procedure: number;
  readonly at: string;
  readonly checks: readonly { readonly name: string; readonly result: 'pass' | 'fail' | 'skip'; readonly detail?: string }[];
  /** Whether the files were readable at this hop. */
  readonly payload: 'plaintext' | 'ciphertext' | 'none';
  readonly note?: string;
  /** What the hop did with the mail, when known (accepted, rejected, relayed, delivered, …). */
  readonly outcome?: string;
}

/** A scenario as loaded from its file (the schema in scenarios/scenario.schema.json holds the full shape). */
export interface Scenario {
  readonly v: 1;
  readonly id: string;
  readonly title: string;
  readonly source: { readonly ppapIncident?: number; readonly pattern?: 'A' | 'B' | 'C'; readonly other?: string };
  readonly description: string;
  readonly expected: Partial<Record<MatrixProfile, ExpectedCell>>;
  readonly omitted?: Partial<Record<MatrixProfile, string>>;
  readonly [field: string]: unknown;
}

export interface LoadedScenario {
  /** Path as given on the command line (or found under a given folder), for reports. */
  readonly file: string;
  readonly scenario: Scenario;
}

/** What an executor gets for one cell: a per-cell seed, the run's clock and a log line sink. */
export interface CellContext {
  readonly seed: number;
  readonly clock: () => Date;
  readonly log: (line: string) => void;
}

/** Who implements each actor, by org id: `builtin`, or an outside implementation's name (docs/IMPLEMENTING.md). */
export type Implementations = Readonly<Record<string, string>>;

export interface CellRun {
  /** null only with {@link notObservable}. */
  readonly actual: Outcome | null;
  readonly events: readonly JourneyEvent[];
  /** The cell needs what only an in-process org gives: why it was not judged (never a guessed verdict). */
  readonly notObservable?: string;
  /** Who implemented each org of the world the cell ran in. */
  readonly implementations?: Implementations;
}

/**
 * Runs one scenario under one profile against a real world. Infrastructure faults throw (exit 3);
 * a detected attack is data in `actual`.
 */
export interface CellExecutor {
  run(scenario: Scenario, profile: MatrixProfile, ctx: CellContext): Promise<CellRun>;
  /** Releases worlds kept between cells. */
  close?(): Promise<void>;
}

export interface MatrixMeta {
  readonly commit: string;
  readonly node: string;
  /** `openssl version` in full (kept for readers of reports before `oracles`; the same version is in `oracles`). */
  readonly openssl: string;
  /**
   * The outside oracles' versions (openssl, gpgsm, dovecot, softhsm2, p11-kit, clamd, python3, node, docker, …;
   * core testing/oracle-versions.ts), "absent" for a missing one. Absent in reports written before issue 11.
   */
  readonly oracles?: Readonly<Record<string, string>>;
  readonly startedAt: string;
  readonly seed: number;
  /** The simulated clock's start, so a run can be repeated. */
  readonly clockStart: string;
  readonly profiles: readonly MatrixProfile[];
  /**
   * The run's wall time. A merged report (`shards`) gives the span from the first shard's start to the
   * last shard's end, so it includes any wait between the shards' starts; each shard's own time is in `shards`.
   */
  readonly durationMs: number;
  /** The scenarios the run loaded (absent in reports written before sharding): shards of one run must agree. */
  readonly scenarioSet?: ScenarioSet;
  /** Set when this report is one slice of a run (`ssmax run --shard K/N`). */
  readonly shard?: ShardMeta;
  /** Set when this report joins the slices of a run (`ssmax report merge`), ordered by k. */
  readonly shards?: readonly ShardTiming[];
  /** The world files the run used (`ssmax run --world FILE…`) and who implements each of their orgs; absent for the bundled matrix world. */
  readonly worlds?: readonly { readonly file: string; readonly implementations: Implementations }[];
}

/** The scenario set of a run: ids in load order (the order of rows and of the cell plan) and a digest of their contents. */
export interface ScenarioSet {
  readonly ids: readonly string[];
  /** "sha256:" + hex over each scenario's JSON in load order: equal only when every scenario's content is. */
  readonly digest: string;
}

/** Which slice of the run a shard report holds. */
export interface ShardMeta {
  /** 1-based index of this shard. */
  readonly k: number;
  readonly n: number;
  /** Cells of the whole run (all n shards). */
  readonly totalCells: number;
  /** This shard's cells, as `<scenarioId> [<profile>]`, in the order they ran. */
  readonly cells: readonly string[];
}

/** One shard of a merged report: when it started, how long it ran and how many cells it held. */
export interface ShardTiming {
  readonly k: number;
  readonly n: number;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly cells: number;
}

export interface MatrixResult {
  readonly scenarioId: string;
  readonly file: string;
  readonly title: string;
  readonly profile: MatrixProfile;
  readonly expected: ExpectedCell;
  /** null when the executor threw (then `error` says why). */
  readonly actual: Outcome | null;
  readonly pass: boolean;
  /** Compared fields that differ. */
  readonly mismatches: readonly (keyof Outcome)[];
  readonly events: readonly JourneyEvent[];
  readonly error?: string;
  /** Set when the cell was not judged for this implementation (actual null, pass false; not a failure of the run). */
  readonly notObservable?: string;
  /** Who implemented each org of the cell's world. */
  readonly implementations?: Implementations;
  readonly durationMs: number;
}

export interface Matrix {
  readonly meta: MatrixMeta;
  readonly results: readonly MatrixResult[];
}
