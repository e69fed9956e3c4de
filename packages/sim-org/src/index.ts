export { SimOrgError, SimOrgErrorCodes } from './errors.js';
export type { SimOrgErrorCode } from './errors.js';
export { ReplyCodes, replyFor, formatReply, renderReplyCodesMarkdown } from './reply-codes.js';
export type { SmtpReply, ReplyVia, ReplyCodeKey } from './reply-codes.js';
export { DEFAULT_DLP_RULES, applyDlpRules, myNumberCheckDigit, isValidMyNumber, luhnValid } from './dlp-rules.js';
export type { DlpRule, DlpMatch, RuleAction, KeywordRule, MyNumberRule, CreditCardRule, RegexRule } from './dlp-rules.js';
export { EICAR, DEFAULT_BLOCKED_EXTENSIONS, scanForMalware, executableKind, isOle2 } from './malware-scan.js';
export type { MalwareFinding, MalwareRule, MalwareScanOptions } from './malware-scan.js';
export { inspect, DEFAULT_INSPECTION_POLICY, DEFAULT_INSPECTION_TIME_LIMIT_MS } from './inspection.js';
export { inspectOffThread, InspectionPool } from './inspection-pool.js';
export type { InspectionJob, InspectionEngines } from './inspection-pool.js';
export { ClamdClient, ClamdDaemon, CLAMD_LIMITS, LOCAL_SIGNATURES, parseClamdReply } from './clamd.js';
export type { ClamdDaemonOptions, ClamdLimits, MalwareScanner, MalwareScanOutcome } from './clamd.js';
export { CLAMAV_FINDINGS, engineReasons, reasonOfFinding, reasonLabel } from './malware-engine.js';
export type {
  InspectionDestination,
  InspectionDirection,
  InspectionPolicy,
  InspectionVerdict,
  InspectedFile,
  VerdictAction,
  VerdictReason,
} from './inspection.js';
export { totp, hotp, verifyTotp, base32Encode, base32Decode } from './totp.js';
export type { TotpOptions } from './totp.js';
export { Spool } from './spool.js';
export type { SpoolEnvelope, SpoolEntry, SpoolState, ClaimableState, SpoolOptions } from './spool.js';
export { Mailbox } from './mailbox.js';
export type { MailboxOptions, MailboxUser, DeliveryResult } from './mailbox.js';
export { JourneyLog, JOURNEY_EVENT_SCHEMA, readJourney } from './journey.js';
export type { JourneyEvent, JourneyCheck, JourneyOutcome, FilesState, ProcedureNumber, CheckResult } from './journey.js';
export { canonicalJson, signAttestation, verifyAttestation } from './attestation.js';
export type { OrgAttestation, AttestationRole, AttestationCheck, AttestedFile, IdentityNotice, AttestationVerdict } from './attestation.js';
export { Kms, KmsKeyLabels, KmsCertLabels } from './kms.js';
export type { KmsOpenOptions, KmsCertificates } from './kms.js';
export { RegistryClient } from './registry-client.js';
export type {
  RegistryClientOptions,
  EnrolmentApplication,
  EnrolmentResult,
  EvaluationData,
  DirectoryDocument,
  DirectoryMember,
  StatusDocument,
  OrgStatusEntry,
  OrgStatus,
  OrgMode,
} from './registry-client.js';
export {
  orgHop,
  orgFileHop,
  classifyParts,
  buildFilePart,
  buildAttestationPart,
  assembleMixed,
  messageIdOf,
  MANIFEST_FILENAME,
  ATTESTATION_PREFIX,
} from './org-hop.js';
export type { OrgHopOptions, OrgHopResult, OrgHopFile, SsmaxParts, SsmaxFilePart } from './org-hop.js';
export type { OrgContext, OrgDefences, OrgPlus, OrgProfile, OrgUserDirectory, MailboxDelivery, DeliveryEnvelope } from './org-context.js';
export { verifyUserMail, startMsa } from './msa.js';
export type { UserMailVerdict, Msa } from './msa.js';
export { sendToDomain, processSubmission, processConventionalSubmission, mxMatchesPolicy } from './mta-out.js';
export type { SendResult, SendTlsOptions } from './mta-out.js';
export {
  CONVENTIONAL_PRESETS,
  conventionalProfile,
  conventionalMailboxOptions,
  PasswordUserDirectory,
  analyseConventionalMail,
  checkMailAuth,
  cancelSubmission,
  authservIdIsOneOf,
} from './conventional.js';
export type {
  ConventionalOptions,
  ConventionalProfileName,
  ConventionalRuntime,
  ConventionalAnalysis,
  ConventionalSubmissionMeta,
  MailAuthOutcome,
  TlsReportEvent,
} from './conventional.js';
export { scoreDomain, skeleton, editDistance, toUnicodeDomain, reputationHeader, REPUTATION_POINTS } from './reputation.js';
export type { ReputationOptions, ReputationReason, ReputationVerdict } from './reputation.js';
export { verifyOrgMail, inboundInspection, inspectPlainMail, startMtaIn } from './mta-in.js';
export type { OrgMailVerdict, MtaIn, MtaInOptions } from './mta-in.js';
export { processInbound, lmtpDelivery } from './delivery.js';
export { buildDsn } from './dsn.js';
export type { DsnOptions } from './dsn.js';
export { Organisation, SimpleUserDirectory, defaultEvaluation } from './organisation.js';
export type { OrganisationOptions, SimpleUser } from './organisation.js';
export { OrgCa } from './org-ca.js';
export type { OrgCaOptions, UserDirectoryEntry, UserCertificateStatus, IssueUserCertificateRequest } from './org-ca.js';
export { TraceVault, vaultSealing } from './trace-vault.js';
export type { TraceRecord, VaultAuditEntry, TraceVaultOptions, OpenRequest } from './trace-vault.js';
export { UserRegistration, CardUserDirectory, DeferredUserDirectory, CardObjects } from './user-registration.js';
export type { RegisterUserRequest, RegisteredUser, RegistrationRecord, IdentityCheck, UserRegistrationOptions } from './user-registration.js';
export { encodeManifest, signManifest, verifyManifest, normaliseAddress, sha256Hex } from './manifest.js';
export type { Manifest, ManifestFile, ManifestExpectation, ManifestVerification, VerifyManifestOptions } from './manifest.js';
export { UserAgent, WithheldReasons } from './user-agent.js';
export type {
  VerificationMode,
  OutgoingFile,
  ComposeInput,
  ComposedMail,
  SmtpSubmission,
  ImapAccess,
  UserAgentOptions,
  IdentityNoticeView,
  ReceivedFile,
  WithheldReason,
  MailVerdict,
} from './user-agent.js';
export { IncidentDesk } from './incident-desk.js';
export type {
  IncidentDeskOptions,
  IncidentSigner,
  IncidentBackOffice,
  IncidentReportInput,
  IncidentNotice,
  IncidentFinding,
  IncidentCause,
  IncidentReview,
  MaliciousMailReport,
  MaliciousReportResult,
} from './incident-desk.js';
export { startCrlPublisher, fetchOrgCrl, crlUrl, CRL_PATH } from './crl-publisher.js';
export { serveOrg, readOrgImplementationConfig } from './org-serve.js';
export type { ServeOrgOptions } from './org-serve.js';
export { ReplayCache, checkFreshness } from './plus.js';
export type { FreshnessVerdict } from './plus.js';
