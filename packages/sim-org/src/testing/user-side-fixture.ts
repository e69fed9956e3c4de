/**
 * Test fixture for the user-side services (org CA, trace vault, registration, user agent, incident desk):
 * a registry root and one or more orgs whose keys (org CA, KMS signing, KMS encryption, vault sealing)
 * live on a real SoftHSM2 token, all in one SoftHSM store per test process (SoftHSM reads its
 * configuration once per process). Stands in for kms.ts until the org path is wired; not exported from
 * the package index.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SoftHsmNative,
  SoftwareKey,
  bindTokenKey,
  issueOrgCertificate,
  issueRootCertificate,
  type CertificateInfo,
  type PrivateKeyOps,
  type Pkcs11Token,
} from '@ssmax/core';
import { Kms } from '../kms.js';
import { OrgCa } from '../org-ca.js';
import { TraceVault } from '../trace-vault.js';
import { UserRegistration } from '../user-registration.js';

export const SO_PIN = 'org-so-pin-1';
const HSM_PIN = 'hsm-user-pin';

export interface FixtureOrg {
  readonly orgId: string;
  readonly domain: string;
  readonly kms: Kms;
  readonly orgCa: OrgCa;
  readonly caKey: PrivateKeyOps;
  readonly kmsSigning: { readonly key: PrivateKeyOps; readonly certificate: CertificateInfo };
  readonly kmsEncryption: { readonly key: PrivateKeyOps; readonly certificate: CertificateInfo };
  readonly vaultKey: PrivateKeyOps;
  readonly vaultCertificate: CertificateInfo;
  readonly vault: TraceVault;
  readonly registration: UserRegistration;
  readonly storageDir: string;
}

export interface UserSideWorld extends AsyncDisposable {
  readonly dir: string;
  readonly reader: SoftHsmNative;
  readonly rootKey: SoftwareKey;
  readonly root: CertificateInfo;
  readonly now: () => Date;
  org(orgId: string, domain: string): Promise<FixtureOrg>;
}

/** Makes the world; dispose it to close the tokens and remove the temp directory. */
export async function createUserSideWorld(opts: { now?: () => Date } = {}): Promise<UserSideWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssmax-user-side-'));
  // Dovecot's mail processes run unprivileged and must traverse to an org's mail directory.
  fs.chmodSync(dir, 0o711);
  const reader = SoftHsmNative.open({ storageDir: path.join(dir, 'softhsm') });
  const now = opts.now ?? (() => new Date());
  const rootKey = SoftwareKey.generate('EC-P256');
  const root = await issueRootCertificate({
    subject: { C: 'JP', O: 'SSMAX Registry', CN: 'SSMAX Registry Root' },
    key: rootKey,
    now: () => new Date(now().getTime() - 86_400_000),
  });
  const tokens: Pkcs11Token[] = [];
  const kmsList: Kms[] = [];
  return {
    dir,
    reader,
    rootKey,
    root,
    now,
    async org(orgId, domain) {
      const kms = await Kms.open({ hsm: reader, label: `kms-${orgId}`, userPin: HSM_PIN, soPin: SO_PIN });
      kmsList.push(kms);
      const caKey = kms.caKey;
      const orgCert = await issueOrgCertificate({
        issuer: { certificate: root, key: rootKey },
        subjectSpki: caKey.spki,
        organization: orgId,
        mailDomain: domain,
        now: () => new Date(now().getTime() - 3_600_000),
      });
      await kms.storeCertificates({ root: root.der, org: orgCert.der });
      const kmsCerts = await kms.issueKmsCertificates(now);
      // The vault's sealing key sits on its own HSM token: the mail path's KMS cannot open the vault.
      const vaultLabel = `vault-${orgId}`;
      reader.initToken({ label: vaultLabel, soPin: SO_PIN, userPin: HSM_PIN });
      const vaultToken = reader.openToken(vaultLabel);
      tokens.push(vaultToken);
      await vaultToken.login(HSM_PIN);
      const vaultKey = bindTokenKey(vaultToken, await vaultToken.generateKeyPair('vault-seal', 'RSA-2048', 'encryption'));
      const storageDir = path.join(dir, orgId);
      const orgCa = await OrgCa.open({ certificate: orgCert.der, key: caKey, chain: [root.der], storageDir: path.join(storageDir, 'ca'), now });
      const vaultCertificate = await orgCa.issueService(vaultKey.spki, 'encryption', `${domain} trace vault`);
      const vault = new TraceVault({ storageDir: path.join(storageDir, 'vault'), sealingCertificate: vaultCertificate.der, now });
      const registration = new UserRegistration({
        reader,
        orgCa,
        vault,
        soPin: SO_PIN,
        storageDir: path.join(storageDir, 'registration'),
        registryRoot: root.der,
        now,
      });
      return {
        orgId,
        domain,
        kms,
        orgCa,
        caKey,
        kmsSigning: { key: kms.signingKey, certificate: kmsCerts.signing },
        kmsEncryption: { key: kms.encryptionKey, certificate: kmsCerts.encryption },
        vaultKey,
        vaultCertificate,
        vault,
        registration,
        storageDir,
      };
    },
    async [Symbol.asyncDispose]() {
      for (const t of tokens) await t.close().catch(() => undefined);
      for (const k of kmsList) await k[Symbol.asyncDispose]().catch(() => undefined);
      await reader.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
