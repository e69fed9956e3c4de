/**
 * Procedure (9): the worker behind MTA-in's spool. For each recipient it re-encrypts the files to the
 * recipient's certificate (from the org's user directory), appends the receiving org's attestation
 * (passing the sending org's identity notice on), signs with the KMS signing key and hands the mail to
 * the mailbox (Dovecot over LMTP, RFC 2033). Each recipient's delivery runs once per message
 * (Spool.once), so a restart after a crash does not deliver twice what was already delivered.
 * Also the LMTP client used for that hand-over.
 */
import nodemailer from 'nodemailer';
import { parseSmime } from '@ssmax/core';
import type { AttestationCheck, IdentityNotice } from './attestation.js';
import { actor, defenceOn, type MailboxDelivery, type OrgContext } from './org-context.js';
import { orgHop } from './org-hop.js';
import { receivedFieldsOf } from './trace-fields.js';
import { spoolMeta, type SpoolEntry } from './spool.js';

/** LMTP (RFC 2033) delivery to a mailbox server, e.g. Dovecot's LMTP listener. */
export function lmtpDelivery(o: { host: string; port: number; localAddress?: string; lhlo?: string }): MailboxDelivery {
  return {
    async deliver(recipient, message, envelope) {
      const t = nodemailer.createTransport({
        host: o.host,
        port: o.port,
        lmtp: true,
        secure: false,
        ignoreTLS: true,
        name: o.lhlo ?? 'localhost',
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      });
      try {
        await t.sendMail({ envelope: { from: envelope.mailFrom, to: [recipient] }, raw: Buffer.from(message) });
      } finally {
        t.close();
      }
    },
  };
}

interface InboundMeta {
  readonly kind: 'ssmax' | 'unverified';
  readonly messageId: string;
  readonly checks: AttestationCheck[];
  readonly hop?: number;
  readonly identityNotice?: IdentityNotice;
}

/** The fields this stage reads of mta-in's meta (mta-in.ts writes more: tls, inspection, orgId). */
function isInboundMeta(m: unknown): m is InboundMeta {
  return (
    typeof m === 'object' &&
    m !== null &&
    'kind' in m &&
    (m.kind === 'ssmax' || m.kind === 'unverified') &&
    'messageId' in m &&
    typeof m.messageId === 'string' &&
    'checks' in m &&
    Array.isArray(m.checks)
  );
}

/** Delivers one spooled inbound message to each of its recipients. Throws on infrastructure faults (the worker retries). */
export async function processInbound(ctx: OrgContext, entry: SpoolEntry): Promise<void> {
  const meta = spoolMeta(entry, isInboundMeta, "an inbound SSMAX or non-member message's");
  const who = actor(ctx, 'delivery');
  for (const rcpt of entry.envelope.rcptTo) {
    await ctx.inbound.once(entry.id, `rcpt:${rcpt}`, async () => {
      if (meta.kind === 'unverified') {
        await ctx.mailbox.deliver(rcpt, entry.bytes, { mailFrom: entry.envelope.mailFrom });
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: 0,
          checks: [{ name: 'verdict', result: 'skip', detail: 'unverified (non-member)' }],
          files: 'none',
          outcome: 'delivered',
          detail: rcpt,
        });
        return;
      }
      const cert = await ctx.users.encryptionCertificate(rcpt);
      if (!cert) {
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: 9,
          checks: [{ name: 'recipient-certificate', result: 'fail', detail: rcpt }],
          files: 'ciphertext',
          outcome: 'bounced',
        });
        return;
      }
      const parsed = parseSmime(entry.bytes);
      if (parsed.kind !== 'multipart-signed') throw new Error(`Cannot deliver ${entry.id}. The spooled message is no longer multipart/signed.`);
      const hop = await orgHop({
        kms: ctx.kms,
        plainFiles: !defenceOn(ctx, 'fileEncryption'),
        mode: ctx.mode,
        direction: 'inbound',
        entity: parsed.signedEntity,
        headers: parsed.headers,
        recipients: [cert],
        org: ctx.registryOrgId,
        domain: ctx.domain,
        hop: (meta.hop ?? 1) + 1,
        trace: receivedFieldsOf(entry.bytes),
        messageId: meta.messageId,
        checks: meta.checks,
        identityNotice: meta.identityNotice ?? { sender: '', certSerial: '', traceId: '', proofing: 'none', proofedAt: '', cardAndPinUsed: false },
        ...(ctx.profile.inspection ? { policy: ctx.profile.inspection } : {}),
        ...(ctx.malwareScanner ? { malwareScanner: ctx.malwareScanner } : {}),
        // (8) ran in the MTA-in session; switched off there (falsifiability runs), it is off here too.
        ...(defenceOn(ctx, 'inboundInspection') ? {} : { inspect: false }),
        clock: ctx.clock,
      });
      if (hop.blocked) {
        // Inspection already ran in the session; a block here means the policy changed in between.
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: 9,
          checks: [{ name: 'inspection', result: 'fail' }],
          files: 'plaintext',
          outcome: 'rejected',
        });
        return;
      }
      await ctx.mailbox.deliver(rcpt, hop.message, { mailFrom: entry.envelope.mailFrom });
      await ctx.journey.record({
        messageId: meta.messageId,
        actor: who,
        procedure: 9,
        checks: [
          { name: 'recipient-certificate', result: 'pass', detail: rcpt },
          { name: 'reencrypt', result: 'pass', detail: `${hop.files.length} file(s)` },
        ],
        files: hop.files.length > 0 ? 'plaintext' : 'none',
        outcome: 'delivered',
        detail: rcpt,
      });
    });
  }
}
