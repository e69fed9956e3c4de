/**
 * The bundled scenario corpus against real worlds, for a subset of profiles (the full matrix runs in
 * `npm start`). Cells run grouped by profile so one world per profile is reused. Set
 * SSMAX_MATRIX_PROFILES=p1,p2 to choose others.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMatrixExecutor } from './executor/index.js';
import { BUNDLED_SCENARIOS, environmentMeta, formatMatrixTable, loadScenarios, matrixExitCode, parseProfiles, runMatrix, writeReport, type Matrix, type MatrixResult } from './runner/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-matrix-test-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const PROFILES = parseProfiles([process.env['SSMAX_MATRIX_PROFILES'] ?? 'ssmax-org']);

describe('matrix executor', () => {
  it(
    'matches every expected cell of the bundled corpus and writes matrix.json, junit.xml and matrix.html when run for the selected profiles',
    async () => {
      const only = process.env['SSMAX_MATRIX_SCENARIOS']?.split(',');
      const scenarios = loadScenarios([BUNDLED_SCENARIOS]).filter((s) => !only || only.includes(s.scenario.id));
      const executor = createMatrixExecutor({ storageDir: path.join(root, 'worlds') });
      const results: MatrixResult[] = [];
      const t0 = Date.now();
      let last: Matrix | undefined;
      try {
        // Profile-major: one world per profile, reused across scenarios.
        for (const p of PROFILES) {
          last = await runMatrix({
            scenarios,
            profiles: [p],
            executor,
            seed: 7,
            clockStart: new Date(),
            meta: environmentMeta(),
            log: (l) => console.log(l),
            onCell: (r) => {
              if (!r.pass && process.env['SSMAX_MATRIX_EVENTS']) for (const e of r.events) console.log(`  EV ${e.actor} (${e.procedure}) ${e.outcome ?? ''} ${e.checks.filter((c) => c.result !== 'pass').map((c) => `${c.name}=${c.result}:${c.detail ?? ''}`).join(' ')} ${e.note ?? ''}`.slice(0, 400));
              if (!r.pass) console.log(`MISMATCH ${r.scenarioId} [${r.profile}] ${r.error ?? ''} expected=${JSON.stringify(r.expected)} actual=${JSON.stringify(r.actual)}`);
            },
          });
          results.push(...last.results);
        }
      } finally {
        await executor.close?.();
      }
      const matrix: Matrix = { meta: { ...last!.meta, profiles: PROFILES, durationMs: Date.now() - t0 }, results };
      console.log(formatMatrixTable(matrix));
      const files = writeReport(path.join(root, 'report'), matrix, scenarios);
      for (const f of [files.json, files.junit, files.html]) expect(fs.statSync(f).size).toBeGreaterThan(100);
      expect(JSON.parse(fs.readFileSync(files.json, 'utf8')).results).toHaveLength(results.length);
      expect(results.length).toBeGreaterThan(only ? 0 : 20);
      expect(results.filter((r) => !r.pass).map((r) => `${r.scenarioId} [${r.profile}] ${r.mismatches.join(',')} ${r.error ?? ''}`)).toEqual([]);
      expect(matrixExitCode(matrix)).toBe(0);
    },
    Number(process.env['SSMAX_MATRIX_TIMEOUT_MS'] ?? 240_000),
  );
});
