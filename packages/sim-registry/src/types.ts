/**
 * The registry's HTTP contract as JSON types. Organisations write their own fetchers against these;
 * nothing here performs I/O. Binary values (DER certificates, CMS, SPKI) are base64 (RFC 4648 §4)
 * strings; times are ISO 8601 UTC strings.
 */
import type { SignScheme } from '@ssmax/core';

export type OrgMode = 'org' | 'esp';
export type OrgStatus = 'admitted' | 'suspended' | 'revoked';

/** How the org proves a user's identity before issuing an address certificate (procedure (2)). */
export type IdentityProofingMethod = 'my-number-card+pin' | 'employee-card+pin' | 'employee-card' | 'in-person-document' | 'email-only' | 'none';

export interface AuditFinding {
  readonly id: string;
  readonly severity: 'critical' | 'high' | 'medium' | 'low';
  readonly open: boolean;
  readonly summary: string;
}

/** An information-security audit report, including the SSMAX operation items (paper §6 (13)). */
export interface AuditReport {
  /** Date of the audit, YYYY-MM-DD. */
  readonly date: string;
  readonly auditor: string;
  readonly findings: readonly AuditFinding[];
}

export interface EvaluationData {
  /** ISO/IEC 27001 (ISMS) certification is current. */
  readonly ismsCertified: boolean;
  readonly outboundInspection: boolean;
  readonly inboundInspection: boolean;
  /** The KMS private keys live on an HSM (non-extractable). */
  readonly kmsOnHsm: boolean;
  readonly identityProofing: IdentityProofingMethod;
  /** Mailbox of the incident response desk. */
  readonly incidentContact: string;
  readonly lastAudit: AuditReport;
}

export interface EnrolmentKeys {
  /** DER SubjectPublicKeyInfo of the org CA key (issues user address certificates), base64. */
  readonly orgCaSpki: string;
  /** DER SPKI of the KMS signing key (signs outbound mail, procedure (6)). */
  readonly kmsSigningSpki: string;
  /** DER SPKI of the KMS encryption key (senders re-encrypt to it, procedure (6)). */
  readonly kmsEncryptionSpki: string;
}

/** POST /v1/enrolments body. */
export interface EnrolmentApplication {
  readonly name: string;
  readonly domains: readonly string[];
  readonly mode: OrgMode;
  readonly keys: EnrolmentKeys;
  readonly evaluation: EvaluationData;
  /** Where the registry POSTs incident notifications for this org (optional). */
  readonly callbackUrl?: string;
  /**
   * Ids of the domain-control challenges (`POST /v1/enrolment/challenges`) whose DNS TXT records prove
   * that the applicant controls each domain; each must have been issued for `keys.orgCaSpki`.
   */
  readonly domainChallenges?: readonly string[];
  /**
   * Proof of possession of the org CA key: a signature with that key over the canonical JSON of the
   * application without this member (the role a PKCS#10 signature plays, RFC 2986 §3).
   */
  readonly proofOfPossession: { readonly scheme: SignScheme; readonly signature: string };
}

/** POST /v1/enrolment/challenges body: the domains to prove and the org CA key the challenges are bound to. */
export interface DomainChallengeRequest {
  readonly domains: readonly string[];
  /** DER SubjectPublicKeyInfo of the org CA key that will sign the application, base64. */
  readonly orgCaSpki: string;
}

/**
 * One domain-control challenge (procedure (1)): publish `txtValue` as a TXT record at `txtName` in the
 * domain's DNS, then name `id` in the application's `domainChallenges` before `expiresAt`. Single use.
 */
export interface DomainChallenge {
  readonly id: string;
  readonly domain: string;
  /** `_ssmax-challenge.<domain>` */
  readonly txtName: string;
  /** `ssmax-domain-verification=<token>` */
  readonly txtValue: string;
  readonly expiresAt: string;
}

/** POST /v1/enrolment/challenges response (201). */
export interface DomainChallengeResponse {
  readonly challenges: readonly DomainChallenge[];
}

export interface CriterionResult {
  readonly id: string;
  readonly passed: boolean;
  readonly reason: string;
}

export interface IssuedCertificates {
  /** The registry root (trust anchor), DER base64. */
  readonly root: string;
  /** The org certificate for keys.orgCaSpki, DER base64. */
  readonly org: string;
}

/** POST /v1/enrolments response (201 admitted, 422 refused). */
export interface EnrolmentResult {
  readonly applicationId: string;
  readonly decision: 'admitted' | 'refused';
  readonly orgId?: string;
  readonly failedCriteria: readonly CriterionResult[];
  readonly criteria: readonly CriterionResult[];
  readonly certificates?: IssuedCertificates;
}

/** Common header of every registry-signed document (the CMS eContent is its canonical JSON). */
export interface SignedDocumentHeader {
  readonly type: string;
  /** Registry state serial: increases with every decision that changes membership or status. */
  readonly version: number;
  readonly issuer: string;
  readonly issuedAt: string;
  /** After this instant the document is stale and a relying party must refetch. */
  readonly nextUpdate: string;
}

export interface DirectoryMember {
  readonly orgId: string;
  readonly name: string;
  readonly domains: readonly string[];
  readonly mode: OrgMode;
  readonly status: OrgStatus;
  readonly since: string;
  readonly statusSince: string;
  /** Registry-issued org CA certificate (DER, base64). */
  readonly orgCertificate: string;
  /** Org-issued KMS certificates, chained to orgCertificate; absent until the org registered them. */
  readonly kmsSigningCertificate?: string;
  readonly kmsEncryptionCertificate?: string;
  /**
   * ssmax-plus addition 1: SHA-256 of the SubjectPublicKeyInfo of the org's MTA TLS keys (base64, the
   * RFC 7469 pin-sha256 form), as the org submitted them signed with its KMS signing key.
   */
  readonly mtaTlsSpkiSha256?: readonly string[];
}

/** POST /v1/orgs/{orgId}/kms-certificates body: org-issued KMS certificates (DER, base64). */
export interface KmsRegistration {
  readonly signing: string;
  readonly encryption: string;
}

export interface DirectoryDocument extends SignedDocumentHeader {
  readonly type: 'ssmax-directory';
  readonly members: readonly DirectoryMember[];
}

export interface OrgStatusEntry {
  readonly orgId: string;
  readonly name: string;
  readonly status: OrgStatus;
  readonly admittedAt: string;
  readonly statusSince: string;
  readonly suspendedAt?: string;
  readonly revokedAt?: string;
  readonly reinstatedAt?: string;
}

export interface StatusDocument extends SignedDocumentHeader {
  readonly type: 'ssmax-status';
  readonly orgs: readonly OrgStatusEntry[];
}

/** eContent of the CMS a receiving org signs for POST /v1/incidents (procedure (12)). */
export interface IncidentReport {
  readonly type: 'ssmax-incident-report';
  readonly reporterOrgId: string;
  readonly messageId: string;
  readonly senderOrgId: string;
  /** Hex serial of the certificate that signed the offending mail. */
  readonly senderCertificateSerial: string;
  readonly evidence: { readonly summary: string; readonly pattern?: 'A' | 'B' | 'C'; readonly sha256?: string };
  readonly reportedAt: string;
}

export type RootCause = 'operation-fault' | 'malicious-sender' | 'client-takeover' | 'not-malicious';
export type CorrectiveAction = 'sender-identified-and-revoked' | 'operation-fixed' | 'disciplinary-action' | 'police-cooperation' | 'none';

/** eContent of the CMS the sending org signs for POST /v1/incidents/{caseId}/response. */
export interface IncidentResponse {
  readonly type: 'ssmax-incident-response';
  readonly caseId: string;
  readonly orgId: string;
  readonly rootCause: RootCause;
  readonly correctiveActions: readonly CorrectiveAction[];
  readonly summary: string;
  readonly respondedAt: string;
}

/** eContent of the CMS an org signs for POST /v1/orgs/{orgId}/audits. */
export interface AuditSubmission {
  readonly type: 'ssmax-audit-report';
  readonly orgId: string;
  readonly audit: AuditReport;
}

/** Body of every signed submission: `{ "cms": "<base64 DER ContentInfo(SignedData)>" }`. */
export interface SignedSubmission {
  readonly cms: string;
}

export type CaseState = 'awaiting-response' | 'responded';
export type CaseOutcome = 'pending' | 'confirmed-attributable' | 'confirmed-not-attributable' | 'disputed' | 'overdue';

export interface IncidentCase {
  readonly caseId: string;
  readonly reporterOrgId: string;
  readonly senderOrgId: string;
  readonly messageId: string;
  readonly senderCertificateSerial: string;
  readonly evidence: IncidentReport['evidence'];
  readonly receivedAt: string;
  readonly responseDue: string;
  readonly state: CaseState;
  readonly outcome: CaseOutcome;
  readonly response?: IncidentResponse;
  readonly respondedAt?: string;
}

export type DecisionKind = 'admit' | 'refuse' | 'suspend' | 'revoke' | 'reinstate' | 'no-change';

export interface Decision {
  readonly id: number;
  readonly orgId: string | null;
  readonly applicationId: string | null;
  readonly kind: DecisionKind;
  readonly at: string;
  readonly trigger: string;
  readonly reasons: readonly CriterionResult[];
}

/** Body of every 4xx/5xx response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}
