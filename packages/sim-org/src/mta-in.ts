/**
 * The org's inbound MTA (its MX): smtp-server with STARTTLS (RFC 3207, certificate from the sim-net
 * test CA). Inside the DATA phase, before the final reply, it runs (7) — the sending org's signature,
 * its certificate chain to the registry root, its registry status (unknown / suspended / revoked →
 * refused with the reply table's code), the From domain, the sending org's attestation and the
 * sender's certificate against the stapled org CRL — and, in org mode, (8) inbound inspection, so bad
 * mail is refused in the session (no backscatter). Accepted mail is spooled (fsync'd) before the 250.
 * Plain mail from a domain that is not a registry member is accepted and marked
 * `X-SSMAX-Verdict: unverified`.
 */
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import {
  SsmaxError,
  getHeader,
  normaliseAddress,
  originatorOf,
  originatorOfMessage,
  parseCertificate,
  senderIsAuthor,
  collectAttachments,
  findTextBody,
  parseMimeEntity,
  parseSmime,
  validateChain,
  verifySignedData,
  type MimeHeader,
} from '@ssmax/core';
import { verifyAttestation, type AttestationCheck, type IdentityNotice, type OrgAttestation } from './attestation.js';
import { type InspectionVerdict, type VerdictReason } from './inspection.js';
import { inspectOffThread } from './inspection-pool.js';
import { reasonLabel } from './malware-engine.js';
import { collect, smtpError } from './msa.js';
import { actor, defenceOn, domainOf, type OrgContext } from './org-context.js';
import { classifyParts, leavesOutsideRoles, messageIdOf, openFilePart, structureProblem } from './org-hop.js';
import { listenSmtp, type SmtpListener } from './smtp-listener.js';
import { orgSmtpGuard } from './smtp-limits.js';
import { formatReply, replyFor, type SmtpReply } from './reply-codes.js';
import type { DirectoryMember } from './registry-client.js';
import { analyseConventionalMail, checkMailAuth, checkReputation, reputationHeader, withoutAuthResultsOf } from './conventional.js';
import type { JourneyCheck } from './journey.js';
import { prependFields, receivedField, sessionHop, startsWithContinuation } from './trace-fields.js';
import { spoolTransmission } from './transmission.js';
import { openForOrg } from './header-protection.js';
import { checkFreshness } from './plus.js';

export interface OrgMailVerdict {
  readonly ok: boolean;
  /** 'ssmax': verified org mail; 'unverified': plain mail from a non-member domain. */
  readonly kind: 'ssmax' | 'unverified';
  readonly code?: string;
  readonly detail?: string;
  readonly checks: AttestationCheck[];
  readonly messageId: string;
  readonly headers: readonly MimeHeader[];
  readonly member?: DirectoryMember;
  readonly hop?: number;
  readonly attestation?: OrgAttestation;
  readonly identityNotice?: IdentityNotice;
  readonly signedEntity?: Uint8Array;
}

const b64d = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Whether `headers` are those of a delivery status notification (RFC 3464 §2: multipart/report, RFC 6522, of report-type delivery-status). */
function isDeliveryStatusReport(headers: readonly MimeHeader[]): boolean {
  const type = getHeader(headers, 'Content-Type') ?? '';
  return /^\s*multipart\/report\s*;/i.test(type) && /;\s*report-type\s*=\s*"?delivery-status"?\s*(?:;|$)/i.test(type);
}

/**
 * Procedure (7) as data; never throws for hostile input (registry outages become TEMP_REGISTRY_UNAVAILABLE).
 * `envelope.mailFrom` is the SMTP reverse-path ('' for the null one); without it the mail is taken to have one.
 */
export async function verifyOrgMail(ctx: OrgContext, raw: Uint8Array, envelope?: { readonly mailFrom: string }): Promise<OrgMailVerdict> {
  const checks: AttestationCheck[] = [];
  let headers: readonly MimeHeader[] = [];
  let messageId = '';
  const fail = (code: string, detail: string, extra: Partial<OrgMailVerdict> = {}): OrgMailVerdict => ({
    ok: false,
    kind: 'ssmax',
    code,
    detail,
    checks,
    messageId,
    headers,
    ...extra,
  });
  try {
    // ssmax-plus addition 2: a header-protected mail is enveloped to this org's KMS; (7) reads what is inside.
    const opened = await openForOrg(ctx, raw, 'peer');
    if (!opened.ok) {
      messageId = opened.messageId;
      checks.push({ name: 'header-protection', result: 'fail', detail: opened.detail });
      return fail(opened.code, opened.detail);
    }
    let parsed;
    try {
      parsed = parseSmime(opened.message);
    } catch (e) {
      return fail(e instanceof SsmaxError && e.code === 'LIMIT_EXCEEDED' ? 'MESSAGE_TOO_BIG' : 'MALFORMED_MIME', (e as Error).message);
    }
    headers = parsed.headers;
    messageId = messageIdOf(headers);
    const originator = originatorOf(headers);
    // One parser for every service (issue 10 item 4): a From naming several mailboxes, or a Sender naming
    // someone else, lets one reader take a member for the author and another an outsider. Refused at (7);
    // with (7) switched off (falsifiability runs only) the first mailbox is taken.
    if (!originator.ok && getHeader(headers, 'From') !== undefined && defenceOn(ctx, 'orgSignature')) {
      checks.push({ name: 'originator', result: 'fail', detail: originator.reason.slice(0, 300) });
      return fail('AMBIGUOUS_FROM', originator.reason);
    }
    const from = originator.ok ? originator.from.address : (originator.mailboxes[0]?.address ?? lenientFrom(getHeader(headers, 'From')));
    if (from === undefined) return fail('MALFORMED_MIME', 'no From address');
    const fromMember = await ctx.registry.memberByDomain(domainOf(from));
    const isSsmax = parsed.kind === 'multipart-signed' && getHeader(headers, 'X-SSMAX-Hop') !== undefined;
    if (!isSsmax) {
      // A Sender (RFC 5322 §3.6.2) in a member domain claims that member transmitted the mail: it is held
      // to the same rule as From, or a client's "member on behalf of outsider" would show a member unsigned.
      const sender = originator.ok && originator.sender && originator.sender.domain !== domainOf(from) ? originator.sender : undefined;
      const claimed = fromMember ? domainOf(from) : sender && (await ctx.registry.memberByDomain(sender.domain)) ? sender.domain : undefined;
      // A bounce a member's MTA wrote after its 250 (RFC 5321 §6.1: with the null reverse-path; RFC 3464) must reach
      // the sender even unsigned: it goes on as outside mail (marked unverified, never shown as the member's, no files).
      const memberBounce = claimed !== undefined && envelope?.mailFrom === '' && isDeliveryStatusReport(headers);
      if (claimed !== undefined && !memberBounce && defenceOn(ctx, 'orgSignature')) {
        // A member domain never sends unsigned mail: this is pattern A (forged sender).
        checks.push({
          name: 'org-signature',
          result: 'fail',
          detail: `unsigned mail claims member domain ${claimed}${claimed === domainOf(from) ? '' : ' in Sender'}`,
        });
        return fail('BAD_SIGNATURE', `mail from ${claimed} must carry the org signature`);
      }
      checks.push({
        name: 'registry-member',
        result: 'skip',
        detail: memberBounce
          ? `unsigned delivery status notification (null reverse-path) from member domain ${claimed}: delivered as outside mail`
          : fromMember
            ? `(7) switched off: unsigned mail for member domain ${domainOf(from)} taken as outside mail`
            : `${domainOf(from)} is not a registry member`,
      });
      return { ok: true, kind: 'unverified', checks, messageId, headers };
    }
    if (parsed.kind !== 'multipart-signed') return fail('MALFORMED_MIME', 'not multipart/signed');
    if (!defenceOn(ctx, 'orgSignature')) return acceptedUnchecked(checks, messageId, headers, parsed.signedEntity, fromMember);
    let v;
    try {
      v = verifySignedData(parsed.signature, { detachedContent: parsed.signedEntity });
    } catch (e) {
      checks.push({ name: 'org-signature', result: 'fail', detail: 'unreadable CMS' });
      return fail('MALFORMED_CMS', (e as Error).message);
    }
    const s = v.signers[0];
    if (v.signers.length !== 1 || !s?.certificate) {
      checks.push({ name: 'org-signature', result: 'fail', detail: 'no single signer with a certificate' });
      return fail('BAD_SIGNATURE', 'exactly one signer with its certificate required');
    }
    const directory = await ctx.registry.directory();
    const member = directory.members.find((m) => m.kmsSigningCertificate !== undefined && same(b64d(m.kmsSigningCertificate), s.certificate!));
    if (!member) {
      checks.push({ name: 'registry-member', result: 'fail', detail: 'signer is no member’s KMS signing certificate' });
      return fail('UNKNOWN_ORG', `signer ${parseCertificate(s.certificate).subject} is not a registry member`);
    }
    const status = await ctx.registry.statusOf(member.orgId);
    if (status !== 'admitted') {
      checks.push({ name: 'org-status', result: 'fail', detail: `${member.orgId} ${status ?? 'unknown'}` });
      return fail(
        status === 'suspended' ? 'ORG_SUSPENDED' : status === 'revoked' ? 'ORG_REVOKED' : 'UNKNOWN_ORG',
        `${member.name} is ${status ?? 'not listed'}`,
        { member },
      );
    }
    checks.push({ name: 'org-status', result: 'pass', detail: `${member.orgId} admitted` });
    if (!s.valid) {
      checks.push({ name: 'org-signature', result: 'fail', detail: s.reasons.join('; ') });
      return fail(s.code === 'CONTENT_MISMATCH' ? 'CONTENT_MISMATCH' : 'BAD_SIGNATURE', s.reasons.join('; '), { member });
    }
    checks.push({ name: 'org-signature', result: 'pass' });
    const orgCert = b64d(member.orgCertificate);
    const registryCrl = await ctx.registry.crl();
    const revocation = defenceOn(ctx, 'revocation');
    const chain = validateChain({
      leaf: s.certificate,
      intermediates: [orgCert],
      trustAnchors: [ctx.kms.certificates.root],
      crls: revocation ? [registryCrl] : [],
      time: ctx.clock(),
      revocation: revocation ? 'ifAvailable' : 'none',
      requiredKeyUsage: ['digitalSignature'],
    });
    if (!chain.valid) {
      checks.push({ name: 'org-chain', result: 'fail', detail: chain.reasons.join('; ') });
      return fail(chain.code ?? 'UNTRUSTED_CHAIN', chain.reasons.join('; '), { member });
    }
    checks.push({ name: 'org-chain', result: 'pass', detail: 'KMS → org CA → registry root, registry CRL' });
    const binding = defenceOn(ctx, 'fromSignerBinding');
    if (binding && !member.domains.includes(domainOf(from))) {
      checks.push({ name: 'from-domain', result: 'fail', detail: `${from} vs ${member.domains.join(',')}` });
      return fail('FROM_SIGNER_MISMATCH', `${member.name} may not send for ${domainOf(from)}`, { member });
    }
    checks.push(
      binding
        ? { name: 'from-domain', result: 'pass', detail: domainOf(from) }
        : { name: 'from-domain', result: 'skip', detail: `From-signer binding switched off: ${domainOf(from)} signed by ${member.domains.join(',')}` },
    );
    if (originator.ok && !senderIsAuthor(originator)) {
      checks.push({ name: 'originator', result: 'fail', detail: `Sender ${originator.sender!.address} vs From ${from}` });
      return fail('AMBIGUOUS_FROM', `Sender ${originator.sender!.address} is not the From mailbox of signed mail`, { member });
    }
    const hop = Number(getHeader(headers, 'X-SSMAX-Hop'));
    const parts = classifyParts(parsed.signedEntity);
    const structure =
      structureProblem(parts, { attestations: 'in-order' }) ?? (parts.attestations.length > hop ? `attestation parts for hops after ${hop}` : undefined);
    if (structure) {
      checks.push({ name: 'ssmax-structure', result: 'fail', detail: structure });
      return fail('MALFORMED_MIME', `the signed entity is not an SSMAX mail: ${structure}`, { member });
    }
    checks.push({
      name: 'ssmax-structure',
      result: 'pass',
      detail: `body, ${parts.files.length} file(s)${parts.manifest ? ', manifest' : ''}, ${parts.attestations.length} attestation(s)`,
    });
    const attPart = parts.attestations.find((a) => a.k === hop);
    const att = attPart ? verifyAttestation(attPart.part.body) : undefined;
    if (!att || !att.valid || !same(att.signerCertificate, s.certificate) || att.attestation.hop !== hop || att.attestation.org !== member.orgId) {
      checks.push({ name: 'attestation', result: 'fail', detail: att && !att.valid ? att.reason : 'missing or not by the signing org' });
      return fail('BAD_SIGNATURE', 'the sending org attestation is missing or invalid', { member });
    }
    const a = att.attestation;
    if (a.messageId !== messageId || normaliseAddress(a.identityNotice.sender) !== from) {
      checks.push({ name: 'attestation', result: 'fail', detail: 'attestation names another message or sender' });
      return fail('CONTENT_MISMATCH', 'the attestation does not belong to this message', { member });
    }
    checks.push({ name: 'attestation', result: 'pass', detail: `hop ${hop} ${a.role}` });
    // The sender's certificate against the stapled org CRL (fresh by its nextUpdate) and the registry CRL.
    if (a.identityNotice.certificate) {
      const userCert = b64d(a.identityNotice.certificate);
      const crls = revocation ? [registryCrl, ...(a.orgCrl ? [b64d(a.orgCrl)] : [])] : [];
      // The notice names the certificate that signed at (4): a signing certificate, never the user's encryption one.
      const uc = validateChain({
        leaf: userCert,
        intermediates: [orgCert],
        trustAnchors: [ctx.kms.certificates.root],
        crls,
        time: ctx.clock(),
        revocation: !revocation ? 'none' : a.orgCrl ? 'require' : 'ifAvailable',
        requiredKeyUsage: ['digitalSignature'],
      });
      const info = parseCertificate(userCert);
      if (!uc.valid || info.serialNumber !== a.identityNotice.certSerial || (binding && !info.emailAddresses.map(normaliseAddress).includes(from))) {
        checks.push({ name: 'sender-certificate', result: 'fail', detail: uc.reasons.join('; ') || 'notice does not match the certificate' });
        return fail(uc.code === 'CERT_REVOKED' ? 'CERT_REVOKED' : (uc.code ?? 'UNTRUSTED_CHAIN'), uc.reasons.join('; ') || 'identity notice mismatch', {
          member,
        });
      }
      // The serial goes into the journey: the evidence this org's incident desk reports under (12),
      // also for mail it then refuses at (8).
      checks.push({
        name: 'sender-certificate',
        result: 'pass',
        detail: `serial ${a.identityNotice.certSerial}: ${!revocation ? 'revocation check switched off' : a.orgCrl ? 'not revoked (stapled org CRL)' : 'no org CRL stapled'}`,
      });
    } else {
      checks.push({ name: 'sender-certificate', result: 'skip', detail: 'no certificate in the notice' });
    }
    return {
      ok: true,
      kind: 'ssmax',
      checks,
      messageId,
      headers,
      member,
      hop,
      attestation: a,
      identityNotice: a.identityNotice,
      signedEntity: parsed.signedEntity,
    };
  } catch (e) {
    if (e instanceof SsmaxError || (e as { code?: string }).code === 'TEMP_REGISTRY_UNAVAILABLE') {
      const code = (e as { code: string }).code;
      return fail(
        code === 'TEMP_REGISTRY_UNAVAILABLE'
          ? code
          : code === 'LIMIT_EXCEEDED'
            ? 'MESSAGE_TOO_BIG'
            : code.startsWith('MALFORMED')
              ? code === 'MALFORMED_MIME'
                ? 'MALFORMED_MIME'
                : 'MALFORMED_CMS'
              : 'INTERNAL',
        (e as Error).message,
      );
    }
    throw e;
  }
}

/**
 * (7) switched off (falsifiability runs only): the mail is taken as SSMAX mail without checking its
 * signature, chain, registry status or attestation; the attestation's identity notice is passed on as
 * it stands, and the member is the one the From domain names.
 */
function acceptedUnchecked(
  checks: AttestationCheck[],
  messageId: string,
  headers: readonly MimeHeader[],
  signedEntity: Uint8Array,
  fromMember: DirectoryMember | undefined,
): OrgMailVerdict {
  checks.push({ name: 'org-signature', result: 'skip', detail: '(7) switched off: signature, chain, registry status and attestation not checked' });
  const hop = Number(getHeader(headers, 'X-SSMAX-Hop'));
  const attPart = classifyParts(signedEntity).attestations.find((a) => a.k === hop);
  const att = attPart ? verifyAttestation(attPart.part.body) : undefined;
  const attestation = att?.valid ? att.attestation : undefined;
  return {
    ok: true,
    kind: 'ssmax',
    checks,
    messageId,
    headers,
    ...(fromMember ? { member: fromMember } : {}),
    hop,
    ...(attestation ? { attestation, identityNotice: attestation.identityNotice } : {}),
    signedEntity,
  };
}

/**
 * Where (7)'s originator rule is switched off (falsifiability runs only), a From the RFC 5322 parser cannot
 * take apart is read the lenient way mail software did before one parser served every service: the first
 * angle-address, else the first thing shaped like an address.
 */
function lenientFrom(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /<([^<>\s]+@[^<>\s]+)>/.exec(value) ?? /([^\s<>,;"]+@[^\s<>,;"]+)/.exec(value);
  const addr = m?.[1]?.replace(/^@[^:]*:/, '');
  return addr === undefined ? undefined : normaliseAddress(addr);
}

/** (8) in the session: decrypt with the KMS, inspect, forget the plaintext. */
export async function inboundInspection(ctx: OrgContext, entity: Uint8Array, bodyText = ''): Promise<InspectionVerdict> {
  const parts = classifyParts(entity);
  const files = [];
  for (const f of parts.files) {
    const content = await openFilePart(ctx.kms, f.der, !defenceOn(ctx, 'fileEncryption'));
    const p = parseMimeEntity(content);
    files.push({ name: p.filename ?? `${f.n}`, contentType: p.contentType.mediaType, bytes: p.body });
  }
  // Every leaf: parts in no SSMAX role reach (8) only where (7) is switched off, and are scanned too.
  return inspectOffThread(
    'inbound',
    [...files, ...leavesOutsideRoles(parts)],
    bodyText,
    ctx.profile.inspection,
    {},
    { ...(ctx.malwareScanner ? { scanner: ctx.malwareScanner } : {}) },
  );
}

/** (8) on non-member mail: the attachments and text body as any gateway sees them (no KMS involved). The Postfix org's content filter calls it too. */
export async function inspectPlainMail(ctx: OrgContext, raw: Uint8Array): Promise<InspectionVerdict> {
  let root;
  try {
    root = parseMimeEntity(raw);
  } catch (e) {
    return {
      action: 'block',
      reasons: [{ rule: 'uninspectable', detail: `the mail is not well-formed MIME: ${(e as Error).message}`, action: 'block', code: 'UNINSPECTABLE' }],
    };
  }
  const files = collectAttachments(root).map((a) => ({ name: a.filename, contentType: a.contentType, bytes: a.content }));
  return inspectOffThread(
    'inbound',
    files,
    findTextBody(root) ?? '',
    ctx.profile.inspection,
    {},
    { ...(ctx.malwareScanner ? { scanner: ctx.malwareScanner } : {}) },
  );
}

/**
 * Journals (8)'s verdict on one mail (its reasons, or for a clean verdict a "nothing found" check or, with
 * `clean: 'no-checks'`, none) and returns the reason that blocks it, if any.
 */
async function journalInspection(
  ctx: OrgContext,
  messageId: string,
  verdict: InspectionVerdict,
  clean: 'nothing-found' | 'no-checks',
): Promise<VerdictReason | undefined> {
  const block = verdict.reasons.find((r) => r.action === 'block');
  const checks: JourneyCheck[] = verdict.reasons.map((r) => ({
    name: r.rule,
    result: r.action === 'block' ? 'fail' : 'pass',
    detail: `${r.detail}${r.file ? ` (${r.file})` : ''}`,
  }));
  await ctx.journey.record({
    messageId,
    actor: actor(ctx, 'inspection'),
    procedure: 8,
    checks: checks.length === 0 && clean === 'nothing-found' ? [{ name: 'inspection', result: 'pass', detail: nothingFound(verdict) }] : checks,
    files: 'plaintext',
    outcome: block ? 'rejected' : 'accepted',
    ...(block ? { reply: formatReply(replyFor(block.code)) } : {}),
  });
  return block;
}

/** The journey's detail for a clean verdict, naming who scanned (issue 16: which engine decided). */
function nothingFound(v: InspectionVerdict): string {
  return v.scannedBy ? `nothing found by ${v.scannedBy}` : 'nothing found';
}

function addHeader(raw: Uint8Array, name: string, value: string): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(`${name}: ${value}\r\n`, 'latin1'), Buffer.from(raw)]));
}

export type MtaIn = SmtpListener;

export interface MtaInOptions {
  readonly tls?: { key: string; cert: string };
  /** Called after the 250 (tests kill the process here). */
  readonly onAccepted?: (spoolId: string) => void;
  /** Port to listen on; default 0 (any free port). */
  readonly port?: number;
}

/**
 * Conventional mode's MX: SPF/DKIM/DMARC with mailauth against the real client address (DMARC fail
 * with p=reject refused in the session, RFC 7489 §6.7), inbound inspection as an ordinary gateway
 * sees the mail (encrypted ZIP per policy; S/MIME enveloped content opaque), domain reputation
 * (flag → `X-SSMAX-Reputation`), then the mail is spooled unchanged below the trace headers.
 */
async function acceptConventionalMail(
  ctx: OrgContext,
  raw: Uint8Array,
  session: SMTPServerSession,
): Promise<{ ok: true; id: string; duplicate: boolean } | { ok: false; error: Error }> {
  const rt = ctx.conventional!;
  const who = actor(ctx, 'mta-in');
  const tls = session.secure === true;
  const received = receivedField(sessionHop(session, ctx.mxHost, ctx.clock()));
  // RFC 5322 §2.2.3: a header section cannot start with a continuation line. Prepended behind our own
  // trace fields, one would extend the last of them (an injected "dmarc=pass" in our Authentication-Results),
  // so it is refused below. With that check switched off (falsifiability runs only) the MX reads the mail
  // as the next reader will, behind its own Received field, and stores it as it came.
  const continued = startsWithContinuation(raw);
  const bytes = continued ? prependFields(received, raw) : raw;
  const client = {
    ip: session.remoteAddress,
    helo: session.hostNameAppearsAs ?? '',
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
  };
  const a = await analyseConventionalMail(bytes, 'inbound', rt.options, defenceOn(ctx, 'inboundInspection'), ctx.malwareScanner);
  const checks: JourneyCheck[] = [{ name: 'starttls', result: tls ? 'pass' : 'skip', detail: tls ? 'TLS' : 'clear text' }];
  const refuse = async (code: string, detail: string, actorName = who) => {
    const reply = replyFor(code);
    await ctx.journey.record({
      messageId: a.messageId,
      actor: actorName,
      procedure: 0,
      checks,
      files: a.files,
      outcome: 'rejected',
      reply: formatReply(reply, detail),
      detail,
    });
    return { ok: false as const, error: smtpError(reply, detail.slice(0, 200)) };
  };
  if (continued && defenceOn(ctx, 'headerSection')) return refuse('MALFORMED_MIME', 'the header section starts with a continuation line');
  let prepend = received;
  if (rt.options.mailAuth !== 'off') {
    const auth = await checkMailAuth(ctx, bytes, client);
    checks.push(...auth.checks);
    if (rt.options.mailAuth === 'enforce') {
      // RFC 7489 §6.6.1: without exactly one From field naming one mailbox there is no one domain to
      // evaluate, and the domain DMARC evaluated must be the one the recipient's client shows (core's
      // RFC 5322 parser, as strict as the SSMAX services'): else DMARC passes for one domain while the
      // inbox shows another ("Composition Kills", USENIX Security 2020).
      const originator = originatorOfMessage(bytes);
      if (!originator.ok) return refuse('DMARC_FROM_UNCLEAR', originator.reason);
      if (auth.dmarcDomain !== originator.from.domain) {
        checks.push({ name: 'originator', result: 'fail', detail: `DMARC evaluated ${auth.dmarcDomain ?? 'no domain'}; From is ${originator.from.address}` });
        return refuse('DMARC_FROM_UNCLEAR', `DMARC was evaluated for ${auth.dmarcDomain ?? 'no domain'}, but From names ${originator.from.address}`);
      }
      // RFC 7489 §6.7: the receiver applies the domain owner's p=reject by refusing in the session.
      if (auth.dmarcReject) return refuse('DMARC_REJECT', `DMARC fail for ${originator.from.address}, policy reject`);
    }
    prepend += auth.headers;
  }
  checks.push(...a.checks);
  if (a.block) {
    return refuse(a.block.code, a.block.detail, actor(ctx, 'inspection'));
  }
  await ctx.journey.record({
    messageId: a.messageId,
    actor: actor(ctx, 'inspection'),
    procedure: 0,
    checks: a.checks.length ? a.checks : [{ name: 'inspection', result: 'pass', detail: nothingFound(a.verdict) }],
    files: a.files,
    outcome: 'accepted',
  });
  const rep = checkReputation(ctx, rt, a.from);
  if (rep) {
    checks.push({
      name: 'reputation',
      result: rep.verdict === 'flag' ? 'fail' : 'pass',
      detail: `score ${rep.score}${rep.reasons.length ? `: ${rep.reasons.map((r) => `${r.rule} (${r.detail})`).join(', ')}` : ''}`,
    });
    if (rep.verdict === 'flag') prepend += `X-SSMAX-Reputation: ${reputationHeader(rep)}\r\n`;
  }
  // RFC 8601 §5: our clients trust Authentication-Results under our authserv-id, so any the message
  // brought along under that id are forgeries and go before ours are added.
  const stored = new Uint8Array(Buffer.concat([Buffer.from(prepend, 'utf8'), withoutAuthResultsOf(raw, [ctx.mxHost, ctx.domain])]));
  const meta = { kind: 'conventional', messageId: a.messageId, files: a.files, checks, tls, ...(rep ? { reputation: rep } : {}) };
  const envelope = { mailFrom: client.mailFrom, rcptTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), meta };
  const { id, duplicate } = await spoolTransmission(ctx.inbound, session, 'peer', envelope, stored);
  if (duplicate) return { ok: true, id, duplicate };
  await ctx.journey.record({
    messageId: a.messageId,
    actor: who,
    procedure: 0,
    checks,
    files: a.files,
    outcome: 'accepted',
    reply: `250 2.0.0 queued as ${id}`,
    ...(rep?.verdict === 'flag' ? { detail: 'flagged: suspicious sender domain' } : {}),
  });
  return { ok: true, id, duplicate: false };
}

export async function startMtaIn(ctx: OrgContext, o: MtaInOptions = {}): Promise<MtaIn> {
  const maxBytes = ctx.profile.maxMessageBytes ?? 10 * 1024 * 1024;
  const who = actor(ctx, 'mta-in');
  const server = new SMTPServer({
    name: ctx.mxHost,
    banner: 'SSMAX MX',
    size: maxBytes,
    authOptional: true,
    // RFC 3461: advertised for ENVID, the sender's name for a transmission (transmission.ts).
    hideDSN: false,
    disabledCommands: ['AUTH', ...(o.tls && ctx.profile.starttls ? [] : ['STARTTLS'])],
    ...(o.tls && ctx.profile.starttls ? { key: o.tls.key, cert: o.tls.cert } : {}),
    logger: false,
    onRcptTo(address, _session, cb) {
      const rcpt = address.address.toLowerCase();
      if (domainOf(rcpt) !== ctx.domain) return cb(smtpError(replyFor('UNKNOWN_RECIPIENT'), 'not a local domain'));
      ctx.users.has(rcpt).then(
        (ok) => (ok ? cb() : cb(smtpError(replyFor('UNKNOWN_RECIPIENT')))),
        () => cb(smtpError(replyFor('INTERNAL'))),
      );
    },
    onData(stream, session, cb) {
      void (async () => {
        const { bytes: raw, tooBig } = await collect(stream);
        if (tooBig) {
          await ctx.journey.record({
            messageId: '',
            actor: who,
            procedure: 7,
            checks: [{ name: 'size', result: 'fail', detail: `> ${maxBytes}` }],
            files: 'ciphertext',
            outcome: 'rejected',
            reply: formatReply(replyFor('MESSAGE_TOO_BIG')),
          });
          return cb(smtpError(replyFor('MESSAGE_TOO_BIG'), `limit ${maxBytes} bytes`));
        }
        if (ctx.conventional) {
          const r = await acceptConventionalMail(ctx, raw, session);
          if (!r.ok) return cb(r.error);
          if (r.duplicate) return cb(null, `2.0.0 already queued as ${r.id} (ENVID seen; stored once)`);
          cb(null, `2.0.0 queued as ${r.id}`);
          o.onAccepted?.(r.id);
          ctx.kick('inbound');
          return;
        }
        // RFC 5321 §4.4: our trace field goes on top of what we store (above the unverified mark). A
        // header section that starts with a continuation line cannot be parsed and is refused below as
        // malformed; with that check switched off (falsifiability runs only) the MX reads the mail as the
        // mailbox will, behind its own trace field, continuation included.
        const received = receivedField(sessionHop(session, ctx.mxHost, ctx.clock()));
        const tolerated = startsWithContinuation(raw) && !defenceOn(ctx, 'headerSection');
        const bytes = tolerated ? prependFields(received, raw) : raw;
        const v = await verifyOrgMail(ctx, bytes, { mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '' });
        // (7) refuses in the session: journalled under the mail's Message-ID with the checks so far, then the SMTP reply.
        const refuse = async (reply: SmtpReply, detail: string, replyDetail: string) => {
          await ctx.journey.record({
            messageId: v.messageId,
            actor: who,
            procedure: 7,
            checks: v.checks,
            files: 'ciphertext',
            outcome: 'rejected',
            reply: formatReply(reply),
            detail: detail.slice(0, 500),
          });
          cb(smtpError(reply, replyDetail));
        };
        if (!v.ok) return refuse(replyFor(v.code ?? 'INTERNAL'), v.detail ?? '', (v.detail ?? '').slice(0, 200));
        if (v.kind === 'ssmax' && v.attestation && ctx.plus?.options.freshness) {
          // ssmax-plus addition 3: a copy seen before, for another recipient, or outside its window is refused (data, not an exception).
          const f = checkFreshness(ctx.plus.replays, v.attestation, { rcptTo: session.envelope.rcptTo.map((r) => r.address), now: ctx.clock() });
          v.checks.push(
            f.ok ? { name: 'freshness', result: 'pass', detail: f.detail } : { name: 'freshness', result: 'fail', detail: `${f.reason}: ${f.detail}` },
          );
          if (!f.ok) return refuse(replyFor(f.reason === 'replay' ? 'REPLAY' : 'STALE'), `${f.reason}: ${f.detail}`, f.reason);
        }
        const tls = session.secure === true;
        let stored = bytes;
        const meta: Record<string, unknown> = { kind: v.kind, messageId: v.messageId, checks: v.checks, tls };
        if (v.kind === 'unverified') {
          if (ctx.mode === 'org' && !defenceOn(ctx, 'inboundInspection')) {
            await ctx.journey.record({
              messageId: v.messageId,
              actor: actor(ctx, 'inspection'),
              procedure: 8,
              checks: [{ name: 'inspection', result: 'skip', detail: '(8) inbound inspection switched off' }],
              files: 'plaintext',
              outcome: 'accepted',
            });
          } else if (ctx.mode === 'org') {
            // (8) applies to outside mail too: its files are plain MIME the gateway can read, and the
            // "not SSMAX-verified" banner must not be the only defence against known malware.
            const verdict = await inspectPlainMail(ctx, bytes);
            const block = await journalInspection(ctx, v.messageId, verdict, 'nothing-found');
            if (block) return cb(smtpError(replyFor(block.code), reasonLabel(block)));
          }
          if (defenceOn(ctx, 'unverifiedMarking')) {
            stored = addHeader(bytes, 'X-SSMAX-Verdict', 'unverified');
            await ctx.journey.record({
              messageId: v.messageId,
              actor: who,
              procedure: 0,
              checks: v.checks,
              files: 'none',
              outcome: 'accepted',
              detail: 'non-member mail, marked unverified',
            });
          } else {
            await ctx.journey.record({
              messageId: v.messageId,
              actor: who,
              procedure: 0,
              checks: v.checks,
              files: 'none',
              outcome: 'accepted',
              detail: 'non-member mail, not marked (marking switched off)',
            });
          }
        } else {
          await ctx.journey.record({
            messageId: v.messageId,
            actor: who,
            procedure: 7,
            checks: [...v.checks, { name: 'starttls', result: tls ? 'pass' : 'skip' }],
            files: 'ciphertext',
            outcome: 'accepted',
          });
          if (ctx.mode === 'org' && defenceOn(ctx, 'inboundInspection')) {
            // RFC 5321 §6.1 forbids losing accepted mail and backscatter is abuse: refuse malware now, in the session.
            let verdict: InspectionVerdict;
            try {
              verdict = await inboundInspection(ctx, v.signedEntity!);
            } catch (e) {
              // A file part that is not CMS to our KMS key, or fails its GCM tag: the message is refused as malformed.
              const reply = replyFor(e instanceof SsmaxError && e.code === 'MALFORMED_MIME' ? 'MALFORMED_MIME' : 'MALFORMED_CMS');
              await ctx.journey.record({
                messageId: v.messageId,
                actor: actor(ctx, 'inspection'),
                procedure: 8,
                checks: [{ name: 'decrypt', result: 'fail', detail: (e as Error).message.slice(0, 300) }],
                files: 'ciphertext',
                outcome: 'rejected',
                reply: formatReply(reply),
              });
              return cb(smtpError(reply, 'a file part cannot be decrypted'));
            }
            const block = await journalInspection(ctx, v.messageId, verdict, verdict.scannedBy ? 'nothing-found' : 'no-checks');
            if (block) return cb(smtpError(replyFor(block.code), reasonLabel(block)));
            meta['inspection'] = verdict;
          } else {
            await ctx.journey.record({
              messageId: v.messageId,
              actor: actor(ctx, 'inspection'),
              procedure: 8,
              checks: [
                { name: 'inspection', result: 'skip', detail: ctx.mode === 'esp' ? 'ESP: no content inspection' : '(8) inbound inspection switched off' },
              ],
              files: 'ciphertext',
              outcome: 'accepted',
            });
          }
          meta['hop'] = v.hop;
          meta['identityNotice'] = v.identityNotice;
          meta['orgId'] = v.member?.orgId;
        }
        const envelope = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          meta,
        };
        // RFC 5321 §4.4: our trace field on top (above the unverified mark), the message below it unaltered.
        const { id, duplicate } = await spoolTransmission(ctx.inbound, session, 'peer', envelope, tolerated ? stored : prependFields(received, stored));
        if (duplicate) return cb(null, `2.0.0 already queued as ${id} (ENVID ${session.envelope.dsn?.envid ?? ''} seen; stored once)`);
        cb(null, `2.0.0 queued as ${id}`);
        o.onAccepted?.(id);
        ctx.kick('inbound');
      })().catch(async (e: unknown) => {
        await ctx.journey
          .record({ messageId: '', actor: who, procedure: 7, checks: [], files: 'ciphertext', outcome: 'deferred', detail: (e as Error).message.slice(0, 500) })
          .catch(() => undefined);
        cb(smtpError(replyFor('INTERNAL')));
      });
    },
  });
  return listenSmtp(server, ctx.addresses.mtaIn, o.port, orgSmtpGuard(ctx, 'mta-in'));
}
