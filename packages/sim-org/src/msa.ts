/**
 * The mail submission agent (RFC 6409) of an org: smtp-server with AUTH. Procedure (4) runs inside the
 * DATA phase, before the reply, so a bad mail is refused to the user's face: the user's multipart/signed
 * signature (RFC 8551 §3.5.3), the certificate chain user → org CA → registry root with both CRLs, the
 * signer's address equal to the From address (and to the authenticated user), and the identity-proofing
 * extension that marks a card-issued certificate. Only then is the mail spooled (fsync'd) and answered 250.
 */
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import {
  SsmaxError,
  normaliseAddress,
  originatorOf,
  parseCertificate,
  parseSmime,
  senderIsAuthor,
  validateChain,
  verifySignedData,
  type CertificateInfo,
  type MimeHeader,
} from '@ssmax/core';
import type { AttestationCheck, IdentityNotice } from './attestation.js';
import { actor, defenceOn, type OrgContext, type OrgProfile } from './org-context.js';
import type { RegistryClient } from './registry-client.js';
import { classifyParts, messageIdOf, structureProblem } from './org-hop.js';
import { listenSmtp, type SmtpListener } from './smtp-listener.js';
import { orgSmtpGuard } from './smtp-limits.js';
import { formatReply, replyFor, type SmtpReply } from './reply-codes.js';
import { analyseConventionalMail, type ConventionalSubmissionMeta } from './conventional.js';
import type { JourneyCheck } from './journey.js';
import type { SpoolEnvelope } from './spool.js';
import { spoolTransmission } from './transmission.js';
import { openForOrg } from './header-protection.js';
import { prependFields, receivedField, sessionHop, startsWithContinuation } from './trace-fields.js';

export interface UserMailVerdict {
  readonly ok: boolean;
  /** Reply-table code when not ok. */
  readonly code?: string;
  readonly detail?: string;
  readonly checks: AttestationCheck[];
  readonly messageId: string;
  readonly headers: readonly MimeHeader[];
  readonly signedEntity?: Uint8Array;
  readonly signer?: CertificateInfo;
  readonly identityNotice?: IdentityNotice;
}

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');

/** The outer From address of a header-protected submission: the one From mailbox, or the first of several. */
function fromAddressOf(headers: readonly MimeHeader[]): string | undefined {
  const o = originatorOf(headers);
  return o.ok ? o.from.address : o.mailboxes[0]?.address;
}

/** What procedure (4) reads of its org: the KMS's certificates, the CRLs of the registry and of the users' CA, the clock and the defences. */
export type UserMailContext = Pick<OrgContext, 'kms' | 'users' | 'clock'> & {
  readonly registry: Pick<RegistryClient, 'crl'>;
  readonly profile: Pick<OrgProfile, 'defences' | 'plus'>;
};

/** Procedure (4) as data: never throws for hostile input. */
export async function verifyUserMail(ctx: UserMailContext, raw: Uint8Array, authUser: string | undefined): Promise<UserMailVerdict> {
  const checks: AttestationCheck[] = [];
  const fail = (code: string, detail: string, base: Partial<UserMailVerdict> = {}): UserMailVerdict => ({
    ok: false,
    code,
    detail,
    checks,
    messageId: '',
    headers: [],
    ...base,
  });
  // ssmax-plus addition 2: a header-protected mail is enveloped to this org's KMS; (4) reads what is inside.
  const opened = await openForOrg(ctx, raw);
  if (!opened.ok) {
    checks.push({ name: 'header-protection', result: 'fail', detail: opened.detail });
    return fail(opened.code, opened.detail, { messageId: opened.messageId });
  }
  let parsed;
  try {
    parsed = parseSmime(opened.message);
  } catch (e) {
    return fail(e instanceof SsmaxError && e.code === 'LIMIT_EXCEEDED' ? 'MESSAGE_TOO_BIG' : 'MALFORMED_MIME', (e as Error).message);
  }
  const headers = parsed.headers;
  const messageId = messageIdOf(headers);
  const base = { headers, messageId };
  if (!defenceOn(ctx, 'userSignature'))
    return relayedUnverified(
      headers,
      messageId,
      parsed.kind === 'multipart-signed' ? parsed.signedEntity : parsed.kind === 'plain' ? parsed.entity : undefined,
    );
  if (parsed.kind !== 'multipart-signed') {
    checks.push({ name: 'user-signature', result: 'fail', detail: 'not multipart/signed' });
    return fail('BAD_SIGNATURE', 'the message is not signed (multipart/signed required)', base);
  }
  let v;
  try {
    v = verifySignedData(parsed.signature, { detachedContent: parsed.signedEntity });
  } catch (e) {
    checks.push({ name: 'user-signature', result: 'fail', detail: 'unreadable CMS' });
    return fail('MALFORMED_CMS', (e as Error).message, base);
  }
  const s = v.signers[0];
  if (v.signers.length !== 1 || !s || !s.valid || !s.certificate) {
    checks.push({ name: 'user-signature', result: 'fail', detail: s?.reasons.join('; ') ?? 'no signer' });
    return fail(s?.code === 'CONTENT_MISMATCH' ? 'CONTENT_MISMATCH' : 'BAD_SIGNATURE', s?.reasons.join('; ') || 'exactly one valid signer required', base);
  }
  const signer = parseCertificate(s.certificate);
  // The serial goes into the MSA journal: the record the org's incident desk reviews under (12).
  checks.push({ name: 'user-signature', result: 'pass', detail: `serial ${signer.serialNumber}` });
  const c = ctx.kms.certificates;
  const userCrl = await ctx.users.crl();
  let registryCrl;
  try {
    registryCrl = await ctx.registry.crl();
  } catch (e) {
    return fail('TEMP_REGISTRY_UNAVAILABLE', (e as Error).message, base);
  }
  const revocation = defenceOn(ctx, 'revocation');
  const originator = originatorOf(headers);
  // One parser for every service (issue 10 item 4). With the binding switched off (falsifiability runs
  // only) an ambiguous From is taken by its first mailbox.
  const from = originator.ok ? originator.from.address : originator.mailboxes[0]?.address;
  const chain = validateChain({
    leaf: signer,
    intermediates: [c.org],
    trustAnchors: [c.root],
    crls: revocation ? [registryCrl, ...(userCrl ? [userCrl] : [])] : [],
    time: ctx.clock(),
    revocation: !revocation ? 'none' : userCrl ? 'require' : 'ifAvailable',
    requiredKeyUsage: ['digitalSignature'],
  });
  if (!chain.valid) {
    checks.push({ name: 'certificate-chain', result: 'fail', detail: chain.reasons.join('; ') });
    return fail(chain.code ?? 'UNTRUSTED_CHAIN', chain.reasons.join('; '), { ...base, signer });
  }
  checks.push({ name: 'certificate-chain', result: 'pass', detail: 'user → org CA → registry root' });
  checks.push({
    name: 'revocation',
    result: revocation && userCrl ? 'pass' : 'skip',
    detail: !revocation ? 'revocation check switched off' : userCrl ? 'org CRL and registry CRL' : 'no org CRL',
  });
  const signerAddresses = signer.emailAddresses.map(normaliseAddress);
  const binding = defenceOn(ctx, 'fromSignerBinding');
  if (binding && !originator.ok) {
    checks.push({ name: 'from-matches-signer', result: 'fail', detail: originator.reason });
    return fail('AMBIGUOUS_FROM', originator.reason, { ...base, signer });
  }
  if (binding && originator.ok && !senderIsAuthor(originator)) {
    checks.push({ name: 'from-matches-signer', result: 'fail', detail: `Sender ${originator.sender!.address} vs From ${originator.from.address}` });
    return fail('AMBIGUOUS_FROM', `Sender ${originator.sender!.address} is not the From mailbox: the card holder who signs is the author and the transmitter`, {
      ...base,
      signer,
    });
  }
  if (binding && (from === undefined || !signerAddresses.includes(from))) {
    checks.push({ name: 'from-matches-signer', result: 'fail', detail: `From ${from ?? '(none)'} vs ${signerAddresses.join(', ')}` });
    return fail('FROM_SIGNER_MISMATCH', `From ${from ?? '(none)'} is not the signer's address`, { ...base, signer });
  }
  if (binding && authUser !== undefined && normaliseAddress(authUser) !== from) {
    checks.push({ name: 'from-matches-login', result: 'fail', detail: `${authUser} submitted as ${from}` });
    return fail('FROM_SIGNER_MISMATCH', `user ${authUser} may not send as ${from}`, { ...base, signer });
  }
  // ssmax-plus addition 2: the baseline policy leaves From outside as the author wrote it (RFC 9788 hcp_baseline), and
  // the outer From is what the recipient's MX and any legacy reader see. A submission whose outer From is not the
  // protected From (the one the card signs for) is refused here, as ssmax-org refuses a From that is not the signer.
  const outerFrom = opened.opened ? fromAddressOf(opened.opened.outer) : from;
  if (binding && outerFrom !== from) {
    checks.push({ name: 'from-matches-signer', result: 'fail', detail: `outer From ${outerFrom ?? '(none)'} vs protected From ${from ?? '(none)'}` });
    return fail('FROM_SIGNER_MISMATCH', `the outer From ${outerFrom ?? '(none)'} is not the protected From ${from ?? '(none)'}`, { ...base, signer });
  }
  checks.push({
    name: 'from-matches-signer',
    result: binding ? 'pass' : 'skip',
    detail: binding ? from : `From-signer binding switched off: From ${from ?? '(none)'}, signer ${signerAddresses.join(', ')}`,
  });
  const proofing = signer.identityProofing;
  if (!proofing || proofing.method === 'none' || !signer.traceId) {
    checks.push({ name: 'identity-proofing', result: 'fail', detail: 'no identity-proofing or trace-id extension' });
    return fail('UNTRUSTED_CHAIN', 'the signer certificate is not a card certificate (identity-proofing extension missing)', { ...base, signer });
  }
  checks.push({ name: 'identity-proofing', result: 'pass', detail: proofing.method });
  // Only what (5) and the non-member rule can see may leave under the org's signature (issue 10 item 2).
  const structure = userEntityProblem(parsed.signedEntity, signer, messageId);
  if (structure) {
    checks.push({ name: 'ssmax-structure', result: 'fail', detail: structure });
    return fail('MALFORMED_MIME', `the signed entity is not an SSMAX mail: ${structure}`, { ...base, signer });
  }
  checks.push({ name: 'ssmax-structure', result: 'pass' });
  const identityNotice: IdentityNotice = {
    sender: from ?? '',
    certSerial: signer.serialNumber,
    traceId: hex(signer.traceId),
    proofing: proofing.method,
    proofedAt: proofing.proofedAt.toISOString(),
    // The key of a certificate with this extension is generated on the card, and the card signs only after its PIN.
    cardAndPinUsed: true,
    certificate: Buffer.from(signer.der).toString('base64'),
  };
  return { ok: true, checks, messageId, headers, signedEntity: parsed.signedEntity, signer, identityNotice };
}

/**
 * Why a user's signed entity is not what docs/PROTOCOL.md §4 allows, or undefined: body, file parts and,
 * in end-to-end mode, the sender manifest and nothing else ({@link structureProblem}; a user attests
 * nothing). A part in the manifest's role must be that: SignedData by the same card over this mail's
 * manifest, so it cannot carry other bytes past (5) either. File parts need no check here: (5) decrypts
 * and inspects each one, and one that does not decrypt is refused there.
 */
function userEntityProblem(entity: Uint8Array, signer: CertificateInfo, messageId: string): string | undefined {
  let parts;
  try {
    parts = classifyParts(entity);
  } catch (e) {
    return `it is not well-formed MIME (${(e as Error).message.slice(0, 120)})`;
  }
  const problem = structureProblem(parts, { attestations: 'none' });
  if (problem || !parts.manifest) return problem;
  let v;
  try {
    v = verifySignedData(parts.manifest.body);
  } catch {
    return 'the manifest part is not CMS SignedData';
  }
  const s = v.signers[0];
  if (v.signers.length !== 1 || !s?.valid || !s.certificate || !Buffer.from(s.certificate).equals(Buffer.from(signer.der)))
    return 'the manifest part is not signed by the card that signed the mail';
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(v.content ?? new Uint8Array()));
  } catch {
    return 'the manifest part is not a JSON manifest';
  }
  const doc = m as { type?: unknown; messageId?: unknown } | null;
  if (typeof doc !== 'object' || doc === null || doc.type !== 'ssmax-manifest' || doc.messageId !== messageId)
    return 'the manifest part is not the manifest of this mail';
  return undefined;
}

/**
 * (4) switched off (falsifiability runs only): the MSA relays what an authenticated user submits, as an
 * ordinary submission server (RFC 6409) does, and attests nothing it did not check: the identity
 * notice names the From address with no certificate, no proofing and no card.
 */
function relayedUnverified(headers: readonly MimeHeader[], messageId: string, entity: Uint8Array | undefined): UserMailVerdict {
  const o = originatorOf(headers);
  const from = (o.ok ? o.from.address : o.mailboxes[0]?.address) ?? '';
  const checks: AttestationCheck[] = [{ name: 'user-signature', result: 'skip', detail: '(4) signer check switched off: not verified' }];
  const identityNotice: IdentityNotice = { sender: from, certSerial: '', traceId: '', proofing: 'none', proofedAt: '', cardAndPinUsed: false };
  return { ok: true, checks, messageId, headers, ...(entity ? { signedEntity: entity } : {}), identityNotice };
}

/** An Error smtp-server sends as the reply (enhanced code in the text, RFC 3463). */
export function smtpError(reply: SmtpReply, detail?: string): Error & { responseCode: number } {
  const line = formatReply(reply, detail);
  return Object.assign(new Error(line.slice(4)), { responseCode: reply.code });
}

/** Collects a DATA stream; `tooBig` when smtp-server's size limit cut it. */
export function collect(stream: SMTPServerDataStream): Promise<{ bytes: Uint8Array; tooBig: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ bytes: new Uint8Array(Buffer.concat(chunks)), tooBig: stream.sizeExceeded }));
    stream.on('error', reject);
  });
}

export type Msa = SmtpListener;

/**
 * Spools an accepted submission once per transmission (transmission.ts: a user agent's retry with the same
 * ENVID is stored once), under the MSA's Received: every SMTP server that takes a mail prepends its own
 * (RFC 5321 §4.4), the MSA "with ESMTPSA" (RFC 3848).
 */
function spoolSubmission(ctx: OrgContext, session: SMTPServerSession, envelope: SpoolEnvelope, bytes: Uint8Array): Promise<{ id: string; duplicate: boolean }> {
  return spoolTransmission(ctx.outbound, session, 'user', envelope, prependFields(receivedField(sessionHop(session, `msa.${ctx.domain}`, ctx.clock())), bytes));
}

/** Starts the MSA on the org's MSA address, by default on any free port. */
export async function startMsa(ctx: OrgContext, tls?: { key: string; cert: string }, port = 0): Promise<Msa> {
  const maxBytes = ctx.profile.maxMessageBytes ?? 10 * 1024 * 1024;
  const who = actor(ctx, 'msa');
  const server = new SMTPServer({
    name: `msa.${ctx.domain}`,
    banner: 'SSMAX MSA',
    size: maxBytes,
    authMethods: ['PLAIN', 'LOGIN'],
    // RFC 3461: advertised for ENVID, the user agent's name for a submission (transmission.ts).
    hideDSN: false,
    // Loopback between the user agent and its own org; STARTTLS is offered when a certificate is given.
    allowInsecureAuth: true,
    ...(tls ? { key: tls.key, cert: tls.cert } : { disabledCommands: ['STARTTLS'] }),
    logger: false,
    onAuth(auth, _session, cb) {
      ctx.users.authenticate(auth.username ?? '', auth.password ?? '').then(
        (ok) => (ok ? cb(null, { user: auth.username }) : cb(smtpError(replyFor('AUTH_FAILED')))),
        () => cb(smtpError(replyFor('INTERNAL'))),
      );
    },
    onData(stream, session: SMTPServerSession, cb) {
      void (async () => {
        const { bytes, tooBig } = await collect(stream);
        if (tooBig) {
          await ctx.journey.record({
            messageId: '',
            actor: who,
            procedure: 4,
            checks: [{ name: 'size', result: 'fail', detail: `> ${maxBytes}` }],
            files: 'ciphertext',
            outcome: 'rejected',
            reply: formatReply(replyFor('MESSAGE_TOO_BIG')),
          });
          return cb(smtpError(replyFor('MESSAGE_TOO_BIG'), `limit ${maxBytes} bytes`));
        }
        const user = typeof session.user === 'string' ? session.user : undefined;
        if (ctx.conventional) {
          const r = await acceptConventionalSubmission(ctx, bytes, user, session);
          return r.ok ? cb(null, r.message) : cb(r.error);
        }
        const v = await verifyUserMail(ctx, bytes, user);
        if (!v.ok) {
          const reply = replyFor(v.code ?? 'INTERNAL');
          await ctx.journey.record({
            messageId: v.messageId,
            actor: who,
            procedure: 4,
            checks: v.checks,
            files: 'ciphertext',
            outcome: 'rejected',
            reply: formatReply(reply),
            detail: v.detail ?? '',
          });
          return cb(smtpError(reply, (v.detail ?? '').slice(0, 200)));
        }
        // ssmax-plus addition 4: the MTA-out holds the mail this long; the sender may cancel it meanwhile.
        const hold = ctx.plus?.options.holdSeconds ?? 0;
        const notBefore = hold > 0 ? new Date(ctx.clock().getTime() + hold * 1000).toISOString() : undefined;
        const checks = notBefore
          ? [...v.checks, { name: 'hold', result: 'pass' as const, detail: `held until ${notBefore} (cancel window ${hold} s)` }]
          : v.checks;
        const envelope = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          meta: {
            kind: 'submission',
            messageId: v.messageId,
            identityNotice: v.identityNotice,
            checks: v.checks,
            ...(notBefore ? { notBefore } : {}),
            ...(ctx.plus ? { queuedAt: ctx.clock().toISOString() } : {}),
          },
        };
        const { id, duplicate } = await spoolSubmission(ctx, session, envelope, bytes);
        if (duplicate) return cb(null, `2.0.0 already queued as ${id} (ENVID seen; stored once)`);
        const reply = `2.0.0 queued${notBefore ? ` as ${id}; held ${hold} s, cancel by Message-ID until ${notBefore}` : ''}`;
        await ctx.journey.record({
          messageId: v.messageId,
          actor: who,
          procedure: 4,
          checks,
          files: 'ciphertext',
          outcome: 'accepted',
          reply: `250 ${reply}`,
        });
        ctx.kick('outbound');
        cb(null, reply);
      })().catch(async (e: unknown) => {
        await ctx.journey
          .record({ messageId: '', actor: who, procedure: 4, checks: [], files: 'ciphertext', outcome: 'deferred', detail: (e as Error).message })
          .catch(() => undefined);
        cb(smtpError(replyFor('INTERNAL')));
      });
    },
  });
  return listenSmtp(server, ctx.addresses.msa, port, orgSmtpGuard(ctx, 'msa'));
}

/**
 * Conventional mode's submission (RFC 6409): an authenticated user's mail is inspected as an ordinary
 * gateway sees it (encrypted ZIP per policy, in the session), then spooled with its hold window.
 */
async function acceptConventionalSubmission(
  ctx: OrgContext,
  bytes: Uint8Array,
  user: string | undefined,
  session: SMTPServerSession,
): Promise<{ ok: true; message: string } | { ok: false; error: Error }> {
  const rt = ctx.conventional!;
  const who = actor(ctx, 'msa');
  const a = await analyseConventionalMail(bytes, 'outbound', rt.options);
  const checks: JourneyCheck[] = [{ name: 'auth', result: 'pass', detail: `password login ${user ?? '?'}` }, ...a.checks];
  const refuse = async (code: string, detail: string) => {
    const reply = replyFor(code);
    await ctx.journey.record({
      messageId: a.messageId,
      actor: who,
      procedure: 0,
      checks,
      files: a.files,
      outcome: 'rejected',
      reply: formatReply(reply, detail),
      detail,
    });
    return { ok: false as const, error: smtpError(reply, detail.slice(0, 200)) };
  };
  if (rt.options.fromMustMatchLogin && (a.from === undefined || user === undefined || a.from !== user.toLowerCase())) {
    checks.push({ name: 'from-matches-login', result: 'fail', detail: `${user ?? '?'} submitted as ${a.from ?? '(none)'}` });
    return refuse('FROM_SIGNER_MISMATCH', `user ${user ?? '?'} may not send as ${a.from ?? '(none)'}`);
  }
  if (a.block) return refuse(a.block.code, a.block.detail);
  // Our Received goes on top: a first line that is a continuation would extend it (RFC 5322 §2.2.3).
  if (startsWithContinuation(bytes)) return refuse('MALFORMED_MIME', 'the header section starts with a continuation line');
  const hold = rt.options.holdSeconds;
  const notBefore = hold > 0 ? new Date(ctx.clock().getTime() + hold * 1000).toISOString() : undefined;
  if (notBefore) checks.push({ name: 'hold', result: 'pass', detail: `held until ${notBefore} (cancel window ${hold} s)` });
  const meta: ConventionalSubmissionMeta = {
    kind: 'conventional-submission',
    messageId: a.messageId,
    files: a.files,
    checks,
    ...(notBefore ? { notBefore } : {}),
  };
  const envelope = {
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    meta,
  };
  const { id, duplicate } = await spoolSubmission(ctx, session, envelope, bytes);
  if (duplicate) return { ok: true, message: `2.0.0 already queued as ${id} (ENVID seen; stored once)` };
  const reply = `2.0.0 queued as ${id}${notBefore ? `; held ${hold} s, cancel by Message-ID until ${notBefore}` : ''}`;
  await ctx.journey.record({ messageId: a.messageId, actor: who, procedure: 0, checks, files: a.files, outcome: 'accepted', reply: `250 ${reply}` });
  ctx.kick('outbound');
  return { ok: true, message: reply };
}
