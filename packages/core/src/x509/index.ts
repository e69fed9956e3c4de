export { parseCertificate, KeyUsageNames } from './certificate-info.js';
export type { CertificateInfo, KeyUsageName, BasicConstraints, ExtensionSummary, PublicKeyType } from './certificate-info.js';
export type { NameSpec, NameAttribute } from './names.js';
export {
  issueRootCertificate,
  issueOrgCertificate,
  issueOrgKmsCertificate,
  issueUserCertificate,
  issueSmimeCertificate,
  keyIdentifier,
  orgMailDomain,
} from './issue.js';
export type {
  CertificateIssuer,
  IssueRootOptions,
  IssueOrgOptions,
  IssueOrgKmsOptions,
  IssueUserOptions,
  IssueSmimeOptions,
  SmimeValidationType,
  KmsPurpose,
  UserCertificateUsage,
} from './issue.js';
export { issueCrl, parseCrl, verifyCrlSignature, CrlReasons } from './crl.js';
export type { CrlInfo, CrlReason, IssueCrlOptions, RevokedEntry } from './crl.js';
export { validateChain } from './validate-chain.js';
export { readCertificateBundle } from './certificate-bundle.js';
export type { CertificateBundle, SkippedCertificate } from './certificate-bundle.js';
export type { ChainValidationOptions, ChainValidationResult, ChainVerdictCode, RevocationPolicy } from './validate-chain.js';
export type { PathPolicies, PolicyInputs, PolicyQualifier, QualifiedPolicy } from './policy-tree.js';
export {
  IdentityProofingMethods,
  encodeIdentityProofing,
  decodeIdentityProofing,
  newTraceId,
  encodeTraceId,
  decodeTraceId,
  TRACE_ID_LENGTH,
  OrgKinds,
  encodeOrgRole,
  decodeOrgRole,
} from './ssmax-extensions.js';
export type { IdentityProofing, IdentityProofingMethod, OrgKind, OrgRole } from './ssmax-extensions.js';
export type { SignatureAlgorithm } from './signature-algorithms.js';
