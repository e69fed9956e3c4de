/**
 * The reduced fuzz run of issue 11 item 4 (≤ 60 s, fixed seed) as part of npm test: the built `npm run fuzz` CLI
 * with a 27 s budget over every target. It must find nothing (no crash, hang, untyped error or protocol
 * violation), run every target more than a handful of times, and get deep: CMS cases past the outer
 * ContentInfo into signer and recipient processing, SMTP sessions into DATA and to "queued", HTTP requests
 * routed to a handler, JSON documents past their signature into the schema check, signed certificate paths into
 * name constraints, policy processing and CRLs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCompiled } from '@ssmax/core/testing';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI = join(REPO, 'packages/world/dist/fuzz/fuzz-cli.js');
/** The hook's limit; the CLI gets what the build leaves of it, less 10 s to stop it and fail with its log. */
const HOOK_MS = 180_000;

interface Target {
  name: string;
  cases: number;
  crashes: number;
  hangs: number;
  untypedErrors: number;
  violations: number;
  uncaughtErrorTypes: string[];
  reached: Record<string, number>;
}
interface Results {
  meta: { seed: number; budgetMs: number; durationMs: number; commit: string; node: string };
  targets: Target[];
  totals: { cases: number; crashes: number; hangs: number; untypedErrors: number; violations: number };
}

let dir: string;
let run: { code: number | null; stdout: string; stderr: string };
let results: Results;

beforeAll(async () => {
  const hookStart = Date.now();
  dir = mkdtempSync(join(tmpdir(), 'ssmax-fuzz-test-'));
  // The run uses dist/ (worker threads and the server host are separate entry points): make sure it is current.
  await buildCompiled('packages/world');
  run = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--budget', '27s', '--seed', '20261207', '--out', join(dir, 'results.json')], { cwd: REPO });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A run that has not ended well before the hook's deadline has hung (run 19 of repeat/results/4a75b3e6e5b4.jsonl):
    // stop it and fail with its log, whose last `[fuzz]` line names the last target it finished.
    const deadlineMs = HOOK_MS - (Date.now() - hookStart) - 10_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fuzz-cli did not end within ${deadlineMs} ms (its budget is 27 s). Its stderr:\n${stderr.slice(-4000)}`));
    }, deadlineMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Results;
}, HOOK_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const target = (name: string): Target => {
  const t = results.targets.find((x) => x.name === name);
  if (!t) throw new Error(`no results for target ${name}`);
  return t;
};

describe('npm run fuzz (reduced: 27 s budget, seed 20261207)', () => {
  it('finds no crash, hang, untyped error or protocol violation, exits 0 and prints the table', () => {
    const failing = results.targets.filter((t) => t.crashes + t.hangs + t.untypedErrors + t.violations > 0);
    expect(failing.map((t) => `${t.name}: ${t.crashes} crashes, ${t.hangs} hangs, ${t.untypedErrors} untyped (${t.uncaughtErrorTypes.join(', ')})`)).toEqual(
      [],
    );
    expect(results.totals).toMatchObject({ crashes: 0, hangs: 0, untypedErrors: 0, violations: 0 });
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.stdout).toMatch(/^target\s+cases\s+ok\s+typed\s+untyped\s+crashes\s+hangs/m);
  });

  it('stays within 60 s in all and records its seed, budget, node and commit', () => {
    expect(results.meta).toMatchObject({ seed: 20261207, budgetMs: 27_000, node: process.version });
    expect(results.meta.commit).toMatch(/^[0-9a-f]{40}$|^unknown$/);
    expect(results.meta.durationMs).toBeLessThanOrEqual(60_000);
  });

  it('runs every target, each more than a handful of cases', () => {
    expect(results.targets.map((t) => t.name).sort()).toEqual(
      [
        'attestation-json',
        'ber-der',
        'cms-auth-enveloped',
        'cms-enveloped',
        'cms-signed',
        'manifest-json',
        'mime-smime',
        'registry-http',
        'registry-json',
        'smtp-mx',
        'x509-certificate',
        'x509-crl',
        'x509-path',
        'zip',
      ].sort(),
    );
    for (const t of results.targets) expect(t.cases, t.name).toBeGreaterThan(t.name === 'smtp-mx' ? 20 : 50);
  });

  it('gets CMS cases past the outer ContentInfo, into signers and recipient infos, and some all the way to valid', () => {
    for (const name of ['cms-signed', 'cms-enveloped', 'cms-auth-enveloped']) {
      const t = target(name);
      expect(t.reached['content-info'] ?? 0, name).toBeGreaterThan(t.cases * 0.2);
    }
    expect(target('cms-signed').reached['signer-valid'] ?? 0).toBeGreaterThan(0);
    expect(target('cms-signed').reached['chain-checked'] ?? 0).toBeGreaterThan(0);
    for (const name of ['cms-enveloped', 'cms-auth-enveloped']) {
      expect(target(name).reached['recipient-infos'] ?? 0, name).toBeGreaterThan(0);
      expect(target(name).reached['decrypted'] ?? 0, name).toBeGreaterThan(0);
    }
  });

  it('gets SMTP sessions into DATA and to "queued", and HTTP requests past routing into the handlers', () => {
    const smtp = target('smtp-mx');
    expect(smtp.reached['data'] ?? 0).toBeGreaterThan(smtp.cases * 0.2);
    expect(smtp.reached['queued'] ?? 0).toBeGreaterThan(0);
    const http = target('registry-http');
    expect(http.reached['body-read'] ?? 0).toBeGreaterThan(http.cases * 0.2);
    expect(http.reached['2xx'] ?? 0).toBeGreaterThan(0);
  });

  it('gets signed certificate paths past path building into name constraints, policy processing and CRLs, and some to valid', () => {
    const t = target('x509-path');
    expect(t.reached['chain-built'] ?? 0).toBeGreaterThan(t.cases * 0.3);
    const deep = ['nc-checked', 'nc-decoded', 'policy-processed', 'mappings-decoded', 'crl-used', 'idp-decoded', 'delta-decoded', 'valid'];
    expect(deep.filter((mark) => !((t.reached[mark] ?? 0) > 0))).toEqual([]);
  });

  it('gets the other formats past their framing: certificates into chain validation, CRLs to their signature, archives to their entries, mails to their parts, documents to their schema', () => {
    const deep: [string, string][] = [
      ['ber-der', 'ber-read'],
      ['x509-certificate', 'chain-valid'],
      ['x509-crl', 'signature-valid'],
      ['zip', 'entry-read'],
      ['zip', 'nested'],
      ['mime-smime', 'multipart'],
      ['mime-smime', 'ssmax-parts'],
      ['manifest-json', 'schema-ok'],
      ['manifest-json', 'valid'],
      ['attestation-json', 'schema-ok'],
      ['registry-json', 'member-found'],
    ];
    expect(deep.filter(([name, mark]) => !((target(name).reached[mark] ?? 0) > 0))).toEqual([]);
  });
});
