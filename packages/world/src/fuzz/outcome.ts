/**
 * What one fuzz case came to, and the per-target tally the results file is made of. The rule for an error is
 * core's {@link isAllowedFailure} (a malformed or verdict code, or an unsupported algorithm or content type) plus
 * any SimOrgError, the sim packages' typed error; everything else thrown (a TypeError, a RangeError, an SsmaxError
 * with a usage or internal code) is an untyped error and fails the run.
 */
import { SsmaxError } from '@ssmax/core';
import { MAX_MS_PER_CASE, isAllowedFailure } from '@ssmax/core/fuzz';
import { SimOrgError } from '@ssmax/sim-org';

/** A case slower than this, or never answered, is a hang (issue 11: "0 hangs (> 2 s)"); core's property tests use the same bound. */
export const HANG_MS = MAX_MS_PER_CASE;

export const CaseOutcomes = ['ok', 'typed', 'untyped', 'hang', 'crash'] as const;
export type CaseOutcome = (typeof CaseOutcomes)[number];

export interface CaseResult {
  readonly outcome: CaseOutcome;
  readonly ms: number;
  /** Depth marks the case reached (e.g. `content-info`, `data`): how far past the outer framing the input got. */
  readonly reached: readonly string[];
  /** Untyped and crash outcomes: the error's constructor name (or the server's reply/status naming it). */
  readonly errorType?: string;
  readonly detail?: string;
  /** A broken protocol promise the case observed (e.g. an SMTP message accepted that the client never ended). */
  readonly violation?: string;
  /** The first run took this long (over the hang bound); the figures are the second run's, which did not. */
  readonly retriedAfterMs?: number;
}

/** How an error thrown by an entry point counts: a typed outcome, or an untyped one named by its constructor. */
export function classifyError(e: unknown): { readonly typed: true } | { readonly typed: false; readonly errorType: string } {
  if (isAllowedFailure(e) || e instanceof SimOrgError) return { typed: true };
  if (e instanceof SsmaxError) return { typed: false, errorType: `SsmaxError(${e.code})` };
  const ctor: unknown = typeof e === 'object' && e !== null ? (e as { constructor?: unknown }).constructor : undefined;
  return { typed: false, errorType: typeof ctor === 'function' && ctor.name ? ctor.name : typeof e };
}

/**
 * One case's calls into its entry points. {@link step} runs one call: a typed error is noted and the case goes on
 * to its next call, an untyped one propagates and ends the case.
 */
export class CaseProbe {
  typedSeen = false;
  /** The code of the last typed error a step saw (SsmaxError or SimOrgError), for depth marks. */
  lastCode: string | undefined;
  readonly reached = new Set<string>();

  async step<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      if (classifyError(e).typed) {
        this.typedSeen = true;
        this.lastCode = (e as { code?: string }).code;
        return undefined;
      }
      throw e;
    }
  }

  mark(...labels: string[]): void {
    for (const l of labels) this.reached.add(l);
  }
}

/** A failing case kept for a regression test: its index, what happened, and the input (base64, capped). */
export interface Finding {
  readonly case: number;
  readonly outcome: CaseOutcome | 'violation';
  readonly errorType?: string;
  readonly detail?: string;
  readonly inputBytes: number;
  readonly inputBase64: string;
}

const MAX_FINDINGS = 8;
const MAX_FINDING_BYTES = 64 * 1024;

/** Per-target figures as written to fuzz/results/<date>.json. */
export interface TargetResult {
  readonly name: string;
  readonly cases: number;
  readonly crashes: number;
  readonly hangs: number;
  readonly slowest_ms: number;
  readonly uncaughtErrorTypes: readonly string[];
  readonly ok: number;
  readonly typedErrors: number;
  readonly untypedErrors: number;
  readonly violations: number;
  /** Cases over the hang bound once and under it when run again (a load spike, not a hang), with the longest first run. */
  readonly slowOnce: { readonly cases: number; readonly longest_ms: number };
  readonly reached: Readonly<Record<string, number>>;
  readonly maxHeapMb?: number;
  readonly findings: readonly Finding[];
}

export class TargetTally {
  cases = 0;
  readonly counts: Record<CaseOutcome, number> = { ok: 0, typed: 0, untyped: 0, hang: 0, crash: 0 };
  violations = 0;
  slowestMs = 0;
  slowOnce = 0;
  slowOnceLongestMs = 0;
  maxHeapMb: number | undefined;
  readonly errorTypes = new Set<string>();
  readonly reached = new Map<string, number>();
  readonly findings: Finding[] = [];

  constructor(readonly name: string) {}

  add(index: number, r: CaseResult, input: () => Uint8Array | undefined): void {
    this.cases++;
    this.counts[r.outcome]++;
    this.slowestMs = Math.max(this.slowestMs, r.ms);
    for (const l of r.reached) this.reached.set(l, (this.reached.get(l) ?? 0) + 1);
    if (r.errorType !== undefined && (r.outcome === 'untyped' || r.outcome === 'crash')) this.errorTypes.add(r.errorType);
    if (r.violation !== undefined) this.violations++;
    if (r.retriedAfterMs !== undefined) {
      this.slowOnce++;
      this.slowOnceLongestMs = Math.max(this.slowOnceLongestMs, r.retriedAfterMs);
    }
    const failed = r.outcome === 'untyped' || r.outcome === 'crash' || r.outcome === 'hang' || r.violation !== undefined;
    if (failed && this.findings.length < MAX_FINDINGS) {
      const bytes = input() ?? new Uint8Array(0);
      this.findings.push({
        case: index,
        outcome: r.violation !== undefined && r.outcome !== 'untyped' && r.outcome !== 'crash' && r.outcome !== 'hang' ? 'violation' : r.outcome,
        ...(r.errorType !== undefined ? { errorType: r.errorType } : {}),
        ...(r.detail !== undefined || r.violation !== undefined ? { detail: [r.violation, r.detail].filter(Boolean).join('; ').slice(0, 500) } : {}),
        inputBytes: bytes.byteLength,
        inputBase64: Buffer.from(bytes.subarray(0, MAX_FINDING_BYTES)).toString('base64'),
      });
    }
  }

  get failures(): number {
    return this.counts.crash + this.counts.hang + this.counts.untyped + this.violations;
  }

  result(): TargetResult {
    return {
      name: this.name,
      cases: this.cases,
      crashes: this.counts.crash,
      hangs: this.counts.hang,
      slowest_ms: Math.round(this.slowestMs * 10) / 10,
      uncaughtErrorTypes: [...this.errorTypes].sort(),
      ok: this.counts.ok,
      typedErrors: this.counts.typed,
      untypedErrors: this.counts.untyped,
      violations: this.violations,
      slowOnce: { cases: this.slowOnce, longest_ms: Math.round(this.slowOnceLongestMs) },
      reached: Object.fromEntries([...this.reached].sort(([a], [b]) => a.localeCompare(b))),
      ...(this.maxHeapMb !== undefined ? { maxHeapMb: this.maxHeapMb } : {}),
      findings: this.findings,
    };
  }
}
