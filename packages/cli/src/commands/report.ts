/**
 * `ssmax report merge DIR… [--out DIR] [--compare OLD.json] [--scenarios PATH…]`: joins the reports of the
 * shards of one run (`ssmax run --shard K/N`; each DIR holds a shard's matrix.json, or is that file) into
 * the matrix.json, junit.xml and matrix.html the whole run writes (runner/shard.ts `mergeShards`).
 * Exit codes as `ssmax run`'s: 0 every cell as expected, 1 a mismatch, 2 usage (reports that are not the
 * shards of one run, a cell in two reports or in none), 3 infrastructure (a cell the harness could not
 * run, a report that cannot be written).
 */
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import {
  BUNDLED_SCENARIOS,
  REPO_ROOT,
  compareMatrices,
  formatChanges,
  formatMatrixTable,
  loadScenarios,
  matrixExitCode,
  mergeShards,
  readMatrix,
  scenariosOfSet,
  writeReport,
  type LoadedScenario,
  type Matrix,
  type ShardReport,
} from '@ssmax/world';
import { many, one, parseArgs } from '../args.js';

export interface ReportIo {
  readonly stdout: { write(s: string): void };
  readonly stderr: { write(s: string): void };
}

export const REPORT_USAGE = `usage: ssmax report merge DIR… [--out DIR] [--compare OLD.json] [--scenarios PATH…]
  DIR…          the shards' report folders (or their matrix.json), one per shard of one run
                (\`ssmax run --shard K/N\`: same commit, seed, clock start, profiles and scenarios)
  --out DIR     where the merged matrix.json, junit.xml and matrix.html go (default: reports/latest/)
  --compare F   list the cells whose actual outcome differs from an earlier matrix.json
  --scenarios P the scenario files or folders the shards ran (default: the bundled scenarios/); used for
                matrix.html's titles and descriptions and to name missing cells, when they are the same
exit: 0 all cells as expected · 1 a mismatch · 2 usage, or reports that are not the shards of one run
      (a differing meta field, a cell in two reports or in none: all named) · 3 infrastructure
`;

const defaultIo: ReportIo = {
  stdout: { write: (s) => void process.stdout.write(s) },
  stderr: { write: (s) => void process.stderr.write(s) },
};

/** Reads one shard's matrix.json, given its folder or the file. */
function readShard(arg: string): ShardReport {
  let path = resolve(arg);
  let text: string;
  try {
    if (statSync(path).isDirectory()) path = join(path, 'matrix.json');
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read the shard report ${arg}. ${(cause as Error).message}`, { cause });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw new SsmaxError('USAGE', `Cannot read the shard report ${path}. It is not JSON: ${(cause as Error).message}`, { cause });
  }
  const m = data as Partial<Matrix> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.results) || typeof m.meta !== 'object' || m.meta === null)
    throw new SsmaxError('USAGE', `Cannot read the shard report ${path}. It is not a matrix.json (no meta and results).`);
  return { source: arg, matrix: m as Matrix };
}

/** `ssmax report <subcommand>`; returns the exit code. Never throws: errors go to stderr as 2 or 3. */
export async function runReportCommand(argv: string[], io: ReportIo = defaultIo): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === 'help') {
      io.stdout.write(REPORT_USAGE);
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'merge') throw new SsmaxError('USAGE', `Cannot run "ssmax report ${sub}". Unknown subcommand (there is only merge).`);
    const args = parseArgs(rest, { values: ['out', 'compare', 'scenarios'], flags: ['help'] });
    if (args.flags.has('help')) {
      io.stdout.write(REPORT_USAGE);
      return 0;
    }
    if (args.positionals.length === 0) throw new SsmaxError('USAGE', 'Cannot merge reports. No shard report folder was given.');
    const outDir = resolve(one(args, 'out') ?? resolve(REPO_ROOT, 'reports/latest'));
    const comparePath = one(args, 'compare');
    const previous = comparePath === undefined ? undefined : readMatrix(comparePath);
    const parts = args.positionals.map(readShard);
    const scenarioPaths = many(args, 'scenarios');
    const loaded = loadScenarios(scenarioPaths.length > 0 ? scenarioPaths : [BUNDLED_SCENARIOS]);
    const merged = mergeShards(parts, { scenarios: loaded });
    // The page's titles, descriptions and omission reasons come from the scenario files, so only from the same ones.
    const same = merged.meta.scenarioSet && scenariosOfSet(loaded, merged.meta.scenarioSet);
    if (!same)
      io.stderr.write(
        `ssmax report merge: the scenarios in ${scenarioPaths.join(', ') || 'scenarios/'} are not the ones the shards ran; matrix.html shows titles only (--scenarios names the right ones)\n`,
      );
    const scenarios: readonly LoadedScenario[] = same || [];
    const paths = writeReport(outDir, merged, scenarios);
    const shards = merged.meta.shards ?? [];
    io.stdout.write(formatMatrixTable(merged));
    if (previous !== undefined) io.stdout.write(formatChanges(compareMatrices(previous, merged)));
    io.stdout.write(
      `merged ${shards.length} shards: ${merged.results.length} cells; longest shard ${Math.round(Math.max(...shards.map((s) => s.durationMs)) / 1000)} s, first start to last end ${Math.round(merged.meta.durationMs / 1000)} s\n`,
    );
    io.stdout.write(`report: ${paths.json}\n        ${paths.junit}\n        ${paths.html}\n`);
    return matrixExitCode(merged);
  } catch (err) {
    const usage = err instanceof SsmaxError && (err.category === 'usage' || err.category === 'malformed');
    const code = err instanceof SsmaxError ? err.code : 'INTERNAL';
    io.stderr.write(`ssmax report: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof SsmaxError && err.code === 'USAGE' && /Unknown (option|subcommand)|needs a value|takes no value|No shard report/.test(err.message))
      io.stderr.write(REPORT_USAGE);
    return usage ? 2 : 3;
  }
}
