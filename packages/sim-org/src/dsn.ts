/**
 * Delivery status notifications (RFC 3464, RFC 6522 multipart/report) for mail the org refused after
 * it had already answered 250: an outbound DLP block (5), files for a non-member domain, a remote 5xx.
 * The human-readable part names the rule that fired; the machine part carries the reply-table code.
 * Only the headers of the original go back (RFC 3462 text/rfc822-headers), never its files.
 */
import { randomBytes } from 'node:crypto';
import type { MimeHeader } from '@ssmax/core';
import { formatReply, replyFor } from './reply-codes.js';

export interface DsnOptions {
  readonly reportingMta: string;
  readonly from: string;
  readonly to: string;
  readonly originalMessageId: string;
  readonly recipients: readonly string[];
  /** The rule(s) that fired, e.g. "confidential-marking" or "my-number". */
  readonly rule: string;
  readonly text: string;
  readonly clock: () => Date;
  readonly originalHeaders?: readonly MimeHeader[];
  /** Reply-table code; default DLP_BLOCK. */
  readonly code?: string;
}

const clean = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** Builds the DSN as a complete RFC 5322 message (CRLF). */
export function buildDsn(o: DsnOptions): Uint8Array {
  const boundary = `=_dsn.${randomBytes(12).toString('hex')}`;
  const reply = replyFor(o.code ?? (o.rule.startsWith('remote-') || o.rule === 'non-member-files' ? 'INTERNAL' : 'DLP_BLOCK'));
  const status = o.rule === 'non-member-files' ? '5.7.1' : o.rule.startsWith('remote-') ? '5.0.0' : reply.enhanced;
  const date = o.clock().toUTCString().replace('GMT', '+0000');
  const carried = (o.originalHeaders ?? []).filter((h) => ['from', 'to', 'cc', 'subject', 'date', 'message-id'].includes(h.name.toLowerCase()));
  const lines = [
    `From: Mail Delivery System <${o.from}>`,
    `To: <${o.to}>`,
    `Subject: Undelivered mail: ${clean(o.rule)}`,
    `Date: ${date}`,
    `Message-ID: <dsn.${randomBytes(8).toString('hex')}@${o.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    `X-SSMAX-DSN-Rule: ${clean(o.rule)}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Your message ${clean(o.originalMessageId)} was not delivered to ${o.recipients.join(', ')}.`,
    '',
    clean(o.text),
    `Rule: ${clean(o.rule)}`,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${o.reportingMta}`,
    `Arrival-Date: ${date}`,
    '',
    ...o.recipients.flatMap((r, i) => [
      ...(i > 0 ? [''] : []),
      `Final-Recipient: rfc822; ${r}`,
      'Action: failed',
      `Status: ${status}`,
      `Diagnostic-Code: smtp; ${clean(formatReply(reply, o.rule))}`,
    ]),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    '',
    ...carried.map((h) => `${h.name}: ${clean(h.value)}`),
    '',
    `--${boundary}--`,
    '',
  ];
  return new Uint8Array(Buffer.from(lines.join('\r\n'), 'utf8'));
}
