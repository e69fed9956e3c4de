/**
 * Procedure (9): the worker behind MTA-in's spool. For each recipient it re-encrypts the files to the
 * recipient's certificate (from the org's user directory), appends the receiving org's attestation
 * (passing the sending org's identity notice on), signs with the KMS signing key and hands the mail to
 * the mailbox (Dovecot over LMTP, RFC 2033). Each recipient's delivery runs once per message
 * (Spool.once), so a restart after a crash does not deliver twice what was already delivered.
 * Exactly once, where the mailbox can be asked: every delivered copy carries the id our MX gave its
 * SMTP transaction (the id clause of its Received field, RFC 5321 §4.4, as Postfix writes its queue
 * id there), the attempt is recorded durably before the LMTP transaction, and a retry that finds the
 * record (a kill between the mailbox's 250 and our done marker, or a mailbox killed after it stored
 * the mail but before it answered) asks the mailbox for that id first.
 * Also the LMTP client used for that hand-over.
 */
import nodemailer from 'nodemailer';
import { parseSmime } from '@ssmax/core';
import type { AttestationCheck, IdentityNotice } from './attestation.js';
import { actor, defenceOn, type MailboxDelivery, type OrgContext } from './org-context.js';
import { orgHop } from './org-hop.js';
import { receivedFieldsOf } from './trace-fields.js';
import { headerProtectionOn, openSpooled } from './header-protection.js';
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

/**
 * The id clause of the topmost Received field (RFC 5321 §4.4): the one our MX wrote for the SMTP
 * transaction that brought this message in, a random session id, so it names this spooled message
 * and travels into the mailbox with it (the mailbox adds its own trace fields above). Undefined when
 * the message does not start with a Received field carrying an id.
 */
export function receivedIdOf(raw: Uint8Array): string | undefined {
  const head = Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, 4096)).toString('latin1');
  const first = /^Received:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/i.exec(head)?.[0];
  return first === undefined ? undefined : /(?:^|[\s)])id\s+([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)\s*;/.exec(first)?.[1];
}

/** Records the attempt (durably), then hands `message` to the mailbox for `rcpt`. */
async function handOver(ctx: OrgContext, entry: SpoolEntry, rcpt: string, message: Uint8Array): Promise<void> {
  await ctx.inbound.markAttempt(entry.id, `rcpt:${rcpt}`);
  await ctx.mailbox.deliver(rcpt, message, { mailFrom: entry.envelope.mailFrom });
}

/** Whether an earlier attempt of this delivery, cut off by a crash, already reached the mailbox (asked by our MX's Received id). */
async function deliveredBefore(ctx: OrgContext, entry: SpoolEntry, rcpt: string): Promise<boolean> {
  const id = receivedIdOf(entry.bytes);
  return !!ctx.mailbox.holds && id !== undefined && (await ctx.inbound.attempted(entry.id, `rcpt:${rcpt}`)) && (await ctx.mailbox.holds(rcpt, id));
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
      if (await deliveredBefore(ctx, entry, rcpt)) {
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: meta.kind === 'unverified' ? 0 : 9,
          checks: [{ name: 'mailbox-holds', result: 'pass', detail: `Received id ${receivedIdOf(entry.bytes) ?? ''}` }],
          files: 'none',
          outcome: 'delivered',
          detail: `${rcpt} (found in the mailbox after an interrupted attempt; not delivered again)`,
        });
        return;
      }
      if (meta.kind === 'unverified') {
        await handOver(ctx, entry, rcpt, entry.bytes);
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
      // ssmax-plus addition 2: the spool keeps the envelope to this org; (8)+(9) read what is inside.
      const opened = await openSpooled(ctx, entry);
      const parsed = parseSmime(opened.message);
      if (parsed.kind !== 'multipart-signed') throw new Error(`Cannot deliver ${entry.id}. The spooled message is no longer multipart/signed.`);
      const hop = await orgHop({
        kms: ctx.kms,
        plainFiles: !defenceOn(ctx, 'fileEncryption'),
        mode: ctx.mode,
        direction: 'inbound',
        entity: parsed.signedEntity,
        headers: parsed.headers,
        headerProtection: headerProtectionOn(ctx),
        ...(opened.opened ? { arrivedOuter: opened.opened.outer } : {}),
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
      await handOver(ctx, entry, rcpt, hop.message);
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
