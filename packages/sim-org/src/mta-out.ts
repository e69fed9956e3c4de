/**
 * The org's outbound MTA: the worker behind the MSA's spool ((5) outbound inspection, (6) re-encryption
 * to the receiving org's KMS encryption certificate from the registry directory and signing with the
 * org key) and the SMTP client (nodemailer) that finds the receiving org's MX through the sim-net
 * resolver (RFC 5321 §5.1), connects from the org's own 127.x address and, by default, requires
 * STARTTLS (RFC 3207) with a certificate from the sim-net test CA.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import nodemailer from 'nodemailer';
import type { MxRecord } from '@ssmax/sim-net';
import type { IdentityNotice, AttestationCheck } from './attestation.js';
import { buildDsn } from './dsn.js';
import { actor, defenceOn, domainOf, type OrgContext } from './org-context.js';
import { assembleMixed, classifyParts, leavesOutsideRoles, openFilePart, orgHop, messageIdOf } from './org-hop.js';
import { findTextBody, parseMimeEntity, parseSmime, type MimeHeader } from '@ssmax/core';
import { inspectOffThread } from './inspection-pool.js';
import { spoolMeta, type SpoolEntry } from './spool.js';
import { receivedFieldsOf } from './trace-fields.js';
import { conventionalBounce, dkimSignMessage, isConventionalSubmissionMeta, isHeld, type TlsReportEvent } from './conventional.js';
import type { JourneyCheck } from './journey.js';
import { headerProtectionOn, openSpooled } from './header-protection.js';
import { freshnessFor } from './plus.js';

export interface SendResult {
  readonly accepted: boolean;
  /** SMTP reply code of the final answer (or 0 when no connection could be made). */
  readonly code: number;
  readonly response: string;
  /** 4xx / connection failures: try again later. */
  readonly transient: boolean;
  readonly tls: boolean;
  /** The MX that answered (or the last one tried). */
  readonly mx?: string;
  /** Why a required TLS session (MTA-STS enforce or `tls: 'require'`) failed, RFC 8460 §4.3 result type. */
  readonly tlsFailure?: 'starttls-not-supported' | 'certificate-host-mismatch' | 'validation-failure' | 'mx-not-in-policy';
}

/** How {@link sendToDomain} uses STARTTLS; default from the profile (`starttls` → require, else never). */
export interface SendTlsOptions {
  readonly tls: 'never' | 'opportunistic' | 'require';
  /** RFC 8461 §4.1: only MX hosts this accepts are used (an MTA-STS policy's `mx` patterns). */
  readonly mxAllowed?: (host: string) => boolean;
  /**
   * ssmax-plus addition 1: the peer's certificate must carry one of these keys (SHA-256 of its
   * SubjectPublicKeyInfo, base64, RFC 7469 pin-sha256) besides chaining to the CA; any TLS failure is
   * then transient (4xx: retry, never clear text), as for DANE (RFC 7672 §2.2).
   */
  readonly spkiPins?: readonly string[];
}

/** The RFC 7469 pin-sha256 of a DER certificate's SubjectPublicKeyInfo (base64). */
export function spkiPinOf(certificate: Uint8Array | string): string {
  const spki = new X509Certificate(typeof certificate === 'string' ? certificate : Buffer.from(certificate)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Host name check (RFC 6125) and then the pin: a certificate for the right name with another key is refused. */
function pinCheck(pins: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const e = checkServerIdentity(host, cert);
    if (e) return e;
    const pin = spkiPinOf(cert.raw);
    return pins.includes(pin) ? undefined : new Error(`TLS certificate key of ${host} (pin-sha256 ${pin}) is not the one the registry directory pins`);
  };
}

/** RFC 8461 §4.1 MX matching: exact, or a `*.` wildcard matching exactly one leftmost label. */
export function mxMatchesPolicy(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    const q = p.toLowerCase().replace(/\.$/, '');
    if (q.startsWith('*.')) {
      const rest = q.slice(2);
      const i = h.indexOf('.');
      return i > 0 && h.slice(i + 1) === rest;
    }
    return h === q;
  });
}

function tlsFailureOf(err: { code?: string; command?: string; message: string }): SendResult['tlsFailure'] | undefined {
  if (err.code !== 'ETLS' && err.command !== 'STARTTLS' && !/STARTTLS|TLS/i.test(err.message)) return undefined;
  if (/altname|hostname|Host:/i.test(err.message)) return 'certificate-host-mismatch';
  if (/certificate|self.signed|unable to verify|CERT/i.test(err.message)) return 'validation-failure';
  return 'starttls-not-supported';
}

type Transport = ReturnType<typeof nodemailer.createTransport>;

/** How long a relay connection stays open after its last mail. */
const REUSE_IDLE_MS = 250;
/** Open relay connections per org and destination, for mails that follow each other closely. */
const reusable = new WeakMap<OrgContext, Map<string, { transport: Transport; timer?: NodeJS.Timeout }>>();

/**
 * A pooled transport for the SSMAX relay (STARTTLS required, no MTA-STS options): back-to-back mails to
 * the same MX share one connection (RFC 5321 §3.3 allows several transactions per session), which saves
 * a connection, the server's greeting delay and a TLS handshake per mail. The connection is closed
 * after {@link REUSE_IDLE_MS} without a mail, so a stopping receiver never waits on it.
 */
function reusableTransport(ctx: OrgContext, key: string, create: () => Transport): { transport: Transport; done: (ok: boolean) => void } {
  let byKey = reusable.get(ctx);
  if (!byKey) reusable.set(ctx, (byKey = new Map()));
  let slot = byKey.get(key);
  if (!slot) byKey.set(key, (slot = { transport: create() }));
  clearTimeout(slot.timer);
  const s = slot;
  return {
    transport: s.transport,
    done: (ok) => {
      if (!ok) {
        // A failed transaction may have left the connection in any state: start afresh next time.
        byKey.delete(key);
        s.transport.close();
        return;
      }
      s.timer = setTimeout(() => {
        if (byKey.get(key) === s) byKey.delete(key);
        s.transport.close();
      }, REUSE_IDLE_MS);
      s.timer.unref();
    },
  };
}

/**
 * Sends `message` to `rcptTo` (all in `domain`) through the domain's best MX. Never throws: the
 * outcome is data, so the worker can decide between retry and bounce.
 */
export async function sendToDomain(
  ctx: OrgContext,
  domain: string,
  mailFrom: string,
  rcptTo: readonly string[],
  message: Uint8Array,
  tlsOptions?: SendTlsOptions,
  /** RFC 3461 ENVID: this transmission's name (our spool id), so a receiver stores a retry after a lost 250 once (transmission.ts). */
  envid?: string,
): Promise<SendResult> {
  const mode = tlsOptions?.tls ?? (ctx.profile.starttls ? (ctx.profile.outboundTls ?? 'require') : 'never');
  let mxs: MxRecord[];
  try {
    mxs = [...(await ctx.net.resolver(domain, 'MX'))].sort((a, b) => a.priority - b.priority);
  } catch (e) {
    return { accepted: false, code: 0, response: `MX lookup for ${domain} failed: ${(e as Error).message}`, transient: true, tls: false };
  }
  if (mxs.length === 0) return { accepted: false, code: 550, response: `${domain} has no MX`, transient: false, tls: false };
  let last: SendResult = { accepted: false, code: 0, response: 'no MX reachable', transient: true, tls: false };
  for (const mx of mxs) {
    if (tlsOptions?.mxAllowed && !tlsOptions.mxAllowed(mx.exchange)) {
      // RFC 8461 §4.2: an MX that does not match the policy is not used.
      last = {
        accepted: false,
        code: 0,
        response: `MX ${mx.exchange} is not in the MTA-STS policy of ${domain}`,
        transient: false,
        tls: false,
        mx: mx.exchange,
        tlsFailure: 'mx-not-in-policy',
      };
      continue;
    }
    let opts;
    try {
      opts = ctx.net.connectOptions(ctx.addresses.mtaOut, mx.exchange, 25);
    } catch (e) {
      last = { accepted: false, code: 0, response: (e as Error).message, transient: true, tls: false, mx: mx.exchange };
      continue;
    }
    let upgraded = false;
    const noop = (): void => undefined;
    // nodemailer reports a STARTTLS upgrade only through its logger; opportunistic TLS needs to know.
    const logger = {
      trace: noop,
      debug: noop,
      warn: noop,
      error: noop,
      fatal: noop,
      info: (_m: unknown, msg?: unknown) => {
        if (typeof msg === 'string' && msg.includes('upgraded with STARTTLS')) upgraded = true;
      },
    };
    // The SSMAX relay (STARTTLS required, no policy options) reuses its connection; MTA-STS and
    // opportunistic sends keep one connection per mail, so each reports its own TLS outcome.
    const pooled = tlsOptions === undefined && mode === 'require';
    const create = (): Transport =>
      nodemailer.createTransport({
        ...opts,
        secure: false,
        name: ctx.mxHost,
        requireTLS: mode === 'require',
        ignoreTLS: mode === 'never',
        opportunisticTLS: mode === 'opportunistic',
        tls: {
          ca: ctx.tlsCa,
          servername: opts.servername,
          minVersion: 'TLSv1.2',
          ...(tlsOptions?.spkiPins ? { checkServerIdentity: pinCheck(tlsOptions.spkiPins) } : {}),
        },
        connectionTimeout: 10_000,
        socketTimeout: 30_000,
        ...(pooled ? { pool: true, maxConnections: 1 } : { logger: logger as never }),
      });
    const { transport, done } = pooled
      ? reusableTransport(ctx, `${opts.localAddress ?? ''}>${opts.host}:${opts.port}/${opts.servername ?? ''}`, create)
      : { transport: create(), done: () => undefined };
    try {
      const info = await transport.sendMail({
        envelope: { from: mailFrom, to: [...rcptTo] },
        raw: Buffer.from(message),
        ...(envid !== undefined ? { dsn: { envid } } : {}),
      });
      if (pooled) done(true);
      else transport.close();
      return { accepted: true, code: 250, response: info.response, transient: false, tls: mode === 'require' || upgraded, mx: mx.exchange };
    } catch (e) {
      if (pooled) done(false);
      else transport.close();
      const err = e as { responseCode?: number; response?: string; message: string; code?: string; command?: string };
      const tlsFailure = tlsOptions && mode === 'require' ? tlsFailureOf(err) : undefined;
      const code = tlsFailure ? 0 : (err.responseCode ?? 0);
      last = {
        accepted: false,
        code,
        response: err.response ?? err.message,
        transient: (tlsOptions?.spkiPins !== undefined || !tlsFailure) && (code === 0 || (code >= 400 && code < 500)),
        tls: false,
        mx: mx.exchange,
        ...(tlsFailure ? { tlsFailure } : {}),
      };
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
  /** ssmax-plus addition 4: ISO time before which MTA-out does not send (the sender may cancel until then). */
  readonly notBefore?: string;
  /** ssmax-plus: when the MSA queued it (the retry window counts from the end of the hold, or from here). */
  readonly queuedAt?: string;
}

function isSubmissionMeta(m: unknown): m is SubmissionMeta {
  return (
    typeof m === 'object' &&
    m !== null &&
    'kind' in m &&
    m.kind === 'submission' &&
    'messageId' in m &&
    typeof m.messageId === 'string' &&
    'checks' in m &&
    Array.isArray(m.checks) &&
    'identityNotice' in m &&
    typeof m.identityNotice === 'object'
  );
}

/**
 * Processes one spooled submission: per destination domain (5)+(6) and the send. Returns 'done' when
 * every domain is finished (sent, refused or bounced), 'retry' when some got a transient failure.
 */
export async function processSubmission(ctx: OrgContext, entry: SpoolEntry): Promise<'done' | 'retry'> {
  const meta = spoolMeta(entry, isSubmissionMeta, "an SSMAX submission's");
  const who = actor(ctx, 'mta-out');
  const plus = ctx.plus;
  if (plus) {
    // ssmax-plus addition 4, as conventional hold-then-send: cancelled or still held, nothing leaves.
    if (plus.cancelled.has(entry.id) || (await ctx.outbound.isDone(entry.id, 'cancelled'))) return 'done';
    if (isHeld(ctx, meta)) return 'retry';
    // Synchronous with cancelSubmission's check: once marked, the sender can no longer cancel.
    if (plus.cancelled.has(entry.id)) return 'done';
    plus.sending.add(entry.id);
  }
  // ssmax-plus addition 2: the spool keeps the envelope; (5)+(6) read what is inside.
  const opened = await openSpooled(ctx, entry);
  const parsed = parseSmime(opened.message);
  // With (4) switched off (falsifiability runs only) the MSA relays unsigned mail too: its whole entity goes through (5)/(6).
  const entity =
    parsed.kind === 'multipart-signed' ? parsed.signedEntity : parsed.kind === 'plain' && !defenceOn(ctx, 'userSignature') ? parsed.entity : undefined;
  if (entity === undefined) return 'done';
  const byDomain = new Map<string, string[]>();
  for (const r of entry.envelope.rcptTo) {
    const d = domainOf(r);
    byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
  }
  const userCrl = await ctx.users.crl();
  let retry = false;
  for (const [domain, rcpts] of byDomain) {
    await ctx.outbound
      .once(entry.id, `domain:${domain}`, async () => {
        const member = await ctx.registry.memberByDomain(domain);
        const sorted = classifyParts(entity);
        // A part in no SSMAX role counts as a file: it would leave as it stands (issue 10 item 2).
        const hasFiles = sorted.files.length > 0 || sorted.other.length > 0;
        if (!member || !member.kmsEncryptionCertificate) {
          if (hasFiles && !defenceOn(ctx, 'nonMemberFilesRefusal')) {
            await sendDowngraded(ctx, entry, meta, domain, rcpts, entity, parsed.headers);
            return;
          }
          if (hasFiles) {
            // Policy for non-members (docs/PROTOCOL.md §13): files never leave in a form the recipient
            // org cannot be held to; the sender gets a notice instead.
            await ctx.journey.record({
              messageId: meta.messageId,
              actor: who,
              procedure: 6,
              checks: [{ name: 'registry-member', result: 'fail', detail: domain }],
              files: 'ciphertext',
              outcome: 'bounced',
              detail: 'files refused for a non-member domain',
            });
            await bounce(ctx, entry, meta, rcpts, 'non-member-files', `${domain} is not an SSMAX registry member; mail with files is not sent to non-members.`);
            return;
          }
        }
        const recipients = member?.kmsEncryptionCertificate ? [new Uint8Array(Buffer.from(member.kmsEncryptionCertificate, 'base64'))] : [];
        const hop = await orgHop({
          kms: ctx.kms,
          plainFiles: !defenceOn(ctx, 'fileEncryption'),
          mode: ctx.mode,
          direction: 'outbound',
          entity,
          headers: parsed.headers,
          headerProtection: headerProtectionOn(ctx),
          ...(opened.opened ? { arrivedOuter: opened.opened.outer } : {}),
          recipients,
          org: ctx.registryOrgId,
          domain: ctx.domain,
          hop: 1,
          trace: receivedFieldsOf(entry.bytes),
          messageId: meta.messageId,
          checks: meta.checks,
          identityNotice: meta.identityNotice,
          ...(userCrl ? { orgCrl: userCrl } : {}),
          ...(plus?.options.freshness
            ? {
                freshness: freshnessFor(plus.options, {
                  messageId: meta.messageId,
                  date: parsed.headers.find((h) => h.name.toLowerCase() === 'date')?.value ?? '',
                  rcptTo: rcpts,
                  now: ctx.clock(),
                })!,
              }
            : {}),
          ...(ctx.profile.inspection ? { policy: ctx.profile.inspection } : {}),
          // The files go re-encrypted to this member's KMS only (registry lookup above).
          recipientMember: member?.kmsEncryptionCertificate !== undefined,
          ...(defenceOn(ctx, 'outboundInspection') ? {} : { inspect: false }),
          clock: ctx.clock,
        });
        const checks = [
          ...meta.checks,
          { name: 'dlp', result: hop.inspected ? (hop.blocked ? 'fail' : 'pass') : 'skip', detail: hop.verdict.reasons.map((r) => r.rule).join(', ') } as const,
        ];
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: actor(ctx, 'inspection'),
          procedure: 5,
          checks,
          files: hop.files.length > 0 ? 'plaintext' : 'none',
          outcome: hop.blocked ? 'bounced' : 'accepted',
          ...(hop.inspected ? {} : { detail: ctx.mode === 'esp' ? 'ESP: no content inspection' : '(5) outbound inspection switched off' }),
        });
        if (hop.blocked) {
          const rules = hop.verdict.reasons.filter((r) => r.action === 'block');
          await bounce(
            ctx,
            entry,
            meta,
            rcpts,
            rules.map((r) => r.rule).join(','),
            `Outbound inspection blocked the mail: ${rules.map((r) => `rule "${r.rule}" (${r.detail}${r.file ? ` in ${r.file}` : ''})`).join('; ')}.`,
          );
          return;
        }
        // ssmax-plus addition 1: to a member only over STARTTLS with the key the signed directory pins.
        const pins = plus?.options.pinnedTls && member ? (member.mtaTlsSpkiSha256 ?? []) : undefined;
        const sent =
          pins?.length === 0
            ? ({ accepted: false, code: 0, response: `${domain} has no MTA TLS pin in the registry directory`, transient: true, tls: false } as SendResult)
            : await sendToDomain(ctx, domain, entry.envelope.mailFrom, rcpts, hop.message, pins ? { tls: 'require', spkiPins: pins } : undefined, entry.id);
        const expired = sent.transient && plus ? retryWindowPassed(ctx, plus.options, meta) : undefined;
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: 6,
          checks: [
            { name: 'registry-member', result: member ? 'pass' : 'skip', detail: member ? member.orgId : 'non-member, no files' },
            { name: 'starttls', result: sent.tls ? 'pass' : pins ? 'fail' : 'skip' },
            ...(pins
              ? [
                  {
                    name: 'tls-pin',
                    result: sent.tls ? 'pass' : 'fail',
                    detail: sent.tls ? 'peer key pinned by the registry' : sent.response.slice(0, 300),
                  } as const,
                ]
              : []),
          ],
          files: hop.files.length > 0 ? 'ciphertext' : 'none',
          outcome: sent.accepted ? 'relayed' : sent.transient && !expired ? 'deferred' : 'bounced',
          reply: `${sent.code} ${sent.response}`.slice(0, 500),
        });
        if (expired) {
          // Never downgraded: after the retry window the sender gets a DSN (RFC 3464), the mail never left in clear.
          await bounce(
            ctx,
            entry,
            meta,
            rcpts,
            'retry-window',
            `Not delivered over authenticated TLS within ${expired} s (last attempt: ${sent.response.slice(0, 300)}).`,
          );
          return;
        }
        if (sent.transient) throw new RetryLater(sent.response);
        if (!sent.accepted) await bounce(ctx, entry, meta, rcpts, `remote-${sent.code}`, `The receiving server refused the mail: ${sent.response}`);
      })
      .catch((e: unknown) => {
        if (e instanceof RetryLater) retry = true;
        else throw e;
      });
  }
  return retry ? 'retry' : 'done';
}

class RetryLater extends Error {}

/** ssmax-plus's retry window when the profile names none (RFC 5321 §4.5.4.1 suggests 4-5 days; a shorter one bounces sooner). */
const DEFAULT_RETRY_WINDOW_SECONDS = 4 * 3600;

/** ssmax-plus: the retry window (seconds) when it has passed since the mail was queued, else undefined. */
function retryWindowPassed(ctx: OrgContext, plus: NonNullable<OrgContext['profile']['plus']>, meta: SubmissionMeta): number | undefined {
  const from = Date.parse(meta.notBefore ?? meta.queuedAt ?? '');
  if (Number.isNaN(from)) return undefined;
  const window = plus.retryWindowSeconds ?? DEFAULT_RETRY_WINDOW_SECONDS;
  return ctx.clock().getTime() - from > window * 1000 ? window : undefined;
}

/** Header fields a downgraded mail keeps from the submission (the rest are the transport's). */
const DOWNGRADE_CARRIED = ['from', 'to', 'cc', 'subject', 'date', 'message-id', 'reply-to', 'in-reply-to', 'references'];

/**
 * The non-member policy switched off (falsifiability runs only): the files are decrypted with the KMS
 * and leave as plain attachments beside the body, after outbound inspection (5) in org mode, as a
 * gateway without the policy of docs/PROTOCOL.md §13 would send them.
 */
async function sendDowngraded(
  ctx: OrgContext,
  entry: SpoolEntry,
  meta: SubmissionMeta,
  domain: string,
  rcpts: readonly string[],
  entity: Uint8Array,
  headers: readonly MimeHeader[],
): Promise<void> {
  const who = actor(ctx, 'mta-out');
  const parts = classifyParts(entity);
  const files: Uint8Array[] = [];
  for (const f of parts.files) files.push(await openFilePart(ctx.kms, f.der, !defenceOn(ctx, 'fileEncryption')));
  if (ctx.mode === 'org' && defenceOn(ctx, 'outboundInspection')) {
    const verdict = await inspectOffThread(
      'outbound',
      [
        ...files.map((f, i) => {
          const p = parseMimeEntity(f);
          return { name: p.filename ?? `${i + 1}`, contentType: p.contentType.mediaType, bytes: p.body };
        }),
        ...leavesOutsideRoles(parts),
      ],
      parts.body ? (findTextBody(parts.body) ?? '') : '',
      ctx.profile.inspection,
      { recipientMember: false },
    );
    const blocks = verdict.reasons.filter((r) => r.action === 'block');
    await ctx.journey.record({
      messageId: meta.messageId,
      actor: actor(ctx, 'inspection'),
      procedure: 5,
      checks: [...meta.checks, { name: 'dlp', result: blocks.length ? 'fail' : 'pass', detail: verdict.reasons.map((r) => r.rule).join(', ') }],
      files: 'plaintext',
      outcome: blocks.length ? 'bounced' : 'accepted',
    });
    if (blocks.length) {
      await bounce(
        ctx,
        entry,
        meta,
        rcpts,
        blocks.map((r) => r.rule).join(','),
        `Outbound inspection blocked the mail: ${blocks.map((r) => `rule "${r.rule}" (${r.detail}${r.file ? ` in ${r.file}` : ''})`).join('; ')}.`,
      );
      return;
    }
  }
  const carried = headers
    .filter((h) => DOWNGRADE_CARRIED.includes(h.name.toLowerCase()))
    .map((h) => `${h.name}: ${h.value}\r\n`)
    .join('');
  const raw = new Uint8Array(
    Buffer.concat([
      Buffer.from(receivedFieldsOf(entry.bytes)),
      Buffer.from(`${carried}MIME-Version: 1.0\r\n`, 'utf8'),
      Buffer.from(assembleMixed([...(parts.body ? [parts.body.raw] : []), ...files, ...parts.other.map((p) => p.raw)])),
    ]),
  );
  const sent = await sendToDomain(ctx, domain, entry.envelope.mailFrom, rcpts, raw, undefined, entry.id);
  await ctx.journey.record({
    messageId: meta.messageId,
    actor: who,
    procedure: 6,
    checks: [
      { name: 'registry-member', result: 'fail', detail: `${domain}: non-member policy switched off, files sent decrypted` },
      { name: 'starttls', result: sent.tls ? 'pass' : 'skip' },
    ],
    files: 'plaintext',
    outcome: sent.accepted ? 'relayed' : sent.transient ? 'deferred' : 'bounced',
    reply: `${sent.code} ${sent.response}`.slice(0, 500),
  });
  if (sent.transient) throw new RetryLater(sent.response);
  if (!sent.accepted) await bounce(ctx, entry, meta, rcpts, `remote-${sent.code}`, `The receiving server refused the mail: ${sent.response}`);
}

async function bounce(ctx: OrgContext, entry: SpoolEntry, meta: SubmissionMeta, rcpts: readonly string[], rule: string, text: string): Promise<void> {
  const sender = entry.envelope.mailFrom;
  if (!sender || domainOf(sender) !== ctx.domain) return;
  const dsn = buildDsn({
    reportingMta: ctx.mxHost,
    from: `MAILER-DAEMON@${ctx.domain}`,
    to: sender,
    originalMessageId: meta.messageId || messageIdOf([]),
    recipients: rcpts,
    rule,
    text,
    clock: ctx.clock,
    originalHeaders: parseSmime(entry.bytes).headers,
  });
  // RFC 5321 §4.5.5: a DSN has the null reverse-path.
  await ctx.mailbox.deliver(sender, dsn, { mailFrom: '' });
  await ctx.journey.record({
    messageId: meta.messageId,
    actor: actor(ctx, 'dsn'),
    procedure: 0,
    checks: [{ name: 'dsn', result: 'pass', detail: rule }],
    files: 'none',
    outcome: 'bounced',
    detail: text.slice(0, 500),
  });
}

/**
 * Conventional mode's outbound worker: hold-then-send, DKIM signing, MTA-STS (RFC 8461) per
 * destination domain, the send, TLS reports (RFC 8460) and DSNs. Returns 'retry' while the hold
 * window is open or a domain got a transient failure.
 */
export async function processConventionalSubmission(ctx: OrgContext, entry: SpoolEntry): Promise<'done' | 'retry'> {
  const rt = ctx.conventional!;
  const o = rt.options;
  const meta = spoolMeta(entry, isConventionalSubmissionMeta, "a conventional submission's");
  const who = actor(ctx, 'mta-out');
  if (rt.cancelled.has(entry.id) || (await ctx.outbound.isDone(entry.id, 'cancelled'))) return 'done';
  if (isHeld(ctx, meta)) return 'retry';
  // Synchronous with cancelSubmission's check: once marked, the sender can no longer cancel.
  if (rt.cancelled.has(entry.id)) return 'done';
  rt.sending.add(entry.id);
  const message = await dkimSignMessage(ctx, rt, entry.bytes);
  const byDomain = new Map<string, string[]>();
  for (const r of entry.envelope.rcptTo) {
    const d = domainOf(r);
    byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
  }
  let retry = false;
  for (const [domain, rcpts] of byDomain) {
    await ctx.outbound
      .once(entry.id, `domain:${domain}`, async () => {
        const checks: JourneyCheck[] = [...(o.dkimSign ? [{ name: 'dkim-sign', result: 'pass', detail: `d=${ctx.domain} s=${o.dkimSelector}` } as const] : [])];
        let tls: SendTlsOptions = { tls: o.outboundTls };
        let policy: { mode: 'enforce' | 'testing' | 'none'; mx: readonly string[] } | undefined;
        if (o.mtaSts !== 'off') {
          try {
            const p = await ctx.net.fetchMtaStsPolicy(domain, ctx.addresses.mtaOut);
            if (p) policy = { mode: p.mode, mx: p.mx ?? [] };
            checks.push({ name: 'mta-sts', result: p ? 'pass' : 'skip', detail: p ? `policy ${p.mode}, mx ${(p.mx ?? []).join(',')}` : 'no policy' });
          } catch (e) {
            // RFC 8461 §3.3/§5.1: a failed fetch with no cached policy means no policy applies.
            checks.push({ name: 'mta-sts', result: 'fail', detail: `policy fetch failed: ${(e as Error).message}`.slice(0, 300) });
            await tlsReport(ctx, domain, undefined, 'sts-policy-fetch-error', meta.messageId, undefined);
          }
          if (policy?.mode === 'enforce') tls = { tls: 'require', mxAllowed: (h) => mxMatchesPolicy(h, policy!.mx) };
        }
        const sent = await sendToDomain(ctx, domain, entry.envelope.mailFrom, rcpts, message, tls, entry.id);
        if (policy && policy.mode !== 'none') {
          await tlsReport(ctx, domain, policy.mode, sent.tlsFailure ?? (sent.tls ? 'success' : 'starttls-not-supported'), meta.messageId, sent.mx);
        }
        checks.push({
          name: 'starttls',
          result: sent.tls ? 'pass' : sent.tlsFailure ? 'fail' : 'skip',
          detail: sent.tlsFailure ?? (sent.tls ? 'TLS' : 'clear text'),
        });
        const outcome = sent.accepted ? 'relayed' : sent.transient ? 'deferred' : sent.tlsFailure ? 'rejected' : 'bounced';
        await ctx.journey.record({
          messageId: meta.messageId,
          actor: who,
          procedure: 0,
          checks: [...meta.checks, ...checks],
          files: meta.files,
          outcome,
          reply: `${sent.code} ${sent.response}`.slice(0, 500),
          ...(sent.tlsFailure ? { detail: `not sent: MTA-STS policy of ${domain} requires TLS to a listed MX (${sent.tlsFailure})` } : {}),
        });
        if (sent.transient) throw new RetryLater(sent.response);
        if (sent.tlsFailure) {
          await conventionalBounce(
            ctx,
            entry,
            meta.messageId,
            rcpts,
            'mta-sts',
            'MTA_STS_FAILURE',
            `The mail was not sent: ${domain} requires TLS to a listed MX by its MTA-STS policy (RFC 8461) and that could not be established (${sent.tlsFailure}).`,
          );
        } else if (!sent.accepted) {
          await conventionalBounce(
            ctx,
            entry,
            meta.messageId,
            rcpts,
            `remote-${sent.code}`,
            'INTERNAL',
            `The receiving server refused the mail: ${sent.response}`,
          );
        }
      })
      .catch((e: unknown) => {
        if (e instanceof RetryLater) retry = true;
        else throw e;
      });
  }
  if (retry) rt.sending.delete(entry.id);
  return retry ? 'retry' : 'done';
}

async function tlsReport(
  ctx: OrgContext,
  domain: string,
  mode: TlsReportEvent['policyMode'],
  result: TlsReportEvent['result'],
  messageId: string,
  mx: string | undefined,
): Promise<void> {
  let rua: string[] = [];
  try {
    const txt = (await ctx.net.resolver(`_smtp._tls.${domain}`, 'TXT')).map((c) => c.join(''));
    const rec = txt.find((t) => /^v=TLSRPTv1\b/i.test(t));
    rua = rec
      ? (/rua=([^;]+)/i.exec(rec)?.[1] ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  } catch {
    // No TLSRPT record: RFC 8460 §3, nothing to report to; the event is still kept locally.
  }
  const ev: TlsReportEvent = {
    at: ctx.clock().toISOString(),
    policyDomain: domain,
    policyType: mode ? 'sts' : 'no-policy-found',
    ...(mode ? { policyMode: mode } : {}),
    ...(mx ? { mx } : {}),
    result,
    rua,
    messageId,
  };
  ctx.conventional?.tlsReports.push(ev);
  await ctx.journey.record({
    messageId,
    actor: actor(ctx, 'tls-rpt'),
    procedure: 0,
    checks: [
      {
        name: 'tls-rpt',
        result: result === 'success' ? 'pass' : 'fail',
        detail: `${domain}: ${result}${mx ? ` (${mx})` : ''}; rua ${rua.join(',') || 'none'}`,
      },
    ],
    files: 'none',
    outcome: result === 'success' ? 'accepted' : 'rejected',
  });
}
