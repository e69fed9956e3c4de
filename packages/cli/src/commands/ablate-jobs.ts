/**
 * `ssmax run --ablate --jobs N`: the ablated cells of different defences are independent, and a world is
 * bound to its process (SoftHSM2 reads its configuration once per process), so the defences are shared
 * out over N child processes of this same command (`--ablate-only IDS --baseline FILE`), each writing
 * its own ablation.json; the parent merges them and computes what no ablation flipped.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SsmaxError } from '@ssmax/core';
import {
  cellsForDefence,
  creditedCells,
  defencesFor,
  notFalsifiable,
  type AblationReport,
  type AblationRun,
  type DefenceAblation,
  type DefenceSpec,
  type LoadedScenario,
  type Matrix,
  type MatrixProfile,
} from '@ssmax/world';

export interface AblationJobsOptions {
  readonly jobs: number;
  readonly scenarios: readonly LoadedScenario[];
  readonly scenarioArgs: readonly string[];
  readonly profiles: readonly MatrixProfile[];
  readonly defences: readonly DefenceSpec[];
  readonly baseline: Matrix;
  /** Where the baseline matrix.json was written (the children read it). */
  readonly baselinePath: string;
  readonly seed: number;
  readonly clockStart: Date;
  readonly reportDir: string;
  readonly stderr: { write(s: string): void };
  readonly now: () => Date;
}

/** Shares defences out over `jobs` groups, largest first onto the lightest group (by credited cells). */
export function shareOut<T>(items: readonly { item: T; weight: number }[], jobs: number): T[][] {
  const groups = Array.from({ length: Math.max(1, jobs) }, () => ({ items: [] as T[], weight: 0 }));
  for (const x of [...items].sort((a, b) => b.weight - a.weight)) {
    const g = groups.reduce((a, b) => (b.weight < a.weight ? b : a));
    g.items.push(x.item);
    g.weight += x.weight;
  }
  return groups.map((g) => g.items).filter((g) => g.length > 0);
}

/** Runs the ablation in child processes and merges their reports (in the table's order of defences). */
export async function runAblationJobs(o: AblationJobsOptions): Promise<AblationRun> {
  const t0 = o.now().getTime();
  const active = defencesFor(o.profiles, o.defences);
  const credited = creditedCells(o.scenarios, o.profiles, o.baseline);
  const groups = shareOut(
    active.map((d) => ({ item: d, weight: cellsForDefence(d, credited).length })),
    o.jobs,
  );
  const bin = process.argv[1];
  if (!bin) throw new SsmaxError('INTERNAL', 'Cannot start ablation jobs. This process has no script path to start again.');
  const results = await Promise.all(
    groups.map((g, k) => {
      const dir = join(o.reportDir, `job-${k + 1}`);
      const args = [
        bin,
        'run',
        ...o.scenarioArgs,
        '--profile',
        o.profiles.join(','),
        '--seed',
        String(o.seed),
        '--clock-start',
        o.clockStart.toISOString(),
        '--ablate',
        '--ablate-only',
        g.map((d) => d.id).join(','),
        '--baseline',
        o.baselinePath,
        '--report',
        dir,
      ];
      return new Promise<{ dir: string; code: number; ids: string[] }>((resolveJob, reject) => {
        const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let rest = '';
        child.stderr.on('data', (c: Buffer) => {
          const lines = (rest + c.toString()).split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) o.stderr.write(`[job ${k + 1}] ${l}\n`);
        });
        child.on('error', reject);
        child.on('close', (code) => resolveJob({ dir, code: code ?? 3, ids: g.map((d) => d.id) }));
      });
    }),
  );
  const lines: DefenceAblation[] = [];
  let cells = 0;
  for (const r of results) {
    if (r.code === 2) throw new SsmaxError('USAGE', `Cannot run ablation job for ${r.ids.join(', ')}. It exited 2 (see its output above).`);
    let part: AblationReport & { cells?: number };
    try {
      part = JSON.parse(readFileSync(join(r.dir, 'ablation.json'), 'utf8')) as AblationReport & { cells?: number };
    } catch (cause) {
      throw new SsmaxError('INTERNAL', `Cannot read the report of the ablation job for ${r.ids.join(', ')} (exit ${r.code}). ${(cause as Error).message}`, {
        cause,
      });
    }
    lines.push(...part.defences);
    cells += part.defences.reduce(
      (n, d) =>
        n +
        cellsForDefence(
          active.find((a) => a.id === d.id)!,
          credited,
        ).length,
      0,
    );
  }
  const order = new Map(active.map((d, i) => [d.id, i]));
  lines.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  const report: AblationReport = {
    defences: lines,
    notFalsifiable: notFalsifiable(credited, lines),
    durationMs: o.baseline.meta.durationMs + (o.now().getTime() - t0),
  };
  return { report, skipped: o.defences.filter((d) => !active.includes(d)).map((d) => d.id), cells };
}
