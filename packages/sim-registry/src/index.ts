export { Registry, type RegistryOptions } from './registry.js';
export { HTTP_LIMITS, type HttpLimits } from './http-limits.js';
export type {
  AuditFinding,
  AuditReport,
  AuditSubmission,
  CaseOutcome,
  CaseState,
  CorrectiveAction,
  CriterionResult,
  Decision,
  DecisionKind,
  DirectoryDocument,
  DirectoryMember,
  DomainChallenge,
  DomainChallengeRequest,
  DomainChallengeResponse,
  EnrolmentApplication,
  EnrolmentKeys,
  EnrolmentResult,
  ErrorBody,
  EvaluationData,
  IdentityProofingMethod,
  IncidentCase,
  IncidentReport,
  IncidentResponse,
  IssuedCertificates,
  KmsRegistration,
  OrgMode,
  OrgStatus,
  OrgStatusEntry,
  RootCause,
  SignedDocumentHeader,
  SignedSubmission,
  StatusDocument,
} from './types.js';
export {
  ACCEPTED_PROOFING,
  DEFAULT_EVALUATION_POLICY,
  ENROLMENT_CRITERIA,
  evaluateEnrolment,
  reevaluate,
  type DomainControlFinding,
  type EnrolmentCriterion,
  type EvaluationPolicy,
} from './evaluation.js';
export { classifyResponse, loopbackNotifier, type Notifier } from './incident-intake.js';
export { canonicalJson, canonicalJsonBytes as canonicalBytes } from '@ssmax/core';
export { popSigningInput } from './enrolment.js';
export { CHALLENGE_LABEL, CHALLENGE_TXT_PREFIX, challengeTxtName } from './domain-control.js';
export { HttpErrorCodes, type HttpErrorCode } from './http.js';
export type { RegistryPki, OrgRequest, KmsCheck, KmsPurpose, CrlRequest, CrlEntry, CrlEntryReason, RootRequest, VerifyOutcome } from './pki.js';
export { corePki } from './core-pki.js';
export type { PublisherOptions } from './status-publisher.js';
