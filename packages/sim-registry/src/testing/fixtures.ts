/**
 * Test support for the registry's own tests (not exported from the package index): a fake clock, a
 * seeded random source, applicant keys and applications, and openssl-made CMS submissions so the
 * server's verifier is graded by an independent signer.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePem, SoftwareKey } from '@ssmax/core';
import type { DnsZone } from '@ssmax/sim-net';
import { popSigningInput } from '../enrolment.js';
import type { DomainChallenge, EnrolmentApplication, EvaluationData } from '../types.js';

export class FakeClock {
  constructor(private t: number) {}
  readonly now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
  advanceDays(d: number): void {
    this.t += d * 86_400_000;
  }
}

/** Deterministic bytes: SHA-256 in counter mode over a seed. */
export function seededRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 32) {
      const block = createHash('sha256').update(`${seed}/${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - off)), off);
    }
    return out;
  };
}

export interface OrgKeys {
  readonly orgCa: SoftwareKey;
  readonly kmsSigning: SoftwareKey;
  readonly kmsEncryption: SoftwareKey;
}

export function makeOrgKeys(): OrgKeys {
  return { orgCa: SoftwareKey.generate('EC-P256'), kmsSigning: SoftwareKey.generate('EC-P256'), kmsEncryption: SoftwareKey.generate('RSA-2048') };
}

export const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

export function goodEvaluation(now: Date): EvaluationData {
  const auditDate = new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
  return {
    ismsCertified: true,
    outboundInspection: true,
    inboundInspection: true,
    kmsOnHsm: true,
    identityProofing: 'employee-card+pin',
    incidentContact: 'csirt@example.org',
    lastAudit: { date: auditDate, auditor: 'Audit Co.', findings: [{ id: 'F-1', severity: 'low', open: true, summary: 'Log retention policy wording.' }] },
  };
}

/** A complete application with a valid proof of possession by the org CA key. */
export async function makeApplication(keys: OrgKeys, fields: ApplicationFields & { domainChallenges?: string[] }): Promise<EnrolmentApplication> {
  const unsigned = {
    name: fields.name,
    domains: fields.domains,
    mode: fields.mode ?? 'org',
    keys: { orgCaSpki: b64(keys.orgCa.spki), kmsSigningSpki: b64(keys.kmsSigning.spki), kmsEncryptionSpki: b64(keys.kmsEncryption.spki) },
    evaluation: fields.evaluation,
    ...(fields.callbackUrl ? { callbackUrl: fields.callbackUrl } : {}),
    ...(fields.domainChallenges ? { domainChallenges: fields.domainChallenges } : {}),
  };
  const signature = await keys.orgCa.sign('ECDSA-SHA256', popSigningInput(unsigned));
  return { ...unsigned, proofOfPossession: { scheme: 'ECDSA-SHA256', signature: b64(signature) } };
}

export interface ApplicationFields {
  name: string;
  domains: string[];
  mode?: 'org' | 'esp';
  evaluation: EvaluationData;
  callbackUrl?: string;
}

/** POST /v1/enrolment/challenges for `domains`, bound to `orgCa`. */
export async function requestChallenges(url: string, orgCa: SoftwareKey, domains: string[]): Promise<DomainChallenge[]> {
  const r = await postJson(`${url}/v1/enrolment/challenges`, { domains, orgCaSpki: b64(orgCa.spki) });
  if (r.status !== 201) throw new Error(`challenge request failed: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.challenges as DomainChallenge[];
}

/** An application whose domains the applicant proved: challenges requested, their TXT records published in `zone`. */
export async function provedApplication(url: string, zone: DnsZone, keys: OrgKeys, fields: ApplicationFields): Promise<EnrolmentApplication> {
  const challenges = await requestChallenges(url, keys.orgCa, fields.domains);
  for (const c of challenges) zone.addTxt(c.txtName, c.txtValue);
  return makeApplication(keys, { ...fields, domainChallenges: challenges.map((c) => c.id) });
}

/** A scratch directory removed on dispose. */
export function tempDir(prefix: string): { path: string } & Disposable {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

export function openssl(args: string[], input?: Uint8Array): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
  return { status: r.status ?? 1, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr?.toString() ?? '' };
}

/** CMS SignedData over `content` made by `openssl cms -sign` (independent of the registry's code). */
export function opensslSign(dir: string, key: SoftwareKey, certDer: Uint8Array, content: Uint8Array): Uint8Array {
  const keyPath = join(dir, 'signer.key');
  const certPath = join(dir, 'signer.pem');
  writeFileSync(keyPath, key.exportPkcs8Pem());
  writeFileSync(certPath, encodePem(certDer, 'CERTIFICATE'));
  const r = openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-md', 'sha256', '-signer', certPath, '-inkey', keyPath], content);
  if (r.status !== 0) throw new Error(`openssl cms -sign failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

// Tests read whatever fields a response has; each asserts the ones it needs.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}
