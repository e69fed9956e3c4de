/**
 * `ssmax conformance --world FILE [--report DIR] [--seed N] [--row ID…]`: the checklist an organisation
 * implementation is held to (docs/IMPLEMENTING.md §8; world/src/implementation/conformance.ts): one row per
 * duty ((4)-(9), (12), bad input at the MX and the MSA, durability of 250), decided by scenario cells under
 * ssmax-org in that world and by probes at the implementation's MX and MSA. Prints the table; with
 * --report writes junit.xml (one testcase per row), conformance.json and the cells' matrix.json/html.
 * Exit codes: 0 no row fails, 1 a row fails, 2 usage, 3 infrastructure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import {
  CONFORMANCE_ROWS,
  conformanceExitCode,
  environmentMeta,
  formatConformance,
  formatConformanceJunit,
  loadWorldConfig,
  runConformance,
  writeReport,
  type MatrixMeta,
} from '@ssmax/world';
import { many, one, parseArgs } from '../args.js';

export interface ConformanceIo {
  readonly stdout: { write(s: string): void };
  readonly stderr: { write(s: string): void };
  /** Overrides commit/node/openssl/oracles in meta (tests). */
  readonly meta?: Pick<MatrixMeta, 'commit' | 'node' | 'openssl' | 'oracles'>;
}

export const CONFORMANCE_USAGE = `usage: ssmax conformance --world FILE [--report DIR] [--seed N] [--row ID…]
  --world FILE  the world whose outside implementations (docs/IMPLEMENTING.md) are checked; with every
                org builtin, our own orgs are
  --report DIR  write junit.xml (one testcase per row), conformance.json and the cells' matrix.json/html
  --seed N      the run seed (default 20261207)
  --row ID      only these rows (${CONFORMANCE_ROWS.map((r) => r.id).join(', ')})
exit: 0 no row fails (not-observable and not-applicable rows are listed) · 1 a row fails · 2 usage · 3 infrastructure
`;

export async function runConformanceCommand(argv: readonly string[], io: ConformanceIo): Promise<number> {
  try {
    const args = parseArgs(argv, { values: ['world', 'report', 'seed', 'row'], flags: ['help'] });
    if (args.flags.has('help')) {
      io.stdout.write(CONFORMANCE_USAGE);
      return 0;
    }
    const file = one(args, 'world');
    if (file === undefined) throw new SsmaxError('USAGE', `Cannot run the conformance rows. --world FILE is required.\n${CONFORMANCE_USAGE}`);
    const seedArg = one(args, 'seed');
    if (seedArg !== undefined && (!/^\d+$/.test(seedArg) || Number(seedArg) > 2 ** 32 - 1))
      throw new SsmaxError('USAGE', `Cannot parse --seed ${seedArg}. It must be an integer from 0 to 4294967295.`);
    const rows = many(args, 'row');
    const unknown = rows.filter((r) => !CONFORMANCE_ROWS.some((x) => x.id === r));
    if (unknown.length > 0)
      throw new SsmaxError('USAGE', `Cannot select row(s) ${unknown.join(', ')}. Known: ${CONFORMANCE_ROWS.map((r) => r.id).join(', ')}.`);
    const world = await loadWorldConfig(file);
    io.stderr.write(`ssmax conformance: ${file}: ${world.orgs.map((o) => `${o.id} ${o.implementation?.kind ?? 'builtin'}`).join(', ')}\n`);
    const report = await runConformance({
      world,
      worldFile: file,
      ...(seedArg !== undefined ? { seed: Number(seedArg) } : {}),
      ...(rows.length > 0 ? { rows } : {}),
      meta: io.meta ?? environmentMeta(),
      log: (l) => io.stderr.write(`  ${l}\n`),
    });
    io.stdout.write(formatConformance(report));
    const dir = one(args, 'report');
    if (dir !== undefined) {
      const out = resolve(dir);
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'conformance.json'), JSON.stringify({ ...report, matrix: undefined }, null, 2) + '\n');
      const cells = writeReport(join(out, 'cells'), report.matrix, []);
      writeFileSync(join(out, 'junit.xml'), formatConformanceJunit(report));
      io.stdout.write(`report: ${join(out, 'junit.xml')}\n        ${join(out, 'conformance.json')}\n        ${cells.html}\n`);
    }
    return conformanceExitCode(report);
  } catch (err) {
    const usage = err instanceof SsmaxError && (err.category === 'usage' || err.category === 'malformed');
    io.stderr.write(`ssmax conformance: ${err instanceof SsmaxError ? err.code : 'INTERNAL'}: ${err instanceof Error ? err.message : String(err)}\n`);
    return usage ? 2 : 3;
  }
}
