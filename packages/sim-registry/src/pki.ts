import type { PrivateKeyOps } from '@ssmax/core';

/**
 * The certificate and CMS operations the registry needs, as one narrow seam (so a world config can
 * swap in another implementation under test). {@link corePki} implements it with @ssmax/core's x509
 * and cms/signed functions.
 */
export interface RegistryPki {
  /** A self-signed registry root (CA, pathLen 1: root → org CA → user/KMS), signed by `signer`. DER. */
  issueRoot(signer: PrivateKeyOps, req: RootRequest): Promise<Uint8Array>;
  /** The "global" org certificate for the org CA key (CA, pathLen 0), issued by the root. DER. */
  issueOrg(signer: PrivateKeyOps, rootCertificate: Uint8Array, req: OrgRequest): Promise<Uint8Array>;
  /**
   * Checks an org-issued KMS certificate: chains to `orgCertificate` under `rootCertificate` at `time`,
   * with the key usage its purpose needs and the emailProtection EKU. The verdict is data.
   */
  validateKms(req: KmsCheck): { readonly ok: true } | { readonly ok: false; readonly reason: string };
  /** An X.509 v2 CRL (RFC 5280 §5) signed by the root. DER. */
  issueCrl(signer: PrivateKeyOps, rootCertificate: Uint8Array, req: CrlRequest): Promise<Uint8Array>;
  /** CMS SignedData (RFC 5652 §5) with encapsulated `content` (id-data), the signer certificate included. DER. */
  signData(signer: PrivateKeyOps, signerCertificate: Uint8Array, content: Uint8Array, signingTime: Date): Promise<Uint8Array>;
  /**
   * Verifies CMS SignedData whose one signer must be one of `candidates` (certificates the registry already
   * holds; a certificate carried inside the CMS counts only if it is byte-identical to a candidate).
   * Malformed CMS is a verdict too, never a throw.
   */
  verifyData(cms: Uint8Array, candidates: readonly Uint8Array[]): VerifyOutcome;
  /** Lowercase hex serial number of a certificate (as `openssl x509 -serial`, without a sign byte). */
  serialOf(certificate: Uint8Array): string;
  /** DER SubjectPublicKeyInfo of a certificate. */
  spkiOf(certificate: Uint8Array): Uint8Array;
}

export type VerifyOutcome =
  { readonly ok: true; readonly content: Uint8Array; readonly signerCertificate: Uint8Array } | { readonly ok: false; readonly reason: string };

export interface RootRequest {
  readonly commonName: string;
  readonly organization: string;
  readonly now: Date;
  readonly validityDays: number;
  readonly random: (n: number) => Uint8Array;
}

export interface OrgRequest {
  readonly organization: string;
  /** The org's primary mail domain: the certificate's CN, dNSName and org-role extension. */
  readonly mailDomain: string;
  readonly mode: 'org' | 'esp';
  readonly subjectSpki: Uint8Array;
  readonly now: Date;
  readonly validityDays: number;
  readonly random: (n: number) => Uint8Array;
}

export type KmsPurpose = 'signing' | 'encryption';

export interface KmsCheck {
  readonly certificate: Uint8Array;
  readonly purpose: KmsPurpose;
  readonly orgCertificate: Uint8Array;
  readonly rootCertificate: Uint8Array;
  readonly time: Date;
}

export type CrlEntryReason = 'certificateHold' | 'privilegeWithdrawn';

export interface CrlEntry {
  readonly serialHex: string;
  readonly revokedAt: Date;
  readonly reason: CrlEntryReason;
}

export interface CrlRequest {
  readonly crlNumber: number;
  readonly now: Date;
  /** nextUpdate − thisUpdate (RFC 5280 §5.1.2.5). */
  readonly freshnessSeconds: number;
  readonly revoked: readonly CrlEntry[];
}
