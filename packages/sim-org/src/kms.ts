/**
 * The org's key management server: three key pairs on one SoftHSM2 token per organisation (the HSM
 * stand-in), generated inside the token and never extractable — the org CA key (issues user address
 * certificates and the KMS certificates), the KMS signing key (signs mail at (6)/(9) and attestations)
 * and the KMS encryption key (senders encrypt files to it at (3)/(6)). The org's certificates are kept
 * on the token too, so a restarted org needs nothing but its token and PIN.
 */
import {
  SsmaxError,
  decryptContent,
  issueOrgKmsCertificate,
  parseCertificate,
  reencrypt,
  signSignedData,
  bindTokenKey,
  type CertificateInfo,
  type EnvelopeInfo,
  type InspectionVerdict as CoreInspectionVerdict,
  type KeyAlgorithm,
  type KeyPurpose,
  type PrivateKeyOps,
  type SoftHsmNative,
  type Token,
} from '@ssmax/core';

export const KmsKeyLabels = { orgCa: 'org-ca', signing: 'kms-signing', encryption: 'kms-encryption' } as const;
export const KmsCertLabels = { root: 'registry-root', org: 'org-certificate', signing: 'kms-signing-cert', encryption: 'kms-encryption-cert' } as const;

export interface KmsOpenOptions {
  /** The process's SoftHSM2 reader (one per process; shared by every org and card in it). */
  readonly hsm: SoftHsmNative;
  /** Token label, e.g. "kms-org-a". Initialised on first open. */
  readonly label: string;
  readonly userPin: string;
  /** Used only to initialise the token on first open. */
  readonly soPin: string;
  readonly signingAlgorithm?: KeyAlgorithm;
  /** RSA by default: key transport (RFC 8551 §2.3) works with every S/MIME client. */
  readonly encryptionAlgorithm?: KeyAlgorithm;
  readonly caAlgorithm?: KeyAlgorithm;
}

export interface KmsCertificates {
  readonly root: Uint8Array;
  readonly org: Uint8Array;
  readonly signing: Uint8Array;
  readonly encryption: Uint8Array;
}

export class Kms implements AsyncDisposable {
  #certs: Partial<Record<keyof KmsCertificates, Uint8Array>> = {};

  private constructor(
    private readonly token: Token,
    /** The org CA key slot (org-ca.ts issues user certificates with it). */
    readonly caKey: PrivateKeyOps,
    readonly signingKey: PrivateKeyOps,
    readonly encryptionKey: PrivateKeyOps,
  ) {}

  /** Opens the org's KMS token, initialising it and generating the three key pairs on first use. */
  static async open(o: KmsOpenOptions): Promise<Kms> {
    if (!o.hsm.labels().includes(o.label)) o.hsm.initToken({ label: o.label, soPin: o.soPin, userPin: o.userPin });
    const token = o.hsm.openToken(o.label);
    try {
      await token.login(o.userPin);
      const key = async (label: string, alg: KeyAlgorithm, purpose: KeyPurpose) =>
        bindTokenKey(token, (await token.findKey(label)) ?? (await token.generateKeyPair(label, alg, purpose)));
      const kms = new Kms(
        token,
        await key(KmsKeyLabels.orgCa, o.caAlgorithm ?? 'EC-P256', 'signing'),
        await key(KmsKeyLabels.signing, o.signingAlgorithm ?? 'EC-P256', 'signing'),
        // The encryption key re-encrypts only: it cannot sign in the org's name (CKA_SIGN false).
        await key(KmsKeyLabels.encryption, o.encryptionAlgorithm ?? 'RSA-2048', 'encryption'),
      );
      for (const [k, label] of Object.entries(KmsCertLabels) as [keyof KmsCertificates, string][]) {
        const der = await token.getCertificate(label);
        if (der) kms.#certs[k] = der;
      }
      return kms;
    } catch (e) {
      await token.close();
      throw e;
    }
  }

  /** True once enrolment stored every certificate on the token. */
  get enrolled(): boolean {
    return Object.keys(KmsCertLabels).every((k) => this.#certs[k as keyof KmsCertificates] !== undefined);
  }

  get certificates(): KmsCertificates {
    const c = this.#certs;
    if (!c.root || !c.org || !c.signing || !c.encryption)
      throw new SsmaxError('USAGE', 'Cannot use the KMS certificates. The org has not finished enrolment (1).');
    return { root: c.root, org: c.org, signing: c.signing, encryption: c.encryption };
  }

  /** Stores certificates on the token (after enrolment or renewal). */
  async storeCertificates(certs: Partial<KmsCertificates>): Promise<void> {
    for (const [k, der] of Object.entries(certs) as [keyof KmsCertificates, Uint8Array | undefined][]) {
      if (!der) continue;
      await this.token.putCertificate(KmsCertLabels[k], der);
      this.#certs[k] = der;
    }
  }

  /** Issues the two KMS certificates under the org CA certificate (registry-issued, stored first). */
  async issueKmsCertificates(now: () => Date, validityDays = 365): Promise<{ signing: CertificateInfo; encryption: CertificateInfo }> {
    const org = this.#certs.org;
    if (!org) throw new SsmaxError('USAGE', 'Cannot issue KMS certificates. The org certificate is not on the token yet.');
    const issuer = { certificate: org, key: this.caKey };
    const signing = await issueOrgKmsCertificate({ issuer, subjectSpki: this.signingKey.spki, purpose: 'signing', now, validityDays });
    const encryption = await issueOrgKmsCertificate({ issuer, subjectSpki: this.encryptionKey.spki, purpose: 'encryption', now, validityDays });
    await this.storeCertificates({ signing: signing.der, encryption: encryption.der });
    return { signing, encryption };
  }

  /** Decrypts a file encrypted to the KMS encryption certificate (inspection needs the plaintext). */
  async decrypt(der: Uint8Array): Promise<{ content: Uint8Array; info: EnvelopeInfo }> {
    const r = await decryptContent(der, { key: this.encryptionKey, certificate: this.certificates.encryption });
    return { content: r.content, info: r };
  }

  /**
   * (6)/(9): decrypts with the KMS encryption key and encrypts to `recipients` (DER certificates),
   * letting `inspect` see the authenticated plaintext first; a blocking verdict yields no output.
   */
  async reencrypt(
    der: Uint8Array,
    recipients: readonly Uint8Array[],
    inspect?: (plaintext: Uint8Array, info: EnvelopeInfo) => Promise<CoreInspectionVerdict>,
  ): Promise<{ verdict: CoreInspectionVerdict; output?: Uint8Array }> {
    return reencrypt(der, { key: this.encryptionKey, certificate: this.certificates.encryption, recipients, ...(inspect ? { inspect } : {}) });
  }

  /** Detached SignedData over `entity` with the KMS signing key; the chain (org CA certificate) is embedded. */
  async signDetached(entity: Uint8Array, signingTime?: Date): Promise<Uint8Array> {
    const c = this.certificates;
    return signSignedData(entity, { key: this.signingKey, certificate: c.signing, chain: [c.org], detached: true, ...(signingTime ? { signingTime } : {}) });
  }

  /** The org's mail domain as the org certificate records it. */
  get domain(): string | undefined {
    const org = this.#certs.org;
    if (!org) return undefined;
    const info = parseCertificate(org);
    return info.orgRole?.mailDomain ?? info.dnsNames[0];
  }

  async close(): Promise<void> {
    await this.token.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
