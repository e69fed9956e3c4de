/**
 * The one table from error/verdict codes to SMTP replies (RFC 5321 §4.2 basic codes, RFC 3463
 * enhanced status codes). The SMTP edge (MSA, MTA-in) and the DSN writer both read it, so a code is
 * answered the same way wherever it is detected.
 */

/** How the sender learns of the refusal: in the SMTP dialogue, or later by a bounce (RFC 3464 DSN). */
export type ReplyVia = 'smtp' | 'dsn';

export interface SmtpReply {
  /** RFC 5321 three-digit reply code. */
  code: number;
  /** RFC 3463 enhanced status code, class.subject.detail. */
  enhanced: string;
  /** Text after the codes; never contains secrets or internal detail. */
  message: string;
  via: ReplyVia;
  /** Why this code: the RFC section that defines it. */
  basis: string;
}

export const ReplyCodes = {
  UNKNOWN_ORG: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Sending organisation is not certified by the SSMAX registry',
    basis: 'RFC 3463 §3.8 X.7.1 delivery not authorized, message refused',
  },
  ORG_SUSPENDED: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Sending organisation is suspended by the SSMAX registry',
    basis: 'RFC 3463 §3.8 X.7.1; permanent until the registry re-admits the org',
  },
  ORG_REVOKED: { code: 550, enhanced: '5.7.1', via: 'smtp', message: 'Sending organisation is revoked by the SSMAX registry', basis: 'RFC 3463 §3.8 X.7.1' },
  CERT_REVOKED: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Signer certificate is revoked',
    basis: 'RFC 3463 §3.8 X.7.1 (policy refusal, not an integrity fault)',
  },
  UNTRUSTED_CHAIN: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Signer certificate does not chain to a trusted anchor',
    basis: 'RFC 3463 §3.8 X.7.1',
  },
  CERT_EXPIRED: { code: 550, enhanced: '5.7.1', via: 'smtp', message: 'Signer certificate is expired', basis: 'RFC 3463 §3.8 X.7.1' },
  BAD_SIGNATURE: { code: 550, enhanced: '5.7.7', via: 'smtp', message: 'Signature does not verify', basis: 'RFC 3463 §3.8 X.7.7 message integrity failure' },
  REPLAY: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Message refused as a replay: seen before, or not for this recipient',
    basis: 'ssmax-plus freshness (docs/PROTOCOL.md "ssmax-plus" §3); RFC 3463 §3.8 X.7.1',
  },
  STALE: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: "Message refused: outside the sending organisation's validity window",
    basis: 'ssmax-plus freshness (docs/PROTOCOL.md "ssmax-plus" §3); RFC 3463 §3.8 X.7.1',
  },
  CONTENT_MISMATCH: {
    code: 550,
    enhanced: '5.7.7',
    via: 'smtp',
    message: 'Signed content does not match the message',
    basis: 'RFC 3463 §3.8 X.7.7 message integrity failure',
  },
  FROM_SIGNER_MISMATCH: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'From address does not match the signer',
    basis: 'RFC 3463 §3.8 X.7.1 (sender not authorized for this address)',
  },
  DMARC_FROM_UNCLEAR: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Message refused: DMARC needs exactly one From field naming one mailbox, read the same way by every reader',
    basis: 'RFC 7489 §6.6.1 (a message without exactly one From domain is rejected); RFC 3463 §3.8 X.7.1',
  },
  AMBIGUOUS_FROM: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'From must name exactly one mailbox, and Sender (if any) the same one',
    basis: 'RFC 5322 §3.6.2 (originator fields); one author bound to one signer; RFC 3463 §3.8 X.7.1',
  },
  MALWARE: { code: 550, enhanced: '5.7.1', via: 'smtp', message: 'Message refused: malware detected', basis: 'RFC 3463 §3.8 X.7.1 (content filter refusal)' },
  ENCRYPTED_ZIP: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Message refused: encrypted archive cannot be inspected',
    basis: 'RFC 3463 §3.8 X.7.1 (content filter refusal)',
  },
  UNINSPECTABLE: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Message refused: attachment cannot be inspected',
    basis: 'RFC 3463 §3.8 X.7.1 (content filter refusal)',
  },
  DLP_BLOCK: {
    code: 550,
    enhanced: '5.7.1',
    via: 'dsn',
    message: 'Message not sent: outbound inspection found confidential data',
    basis: 'RFC 3463 §3.8 X.7.1 in a RFC 3464 DSN: the MSA has already answered 250 when inspection runs',
  },
  MALFORMED_MIME: {
    code: 554,
    enhanced: '5.6.0',
    via: 'smtp',
    message: 'Message is not well-formed MIME',
    basis: 'RFC 3463 §3.7 X.6.0 other or undefined media error',
  },
  MALFORMED_CMS: {
    code: 554,
    enhanced: '5.6.0',
    via: 'smtp',
    message: 'S/MIME part is not well-formed CMS',
    basis: 'RFC 3463 §3.7 X.6.0 other or undefined media error',
  },
  MESSAGE_TOO_BIG: {
    code: 552,
    enhanced: '5.3.4',
    via: 'smtp',
    message: 'Message too big',
    basis: 'RFC 5321 §4.5.3.1.10 (552) and RFC 3463 §3.5 X.3.4 message too big for system',
  },
  UNKNOWN_RECIPIENT: { code: 550, enhanced: '5.1.1', via: 'smtp', message: 'No such recipient', basis: 'RFC 3463 §3.2 X.1.1 bad destination mailbox address' },
  TOO_MANY_RECIPIENTS: {
    code: 452,
    enhanced: '4.5.3',
    via: 'smtp',
    message: 'Too many recipients in this transaction, send the rest in another',
    basis: 'RFC 5321 §4.5.3.1.10 (452; a server must take at least 100, §4.5.3.1.8) and RFC 3463 §3.6 X.5.3 too many recipients',
  },
  TOO_MANY_SESSIONS: {
    code: 421,
    enhanced: '4.3.2',
    via: 'smtp',
    message: 'Too many sessions open, try again later',
    basis: 'RFC 5321 §3.8 (421 closes the channel) and RFC 3463 §3.5 X.3.2 system not accepting network messages',
  },
  TOO_MANY_SESSIONS_FROM_CLIENT: {
    code: 421,
    enhanced: '4.7.0',
    via: 'smtp',
    message: 'Too many sessions from your address, try again later',
    basis: 'RFC 5321 §3.8 (421 closes the channel) and RFC 3463 §3.8 X.7.0 (a per-client policy, as Postfix answers it)',
  },
  SESSION_TIMEOUT: {
    code: 421,
    enhanced: '4.4.2',
    via: 'smtp',
    message: 'Transaction took too long, closing the connection',
    basis: 'RFC 5321 §4.5.3.2 (server timeouts) and §3.8 (421); RFC 3463 §3.4 X.4.2 bad connection',
  },
  TEMP_REGISTRY_UNAVAILABLE: {
    code: 451,
    enhanced: '4.7.0',
    via: 'smtp',
    message: 'Registry status unavailable, try again later',
    basis: 'RFC 3463 §3.8 X.7.0: a security check could not complete; transient so the sender retries (X.4.3 names routing directories, not trust checks)',
  },
  AUTH_REQUIRED: { code: 530, enhanced: '5.7.0', via: 'smtp', message: 'Authentication required', basis: 'RFC 4954 §6' },
  AUTH_FAILED: { code: 535, enhanced: '5.7.8', via: 'smtp', message: 'Authentication credentials invalid', basis: 'RFC 4954 §6' },
  TLS_REQUIRED: { code: 530, enhanced: '5.7.0', via: 'smtp', message: 'Must issue a STARTTLS command first', basis: 'RFC 3207 §4' },
  DMARC_REJECT: {
    code: 550,
    enhanced: '5.7.1',
    via: 'smtp',
    message: 'Message refused: DMARC policy of the From domain is reject and the message fails DMARC',
    basis: 'RFC 7489 §6.7 (reject during the SMTP transaction) with RFC 3463 §3.8 X.7.1',
  },
  MTA_STS_FAILURE: {
    code: 550,
    enhanced: '5.7.10',
    via: 'dsn',
    message: 'Message not sent: the recipient domain requires TLS (MTA-STS) and no valid TLS session to a policy MX was possible',
    basis: 'RFC 8461 §5 (MUST NOT deliver); X.7.10 "encryption needed" (RFC 8689 §5, IANA enhanced status code registry) in a RFC 3464 DSN',
  },
  INTERNAL: {
    code: 451,
    enhanced: '4.3.0',
    via: 'smtp',
    message: 'Local error, try again later',
    basis: 'RFC 3463 §3.5 X.3.0 other or undefined mail system status; transient',
  },
} as const satisfies Record<string, SmtpReply>;
export type ReplyCodeKey = keyof typeof ReplyCodes;

/** The SMTP reply for a code; unknown codes answer as a transient local error (451 4.3.0) so mail is retried, not lost. */
export function replyFor(code: string): SmtpReply {
  const r = (ReplyCodes as Record<string, SmtpReply>)[code];
  return r ?? ReplyCodes.INTERNAL;
}

/** The reply line as sent on the wire: "550 5.7.1 Message refused: malware detected". */
export function formatReply(reply: SmtpReply, detail?: string): string {
  const text = detail === undefined ? reply.message : `${reply.message} (${detail.replace(/[\r\n]+/g, ' ')})`;
  return `${reply.code} ${reply.enhanced} ${text}`;
}

/** The table as Markdown, for docs (regenerate rather than hand-edit). */
export function renderReplyCodesMarkdown(): string {
  const rows = Object.entries(ReplyCodes as Record<string, SmtpReply>).map(
    ([k, r]) => `| \`${k}\` | ${r.code} | ${r.enhanced} | ${r.via === 'dsn' ? 'DSN (bounce)' : 'SMTP reply'} | ${r.message} | ${r.basis} |`,
  );
  return ['| Code | Reply | Enhanced | Delivered as | Text | Basis |', '|---|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
