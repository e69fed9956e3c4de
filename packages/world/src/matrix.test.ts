/**
 * The real executor against real worlds, for an explicitly listed subset of the bundled corpus (the
 * full matrix runs in `npm start` / `ssmax run`): each listed cell is measured from observations and
 * must match its expected value in the scenario file. The list is chosen to cover the main mechanisms
 * of a profile (honest chain, DLP toward a member, outside mail flagged, inbound inspection of outside
 * mail, spoofed member mail refused, a hijacked org server with its KMS refused by the manifest under
 * ssmax-org but delivered under ssmax-paper, body readable with a stolen password, re-wrapping
 * refused; under the conventional baselines PPAP leaks and malware, DMARC, reputation and hold-then-send,
 * and end-to-end S/MIME's signature checks)
 * with at most one world per profile (six worlds, about 85 s on this machine). Cells are never special-cased: a listed cell
 * that stops matching fails this test.
 *
 * SSMAX_MATRIX_PROFILES=p1,p2 and SSMAX_MATRIX_SCENARIOS=id1,id2 choose other cells (e.g. to debug one);
 * SSMAX_MATRIX_EVENTS=1 prints the journey of a mismatching cell.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMatrixExecutor } from './executor/index.js';
import {
  BUNDLED_SCENARIOS,
  environmentMeta,
  formatMatrixTable,
  loadScenarios,
  matrixExitCode,
  parseProfiles,
  runMatrix,
  writeReport,
  type MatrixResult,
} from './runner/index.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-matrix-test-'));
fs.chmodSync(root, 0o711);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The cells this test runs, per profile (scenario ids of scenarios/). */
const SUBSET: Readonly<Record<string, readonly string[]>> = {
  'ssmax-org': [
    'baseline-member-confidential-file',
    'baseline-non-member-plain-mail',
    'a-direct-spoof-esp-user-address',
    'a-display-name-spoof-own-domain',
    'c-non-member-encrypted-zip-malware',
    'i1-server-takeover-invoice-fraud',
    'i6-stolen-mailbox-password',
    'johnny-signature-wrapping',
  ],
  // The paper's column differs where the sender manifest matters: the hijacked org server's mail is
  // delivered with a forged identity notice (last, as (12) makes the world dirty).
  'ssmax-paper': ['a-display-name-spoof-own-domain', 'baseline-member-confidential-file', 'i1-server-takeover-invoice-fraud'],
  // The recipient's ESP does not inspect: the outside PPAP archive reaches the recipient usable.
  'ssmax-esp-in': ['baseline-member-confidential-file', 'c-non-member-encrypted-zip-malware'],
  // Conventional baselines (no cards, no KMS): PPAP's archive and password mail read on a clear link,
  // the PPAP malware opened by the recipient with the second mail's password.
  // The on-path relay holds the archive mail until the password mail and re-zips its malware under it.
  'plain-ppap': ['baseline-member-confidential-file', 'c-non-member-encrypted-zip-malware', 'i5-passive-capture-between-mtas', 'i4-starttls-strip-swap-files'],
  // End-to-end S/MIME: valid sponsor-validated signature traced to the sender; a signature under someone
  // else's From flagged but naming the insider; a signed part wrapped in an unsigned message flagged;
  // an unsigned replacement encrypted to the recipient delivered with its malware; a genuinely signed
  // mail for Eve re-encrypted to Bob delivered as valid (no recipient binding).
  'smime-e2e': [
    'baseline-member-confidential-file',
    'b-insider-signs-as-colleague',
    'johnny-signature-wrapping',
    'i4-starttls-strip-swap-files',
    'replay-signed-mail-to-other-recipient',
  ],
  // DMARC-authenticated partner mail (traced to the org), a new domain flagged by reputation, and a
  // misdelivery cancelled within the hold-then-send window (simulated clock).
  'best-practice': ['baseline-member-confidential-file', 'c-unknown-sender-urgent-lure', 'i8-misdelivery-noticed-in-cancel-window'],
};

const profileEnv = process.env['SSMAX_MATRIX_PROFILES'];
const scenarioEnv = process.env['SSMAX_MATRIX_SCENARIOS']?.split(',');
const PROFILES = parseProfiles([profileEnv ?? Object.keys(SUBSET).join(',')]);

describe('matrix executor', () => {
  it(
    'matches every listed cell, exits 0 and writes matrix.json, junit.xml and matrix.html when the listed subset runs in real worlds',
    async () => {
      const all = loadScenarios([BUNDLED_SCENARIOS]);
      const wanted = (id: string) => (scenarioEnv ? scenarioEnv.includes(id) : PROFILES.some((p) => SUBSET[p]?.includes(id)));
      const scenarios = all.filter((s) => wanted(s.scenario.id));
      // Every listed id exists and is expected (not omitted) for its profile: a renamed scenario fails here.
      for (const [p, ids] of Object.entries(SUBSET))
        for (const id of ids) expect(all.find((s) => s.scenario.id === id)?.scenario.expected[p as never], `${id} [${p}]`).toBeDefined();
      const executor = createMatrixExecutor({ storageDir: path.join(root, 'worlds') });
      let matrix;
      try {
        matrix = await runMatrix({
          // Only the listed (scenario, profile) pairs: a scenario listed for one profile is not run for another.
          scenarios: scenarios.map((s) => ({
            ...s,
            scenario: {
              ...s.scenario,
              expected: Object.fromEntries(
                Object.entries(s.scenario.expected).filter(([p]) => scenarioEnv !== undefined || SUBSET[p]?.includes(s.scenario.id)),
              ),
            },
          })),
          profiles: PROFILES,
          executor,
          seed: 7,
          clockStart: new Date(),
          meta: environmentMeta(),
          log: (l) => console.log(l),
          onCell: (r: MatrixResult, i, n) => {
            console.log(`[${i + 1}/${n}] ${r.pass ? 'ok' : 'MISMATCH'} ${r.scenarioId} [${r.profile}] ${r.durationMs} ms`);
            if (!r.pass && process.env['SSMAX_MATRIX_EVENTS'])
              for (const e of r.events)
                console.log(
                  `  EV ${e.actor} (${e.procedure}) ${e.outcome ?? ''} ${e.checks
                    .filter((c) => c.result !== 'pass')
                    .map((c) => `${c.name}=${c.result}:${c.detail ?? ''}`)
                    .join(' ')} ${e.note ?? ''}`.slice(0, 400),
                );
            if (!r.pass) console.log(`  ${r.error ?? ''} expected=${JSON.stringify(r.expected)} actual=${JSON.stringify(r.actual)}`);
          },
        });
      } finally {
        await executor.close?.();
      }
      console.log(formatMatrixTable(matrix));
      const files = writeReport(path.join(root, 'report'), matrix, scenarios);
      const json = JSON.parse(fs.readFileSync(files.json, 'utf8')) as { results: { scenarioId: string; profile: string; pass: boolean }[] };
      const ran = json.results.map((r) => `${r.scenarioId} [${r.profile}]`).sort();
      const listed = scenarioEnv ? ran : PROFILES.flatMap((p) => (SUBSET[p] ?? []).map((id) => `${id} [${p}]`)).sort();
      expect(ran).toEqual(listed);
      expect(json.results.filter((r) => !r.pass).map((r) => `${r.scenarioId} [${r.profile}]`)).toEqual([]);
      const junit = fs.readFileSync(files.junit, 'utf8');
      for (const r of json.results) expect(junit).toContain(`#${r.scenarioId} [${r.profile}]`);
      expect(junit).not.toContain('<failure');
      const html = fs.readFileSync(files.html, 'utf8');
      for (const r of json.results) expect(html).toContain(r.scenarioId);
      expect(matrixExitCode(matrix)).toBe(0);
    },
    Number(process.env['SSMAX_MATRIX_TIMEOUT_MS'] ?? 180_000),
  );
});
