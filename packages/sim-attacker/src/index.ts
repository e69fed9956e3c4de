// Misdelivery (PPAP incident 8) is deliberately NOT an attacker capability: it is the sender's own
// mistake (a wrong address picked), so it belongs to the sender's user agent in the world, not here.

export { ATTACKER_CAPABILITIES } from './capabilities.js';
export type { AttackerCapability, AttackerCapabilityName } from './capabilities.js';
export { OutcomeRecorder, leakLevel } from './outcome.js';
export type { AttackFailure, AttackOutcome, LeakLevel, ObtainedItem, SentRecord } from './outcome.js';
export { attackerContext } from './footholds.js';
export type {
  AttackerContext,
  CardHandle,
  Foothold,
  ForwardingRuleApi,
  InsiderFoothold,
  KmsSigningFoothold,
  OnPathFoothold,
  OrgAccountFoothold,
  OrgMailServerFoothold,
  SenderPcMalwareFoothold,
  ServiceRef,
  SmtpCredentials,
  StolenCardFoothold,
  StolenPasswordFoothold,
} from './footholds.js';
export { addressIn, composeMail, formatAddress, headerBlock, messageIdOf, rawHeader, splitTopLevel } from './compose-mail.js';
export type { ComposeMailOptions } from './compose-mail.js';
export { mxOf, smtpSend } from './smtp-send.js';
export type { ClientTls, SmtpSendOptions, SmtpSendResult } from './smtp-send.js';
export { sendSpoofedDirect } from './spoof-direct.js';
export { FROM_FORMS, fromFieldLines, withFromForm } from './from-forms.js';
export type { FromForm } from './from-forms.js';
export type { MailContent, SpoofDirectOptions } from './spoof-direct.js';
export { LookAlikeDomain, lookAlikeDomains } from './look-alike.js';
export { applyForMembership } from './registry-enrolment.js';
export type { RegistryApplicationOptions, RogueMembership } from './registry-enrolment.js';
export type { AttackerPki, LookAlikeCandidate, LookAlikeSendOptions, LookAlikeTechnique, RegisterLookAlikeOptions } from './look-alike.js';
export { sendViaTakenOverServer, spoofColleague } from './org-server.js';
export type { ColleagueSpoofOptions, OrgServerSendOptions } from './org-server.js';
export { plantForwardingRule, readMailboxWithStolenPassword, recordMailContent } from './mailbox-access.js';
export type { PlantForwardingRuleOptions, ReadMailboxOptions } from './mailbox-access.js';
export { OnPathMta, envelopedSmimeType, tamperAttachments } from './on-path-mta.js';
export type {
  AttachmentTamper,
  InterceptedSession,
  OnPathMtaOptions,
  PpapRezip,
  SmimeSwap,
  TamperAttachmentsOptions,
  TamperResult,
  TamperedAttachment,
} from './on-path-mta.js';
export { capturePassively, readSmtpTranscript } from './passive-capture.js';
export type { PassiveCaptureOptions, SmtpTranscriptReading } from './passive-capture.js';
export { findPpapPasswords, openCapturedZips } from './ppap.js';
export { sendAsInsider, sendAsUserViaMalware, useStolenCard } from './card-attacks.js';
export type { CardMailOptions, StolenCardOptions } from './card-attacks.js';
export { resignWithPlainFiles } from './parts-outside-roles.js';
export type { PlainFilesShape } from './parts-outside-roles.js';
export { replayCapturedMail } from './replay.js';
export type { ReplayOptions } from './replay.js';
export { rewrapSignedMail, sendRewrapped } from './rewrap.js';
export type { RewrapOptions, RewrapTechnique, SendRewrappedOptions } from './rewrap.js';
