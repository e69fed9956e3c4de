export { DEFAULT_MIME_LIMITS, canonicalizeLineEndings, isCanonicalCrlf } from './mime-bytes.js';
export type { MimeLimits } from './mime-bytes.js';
export { getHeader, decodeEncodedWords, encodeHeaderText, parseParameterizedHeader } from './mime-headers.js';
export type { MimeHeader, MimeContentType } from './mime-headers.js';
export { splitMultipart, isValidBoundary } from './multipart.js';
export type { MultipartSplit } from './multipart.js';
export { buildMimeEntity, parseMimeEntity, collectAttachments, findTextBody, makeBoundary } from './mime-entity.js';
export type { MimePart, MimeAttachment, MimeAttachmentInput, BuildMimeEntityOptions } from './mime-entity.js';
export { buildMultipartSigned, buildPkcs7Mime, parseSmime, canonicalizeMimeEntity } from './smime-message.js';
export type { SmimeType, BuildableSmimeType, Micalg, OuterHeaders, BuildMultipartSignedOptions, BuildPkcs7MimeOptions, ParsedSmime } from './smime-message.js';
export { parseMailboxList, parseAddressList, normaliseAddress, originatorOf, originatorOfMessage, senderIsAuthor } from './address.js';
export type { Mailbox, Originator } from './address.js';
export { detectCmsInput } from './detect-cms-input.js';
export type { DetectedCmsInput } from './detect-cms-input.js';
export { judgeSigners } from './judge-signers.js';
export type { JudgeSignersOptions, SignerJudgement } from './judge-signers.js';
export { judgeMail } from './judge-mail.js';
export type { JudgeMailOptions, MailJudgement, MailLayer, MailSignatureState, MailSigner } from './judge-mail.js';
export {
  OBSCURED_SUBJECT,
  PROTECTED_FIELD_NAMES,
  hcpBaseline,
  outerHeadersFor,
  injectProtectedHeaders,
  readProtectedHeaders,
  compareOuterHeaders,
  wrapHeaderProtected,
  openHeaderProtected,
  isEnvelopedMessage,
} from './header-protection.js';
export type {
  HeaderConfidentialityPolicy,
  ProtectedHeaders,
  OuterHeaderDifference,
  WrapHeaderProtectedOptions,
  OpenedHeaderProtected,
} from './header-protection.js';
