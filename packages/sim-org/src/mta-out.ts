/**
 * The org's outbound MTA: the worker behind the MSA's spool ((5) outbound inspection, (6) re-encryption
 * to the receiving org's KMS encryption certificate from the registry directory and signing with the
 * org key) and the SMTP client (nodemailer) that finds the receiving org's MX through the sim-net
 * resolver (RFC 5321 §5.1), connects from the org's own 127.x address and, by default, requires
 * STARTTLS (RFC 3207) with a certificate from the sim-net test CA.
 */
import nodemailer from 'nodemailer';
import type { MxRecord } from '@ssmax/sim-net';
import type { IdentityNotice, AttestationCheck } from './attestation.js';
import { buildDsn } from './dsn.js';
import { actor, domainOf, type OrgContext } from './org-context.js';
import { classifyParts, orgHop, messageIdOf } from './org-hop.js';
import { parseSmime } from '@ssmax/core';
import type { SpoolEntry } from './spool.js';

export interface SendResult {
  readonly accepted: boolean;
  /** SMTP reply code of the final answer (or 0 when no connection could be made). */
  readonly code: number;
  readonly response: string;
  /** 4xx / connection failures: try again later. */
  readonly transient: boolean;
  readonly tls: boolean;
}

/**
 * Sends `message` to `rcptTo` (all in `domain`) through the domain's best MX. Never throws: the
 * outcome is data, so the worker can decide between retry and bounce.
 */
export async function sendToDomain(ctx: OrgContext, domain: string, mailFrom: string, rcptTo: readonly string[], message: Uint8Array): Promise<SendResult> {
  let mxs: MxRecord[];
  try {
    mxs = [...(await ctx.net.resolver(domain, 'MX'))].sort((a, b) => a.priority - b.priority);
  } catch (e) {
    return { accepted: false, code: 0, response: `MX lookup for ${domain} failed: ${(e as Error).message}`, transient: true, tls: false };
  }
  if (mxs.length === 0) return { accepted: false, code: 550, response: `${domain} has no MX`, transient: false, tls: false };
  let last: SendResult = { accepted: false, code: 0, response: 'no MX reachable', transient: true, tls: false };
  for (const mx of mxs) {
    let opts;
    try {
      opts = ctx.net.connectOptions(ctx.addresses.mtaOut, mx.exchange, 25);
    } catch (e) {
      last = { accepted: false, code: 0, response: (e as Error).message, transient: true, tls: false };
      continue;
    }
    const transport = nodemailer.createTransport({
      ...opts,
      secure: false,
      name: ctx.mxHost,
      requireTLS: ctx.profile.starttls,
      ignoreTLS: !ctx.profile.starttls,
      tls: { ca: ctx.tlsCa, servername: opts.servername, minVersion: 'TLSv1.2' },
      connectionTimeout: 10_000,
      socketTimeout: 30_000,
    });
    try {
      const info = await transport.sendMail({ envelope: { from: mailFrom, to: [...rcptTo] }, raw: Buffer.from(message) });
      transport.close();
      return { accepted: true, code: 250, response: info.response, transient: false, tls: ctx.profile.starttls };
    } catch (e) {
      transport.close();
      const err = e as { responseCode?: number; response?: string; message: string };
      const code = err.responseCode ?? 0;
      last = { accepted: false, code, response: err.response ?? err.message, transient: code === 0 || (code >= 400 && code < 500), tls: false };
      // A 5xx from one MX is the domain's answer (RFC 5321 §4.2.1); only connection faults try the next.
      if (code >= 500) return last;
    }
  }
  return last;
}

interface SubmissionMeta {
  readonly kind: 'submission';
  readonly messageId: string;
  readonly identityNotice: IdentityNotice;
  readonly checks: AttestationCheck[];
}

/**
 * Processes one spooled submission: per destination domain (5)+(6) and the send. Returns 'done' when
 * every domain is finished (sent, refused or bounced), 'retry' when some got a transient failure.
 */
export async function processSubmission(ctx: OrgContext, entry: SpoolEntry): Promise<'done' | 'retry'> {
  const meta = entry.envelope.meta as unknown as SubmissionMeta;
  const who = actor(ctx, 'mta-out');
  const parsed = parseSmime(entry.bytes);
  if (parsed.kind !== 'multipart-signed') return 'done';
  const byDomain = new Map<string, string[]>();
  for (const r of entry.envelope.rcptTo) {
    const d = domainOf(r);
    byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
  }
  const userCrl = await ctx.users.crl();
  let retry = false;
  for (const [domain, rcpts] of byDomain) {
    await ctx.outbound.once(entry.id, `domain:${domain}`, async () => {
      const member = await ctx.registry.memberByDomain(domain);
      const hasFiles = classifyParts(parsed.signedEntity).files.length > 0;
      if (!member || !member.kmsEncryptionCertificate) {
        if (hasFiles) {
          // Policy for non-members (docs/message-format.md §8): files never leave in a form the recipient
          // org cannot be held to; the sender gets a notice instead.
          await ctx.journey.record({ messageId: meta.messageId, actor: who, procedure: 6, checks: [{ name: 'registry-member', result: 'fail', detail: domain }], files: 'ciphertext', outcome: 'bounced', detail: 'files refused for a non-member domain' });
          await bounce(ctx, entry, meta, rcpts, 'non-member-files', `${domain} is not an SSMAX registry member; mail with files is not sent to non-members.`);
          return;
        }
      }
      const recipients = member?.kmsEncryptionCertificate ? [new Uint8Array(Buffer.from(member.kmsEncryptionCertificate, 'base64'))] : [];
      const hop = await orgHop({
        kms: ctx.kms,
        mode: ctx.mode,
        direction: 'outbound',
        entity: parsed.signedEntity,
        headers: parsed.headers,
        recipients,
        org: ctx.registryOrgId,
        domain: ctx.domain,
        hop: 1,
        messageId: meta.messageId,
        checks: meta.checks,
        identityNotice: meta.identityNotice,
        ...(userCrl ? { orgCrl: userCrl } : {}),
        ...(ctx.profile.inspection ? { policy: ctx.profile.inspection } : {}),
        clock: ctx.clock,
      });
      const checks = [...meta.checks, { name: 'dlp', result: hop.inspected ? (hop.blocked ? 'fail' : 'pass') : 'skip', detail: hop.verdict.reasons.map((r) => r.rule).join(', ') } as const];
      await ctx.journey.record({ messageId: meta.messageId, actor: actor(ctx, 'inspection'), procedure: 5, checks, files: hop.files.length > 0 ? 'plaintext' : 'none', outcome: hop.blocked ? 'bounced' : 'accepted', ...(hop.inspected ? {} : { detail: 'ESP: no content inspection' }) });
      if (hop.blocked) {
        const rules = hop.verdict.reasons.filter((r) => r.action === 'block');
        await bounce(ctx, entry, meta, rcpts, rules.map((r) => r.rule).join(','), `Outbound inspection blocked the mail: ${rules.map((r) => `rule "${r.rule}" (${r.detail}${r.file ? ` in ${r.file}` : ''})`).join('; ')}.`);
        return;
      }
      const sent = await sendToDomain(ctx, domain, entry.envelope.mailFrom, rcpts, hop.message);
      await ctx.journey.record({
        messageId: meta.messageId,
        actor: who,
        procedure: 6,
        checks: [{ name: 'registry-member', result: member ? 'pass' : 'skip', detail: member ? member.orgId : 'non-member, no files' }, { name: 'starttls', result: sent.tls ? 'pass' : 'skip' }],
        files: hop.files.length > 0 ? 'ciphertext' : 'none',
        outcome: sent.accepted ? 'relayed' : sent.transient ? 'deferred' : 'bounced',
        reply: `${sent.code} ${sent.response}`.slice(0, 500),
      });
      if (sent.transient) throw new RetryLater(sent.response);
      if (!sent.accepted) await bounce(ctx, entry, meta, rcpts, `remote-${sent.code}`, `The receiving server refused the mail: ${sent.response}`);
    }).catch((e: unknown) => {
      if (e instanceof RetryLater) retry = true;
      else throw e;
    });
  }
  return retry ? 'retry' : 'done';
}

class RetryLater extends Error {}

async function bounce(ctx: OrgContext, entry: SpoolEntry, meta: SubmissionMeta, rcpts: readonly string[], rule: string, text: string): Promise<void> {
  const sender = entry.envelope.mailFrom;
  if (!sender || domainOf(sender) !== ctx.domain) return;
  const dsn = buildDsn({ reportingMta: ctx.mxHost, from: `MAILER-DAEMON@${ctx.domain}`, to: sender, originalMessageId: meta.messageId || messageIdOf([]), recipients: rcpts, rule, text, clock: ctx.clock, originalHeaders: parseSmime(entry.bytes).headers });
  await ctx.mailbox.deliver(sender, dsn);
  await ctx.journey.record({ messageId: meta.messageId, actor: actor(ctx, 'dsn'), procedure: 0, checks: [{ name: 'dsn', result: 'pass', detail: rule }], files: 'none', outcome: 'bounced', detail: text.slice(0, 500) });
}
