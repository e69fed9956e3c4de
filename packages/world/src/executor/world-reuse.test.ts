/**
 * A world reused from cell to cell answers each cell as a fresh world would: what one cell published (a
 * look-alike domain with p=reject and its registrar record) must not decide the next cell's verdict.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMatrixExecutor } from './matrix-executor.js';
import { BUNDLED_SCENARIOS, loadScenarios } from '../runner/index.js';
import type { CellContext, Scenario } from '../runner/types.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-world-reuse-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const scenario = (id: string): Scenario => loadScenarios([path.join(BUNDLED_SCENARIOS, `${id}.yaml`)])[0]!.scenario;

describe('MatrixExecutor world reuse', () => {
  it('delivers the honest vendor’s mail in a reused world after a lure registered the vendor’s domain as 10 days old with p=reject', async () => {
    // The lure of c-unknown-sender-urgent-lure, sent from the domain the honest vendor of
    // baseline-non-member-plain-mail uses: the reputation check flags a 10-day-old domain.
    const lure = structuredClone(scenario('c-unknown-sender-urgent-lure')) as Scenario & { attacker: { steps: { params: { domain: string } }[] } };
    lure.attacker.steps[0]!.params.domain = 'vendor-x.example';
    const honest = scenario('baseline-non-member-plain-mail');
    const logs: string[][] = [[], []];
    const ctx = (i: number): CellContext => ({ seed: 1000 + i, clock: () => new Date(), log: (l) => logs[i]!.push(l) });
    const executor = createMatrixExecutor({ storageDir: path.join(root, 'w'), seed: 31 });
    try {
      const first = await executor.run(lure, 'best-practice', ctx(0));
      expect(first.actual?.verdict, logs[0]!.join('\n')).toBe('flagged');
      const second = await executor.run(honest, 'best-practice', ctx(1));
      // The same world: the second cell built none.
      expect(logs[1]!.filter((l) => /^world /.test(l))).toEqual([]);
      const { reason: _reason, ...expected } = honest.expected['best-practice']!;
      expect(second.actual, logs[1]!.join('\n')).toEqual(expected);
    } finally {
      await executor.close?.();
    }
  }, 180_000);
});
