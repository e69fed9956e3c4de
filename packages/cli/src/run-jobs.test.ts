import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Matrix, MatrixResult } from '@ssmax/world';

// `ssmax run --jobs N` runs its worlds in processes of their own: only the built binary can show it.
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const SCEN = (id: string) => fileURLToPath(new URL(`../../../scenarios/${id}.yaml`, import.meta.url));
// A cell that locks a card and one that plants a forwarding rule: the jobs must start fresh worlds in between.
const ARGS = [
  ...['b-stolen-card-without-pin', 'baseline-member-confidential-file', 'c-non-member-encrypted-zip-malware', 'i7-planted-forwarding-rule'].map(SCEN),
  '--profile',
  'plain-ppap,ssmax-org',
  '--seed',
  '11',
  '--clock-start',
  '2026-12-01T00:00:00Z',
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ssmax-run-jobs-'));
  const b = spawnSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (b.status !== 0) throw new Error(`build failed: ${b.stdout}${b.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ssmaxRun(name: string, extra: readonly string[]): Promise<{ code: number; stderr: string; matrix: Matrix }> {
  const report = join(dir, name);
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'run', ...ARGS, ...extra, '--report', report], { maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 3) : 0;
      resolve({ code, stderr, matrix: JSON.parse(readFileSync(join(report, 'matrix.json'), 'utf8')) as Matrix });
    });
  });
}

/** What a cell concluded: not its timing, not its journey (timestamps, message ids). */
const concluded = (r: MatrixResult) => ({
  cell: `${r.scenarioId} [${r.profile}]`,
  expected: r.expected,
  actual: r.actual,
  pass: r.pass,
  mismatches: r.mismatches,
  error: r.error?.split('\n')[0],
});

describe('ssmax run --jobs', () => {
  it('concludes every cell as --jobs 1 does with two worlds side by side, whole and inside a shard', async () => {
    const one = await ssmaxRun('jobs-1', ['--jobs', '1']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).not.toMatch(/\[job /);
    // After the stolen card the next SSMAX cell gets a world started from the profile's template.
    expect(one.stderr).toMatch(/world ssmax-org started from its template/);
    const two = await ssmaxRun('jobs-2', ['--jobs', '2']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/= 7 cells · 2 jobs ·/);
    // Both jobs built worlds, each in its own process.
    expect(two.stderr).toMatch(/\[job 1\/2\] world plain-ppap built/);
    expect(two.stderr).toMatch(/\[job 2\/2\] world ssmax-org built/);
    expect(two.matrix.results.map(concluded)).toEqual(one.matrix.results.map(concluded));
    expect(one.matrix.results.every((r) => r.actual !== null)).toBe(true);
    // The cells conclude differently (results mixed up between cells could not match by chance).
    expect(new Set(one.matrix.results.map((r) => JSON.stringify(r.actual))).size).toBeGreaterThan(2);

    const shard = await ssmaxRun('shard-2-of-2-jobs-2', ['--shard', '2/2', '--jobs', '2']);
    expect(shard.code, shard.stderr).toBe(0);
    expect(shard.stderr).toMatch(/shard 2\/2: 4 cells · 2 jobs ·/);
    const cells = new Set(shard.matrix.meta.shard!.cells);
    expect(cells.size).toBe(4);
    expect(shard.matrix.results.map(concluded)).toEqual(one.matrix.results.filter((r) => cells.has(`${r.scenarioId} [${r.profile}]`)).map(concluded));
  }, 900_000);
});
