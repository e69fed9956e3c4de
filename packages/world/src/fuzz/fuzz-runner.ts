/**
 * `npm run fuzz`: every target in turn, each for its share of a time budget or for a number of cases. The parser
 * targets run in a worker thread (parser-runner.ts), the servers in a child process (fuzz-host.ts) the cases reach
 * over loopback; a server that stops answering is replaced and the case counted as a crash.
 */
import { execFileSync } from 'node:child_process';
import { caseStream } from './case-stream.js';
import { FuzzHost } from './fuzz-host-client.js';
import type { HostReady } from './fuzz-host.js';
import { httpCases, registryAnswers, runHttpCase, type HttpCase } from './http-target.js';
import { HANG_MS, TargetTally, type CaseResult, type TargetResult } from './outcome.js';
import { ParserRunner } from './parser-runner.js';
import { PARSER_TARGET_RUNS } from './parser-targets.js';
import { runSmtpCase, smtpAnswers, smtpCaseBytes, smtpCases, type SmtpCase } from './smtp-target.js';
import type fc from 'fast-check';

/** A server target: its cases (from what the host captured), one case, and the liveness probe. */
interface ServerTarget<T> {
  readonly name: string;
  cases(ready: HostReady): fc.Arbitrary<T>;
  run(host: FuzzHost, value: T): Promise<CaseResult>;
  bytes(value: T): Uint8Array;
  answers(ready: HostReady): Promise<boolean>;
}

const smtpTarget: ServerTarget<SmtpCase> = {
  name: 'smtp-mx',
  cases: smtpCases,
  run: (host, c) => runSmtpCase(host.ready, c),
  bytes: smtpCaseBytes,
  answers: smtpAnswers,
};

const httpTarget: ServerTarget<HttpCase> = {
  name: 'registry-http',
  cases: httpCases,
  run: (host, c) => {
    host.takeRegistryErrors();
    return runHttpCase(host.ready, c, async () => {
      // The registry notices a closed connection, fails, logs and sends the line over IPC: a moment for all that.
      await new Promise((r) => setTimeout(r, 15));
      return host.takeRegistryErrors();
    });
  },
  bytes: (c) => c.raw,
  answers: registryAnswers,
};

const SERVER_TARGETS = [smtpTarget, httpTarget] as const;

/**
 * Every target with its case count in a default run (no --budget), together above issue 11's 100,000, and its
 * weight in a budget run (a server session costs a hundred times a parser call, so servers get a larger share).
 */
export const FUZZ_TARGETS: readonly {
  readonly name: string;
  readonly kind: 'parser' | 'server';
  readonly defaultCases: number;
  readonly budgetWeight: number;
}[] = [
  ...PARSER_TARGET_RUNS.map((t) => ({ ...t, kind: 'parser' as const })),
  { name: 'smtp-mx', kind: 'server', defaultCases: 1_200, budgetWeight: 4 },
  { name: 'registry-http', kind: 'server', defaultCases: 4_000, budgetWeight: 2 },
];

export interface FuzzOptions {
  readonly seed: number;
  /** Total time for all selected targets, split by their weights; without it each target runs its case count. */
  readonly budgetMs?: number;
  /** Cases per target, overriding the defaults (ignored with a budget). */
  readonly cases?: number;
  readonly targets: readonly string[];
  readonly log: (line: string) => void;
}

export interface FuzzResults {
  readonly meta: {
    readonly startedAt: string;
    readonly seed: number;
    readonly budgetMs: number | null;
    readonly mode: 'budget' | 'cases';
    readonly node: string;
    readonly commit: string;
    readonly durationMs: number;
    /** Time to start the server host and capture its seeds (not part of any target's share). */
    readonly setupMs: number;
  };
  readonly targets: readonly TargetResult[];
  readonly totals: { readonly cases: number; readonly crashes: number; readonly hangs: number; readonly untypedErrors: number; readonly violations: number };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

async function runServerTarget<T>(
  t: ServerTarget<T>,
  seed: number,
  hostRef: { host: FuzzHost },
  more: (tally: TargetTally) => boolean,
  tally: TargetTally,
  log: (line: string) => void,
): Promise<void> {
  for (const { index, value } of caseStream(t.cases(hostRef.host.ready), seed, t.name)) {
    if (!more(tally)) break;
    if (!hostRef.host.alive) hostRef.host = await restart(hostRef.host, seed, log);
    let r = await t.run(hostRef.host, value);
    if (r.outcome === 'hang' && hostRef.host.alive && (await t.answers(hostRef.host.ready))) {
      // As for parsers: a session slowed past 2 s by a load spike counts as a hang only when it happens again.
      const again = await t.run(hostRef.host, value);
      r = again.outcome === 'hang' ? { ...again, detail: `no answer within ${HANG_MS} ms twice: ${again.detail ?? ''}` } : { ...again, retriedAfterMs: r.ms };
    }
    if (!hostRef.host.alive) {
      const cause = hostRef.host.deathCause;
      r = { ...r, outcome: 'crash', errorType: cause.name, detail: cause.message };
    } else if ((r.outcome === 'hang' || r.outcome === 'crash') && !(await t.answers(hostRef.host.ready))) {
      r = { ...r, outcome: 'crash', errorType: 'NotAnswering', detail: `the server stopped answering after this case (${r.detail ?? r.outcome})` };
      hostRef.host = await restart(hostRef.host, seed, log);
    }
    tally.add(index, r, () => t.bytes(value));
  }
}

async function restart(old: FuzzHost, seed: number, log: (line: string) => void): Promise<FuzzHost> {
  log(`[fuzz] the server host died or stopped answering (${old.deathCause.name}); starting a new one`);
  await old.close();
  return FuzzHost.start(seed);
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzResults> {
  const startedAt = new Date();
  const t0 = performance.now();
  const selected = FUZZ_TARGETS.filter((t) => o.targets.includes(t.name));
  o.log(`[fuzz] seed ${o.seed}; ${selected.length} targets; ${o.budgetMs !== undefined ? `budget ${Math.round(o.budgetMs / 1000)} s` : 'case counts'}`);
  o.log('[fuzz] starting the server host (world with org-a and org-b, fuzz registry) and capturing seeds');
  const hostRef = { host: await FuzzHost.start(o.seed) };
  const setupMs = Math.round(performance.now() - t0);
  const parsers = new ParserRunner(o.seed, hostRef.host.ready.seeds);
  const results: TargetResult[] = [];
  try {
    // The worker builds its corpus before any target's time starts.
    if (selected.some((t) => t.kind === 'parser')) await parsers.start();
    const weights = selected.reduce((n, t) => n + t.budgetWeight, 0);
    for (const target of selected) {
      const tally = new TargetTally(target.name);
      const started = Date.now();
      const share = o.budgetMs !== undefined ? (o.budgetMs * target.budgetWeight) / weights : undefined;
      const deadline = share !== undefined ? started + share : undefined;
      const cases = share === undefined ? (o.cases ?? target.defaultCases) : undefined;
      const progress = setInterval(() => o.log(`[fuzz] ${target.name}: ${tally.cases} cases so far`), 30_000);
      try {
        if (target.kind === 'parser')
          await parsers.run(target.name, { ...(cases !== undefined ? { cases } : {}), ...(deadline !== undefined ? { deadline } : {}) }, tally);
        else {
          const server = SERVER_TARGETS.find((s) => s.name === target.name)!;
          const more = (t: TargetTally) => (cases === undefined || t.cases < cases) && (deadline === undefined || Date.now() < deadline);
          await runServerTarget(server as ServerTarget<unknown>, o.seed, hostRef, more, tally, o.log);
        }
      } finally {
        clearInterval(progress);
      }
      const r = tally.result();
      results.push(r);
      o.log(
        `[fuzz] ${r.name}: ${r.cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, ${r.crashes} crashes, ${r.hangs} hangs, ${r.untypedErrors} untyped, slowest ${r.slowest_ms} ms`,
      );
    }
  } finally {
    await parsers.close();
    await hostRef.host.close();
  }
  const sum = (f: (r: TargetResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    meta: {
      startedAt: startedAt.toISOString(),
      seed: o.seed,
      budgetMs: o.budgetMs ?? null,
      mode: o.budgetMs !== undefined ? 'budget' : 'cases',
      node: process.version,
      commit: commit(),
      durationMs: Math.round(performance.now() - t0),
      setupMs,
    },
    targets: results,
    totals: {
      cases: sum((r) => r.cases),
      crashes: sum((r) => r.crashes),
      hangs: sum((r) => r.hangs),
      untypedErrors: sum((r) => r.untypedErrors),
      violations: sum((r) => r.violations),
    },
  };
}
