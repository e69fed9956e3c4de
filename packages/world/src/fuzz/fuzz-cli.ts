/**
 * `npm run fuzz [-- --budget 10m] [--seed N] [--target NAME]`: runs the fuzz targets, prints a table, writes
 * fuzz/results/<YYYY-MM-DD>.json at the repository root, and exits 1 when any case crashed, hung, threw an untyped
 * error or broke a protocol promise (2 for a usage error). See fuzz/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FUZZ_TARGETS, runFuzz, type FuzzResults } from './fuzz-runner.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const DEFAULT_SEED = 20261207;

const HELP = `Usage: npm run fuzz -- [options]

Drives every parser and server entry point of the test bed with generated and mutated inputs
(fast-check, structure-aware mutators seeded from a valid corpus made at start) and writes
fuzz/results/<YYYY-MM-DD>.json.

Options:
  --budget <time>    Total time for the selected targets, split by weight (e.g. 10m, 90s, 1h).
                     Without it, each target runs a fixed number of cases (below): a default
                     run is ${FUZZ_TARGETS.reduce((n, t) => n + t.defaultCases, 0).toLocaleString('en')} cases, the same inputs for the same seed.
  --cases <n>        Cases per target instead of the defaults (ignored with --budget).
  --seed <n>         Seed of every case stream (default ${DEFAULT_SEED}). The corpus keys are new each run.
  --target <name>    Only this target; repeat or comma-separate for several.
  --out <file>       Write the results here instead of fuzz/results/<date>.json.
  --help             This text.

Targets (default cases, budget weight):
${FUZZ_TARGETS.map((t) => `  ${t.name.padEnd(20)} ${t.kind.padEnd(7)} ${t.defaultCases.toLocaleString('en').padStart(6)}  ${t.budgetWeight}`).join('\n')}

A case is one call into a parser (in a worker thread) or one connection/request to a server (in a
child process): ok, a typed error, an untyped error (its constructor name is recorded), a hang
(> 2 s) or a crash. Exit code 1 when any case crashed, hung, threw an untyped error or broke a
protocol promise; 2 for a usage error; 3 when the harness itself failed (no results written).`;

class UsageError extends Error {}

function duration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new UsageError(`Cannot read the budget "${s}". Write it as 90s, 10m or 1h.`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

function integer(s: string | undefined, what: string): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new UsageError(`Cannot read ${what} "${s ?? ''}". It must be a non-negative integer.`);
  return Number(s);
}

interface Args {
  readonly budgetMs?: number;
  readonly cases?: number;
  readonly seed: number;
  readonly targets: readonly string[];
  readonly out?: string;
  readonly help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let budgetMs: number | undefined;
  let cases: number | undefined;
  let seed = DEFAULT_SEED;
  const targets: string[] = [];
  let out: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--budget':
        budgetMs = duration(value() ?? '');
        break;
      case '--cases':
        cases = integer(value(), 'the case count');
        break;
      case '--seed':
        seed = integer(value(), 'the seed');
        break;
      case '--target':
        targets.push(...(value() ?? '').split(',').filter(Boolean));
        break;
      case '--out':
        out = value();
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new UsageError(`Cannot read the argument "${argv[i]}". See --help.`);
    }
  }
  const known = FUZZ_TARGETS.map((t) => t.name);
  const unknown = targets.filter((t) => !known.includes(t));
  if (unknown.length > 0) throw new UsageError(`Cannot fuzz ${unknown.join(', ')}. The targets are: ${known.join(', ')}.`);
  return {
    ...(budgetMs !== undefined ? { budgetMs } : {}),
    ...(cases !== undefined ? { cases } : {}),
    seed,
    targets: targets.length > 0 ? targets : known,
    ...(out ? { out } : {}),
    help,
  };
}

/** The results as a terminal table, one row per target. */
function resultsTable(r: FuzzResults): string {
  const head = ['target', 'cases', 'ok', 'typed', 'untyped', 'crashes', 'hangs', 'violations', 'slowest ms', 'reached'];
  const rows = r.targets.map((t) => [
    t.name,
    String(t.cases),
    String(t.ok),
    String(t.typedErrors),
    String(t.untypedErrors),
    String(t.crashes),
    String(t.hangs),
    String(t.violations),
    t.slowest_ms.toFixed(1),
    Object.entries(t.reached)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ]);
  rows.push([
    'total',
    String(r.totals.cases),
    '',
    '',
    String(r.totals.untypedErrors),
    String(r.totals.crashes),
    String(r.totals.hangs),
    String(r.totals.violations),
    '',
    '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i === head.length - 1 ? 0 : row[i]!.length))));
  const fmt = (row: string[]) => row.map((c, i) => (i === 0 || i === head.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const errors = r.targets.filter((t) => t.uncaughtErrorTypes.length > 0).map((t) => `  ${t.name}: ${t.uncaughtErrorTypes.join(', ')}`);
  return [fmt(head), ...rows.map(fmt), ...(errors.length > 0 ? ['untyped error types:', ...errors] : [])].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let results: FuzzResults;
  try {
    results = await runFuzz({
      seed: args.seed,
      ...(args.budgetMs !== undefined ? { budgetMs: args.budgetMs } : {}),
      ...(args.cases !== undefined ? { cases: args.cases } : {}),
      targets: args.targets,
      log: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (e) {
    // The harness (worker, server host, corpus) failed: no results to judge, so no file and exit code 3.
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 3;
  }
  const out = args.out ? resolve(args.out) : join(REPO, 'fuzz', 'results', `${results.meta.startedAt.slice(0, 10)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${resultsTable(results)}\n\nresults: ${out}\n`);
  const t = results.totals;
  return t.crashes + t.hangs + t.untypedErrors + t.violations > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
// Everything is closed by now; should a stray handle remain, it must not keep a finished run alive.
setTimeout(() => process.exit(), 5000).unref();
