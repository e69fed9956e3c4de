/**
 * Test support: an SSMAX PKI made by our own issuance code (registry root → org CA → users and KMS),
 * with software keys and a fixed clock. Not exported from the package index; tests import it by path.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SoftwareKey } from '../software-key.js';
import { encodePem } from '../pem.js';
import type { KeyAlgorithm, SignScheme } from '../tokens/token.js';
import type { CertificateInfo } from './certificate-info.js';
import { issueOrgCertificate, issueOrgKmsCertificate, issueRootCertificate, issueUserCertificate, type UserCertificateUsage } from './issue.js';
import type { IdentityProofing } from './ssmax-extensions.js';

export const T0 = new Date('2025-04-01T09:00:00Z');

export interface SsmaxTestPki {
  readonly now: () => Date;
  readonly rootKey: SoftwareKey;
  readonly root: CertificateInfo;
  readonly orgKey: SoftwareKey;
  readonly org: CertificateInfo;
  user(
    local: string,
    opts?: { alg?: KeyAlgorithm; usage?: UserCertificateUsage; proofing?: IdentityProofing; traceId?: Uint8Array },
  ): Promise<{ key: SoftwareKey; cert: CertificateInfo }>;
  kms(purpose: 'signing' | 'encryption', alg?: KeyAlgorithm): Promise<{ key: SoftwareKey; cert: CertificateInfo }>;
}

/** Keys are cached per algorithm so a test file generates few RSA keys. */
const keyCache = new Map<string, SoftwareKey>();
export function cachedKey(alg: KeyAlgorithm, slot: string): SoftwareKey {
  const id = `${alg}/${slot}`;
  let k = keyCache.get(id);
  if (!k) {
    k = SoftwareKey.generate(alg);
    keyCache.set(id, k);
  }
  return k;
}

export async function createSsmaxTestPki(
  opts: { rootAlg?: KeyAlgorithm; orgAlg?: KeyAlgorithm; rootScheme?: SignScheme; orgScheme?: SignScheme; domain?: string } = {},
): Promise<SsmaxTestPki> {
  const now = (): Date => T0;
  const domain = opts.domain ?? 'alpha.example';
  const rootKey = cachedKey(opts.rootAlg ?? 'EC-P256', 'root');
  const root = await issueRootCertificate({
    subject: { C: 'JP', O: 'SSMAX Registry', CN: 'SSMAX Registry Root' },
    key: rootKey,
    now,
    ...(opts.rootScheme ? { scheme: opts.rootScheme } : {}),
  });
  const orgKey = cachedKey(opts.orgAlg ?? 'RSA-2048', 'org');
  const org = await issueOrgCertificate({
    issuer: { certificate: root, key: rootKey, ...(opts.rootScheme ? { scheme: opts.rootScheme } : {}) },
    subjectSpki: orgKey.spki,
    organization: 'Alpha Corp',
    mailDomain: domain,
    now,
  });
  const orgIssuer = { certificate: org, key: orgKey, ...(opts.orgScheme ? { scheme: opts.orgScheme } : {}) };
  return {
    now,
    rootKey,
    root,
    orgKey,
    org,
    async user(local, u = {}) {
      const key = cachedKey(u.alg ?? 'EC-P256', `user-${local}`);
      const cert = await issueUserCertificate({
        issuer: orgIssuer,
        subjectSpki: key.spki,
        email: `${local}@${domain}`,
        usage: u.usage ?? 'signing',
        identityProofing: u.proofing ?? { method: 'employeeCardPin', proofedAt: new Date('2025-03-31T10:00:00Z'), proofedBy: 'Alpha HR desk' },
        traceId: u.traceId ?? new Uint8Array(16).fill(7),
        now,
      });
      return { key, cert };
    },
    async kms(purpose, alg = 'RSA-2048') {
      const key = cachedKey(alg, `kms-${purpose}`);
      return { key, cert: await issueOrgKmsCertificate({ issuer: orgIssuer, subjectSpki: key.spki, purpose, now }) };
    },
  };
}

/** A temp dir with helpers to write PEM files and run openssl; removed on dispose. */
export function opensslWorkspace(): Disposable & {
  dir: string;
  writeCerts(name: string, ders: readonly Uint8Array[]): string;
  writePem(name: string, der: Uint8Array, label: string): string;
  run(args: string[]): { status: number; out: string };
} {
  const dir = mkdtempSync(join(tmpdir(), 'ssmax-x509-'));
  return {
    dir,
    writeCerts(name, ders) {
      const p = join(dir, name);
      writeFileSync(p, ders.map((d) => encodePem(d, 'CERTIFICATE')).join(''));
      return p;
    },
    writePem(name, der, label) {
      const p = join(dir, name);
      writeFileSync(p, encodePem(der, label));
      return p;
    },
    run(args) {
      // openssl prints verdicts such as "verify OK" on stderr, so both streams are returned.
      const r = spawnSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      return { status: r.status ?? -1, out: `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}` };
    },
    [Symbol.dispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
