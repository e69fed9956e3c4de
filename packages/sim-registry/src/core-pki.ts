/** {@link RegistryPki} on @ssmax/core: x509 issuance, CRLs and chain validation; CMS SignedData. */
import {
  issueCrl,
  issueOrgCertificate,
  issueRootCertificate,
  Oids,
  parseCertificate,
  signSignedData,
  SsmaxError,
  validateChain,
  verifySignedData,
  type KeyUsageName,
  type PrivateKeyOps,
} from '@ssmax/core';
import type { CrlRequest, KmsCheck, OrgRequest, RegistryPki, RootRequest, VerifyOutcome } from './pki.js';

const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export const corePki: RegistryPki = {
  async issueRoot(signer: PrivateKeyOps, req: RootRequest): Promise<Uint8Array> {
    const info = await issueRootCertificate({
      subject: { O: req.organization, CN: req.commonName },
      key: signer,
      pathLen: 1,
      now: () => req.now,
      validityDays: req.validityDays,
      random: req.random,
    });
    return info.der;
  },

  async issueOrg(signer: PrivateKeyOps, rootCertificate: Uint8Array, req: OrgRequest): Promise<Uint8Array> {
    const info = await issueOrgCertificate({
      issuer: { certificate: rootCertificate, key: signer },
      subjectSpki: req.subjectSpki,
      organization: req.organization,
      mailDomain: req.mailDomain,
      kind: req.mode === 'esp' ? 'esp' : 'organisation',
      now: () => req.now,
      validityDays: req.validityDays,
      random: req.random,
    });
    return info.der;
  },

  validateKms(req: KmsCheck) {
    let leaf;
    try {
      leaf = parseCertificate(req.certificate);
    } catch (e) {
      return { ok: false, reason: `The ${req.purpose} certificate cannot be parsed (${(e as Error).message}).` } as const;
    }
    let usage: KeyUsageName[];
    if (req.purpose === 'signing') usage = ['digitalSignature'];
    else usage = leaf.publicKeyType === 'rsa' ? ['keyEncipherment'] : ['keyAgreement'];
    const r = validateChain({
      leaf,
      intermediates: [req.orgCertificate],
      trustAnchors: [req.rootCertificate],
      time: req.time,
      revocation: 'none',
      requiredKeyUsage: usage,
      requiredExtKeyUsage: Oids.emailProtection,
    });
    if (!r.valid) return { ok: false, reason: `The ${req.purpose} certificate does not validate: ${r.reasons.join('; ')}.` } as const;
    // The chain must run through this org's certificate, not merely some certificate under the root.
    const issuer = r.chain[1];
    if (!issuer || !equal(issuer.der, req.orgCertificate)) {
      return { ok: false, reason: `The ${req.purpose} certificate is not issued by the org certificate.` } as const;
    }
    if (leaf.basicConstraints?.ca === true) return { ok: false, reason: `The ${req.purpose} certificate must not be a CA.` } as const;
    return { ok: true } as const;
  },

  async issueCrl(signer: PrivateKeyOps, rootCertificate: Uint8Array, req: CrlRequest): Promise<Uint8Array> {
    const info = await issueCrl({
      issuer: { certificate: rootCertificate, key: signer },
      now: () => req.now,
      nextUpdateHours: req.freshnessSeconds / 3600,
      crlNumber: req.crlNumber,
      revoked: req.revoked.map((e) => ({ serialNumber: e.serialHex, revocationDate: e.revokedAt, reason: e.reason })),
    });
    return info.der;
  },

  async signData(signer: PrivateKeyOps, signerCertificate: Uint8Array, content: Uint8Array, signingTime: Date): Promise<Uint8Array> {
    return signSignedData(content, { key: signer, certificate: signerCertificate, signingTime });
  },

  verifyData(cms: Uint8Array, candidates: readonly Uint8Array[]): VerifyOutcome {
    let v;
    try {
      v = verifySignedData(cms, { certificates: candidates });
    } catch (e) {
      if (e instanceof SsmaxError) return { ok: false, reason: `The CMS cannot be read (${e.message})` };
      throw e;
    }
    if (v.contentType !== Oids.data) return { ok: false, reason: `The eContentType is ${v.contentType}, not id-data.` };
    if (v.signers.length !== 1) return { ok: false, reason: `The SignedData has ${v.signers.length} signers; exactly one is required.` };
    const s = v.signers[0]!;
    if (!s.valid) return { ok: false, reason: `The signature does not verify (${s.code}: ${s.reasons.join('; ')}).` };
    if (!s.certificate || !candidates.some((c) => equal(c, s.certificate!))) {
      return { ok: false, reason: 'The signer certificate is not one the registry holds for this org.' };
    }
    if (v.detached || !v.content) return { ok: false, reason: 'The SignedData carries no encapsulated content.' };
    return { ok: true, content: new Uint8Array(v.content), signerCertificate: s.certificate };
  },

  serialOf: (certificate) => parseCertificate(certificate).serialNumber,
  spkiOf: (certificate) => parseCertificate(certificate).spki,
};
