/**
 * A harness fault is an error cell (exit 3), never a verdict: with the recipient's IMAP service (Dovecot)
 * stopped after the mail was delivered and before the cell is observed, the real executor cannot read the
 * mailbox, and the cell must come out as an error carrying the stack, not as "blocked" or "not-sent".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMatrixExecutor } from './matrix-executor.js';
import { BUNDLED_SCENARIOS, loadScenarios, matrixExitCode, runMatrix } from '../runner/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-harness-fault-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('MatrixExecutor', () => {
  it('reports an error cell and exit 3 when the recipient’s IMAP service is killed mid-cell', async () => {
    const scenarios = loadScenarios([path.join(BUNDLED_SCENARIOS, 'baseline-member-confidential-file.yaml')]);
    let stopped = '';
    const executor = createMatrixExecutor({
      storageDir: path.join(root, 'w'),
      beforeObserve: async (world) => {
        const org = world.org('org-b');
        stopped = `${org.mailbox.host}:${org.mailbox.imapPort}`;
        await org.mailbox.stop();
      },
    });
    try {
      const m = await runMatrix({ scenarios, profiles: ['ssmax-org'], executor, seed: 7, clockStart: new Date(), meta: { commit: 'test', node: process.version, openssl: 'n/a' } });
      const cell = m.results[0]!;
      expect(stopped).not.toBe('');
      expect(cell.actual).toBeNull();
      expect(cell.pass).toBe(false);
      expect(cell.error).toMatch(/IMAP|ECONNREFUSED|connect/i);
      expect(cell.error).toMatch(/\n\s+at /); // the stack, for the report
      expect(matrixExitCode(m)).toBe(3);
    } finally {
      await executor.close?.();
    }
  }, 120_000);
});
