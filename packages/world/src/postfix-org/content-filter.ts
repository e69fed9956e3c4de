/**
 * The SSMAX content filter beside an organisation's Postfix (issue 14 item 3): four SMTP listeners on the
 * org's address that Postfix talks to (postfix-config.ts draws the flow). Each runs sim-org's own functions,
 * never a copy of them: (4) `verifyUserMail`, (7) `verifyOrgMail`, (8) `inboundInspection`, and the org hop
 * of (5)+(6) and (9) `orgHop`.
 *
 * - out-check (before-queue proxy of the MSA): (4); a refusal is the 5xx the submitting user sees.
 * - in-check (before-queue proxy of the MX): (7)+(8); a refusal is the 5xx the sending MTA sees.
 * - out-hop (after-queue content filter): (5)+(6) per recipient domain; a block or a non-member with files is
 *   a 5xx to Postfix's smtp client, which bounces the mail to the sender with a DSN.
 * - in-hop (after-queue content filter): (9), re-encrypted to each recipient's card, then LMTP by Postfix.
 *
 * Accepted mail goes back into Postfix through its reinjection smtpd services; the filter answers Postfix
 * with Postfix's own reply, so a 250 always means "in Postfix's queue". The checks of (4) and (7) run again
 * in the hops (they are deterministic over the same bytes): their results are what the attestation records,
 * and the filter keeps no state between the two passes.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import nodemailer from 'nodemailer';
import { parseSmime, SsmaxError } from '@ssmax/core';
import {
  classifyParts,
  formatReply,
  inboundInspection,
  inspectPlainMail,
  orgHop,
  replyFor,
  verifyOrgMail,
  verifyUserMail,
  type InspectionVerdict,
  type JourneyLog,
  type OrgContext,
} from '@ssmax/sim-org';
import type { FilterPorts } from './postfix-config.js';

export interface ContentFilterOptions {
  readonly ctx: OrgContext;
  /** The address the filter listens on and reinjects from (the org's address: Postfix's mynetworks). */
  readonly address: string;
  /** Fixed ports (default: any free port each). */
  readonly ports?: Partial<FilterPorts>;
  /** Postfix's reinjection services on `address`. */
  readonly reinject: { readonly out: number; readonly in: number; readonly final: number };
  readonly maxMessageBytes?: number;
}

type Stage = keyof FilterPorts;

interface Envelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
}

/** A refusal with its SMTP reply (the reply-codes.ts table), passed to smtp-server as the DATA reply. */
class Refusal extends Error {
  constructor(
    readonly line: string,
    readonly responseCode: number,
  ) {
    super(line.slice(4));
  }
}

function refuse(code: string, detail?: string): Refusal {
  const reply = replyFor(code);
  return new Refusal(formatReply(reply, detail?.slice(0, 200)), reply.code);
}

/** The header section of `raw`, unfolded (RFC 5322 §2.2.3), one field per element. */
function headerFields(raw: Uint8Array): string[] {
  const text = Buffer.from(raw.subarray(0, 256 * 1024)).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

/**
 * The SASL login the MSA's smtpd wrote into its Received field (smtpd_sasl_authenticated_header): the first
 * Received field from the top that names one. Our own services prepend theirs above anything the user
 * wrote, and only the MSA's names a login, so a Received line forged inside the submission sits below it.
 */
export function authenticatedSender(raw: Uint8Array): string | undefined {
  for (const f of headerFields(raw)) {
    if (!/^Received:/i.test(f)) continue;
    const m = /\(Authenticated sender: ([^)\s]+)\)/i.exec(f);
    if (m) return m[1];
  }
  return undefined;
}

/** Whether the top Received field (our MX's smtpd) says the peer used STARTTLS ("with ESMTPS", RFC 3848). */
function topHopUsedTls(raw: Uint8Array): boolean {
  const top = headerFields(raw).find((f) => /^Received:/i.test(f));
  return top !== undefined && /\bwith E?SMTPS/i.test(top);
}

function addHeader(raw: Uint8Array, name: string, value: string): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(`${name}: ${value}\r\n`, 'latin1'), Buffer.from(raw)]));
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function collect(stream: SMTPServerDataStream): Promise<{ bytes: Uint8Array; tooBig: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ bytes: new Uint8Array(Buffer.concat(chunks)), tooBig: stream.sizeExceeded }));
    stream.on('error', reject);
  });
}

export class ContentFilter implements AsyncDisposable {
  private constructor(
    private readonly servers: readonly SMTPServer[],
    readonly ports: FilterPorts,
  ) {}

  static async start(o: ContentFilterOptions): Promise<ContentFilter> {
    const f = new FilterStages(o);
    const servers: SMTPServer[] = [];
    const ports: Partial<Record<Stage, number>> = {};
    try {
      for (const stage of ['outCheck', 'inCheck', 'outHop', 'inHop'] as const) {
        const server = f.server(stage);
        servers.push(server);
        ports[stage] = await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(o.ports?.[stage] ?? 0, o.address, () => {
            const a = server.server.address();
            resolve(typeof a === 'object' && a ? a.port : 0);
          });
        });
      }
    } catch (e) {
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
      throw e;
    }
    return new ContentFilter(servers, ports as FilterPorts);
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The four stages; each resolves with Postfix's reply to the reinjection or throws a {@link Refusal}. */
class FilterStages {
  constructor(private readonly o: ContentFilterOptions) {}

  get ctx(): OrgContext {
    return this.o.ctx;
  }

  server(stage: Stage): SMTPServer {
    const maxBytes = this.o.maxMessageBytes ?? 10 * 1024 * 1024;
    return new SMTPServer({
      name: `filter.${this.ctx.domain}`,
      banner: `SSMAX content filter (${stage})`,
      size: maxBytes,
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      // Only Postfix talks to the filter: its smtp client binds the org's address; its smtpd's proxy connection has no
      // bind address and leaves from the loopback's primary address.
      onConnect: (session, cb) =>
        [this.o.address, '127.0.0.1'].includes(session.remoteAddress.replace(/^::ffff:/, ''))
          ? cb()
          : cb(new Refusal("554 5.7.1 Only this organisation's Postfix may use its content filter", 554)),
      onData: (stream: SMTPServerDataStream, session: SMTPServerSession, cb) => {
        void (async () => {
          const { bytes, tooBig } = await collect(stream);
          if (tooBig) throw refuse('MESSAGE_TOO_BIG', `limit ${maxBytes} bytes`);
          const envelope: Envelope = {
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          };
          return this[stage](bytes, envelope);
        })().then(
          (reply) => cb(null, reply),
          async (e: unknown) => {
            if (e instanceof Refusal) return cb(e);
            await this.record({
              messageId: '',
              actor: this.actor(stage),
              procedure: 0,
              checks: [],
              files: 'ciphertext',
              outcome: 'deferred',
              detail: (e as Error).message.slice(0, 500),
            });
            // An infrastructure fault is temporary: Postfix keeps the mail queued (after the queue) or the client retries (before).
            cb(refuse('INTERNAL'));
          },
        );
      },
    });
  }

  actor(stage: Stage): string {
    return `${this.ctx.id}/${stage === 'outCheck' ? 'msa' : stage === 'inCheck' ? 'mta-in' : stage === 'outHop' ? 'mta-out' : 'delivery'}`;
  }

  record(e: Parameters<JourneyLog['record']>[0]): Promise<void> {
    return this.ctx.journey.record(e);
  }

  /** Hands `raw` back to Postfix on `port`; resolves with Postfix's reply text (without the 250). */
  async reinject(port: number, envelope: Envelope, raw: Uint8Array): Promise<string> {
    const t = nodemailer.createTransport({
      host: this.o.address,
      port,
      localAddress: this.o.address,
      secure: false,
      ignoreTLS: true,
      name: `filter.${this.ctx.domain}`,
      connectionTimeout: 10_000,
      socketTimeout: 60_000,
    });
    try {
      const info = await t.sendMail({ envelope: { from: envelope.mailFrom, to: [...envelope.rcptTo] }, raw: Buffer.from(raw) });
      return String(info.response).replace(/^250[ -]/, '');
    } catch (e) {
      const code = (e as { responseCode?: number }).responseCode ?? 451;
      const text = (e as { response?: string }).response ?? (e as Error).message;
      throw new Refusal(`${code} ${text.replace(/^\d{3}[ -]/, '')}`, code);
    } finally {
      t.close();
    }
  }

  /** (4) before the queue: the user's signature, chain, From-signer and From-login binding, identity proofing and SSMAX structure. */
  async outCheck(raw: Uint8Array, env: Envelope): Promise<string> {
    const v = await verifyUserMail(this.ctx, raw, authenticatedSender(raw));
    if (!v.ok) {
      const reply = replyFor(v.code ?? 'INTERNAL');
      await this.record({
        messageId: v.messageId,
        actor: this.actor('outCheck'),
        procedure: 4,
        checks: v.checks,
        files: 'ciphertext',
        outcome: 'rejected',
        reply: formatReply(reply),
        detail: v.detail ?? '',
      });
      throw refuse(v.code ?? 'INTERNAL', v.detail);
    }
    const reply = await this.reinject(this.o.reinject.out, env, raw);
    await this.record({
      messageId: v.messageId,
      actor: this.actor('outCheck'),
      procedure: 4,
      checks: v.checks,
      files: 'ciphertext',
      outcome: 'accepted',
      reply: `250 ${reply}`,
    });
    return reply;
  }

  /** (5)+(6) after the queue, for the recipients of one domain: the org hop to the recipient org's KMS certificate. */
  async outHop(raw: Uint8Array, env: Envelope): Promise<string> {
    const v = await verifyUserMail(this.ctx, raw, authenticatedSender(raw));
    if (!v.ok || !v.signedEntity || !v.identityNotice) throw refuse(v.code ?? 'BAD_SIGNATURE', v.detail);
    const domains = [...new Set(env.rcptTo.map(domainOf))];
    if (domains.length !== 1) throw refuse('INTERNAL', 'one recipient domain per filter transaction');
    const domain = domains[0]!;
    const member = await this.ctx.registry.memberByDomain(domain);
    const sorted = classifyParts(v.signedEntity);
    if ((!member || !member.kmsEncryptionCertificate) && (sorted.files.length > 0 || sorted.other.length > 0)) {
      await this.record({
        messageId: v.messageId,
        actor: this.actor('outHop'),
        procedure: 6,
        checks: [{ name: 'registry-member', result: 'fail', detail: domain }],
        files: 'ciphertext',
        outcome: 'bounced',
        detail: 'files refused for a non-member domain',
      });
      throw new Refusal(`550 5.7.1 ${domain} is not an SSMAX registry member; mail with files is not sent to non-members.`, 550);
    }
    const userCrl = await this.ctx.users.crl();
    const hop = await orgHop({
      kms: this.ctx.kms,
      mode: this.ctx.mode,
      direction: 'outbound',
      entity: v.signedEntity,
      headers: v.headers,
      recipients: member?.kmsEncryptionCertificate ? [new Uint8Array(Buffer.from(member.kmsEncryptionCertificate, 'base64'))] : [],
      org: this.ctx.registryOrgId,
      domain: this.ctx.domain,
      hop: 1,
      messageId: v.messageId,
      checks: v.checks,
      identityNotice: v.identityNotice,
      ...(userCrl ? { orgCrl: userCrl } : {}),
      ...(this.ctx.profile.inspection ? { policy: this.ctx.profile.inspection } : {}),
      recipientMember: member?.kmsEncryptionCertificate !== undefined,
      clock: this.ctx.clock,
    });
    await this.record({
      messageId: v.messageId,
      actor: `${this.ctx.id}/inspection`,
      procedure: 5,
      checks: [
        ...v.checks,
        { name: 'dlp', result: hop.inspected ? (hop.blocked ? 'fail' : 'pass') : 'skip', detail: hop.verdict.reasons.map((r) => r.rule).join(', ') },
      ],
      files: hop.files.length > 0 ? 'plaintext' : 'none',
      outcome: hop.blocked ? 'bounced' : 'accepted',
    });
    if (hop.blocked) {
      const rules = hop.verdict.reasons.filter((r) => r.action === 'block');
      throw new Refusal(
        `550 5.7.1 Outbound inspection blocked the mail: ${rules.map((r) => `rule "${r.rule}" (${r.detail}${r.file ? ` in ${r.file}` : ''})`).join('; ')}.`
          .replace(/[\r\n]+/g, ' ')
          .slice(0, 900),
        550,
      );
    }
    const reply = await this.reinject(this.o.reinject.final, env, hop.message);
    await this.record({
      messageId: v.messageId,
      actor: this.actor('outHop'),
      procedure: 6,
      checks: [{ name: 'registry-member', result: member ? 'pass' : 'skip', detail: member ? member.orgId : 'non-member, no files' }],
      files: hop.files.length > 0 ? 'ciphertext' : 'none',
      outcome: 'relayed',
      reply: `250 ${reply}`,
      detail: "handed to Postfix's smtp client (STARTTLS required toward members)",
    });
    return reply;
  }

  /** (7)+(8) before the queue: the sending org's signature and registry status, then inbound inspection. */
  async inCheck(raw: Uint8Array, env: Envelope): Promise<string> {
    const v = await verifyOrgMail(this.ctx, raw, { mailFrom: env.mailFrom });
    const who = this.actor('inCheck');
    if (!v.ok) {
      const reply = replyFor(v.code ?? 'INTERNAL');
      await this.record({
        messageId: v.messageId,
        actor: who,
        procedure: 7,
        checks: v.checks,
        files: 'ciphertext',
        outcome: 'rejected',
        reply: formatReply(reply),
        detail: (v.detail ?? '').slice(0, 500),
      });
      throw refuse(v.code ?? 'INTERNAL', v.detail);
    }
    let verdict: InspectionVerdict | undefined;
    if (v.kind === 'unverified') {
      if (this.ctx.mode === 'org') verdict = await inspectPlainMail(this.ctx, raw);
    } else {
      await this.record({
        messageId: v.messageId,
        actor: who,
        procedure: 7,
        checks: [...v.checks, { name: 'starttls', result: topHopUsedTls(raw) ? 'pass' : 'skip' }],
        files: 'ciphertext',
        outcome: 'accepted',
      });
      if (this.ctx.mode === 'org') {
        try {
          verdict = await inboundInspection(this.ctx, v.signedEntity!);
        } catch (e) {
          const code = e instanceof SsmaxError && e.code === 'MALFORMED_MIME' ? 'MALFORMED_MIME' : 'MALFORMED_CMS';
          await this.record({
            messageId: v.messageId,
            actor: `${this.ctx.id}/inspection`,
            procedure: 8,
            checks: [{ name: 'decrypt', result: 'fail', detail: (e as Error).message.slice(0, 300) }],
            files: 'ciphertext',
            outcome: 'rejected',
            reply: formatReply(replyFor(code)),
          });
          throw refuse(code, 'a file part cannot be decrypted');
        }
      }
    }
    if (verdict) {
      const block = verdict.reasons.find((r) => r.action === 'block');
      await this.record({
        messageId: v.messageId,
        actor: `${this.ctx.id}/inspection`,
        procedure: 8,
        checks:
          verdict.reasons.length === 0
            ? [{ name: 'inspection', result: 'pass', detail: verdict.scannedBy ? `nothing found by ${verdict.scannedBy}` : 'nothing found' }]
            : verdict.reasons.map((r) => ({
                name: r.rule,
                result: r.action === 'block' ? 'fail' : 'pass',
                detail: `${r.detail}${r.file ? ` (${r.file})` : ''}`,
              })),
        files: 'plaintext',
        outcome: block ? 'rejected' : 'accepted',
        ...(block ? { reply: formatReply(replyFor(block.code)) } : {}),
      });
      if (block) throw refuse(block.code, block.rule);
    }
    return this.reinject(this.o.reinject.in, env, raw);
  }

  /** (9) after the queue, per recipient: re-encrypted to the recipient's card, signed by this org; Postfix delivers with LMTP. */
  async inHop(raw: Uint8Array, env: Envelope): Promise<string> {
    const v = await verifyOrgMail(this.ctx, raw, { mailFrom: env.mailFrom });
    if (!v.ok) throw refuse(v.code ?? 'INTERNAL', v.detail);
    const who = this.actor('inHop');
    if (v.kind === 'unverified') {
      const reply = await this.reinject(this.o.reinject.final, env, addHeader(raw, 'X-SSMAX-Verdict', 'unverified'));
      await this.record({
        messageId: v.messageId,
        actor: who,
        procedure: 0,
        checks: v.checks,
        files: 'none',
        outcome: 'accepted',
        detail: 'non-member mail, marked unverified',
      });
      return reply;
    }
    const replies: string[] = [];
    for (const rcpt of env.rcptTo) {
      const cert = await this.ctx.users.encryptionCertificate(rcpt);
      if (!cert) {
        await this.record({
          messageId: v.messageId,
          actor: who,
          procedure: 9,
          checks: [{ name: 'recipient-certificate', result: 'fail', detail: rcpt }],
          files: 'ciphertext',
          outcome: 'bounced',
        });
        throw refuse('UNKNOWN_RECIPIENT', `${rcpt} has no encryption certificate`);
      }
      const parsed = parseSmime(raw);
      if (parsed.kind !== 'multipart-signed') throw refuse('MALFORMED_MIME', 'not multipart/signed');
      const hop = await orgHop({
        kms: this.ctx.kms,
        mode: this.ctx.mode,
        direction: 'inbound',
        entity: parsed.signedEntity,
        headers: parsed.headers,
        recipients: [cert],
        org: this.ctx.registryOrgId,
        domain: this.ctx.domain,
        hop: (v.hop ?? 1) + 1,
        messageId: v.messageId,
        checks: v.checks,
        identityNotice: v.identityNotice ?? { sender: '', certSerial: '', traceId: '', proofing: 'none', proofedAt: '', cardAndPinUsed: false },
        ...(this.ctx.profile.inspection ? { policy: this.ctx.profile.inspection } : {}),
        ...(this.ctx.malwareScanner ? { malwareScanner: this.ctx.malwareScanner } : {}),
        clock: this.ctx.clock,
      });
      if (hop.blocked) {
        await this.record({
          messageId: v.messageId,
          actor: who,
          procedure: 9,
          checks: [{ name: 'inspection', result: 'fail' }],
          files: 'plaintext',
          outcome: 'rejected',
        });
        const block = hop.verdict.reasons.find((r) => r.action === 'block');
        throw refuse(block?.code ?? 'MALWARE', block?.rule);
      }
      replies.push(await this.reinject(this.o.reinject.final, { mailFrom: env.mailFrom, rcptTo: [rcpt] }, hop.message));
      await this.record({
        messageId: v.messageId,
        actor: who,
        procedure: 9,
        checks: [
          { name: 'recipient-certificate', result: 'pass', detail: rcpt },
          { name: 'reencrypt', result: 'pass', detail: `${hop.files.length} file(s)` },
        ],
        files: hop.files.length > 0 ? 'plaintext' : 'none',
        outcome: 'accepted',
        detail: `${rcpt}: handed to Postfix for LMTP delivery`,
      });
    }
    return replies.join('; ');
  }
}
