/**
 * Issue 14 item 5: a deliberately broken implementation run through the conformance checklist fails exactly
 * the rows that depend on what it breaks. The implementation is our own org through the contract
 * (`ssmax org serve`) with inbound inspection (8) switched off by its environment
 * (SSMAX_ORG_DEFENCES_OFF=inboundInspection); it plays org-b, the recipient side, so the sending-side rows are
 * not applicable, (8) fails, and every other row (its (7), (9), (12) report, MX and MSA bad input, durability
 * of 250) passes. Real SMTP, SoftHSM2 cards and Dovecot.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';
import { MATRIX_WORLD } from '../executor/matrix-world.js';
import { validateWorldConfig, type WorldConfig } from '../world-config.js';
import { conformanceExitCode, formatConformance, formatConformanceJunit, runConformance } from './conformance.js';

const BIN = fileURLToPath(new URL('../../../cli/bin/ssmax.js', import.meta.url));

/** The matrix world with org-b run by `ssmax org serve` with `env`. */
function brokenWorld(env: Record<string, string>): WorldConfig {
  return validateWorldConfig({
    ...MATRIX_WORLD,
    orgs: MATRIX_WORLD.orgs.map((o) =>
      o.id === 'org-b' ? { ...o, implementation: { kind: 'process', name: 'org-serve-no-(8)', command: [process.execPath, BIN, 'org', 'serve'], env } } : o,
    ),
  });
}

beforeAll(async () => {
  await buildCompiled('packages/cli');
}, 180_000);

describe('ssmax conformance on a deliberately broken implementation', () => {
  it('fails exactly the (8) row when the implementation does not inspect inbound mail', async () => {
    const t0 = Date.now();
    const report = await runConformance({
      world: brokenWorld({ SSMAX_ORG_DEFENCES_OFF: 'inboundInspection' }),
      worldFile: 'org-b without (8)',
      meta: { commit: 'test', node: process.version, openssl: 'OpenSSL' },
    });
    const table = formatConformance(report);
    const status = Object.fromEntries(report.rows.map((r) => [r.row.id, r.status]));
    expect(status, table).toEqual({
      'p4-user-signature': 'not-applicable',
      'p5-outbound-inspection': 'not-applicable',
      'p6-reencrypt-send': 'not-applicable',
      'p7-org-signature': 'pass',
      'p8-inbound-inspection': 'fail',
      'p9-reencrypt-deliver': 'pass',
      'p12-report': 'pass',
      'p12-trace-revoke': 'not-applicable',
      'mx-bad-input': 'pass',
      'msa-bad-input': 'pass',
      'durability-250': 'pass',
    });
    // It fails for what it broke: the macro document reached the recipient.
    const p8 = report.rows.find((r) => r.row.id === 'p8-inbound-inspection')!;
    expect(p8.detail.join('\n')).toMatch(/c-esp-user-sends-macro-document: .*verdict expected blocked, got delivered.*malwareReached expected false, got true/);
    expect(report.underTest).toEqual(['org-b']);
    expect(report.matrix.results.every((r) => r.implementations?.['org-b'] === 'process:org-serve-no-(8)')).toBe(true);
    expect(conformanceExitCode(report)).toBe(1);
    expect(formatConformanceJunit(report)).toMatch(/tests="11" failures="1" errors="0" skipped="4"/);
    // Bounded: a couple of minutes on the 2-core reference machine.
    expect(Date.now() - t0).toBeLessThan(240_000);
  }, 300_000);
});
