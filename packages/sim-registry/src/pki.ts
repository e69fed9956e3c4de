import type { PrivateKeyOps } from '@ssmax/core';

/**
 * The certificate and CMS operations the registry needs, as one narrow seam. The registry's code
 * calls only this; `core-pki.ts` implements it with @ssmax/core's x509 and cms/signed functions.
 */
export interface RegistryPki {
  /** A self-signed registry root (CA:TRUE, keyCertSign + cRLSign), signed by `signer`. Returns DER. */
  issueRoot(signer: PrivateKeyOps, req: RootRequest): Promise<Uint8Array>;
  /** A certificate for `req.subjectSpki` issued by the root. Returns DER. */
  issue(signer: PrivateKeyOps, issuerCertificate: Uint8Array, req: IssueRequest): Promise<Uint8Array>;
  /** An X.509 v2 CRL (RFC 5280 §5) signed by the root. Returns DER. */
  issueCrl(signer: PrivateKeyOps, issuerCertificate: Uint8Array, req: CrlRequest): Promise<Uint8Array>;
  /** CMS SignedData (RFC 5652 §5) with encapsulated `content` (id-data), the signer certificate included. DER. */
  signData(signer: PrivateKeyOps, signerCertificate: Uint8Array, content: Uint8Array, signingTime: Date): Promise<Uint8Array>;
  /**
   * Verifies CMS SignedData whose signer must be one of `candidates` (certificates the registry already
   * holds; certificates carried inside the CMS are not trusted). Returns the content and the matching
   * candidate, or a reason as data when the signature does not verify.
   */
  verifyData(cms: Uint8Array, candidates: readonly Uint8Array[]): Promise<VerifyOutcome>;
}

export type VerifyOutcome =
  | { readonly ok: true; readonly content: Uint8Array; readonly signerCertificate: Uint8Array }
  | { readonly ok: false; readonly reason: string };

export interface RootRequest {
  readonly serial: Uint8Array;
  readonly commonName: string;
  readonly organization: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * What the registry certifies: `org-ca` is the org's CA key (CA:TRUE, pathLen 0: it issues user address
 * certificates only); `kms-signing` and `kms-encryption` are the org's KMS keys used in procedures (6)/(9).
 */
export type CertificateProfile = 'org-ca' | 'kms-signing' | 'kms-encryption';

export interface IssueRequest {
  readonly profile: CertificateProfile;
  readonly serial: Uint8Array;
  readonly commonName: string;
  readonly organization: string;
  readonly subjectSpki: Uint8Array;
  readonly dnsNames: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CrlEntry {
  readonly serial: Uint8Array;
  readonly revokedAt: Date;
  /** RFC 5280 §5.3.1 CRLReason code. */
  readonly reasonCode: number;
}

export interface CrlRequest {
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked: readonly CrlEntry[];
}
