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
import { withImapSession } from '../testing/imap-session.js';

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
      const m = await runMatrix({
        scenarios,
        profiles: ['ssmax-org'],
        executor,
        seed: 7,
        clockStart: new Date(),
        meta: { commit: 'test', node: process.version, openssl: 'n/a' },
      });
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

  it('reports an error cell, not "blocked" or "not-sent", when an accepted mail vanished without anyone refusing it', async () => {
    const scenarios = loadScenarios([path.join(BUNDLED_SCENARIOS, 'baseline-member-confidential-file.yaml')]);
    let expunged = 0;
    const executor = createMatrixExecutor({
      storageDir: path.join(root, 'w2'),
      // The mail was delivered (250 at every hop, delivered event at org-b); then it disappears from the
      // mailbox. Nothing refused it: a judge that reads missing evidence as a verdict would say blocked.
      beforeObserve: async (world) => {
        await withImapSession(world.user('bob@org-b.example'), async (client) => {
          const lock = await client.getMailboxLock('INBOX');
          try {
            const uids = await client.search({ all: true }, { uid: true });
            expunged = Array.isArray(uids) ? uids.length : 0;
            if (expunged > 0) await client.messageDelete({ all: true });
          } finally {
            lock.release();
          }
        });
      },
    });
    try {
      const m = await runMatrix({
        scenarios,
        profiles: ['ssmax-org'],
        executor,
        seed: 8,
        clockStart: new Date(),
        meta: { commit: 'test', node: process.version, openssl: 'n/a' },
      });
      const cell = m.results[0]!;
      expect(expunged).toBeGreaterThan(0);
      expect(cell.actual).toBeNull();
      expect(cell.error).toMatch(/HarnessError: Cannot judge the cell\. The mail .* is not in the recipient's mailbox and nobody refused it/);
      expect(matrixExitCode(m)).toBe(3);
    } finally {
      await executor.close?.();
    }
  }, 120_000);
});
