/**
 * Issue 14: the conformance rows decided by probes alone, and the durability probe of 250. Our own org run
 * through the contract (`ssmax org serve`) plays the org under test; a deliberately broken copy of it keeps
 * its queue in memory only (its spool is wiped at every start) and must fail durability-250: the probe holds
 * the side the mail is delivered to before it kills the implementation, so the mail is still queued at the
 * kill and a fast implementation cannot pass by delivering first. Real SMTP, SoftHSM2 cards and Dovecot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';
import { MATRIX_WORLD } from '../executor/matrix-world.js';
import { validateWorldConfig, type WorldConfig } from '../world-config.js';
import { runConformance, type ConformanceReport } from './conformance.js';

const BIN = fileURLToPath(new URL('../../../cli/bin/ssmax.js', import.meta.url));
const SIM_ORG = pathToFileURL(fileURLToPath(new URL('../../../sim-org/dist/index.js', import.meta.url))).href;

let tmp: string;
let volatile: string;
beforeAll(async () => {
  await buildCompiled('packages/cli');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-conf-probes-'));
  // The broken implementation: `ssmax org serve` whose queue does not survive a crash (its spool is wiped at each start).
  volatile = path.join(tmp, 'volatile-queue-org.mjs');
  fs.writeFileSync(
    volatile,
    [
      "import { readFileSync, rmSync } from 'node:fs';",
      "import { join } from 'node:path';",
      'const { serveOrg } = await import(process.argv[2]);',
      "const file = process.argv[process.argv.indexOf('--config') + 1];",
      "rmSync(join(JSON.parse(readFileSync(file, 'utf8')).storageDir, 'org', 'spool'), { recursive: true, force: true });",
      'const { stop } = await serveOrg(file);',
      "process.on('SIGTERM', () => void stop().then(() => process.exit(0)));",
      '',
    ].join('\n'),
  );
}, 180_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The matrix world with `id` run through the contract by `command`. */
function worldWith(id: string, name: string, command: string[]): WorldConfig {
  return validateWorldConfig({
    ...MATRIX_WORLD,
    orgs: MATRIX_WORLD.orgs.map((o) => (o.id === id ? { ...o, implementation: { kind: 'process', name, command } } : o)),
  });
}

const meta = { commit: 'test', node: process.version, openssl: 'OpenSSL' };
const row = (r: ConformanceReport, id: string) => r.rows.find((x) => x.row.id === id)!;

describe('conformance probes', () => {
  it('runs probe rows alone (no scenario, no matrix) and holds the mailbox before the kill: our org as org-b passes', async () => {
    const report = await runConformance({
      world: worldWith('org-b', 'org-serve', [process.execPath, BIN, 'org', 'serve']),
      worldFile: 'org-b on ssmax org serve',
      rows: ['msa-bad-input', 'durability-250'],
      meta,
    });
    expect(report.matrix.results).toEqual([]);
    expect(report.rows.map((r) => [r.row.id, r.status])).toEqual([
      ['msa-bad-input', 'pass'],
      ['durability-250', 'pass'],
    ]);
    const detail = row(report, 'durability-250').detail.join('\n');
    // The mail was answered 250, refused 421 by the held LMTP socket, and not in the mailbox when the process died.
    expect(detail).toMatch(/its MX answered 250 for .* while its mailbox's LMTP socket was held/);
    expect(detail).toMatch(/its mailbox's LMTP socket answered 421 to its delivery \([1-9]\d* attempt/);
    expect(detail).toMatch(/copies in bob@org-b\.example's INBOX when org-b was SIGKILLed: 0/);
    expect(detail).toMatch(/copies in bob@org-b\.example's INBOX after the restart: 1, verified/);
  }, 240_000);

  it('fails durability-250 for an org-b that keeps its queue in memory only', async () => {
    const report = await runConformance({
      world: worldWith('org-b', 'volatile-queue', [process.execPath, volatile, SIM_ORG]),
      worldFile: 'org-b with a volatile queue',
      rows: ['durability-250'],
      meta,
    });
    const r = row(report, 'durability-250');
    expect(r.status, r.detail.join('\n')).toBe('fail');
    expect(r.detail.join('\n')).toMatch(/copies in bob@org-b\.example's INBOX after the restart: 0/);
  }, 240_000);

  it('holds the peer MX when the org under test sends: our org as org-a keeps the mail across the kill', async () => {
    const report = await runConformance({
      world: worldWith('org-a', 'org-serve', [process.execPath, BIN, 'org', 'serve']),
      worldFile: 'org-a on ssmax org serve',
      rows: ['durability-250'],
      meta,
    });
    const r = row(report, 'durability-250');
    expect(r.org).toBe('org-a');
    expect(r.status, r.detail.join('\n')).toBe('pass');
    const detail = r.detail.join('\n');
    expect(detail).toMatch(/its MSA answered 250 for .* while mx\.org-b\.example was held/);
    expect(detail).toMatch(/mx\.org-b\.example answered 421 to its delivery \([1-9]\d* attempt/);
    expect(detail).toMatch(/copies in bob@org-b\.example's INBOX when org-a was SIGKILLed: 0/);
    expect(detail).toMatch(/after the restart: 1, verified/);
  }, 240_000);
});
