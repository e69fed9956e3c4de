/**
 * Conventional mail mode: the org's MSA, MTA-out, MTA-in and delivery worker run as an ordinary mail
 * system, configured as one of the baseline defence profiles of issue 4 (seed 002's countermeasures):
 *
 * - `plain-ppap`: plain SMTP between MTAs (no STARTTLS), password-authenticated MSA, no inspection
 *   can see inside the encrypted ZIP (policy allow), delivery to the mailbox.
 * - `best-practice`: DKIM signing + SPF + DMARC p=reject published and checked with mailauth (DMARC
 *   failures refused in the session), STARTTLS with MTA-STS enforced (RFC 8461) and TLS reports
 *   (RFC 8460), encrypted ZIP blocked at the MSA and at the receiving MTA, domain reputation,
 *   hold-then-send with a cancel window. (The mailbox's second factor and external-forwarding limit
 *   are Mailbox options: {@link conventionalMailboxOptions}.)
 * - `smime-e2e`: the orgs relay the users' S/MIME unchanged over opportunistic STARTTLS; encrypted
 *   content is opaque to them (recorded as uninspectable, allowed).
 *
 * Every hop writes journey events with procedure 0 (outside SSMAX) and `files` as seen at that hop.
 */
import { generateKeyPairSync } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { authenticate, dkimSign } from 'mailauth';
import { simpleParser, type Attachment } from 'mailparser';
import { looksLikeZip, readZip } from '@ssmax/core';
import type { DlpRule } from './dlp-rules.js';
import { buildDsn } from './dsn.js';
import { type InspectedFile, type InspectionVerdict, type VerdictAction } from './inspection.js';
import { inspectOffThread } from './inspection-pool.js';
import type { MalwareScanner } from './clamd.js';
import { reasonLabel } from './malware-engine.js';
import type { FilesState, JourneyCheck } from './journey.js';
import { actor, domainOf, type OrgContext, type OrgProfile, type OrgUserDirectory } from './org-context.js';
import { reputationHeader, scoreDomain, type ReputationOptions, type ReputationVerdict } from './reputation.js';
import { formatReply, replyFor } from './reply-codes.js';
import type { SpoolEntry } from './spool.js';

/** The three baseline profiles of issue 4 that run on conventional mode. */
export type ConventionalProfileName = 'plain-ppap' | 'best-practice' | 'smime-e2e';

/** Options of conventional mode (`OrgProfile.conventional`). Defaults: the `plain-ppap` preset. */
export interface ConventionalOptions {
  /** MTA-out's use of STARTTLS (RFC 3207): never, when offered, or always. An MTA-STS policy in enforce mode makes it 'require' for that domain. */
  readonly outboundTls: 'never' | 'opportunistic' | 'require';
  /** Publish SPF (`ip4:` of MTA-out, `-all`), the DKIM key and DMARC for the org's domain at start. */
  readonly publishAuth: boolean;
  /** DMARC policy published when `publishAuth` (RFC 7489 §6.3). */
  readonly dmarcPolicy: 'none' | 'quarantine' | 'reject';
  /** MTA-out DKIM-signs (RFC 6376) every outgoing mail with d=<org domain>. */
  readonly dkimSign: boolean;
  readonly dkimSelector: string;
  /** PKCS#8 PEM of the DKIM key; default: an RSA-2048 key generated at start. */
  readonly dkimPrivateKeyPem?: string;
  /** MTA-in runs SPF/DKIM/DMARC (mailauth `authenticate`): 'off'; 'record' (Authentication-Results only); 'enforce' (DMARC fail with p=reject → 550 5.7.1 in the session). */
  readonly mailAuth: 'off' | 'record' | 'enforce';
  /** 'off': no MTA-STS. Otherwise the org publishes its own policy in this mode (serves it over HTTPS) and MTA-out honours other domains' policies (enforce → TLS required and MX must match; testing → report only). */
  readonly mtaSts: 'off' | 'testing' | 'enforce';
  /** Publish `_smtp._tls` (RFC 8460) and record a TLS report for every policy-governed delivery attempt. */
  readonly tlsRpt: boolean;
  /** What the MSA does with an encrypted ZIP attachment (in the session). */
  readonly msaEncryptedZip: VerdictAction;
  /** What the receiving MTA-in does with an encrypted ZIP attachment (in the session). */
  readonly mxEncryptedZip: VerdictAction;
  /** S/MIME enveloped (end-to-end encrypted) content the org cannot inspect: 'allow' (recorded as uninspectable) or 'block'. */
  readonly opaqueContent: 'allow' | 'block';
  /** Outbound DLP rules at the MSA (default none: seed 002's countermeasures name no DLP). */
  readonly dlpRules: readonly DlpRule[];
  /** Domain reputation at MTA-in (scores the From domain; `flag` adds `X-SSMAX-Reputation`). Off when undefined. */
  readonly reputation?: ReputationOptions;
  /** Hold-then-send: submitted mail waits this many seconds (org clock) before MTA-out sends it; the sender may cancel meanwhile. 0 = off. */
  readonly holdSeconds: number;
  /** MSA refuses a From address other than the authenticated login (not part of seed 002's list; default false). */
  readonly fromMustMatchLogin: boolean;
}

const PLAIN_PPAP: ConventionalOptions = {
  outboundTls: 'never',
  publishAuth: false,
  dmarcPolicy: 'none',
  dkimSign: false,
  dkimSelector: 'sel1',
  mailAuth: 'off',
  mtaSts: 'off',
  tlsRpt: false,
  msaEncryptedZip: 'allow',
  mxEncryptedZip: 'allow',
  opaqueContent: 'allow',
  dlpRules: [],
  holdSeconds: 0,
  fromMustMatchLogin: false,
};

/** The presets; `reputation` of best-practice has empty lists the world fills with partners and creation dates. */
export const CONVENTIONAL_PRESETS: Readonly<Record<ConventionalProfileName, { readonly starttls: boolean; readonly conventional: ConventionalOptions }>> = {
  'plain-ppap': { starttls: false, conventional: PLAIN_PPAP },
  'best-practice': {
    starttls: true,
    conventional: {
      ...PLAIN_PPAP,
      outboundTls: 'opportunistic',
      publishAuth: true,
      dmarcPolicy: 'reject',
      dkimSign: true,
      mailAuth: 'enforce',
      mtaSts: 'enforce',
      tlsRpt: true,
      msaEncryptedZip: 'block',
      mxEncryptedZip: 'block',
      reputation: { knownDomains: [], domainRegistry: {} },
      holdSeconds: 60,
    },
  },
  // Choice: S/MIME alone, over opportunistic STARTTLS, without SPF/DKIM/DMARC, so the column shows
  // what end-to-end S/MIME adds by itself (issue 4 profile 3 names nothing else).
  'smime-e2e': { starttls: true, conventional: { ...PLAIN_PPAP, outboundTls: 'opportunistic' } },
};

/**
 * The `OrgProfile` of a baseline profile, for `Organisation.start({ profile })`; `overrides` replace
 * preset fields (e.g. `{ reputation: { knownDomains, domainRegistry } }`).
 */
export function conventionalProfile(name: ConventionalProfileName, overrides: Partial<ConventionalOptions> = {}): Partial<OrgProfile> {
  const p = CONVENTIONAL_PRESETS[name];
  return { security: 'conventional', starttls: p.starttls, endToEnd: false, conventional: { ...p.conventional, ...overrides } };
}

/** The Mailbox options a profile uses: best-practice has a second factor and denies external forwarding. */
export function conventionalMailboxOptions(name: ConventionalProfileName): { secondFactor: boolean; externalForwarding: 'allow' | 'deny' } {
  return name === 'best-practice' ? { secondFactor: true, externalForwarding: 'deny' } : { secondFactor: false, externalForwarding: 'allow' };
}

/** One TLS report result (RFC 8460 §4.3 result types), as MTA-out records it per delivery attempt. */
export interface TlsReportEvent {
  readonly at: string;
  readonly policyDomain: string;
  readonly policyType: 'sts' | 'no-policy-found';
  readonly policyMode?: 'enforce' | 'testing' | 'none';
  readonly mx?: string;
  readonly result: 'success' | 'starttls-not-supported' | 'certificate-host-mismatch' | 'validation-failure' | 'sts-policy-fetch-error' | 'mx-not-in-policy';
  /** Where the report would go (`rua` of the policy domain's TLSRPT record). */
  readonly rua: readonly string[];
  readonly messageId: string;
}

/** Conventional-mode state shared by the services (in `OrgContext.conventional`). */
export interface ConventionalRuntime {
  readonly options: ConventionalOptions;
  readonly dkimPrivateKeyPem?: string;
  readonly tlsReports: TlsReportEvent[];
  /** Spool ids the sender cancelled / the worker is sending (decided synchronously, so cancel and send never both win). */
  readonly cancelled: Set<string>;
  readonly sending: Set<string>;
}

/** Resolves options and creates the DKIM key when needed. */
export function createConventionalRuntime(options: Partial<ConventionalOptions> | undefined): ConventionalRuntime {
  const o: ConventionalOptions = { ...PLAIN_PPAP, ...options };
  const dkim =
    o.dkimSign || o.publishAuth
      ? (o.dkimPrivateKeyPem ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
      : undefined;
  return { options: o, ...(dkim ? { dkimPrivateKeyPem: dkim } : {}), tlsReports: [], cancelled: new Set(), sending: new Set() };
}

/** Publishes the org's SPF, DKIM, DMARC and TLSRPT records as its options say (MTA-STS is served by Organisation). */
export function publishConventionalDns(ctx: OrgContext, rt: ConventionalRuntime): void {
  const zone = ctx.net.zone;
  const o = rt.options;
  if (o.publishAuth) {
    // RFC 7208 §5.6: the org's outbound MTA is the only host allowed to send for the domain.
    zone.publishSpf(ctx.domain, { ip4: [ctx.addresses.mtaOut], all: '-all' });
    if (rt.dkimPrivateKeyPem) zone.publishDkim(ctx.domain, o.dkimSelector, { publicKey: rt.dkimPrivateKeyPem });
    zone.publishDmarc(ctx.domain, { p: o.dmarcPolicy, rua: [`mailto:dmarc@${ctx.domain}`] });
  }
  if (o.tlsRpt) zone.publishTlsRpt(ctx.domain, [`mailto:tlsrpt@${ctx.domain}`]);
}

/** Users of a conventional org: address + password (no certificates, no CRL). */
export class PasswordUserDirectory implements OrgUserDirectory {
  readonly #users = new Map<string, string>();

  add(address: string, password: string): this {
    this.#users.set(address.toLowerCase(), password);
    return this;
  }
  async authenticate(username: string, password: string): Promise<boolean> {
    const p = this.#users.get(username.toLowerCase());
    return p !== undefined && p === password;
  }
  async has(address: string): Promise<boolean> {
    return this.#users.has(address.toLowerCase());
  }
  async encryptionCertificate(): Promise<Uint8Array | undefined> {
    return undefined;
  }
  async crl(): Promise<Uint8Array | undefined> {
    return undefined;
  }
}

/** What a conventional hop could see of a mail. */
export interface ConventionalAnalysis {
  /** With angle brackets; "" when none. */
  readonly messageId: string;
  readonly from?: string;
  readonly files: FilesState;
  /** zip-encryption / smime / file-count checks for the journey. */
  readonly checks: JourneyCheck[];
  readonly verdict: InspectionVerdict;
  /** The rule that blocks, if any (reply-table code). */
  readonly block?: { readonly code: string; readonly detail: string };
}

const SMIME_TYPES = /^application\/(x-)?pkcs7-mime$/i;
const SIGNATURE_TYPES = /^application\/(x-)?pkcs7-signature$/i;

function bracketed(id: string | undefined): string {
  if (!id) return '';
  const t = id.trim();
  return t.startsWith('<') ? t : `<${t}>`;
}

/**
 * Parses a mail and inspects what an ordinary gateway can see: attachments (plain, ZIP, encrypted ZIP)
 * and S/MIME enveloped parts (opaque). Never throws for hostile input: unparseable mail is a block with
 * MALFORMED_MIME. `inspectContent` false (an MX whose inbound inspection is switched off, only in
 * falsifiability runs) describes the files but runs no rule. Inbound, `scanner` (ClamAV) scans every
 * attachment too and decides what it has signatures and heuristics for (inspection-pool.ts).
 */
export async function analyseConventionalMail(
  raw: Uint8Array,
  direction: 'outbound' | 'inbound',
  o: ConventionalOptions,
  inspectContent = true,
  scanner?: MalwareScanner,
): Promise<ConventionalAnalysis> {
  const checks: JourneyCheck[] = [];
  let parsed;
  try {
    parsed = await simpleParser(Buffer.from(raw), { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  } catch (e) {
    return {
      messageId: '',
      files: 'none',
      checks,
      verdict: { action: 'block', reasons: [] },
      block: { code: 'MALFORMED_MIME', detail: (e as Error).message.slice(0, 200) },
    };
  }
  const messageId = bracketed(parsed.messageId);
  const from = parsed.from?.value[0]?.address?.toLowerCase();
  const files: InspectedFile[] = [];
  const opaque: string[] = [];
  let zipEncrypted = 0;
  for (const a of parsed.attachments as Attachment[]) {
    const ct = (a.contentType ?? '').toLowerCase();
    if (SIGNATURE_TYPES.test(ct)) continue;
    if (SMIME_TYPES.test(ct) || /\.p7m$/i.test(a.filename ?? '')) {
      opaque.push(a.filename ?? 'smime.p7m');
      continue;
    }
    const bytes = new Uint8Array(a.content);
    files.push({ name: a.filename ?? 'attachment', contentType: ct, bytes });
    if (looksLikeZip(bytes)) {
      try {
        if (readZip(bytes).entries.some((e) => e.encrypted)) zipEncrypted++;
      } catch {
        // inspect() reports the unreadable archive.
      }
    }
  }
  const plainFiles = files.length - zipEncrypted;
  const state: FilesState = plainFiles > 0 ? 'plaintext' : zipEncrypted > 0 || opaque.length > 0 ? 'ciphertext' : 'none';
  if (zipEncrypted > 0)
    checks.push({ name: 'zip-encryption', result: 'skip', detail: `${zipEncrypted} encrypted ZIP(s): zipcrypto (password sent separately)` });
  if (opaque.length > 0)
    checks.push({
      name: 'uninspectable',
      result: o.opaqueContent === 'block' ? 'fail' : 'skip',
      detail: `S/MIME enveloped content (${opaque.join(', ')}) is opaque to the org; policy ${o.opaqueContent}`,
    });
  if (!inspectContent) {
    checks.push({ name: 'inspection', result: 'skip', detail: 'content inspection switched off' });
    return { messageId, ...(from ? { from } : {}), files: state, checks, verdict: { action: 'allow', reasons: [] } };
  }
  const verdict = await inspectOffThread(
    direction,
    files,
    parsed.text ?? '',
    { encryptedZip: direction === 'outbound' ? o.msaEncryptedZip : o.mxEncryptedZip, dlpRules: o.dlpRules },
    {},
    scanner ? { scanner } : {},
  );
  for (const r of verdict.reasons)
    checks.push({ name: r.rule, result: r.action === 'block' ? 'fail' : 'skip', detail: `${r.detail}${r.file ? ` (${r.file})` : ''}`.slice(0, 300) });
  const blocking = verdict.reasons.find((r) => r.action === 'block');
  const block = blocking
    ? { code: blocking.code as string, detail: reasonLabel(blocking) }
    : opaque.length > 0 && o.opaqueContent === 'block'
      ? { code: 'UNINSPECTABLE', detail: 'S/MIME enveloped content' }
      : undefined;
  return { messageId, ...(from ? { from } : {}), files: state, checks, verdict, ...(block ? { block } : {}) };
}

/** SPF, DKIM, DMARC of one received mail (RFC 7208, RFC 6376, RFC 7489 via mailauth). */
export interface MailAuthOutcome {
  readonly checks: JourneyCheck[];
  /** DMARC failed and the From domain publishes p=reject. */
  readonly dmarcReject: boolean;
  /** The domain DMARC was evaluated for (mailauth's reading of From), lower-case; undefined when it evaluated none. */
  readonly dmarcDomain?: string;
  /** Authentication-Results / Received-SPF header lines to prepend (CRLF-terminated). */
  readonly headers: string;
}

export async function checkMailAuth(ctx: OrgContext, raw: Uint8Array, client: { ip: string; helo: string; mailFrom: string }): Promise<MailAuthOutcome> {
  // SPF evaluates the MAIL FROM domain in DNS, i.e. as A-labels (RFC 7208 §4.3, RFC 5890).
  const at = client.mailFrom.lastIndexOf('@');
  const sender = at < 0 ? client.mailFrom : `${client.mailFrom.slice(0, at)}@${domainToASCII(client.mailFrom.slice(at + 1)) || client.mailFrom.slice(at + 1)}`;
  const r = await authenticate(Buffer.from(raw), {
    ip: client.ip,
    helo: client.helo,
    sender,
    mta: ctx.mxHost,
    resolver: ctx.net.resolver as never,
    disableArc: true,
    disableBimi: true,
  });
  const checks: JourneyCheck[] = [];
  const spf = r.spf ? r.spf.status.result : 'none';
  checks.push({ name: 'spf', result: spf === 'pass' ? 'pass' : spf === 'fail' || spf === 'softfail' ? 'fail' : 'skip', detail: `${spf} (${client.ip})` });
  const dk = r.dkim.results.map(
    (x) => `${x.status.result}${(x as { signingDomain?: string }).signingDomain ? ` d=${(x as { signingDomain?: string }).signingDomain}` : ''}`,
  );
  const dkPass = r.dkim.results.some((x) => x.status.result === 'pass');
  checks.push({ name: 'dkim', result: dkPass ? 'pass' : r.dkim.results.length === 0 ? 'skip' : 'fail', detail: dk.join(', ') || 'none' });
  const dm = r.dmarc ? r.dmarc.status.result : 'none';
  const policy = r.dmarc ? r.dmarc.policy : 'none';
  checks.push({
    name: 'dmarc',
    result: dm === 'pass' ? 'pass' : dm === 'fail' ? 'fail' : 'skip',
    detail: `${dm}${r.dmarc ? ` p=${policy} (${r.dmarc.domain})` : ''}`,
  });
  const headers = r.headers.endsWith('\n') ? r.headers.replace(/\r?\n/g, '\r\n') : `${r.headers.replace(/\r?\n/g, '\r\n')}\r\n`;
  const dmarcDomain = r.dmarc && r.dmarc.domain ? String(r.dmarc.domain).toLowerCase() : undefined;
  return { checks, dmarcReject: dm === 'fail' && policy === 'reject', ...(dmarcDomain ? { dmarcDomain } : {}), headers };
}

/**
 * Whether the authserv-id of an Authentication-Results value (RFC 8601 §2.5: its first token after optional
 * CFWS, comments dropped) is one of `ids` or a subdomain of one, compared case-insensitively.
 */
export function authservIdIsOneOf(value: string, ids: readonly string[]): boolean {
  const id =
    value
      .replace(/\([^()]*\)/g, ' ')
      .trim()
      .split(/[;\s]/)[0]
      ?.toLowerCase() ?? '';
  return ids.some((i) => {
    const o = i.toLowerCase();
    return id === o || id.endsWith(`.${o}`);
  });
}

/**
 * `raw` without the top-level Authentication-Results fields whose authserv-id (RFC 8601 §2.5) is one of
 * `ids` or a subdomain of one: a border MTA removes those before adding its own (RFC 8601 §5), since the
 * clients behind it trust results under that id. Every other byte stays as it was.
 */
export function withoutAuthResultsOf(raw: Uint8Array, ids: readonly string[]): Uint8Array {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const blank = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, blank < 0 ? buf.length : blank + 2).toString('latin1');
  const fields = head.split(/(?<=\r\n)(?![ \t])/);
  const forged = (f: string): boolean => {
    const m = /^authentication-results[ \t]*:([\s\S]*)$/i.exec(f);
    return m !== null && authservIdIsOneOf(m[1]!, ids);
  };
  const kept = fields.filter((f) => !forged(f));
  if (kept.length === fields.length) return raw;
  return new Uint8Array(Buffer.concat([Buffer.from(kept.join(''), 'latin1'), buf.subarray(head.length)]));
}

/** Scores the From domain when reputation is on. */
export function checkReputation(ctx: OrgContext, rt: ConventionalRuntime, from: string | undefined): ReputationVerdict | undefined {
  const o = rt.options.reputation;
  if (!o || !from) return undefined;
  return scoreDomain(domainOf(from), { ...o, ownDomain: ctx.domain }, ctx.clock());
}

export { reputationHeader };

/** DKIM-Signature header(s) for `raw` (RFC 6376 §3.5), prepended by MTA-out. */
export async function dkimSignMessage(
  ctx: Pick<OrgContext, 'domain'>,
  rt: Pick<ConventionalRuntime, 'options' | 'dkimPrivateKeyPem'>,
  raw: Uint8Array,
): Promise<Uint8Array> {
  if (!rt.options.dkimSign || !rt.dkimPrivateKeyPem) return raw;
  const signed = await dkimSign(Buffer.from(raw), {
    // One t= for the signed and the written header (mailauth reads the clock twice without signTime; see
    // sim-attacker look-alike.ts and dkim-sign-time.test.ts).
    signTime: new Date(),
    signatureData: [{ signingDomain: ctx.domain, selector: rt.options.dkimSelector, privateKey: rt.dkimPrivateKeyPem }],
  } as never);
  return new Uint8Array(Buffer.concat([Buffer.from(signed.signatures), Buffer.from(raw)]));
}

/** Spool meta of a conventional submission (a type, not an interface, so it is a spool meta's `Record<string, unknown>`). */
export type ConventionalSubmissionMeta = {
  readonly kind: 'conventional-submission';
  readonly messageId: string;
  readonly files: FilesState;
  readonly checks: JourneyCheck[];
  /** ISO time before which MTA-out does not send (hold-then-send). */
  readonly notBefore?: string;
};

/** The meta the MSA spools with a conventional submission, as read back (JSON). */
export function isConventionalSubmissionMeta(m: unknown): m is ConventionalSubmissionMeta {
  return (
    typeof m === 'object' &&
    m !== null &&
    'kind' in m &&
    m.kind === 'conventional-submission' &&
    'messageId' in m &&
    typeof m.messageId === 'string' &&
    'files' in m &&
    typeof m.files === 'string' &&
    'checks' in m &&
    Array.isArray(m.checks)
  );
}

/** True while the hold window of `entry` is open at the org's clock. */
export function isHeld(ctx: OrgContext, meta: { notBefore?: string } | undefined): boolean {
  return meta?.notBefore !== undefined && ctx.clock().getTime() < Date.parse(meta.notBefore);
}

/**
 * Cancels a held submission by Message-ID for its sender (hold-then-send, seed 002 incident 8).
 * 'cancelled': it will never be sent; 'too-late': MTA-out already took it; 'not-found'.
 */
export async function cancelSubmission(ctx: OrgContext, messageId: string, sender: string): Promise<'cancelled' | 'too-late' | 'not-found'> {
  // Conventional hold-then-send, or ssmax-plus addition 4 (the same marks, in OrgContext.plus).
  const rt = ctx.conventional ?? ctx.plus;
  if (!rt) return 'not-found';
  const want = bracketed(messageId);
  // The scan reads one state directory after another while the worker moves a held entry from incoming to
  // processing and back (it checks the hold): an entry can slip behind the scan. Every entry is in exactly one
  // state at any moment (rename), so a few scans a moment apart find it; only then is it 'not-found'.
  for (let scan = 0; scan < 5; scan++) {
    if (scan > 0) await new Promise((r) => setTimeout(r, 20));
    const found = await findAndCancel(ctx, rt, want, sender);
    if (found !== 'not-found') return found;
  }
  return 'not-found';
}

async function findAndCancel(
  ctx: OrgContext,
  rt: { readonly cancelled: Set<string>; readonly sending: Set<string> },
  want: string,
  sender: string,
): Promise<'cancelled' | 'too-late' | 'not-found'> {
  for (const state of ['incoming', 'processing', 'delivered', 'bounced'] as const) {
    for (const id of await ctx.outbound.list(state)) {
      const entry = await ctx.outbound.read(id, state).catch(() => undefined);
      const meta = entry?.envelope.meta as ConventionalSubmissionMeta | { kind: 'submission'; messageId: string } | undefined;
      if (
        !entry ||
        (meta?.kind !== 'conventional-submission' && meta?.kind !== 'submission') ||
        meta.messageId !== want ||
        entry.envelope.mailFrom.toLowerCase() !== sender.toLowerCase()
      )
        continue;
      if (state === 'delivered' || state === 'bounced') return rt.cancelled.has(id) ? 'cancelled' : 'too-late';
      // Decided synchronously against the worker's `sending` mark: exactly one of cancel and send wins.
      if (rt.sending.has(id)) return 'too-late';
      rt.cancelled.add(id);
      await ctx.outbound.once(id, 'cancelled', async () => undefined);
      await ctx.journey.record({
        messageId: want,
        actor: actor(ctx, 'msa'),
        procedure: 0,
        checks: [{ name: 'hold-cancel', result: 'pass', detail: `cancelled by ${sender} within the hold window` }],
        files: meta.kind === 'conventional-submission' ? meta.files : 'ciphertext',
        outcome: 'rejected',
        detail: 'cancelled by the sender; never sent',
      });
      ctx.kick('outbound');
      return 'cancelled';
    }
  }
  return 'not-found';
}

/** A DSN to a local sender for a conventional submission MTA-out could not send. */
export async function conventionalBounce(
  ctx: OrgContext,
  entry: SpoolEntry,
  messageId: string,
  rcpts: readonly string[],
  rule: string,
  code: string,
  text: string,
): Promise<void> {
  const sender = entry.envelope.mailFrom;
  if (!sender || domainOf(sender) !== ctx.domain) return;
  const parsed = await simpleParser(Buffer.from(entry.bytes), { skipHtmlToText: true, skipTextToHtml: true }).catch(() => undefined);
  const originalHeaders = parsed ? [...parsed.headerLines].map((h) => ({ name: h.key, value: h.line.slice(h.line.indexOf(':') + 1).trim() })) : [];
  const dsn = buildDsn({
    reportingMta: ctx.mxHost,
    from: `MAILER-DAEMON@${ctx.domain}`,
    to: sender,
    originalMessageId: messageId || '<unknown>',
    recipients: rcpts,
    rule,
    code,
    text,
    clock: ctx.clock,
    originalHeaders,
  });
  // RFC 5321 §4.5.5: a DSN has the null reverse-path.
  await ctx.mailbox.deliver(sender, dsn, { mailFrom: '' });
  await ctx.journey.record({
    messageId,
    actor: actor(ctx, 'dsn'),
    procedure: 0,
    checks: [{ name: 'dsn', result: 'pass', detail: rule }],
    files: 'none',
    outcome: 'bounced',
    reply: formatReply(replyFor(code), rule),
    detail: text.slice(0, 500),
  });
}

/** Delivers one conventional inbound message unchanged (plus MTA-in's trace headers) to each recipient. */
export async function processConventionalInbound(ctx: OrgContext, entry: SpoolEntry): Promise<void> {
  const meta = entry.envelope.meta as { messageId: string; files: FilesState };
  for (const rcpt of entry.envelope.rcptTo) {
    await ctx.inbound.once(entry.id, `rcpt:${rcpt}`, async () => {
      await ctx.mailbox.deliver(rcpt, entry.bytes, { mailFrom: entry.envelope.mailFrom });
      await ctx.journey.record({
        messageId: meta.messageId,
        actor: actor(ctx, 'delivery'),
        procedure: 0,
        checks: [{ name: 'mailbox', result: 'pass', detail: rcpt }],
        files: meta.files,
        outcome: 'delivered',
        detail: rcpt,
      });
    });
  }
}
