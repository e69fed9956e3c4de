/**
 * The user agent: (3) compose and send, (10) read, verify and decrypt, (11) forward.
 *
 * (3) Each file becomes a MIME entity (real name inside) encrypted as AuthEnvelopedData (RFC 5083,
 * AES-256-GCM) to the user's OWN org's KMS encryption certificate; the body describes the files; in
 * end-to-end mode a manifest signed on the card goes along; the whole entity is signed on the card
 * (RFC 8551 §3.5.3 multipart/signed). Every signing session needs the PIN; wrong PINs count toward the
 * card's lock. The mail is submitted to the MSA with SMTP AUTH from the user's own loopback address.
 *
 * (10) The recipient trusts the org certificate on the card (paper mode: the receiving org's signature
 * and chain); end-to-end mode adds the sender's manifest, checked against the registry root on the card,
 * and every org attestation. Files are decrypted on the card. The outcome is a verdict, never an exception.
 * Signatures and attestations are checked before any file is decrypted; files are decrypted only for the
 * SHA-256 checks (the attestations and the manifest bind the plaintext), and their plaintext is released
 * only when the whole mail verified; otherwise it is zeroed and each file says why it is withheld.
 * Outside mail that the own MX accepted and marked unverified releases its plain attachments, flagged
 * `unverified`.
 */
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import {
  SsmaxError,
  buildMultipartSigned,
  collectAttachments,
  decryptContent,
  encodePlainData,
  encryptContent,
  encodeHeaderText,
  injectProtectedHeaders,
  isEnvelopedMessage,
  openHeaderProtected,
  outerHeadersFor,
  wrapHeaderProtected,
  type OpenedHeaderProtected,
  readPlainData,
  findTextBody,
  getHeader,
  originatorOf,
  parseAddressList,
  senderIsAuthor,
  parseCertificate,
  parseMimeEntity,
  parseSmime,
  signSignedData,
  validateChain,
  verifySignedData,
  type Card,
  type CertificateInfo,
  type MimeHeader,
  type RandomSource,
} from '@ssmax/core';
import { verifyAttestation, type IdentityNotice, type OrgAttestation } from './attestation.js';
import { normaliseAddress, sha256Hex, signManifest, verifyManifest, type Manifest, type ManifestFile, type ManifestVerification } from './manifest.js';
import { MANIFEST_FILENAME, assembleMixed, buildFilePart, classifyParts, structureProblem } from './org-hop.js';
import { CardObjects } from './user-registration.js';
import { describeDifferences } from './header-protection.js';
import type { ReplayCache } from './plus.js';

export type VerificationMode = 'paper' | 'end-to-end';

export interface OutgoingFile {
  readonly name: string;
  readonly contentType?: string;
  readonly content: Uint8Array;
}

export interface ComposeInput {
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly files?: readonly OutgoingFile[];
  /** The card PIN for this signing session. */
  readonly pin: string;
}

export interface ComposedMail {
  readonly raw: Uint8Array;
  readonly messageId: string;
  readonly manifest?: Manifest;
}

export interface SmtpSubmission {
  readonly host: string;
  readonly port: number;
  /** The user's own loopback address (the MSA and the journey see it). */
  readonly localAddress?: string;
  readonly user: string;
  readonly password: string;
  /** STARTTLS to the MSA; trust anchors for its certificate. */
  readonly tls?: { readonly ca?: string | Buffer; readonly servername?: string };
}

export interface ImapAccess {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Second factor: returns the current TOTP code; the login password becomes `password:code`. */
  readonly totp?: () => string;
}

export interface UserAgentOptions {
  readonly address: string;
  readonly card: Card;
  readonly mode: VerificationMode;
  /** The user's own org's KMS encryption certificate: every file is encrypted to it at (3). */
  readonly orgEncryptionCertificate: Uint8Array;
  /**
   * The user's own org's KMS signing certificate. When given, (10) accepts only it as the organisation's
   * signature (and as the signer of the last attestation); without it, any org CA certificate for
   * digitalSignature that names no person would do.
   */
  readonly orgSigningCertificate?: Uint8Array;
  readonly msa?: SmtpSubmission;
  readonly imap?: ImapAccess;
  readonly now?: () => Date;
  readonly random?: RandomSource;
  /**
   * (10) The identity notice and the manifest signer must name the From address (default true; false
   * only in falsifiability runs, `ssmax run --ablate`).
   */
  readonly fromSignerBinding?: boolean;
  /**
   * The chain of encryption at the ends (paper §5 (1), (4)): files are encrypted to the own org's KMS and
   * read only from CMS envelopes. `false` only for falsifiability runs: files go out and are read as
   * id-data in the clear (RFC 5652 §4).
   */
  readonly fileEncryption?: boolean;
  /**
   * ssmax-plus addition 2 (RFC 9788 Header Protection): (3) injects the real header fields into the signed
   * entity (hp="cipher") and sends the whole message enveloped to the own org's KMS under hcp_baseline outer
   * fields (Subject `[...]`). (10) opens with the card, whatever this says, any enveloped mail an org hop delivered.
   */
  readonly headerProtection?: boolean;
  /**
   * ssmax-plus addition 3 at (10): the agent's replay cache (plus.ts). A second delivered copy of a mail (same
   * sending org and Message-ID, another receiving attestation) delivered within the sending org's validity
   * window is refused (reason replay); reading the same copy again is not.
   */
  readonly replayCache?: ReplayCache;
}

/** The identity-proofing notice as shown to the recipient (paper §3.2). */
export interface IdentityNoticeView {
  readonly proofing: string;
  readonly proofedAt?: string;
  readonly cardAndPinUsed: boolean;
  readonly sendingOrg?: string;
  readonly sendingDomain?: string;
  readonly certSerial?: string;
}

/** Why (10) keeps a file from the user: the file then carries no `content`. */
export const WithheldReasons = {
  'mail-not-verified': 'the mail as a whole did not verify (the file itself may be intact, or was never decrypted)',
  'decrypt-failed': 'the card cannot decrypt the file',
  'not-in-manifest': "the file is not in the sender's signed manifest",
  'differs-from-manifest': 'the file differs from what the sender signed',
  'differs-from-attestation': 'the file differs from what your organisation attested',
} as const;
export type WithheldReason = keyof typeof WithheldReasons;

export interface ReceivedFile {
  readonly n: number;
  /** The real name from inside the encrypted entity; `"<n>"` for a file never decrypted. */
  readonly name: string;
  readonly contentType: string;
  /** SHA-256 (hex) of the plaintext, present only when the agent computed it. */
  readonly sha256?: string;
  /** True only for a file of a verified SSMAX mail (it matches what the sender signed and the orgs attested). */
  readonly ok: boolean;
  /**
   * The plaintext released to the user: every file of a verified mail, or an `unverified` attachment of
   * outside mail. Absent when the file is withheld.
   */
  readonly content?: Uint8Array;
  /**
   * Released without SSMAX verification: a plain attachment of outside (non-member) mail that the own MX
   * accepted and marked unverified after its inbound inspection (8); shown under the "not SSMAX-verified" banner.
   */
  readonly unverified?: true;
  /** Set when the file is kept from the user (no `content`). */
  readonly withheld?: WithheldReason;
}

/** (10): what the user agent shows for one mail. */
export interface MailVerdict {
  readonly verified: boolean;
  readonly mode: VerificationMode;
  readonly senderAddress: string;
  readonly subject: string;
  readonly messageId: string;
  readonly text: string;
  readonly identityNotice?: IdentityNoticeView;
  readonly files: readonly ReceivedFile[];
  readonly problems: readonly string[];
  /**
   * Outside (non-member) mail the own MX accepted and marked unverified: shown under the "not
   * SSMAX-verified" banner, its plain attachments released with `unverified` set.
   */
  readonly outside?: true;
  /**
   * The card certificate whose signature over the sender manifest this agent verified (end-to-end mode,
   * chained to the registry root): the person the mail binds. Absent when the manifest was not checked.
   */
  readonly manifestSigner?: { readonly serial: string; readonly address: string };
  readonly uid?: number;
  /**
   * The mail came enveloped (ssmax-plus addition 2): `protected` when its payload carried RFC 9788 protected
   * header fields (the fields shown are those), and one line per user-facing outer field that is not what
   * the sender put outside (a forged outer Subject): a warning to show beside a verified mail.
   */
  readonly headerProtection?: { readonly protected: boolean; readonly outerDifferences: readonly string[] };
  /** ssmax-plus addition 3: the agent's replay check of this copy (present when the agent keeps a replay cache and the sending org bound a window). */
  readonly freshness?: { readonly ok: boolean; readonly detail: string };
}

const EMAIL_PROTECTION = '1.3.6.1.5.5.7.3.4';

/**
 * The addresses of an address-list field (To, Cc) by core's RFC 5322 parser, the one the MSA and the
 * MTA-in use too; undefined when the field does not parse.
 */
function addressesIn(v: string | undefined): string[] | undefined {
  if (v === undefined) return [];
  try {
    return parseAddressList(v).map((m) => m.address);
  } catch {
    return undefined;
  }
}

/** The From as the user is shown it: the one bound mailbox, or every mailbox a From that binds none names. */
function shownSender(headers: readonly MimeHeader[]): { readonly from: string; readonly problem?: string } {
  const o = originatorOf(headers);
  if (!o.ok) return { from: o.mailboxes.map((m) => m.address).join(', '), problem: `the sender cannot be told (${o.reason})` };
  return senderIsAuthor(o)
    ? { from: o.from.address }
    : { from: o.from.address, problem: `the mail names Sender ${o.sender!.address} besides From ${o.from.address}: the signer must be both` };
}

function b64Lines(b: Uint8Array): string {
  return (
    Buffer.from(b)
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join('\r\n');
}

/** RFC 2231 §4 parameter for a possibly non-ASCII file name. */
function fileParam(name: string, value: string): string {
  if (/^[\x20-\x7e]*$/.test(value) && !/["\\]/.test(value)) return `${name}="${value}"`;
  return `${name}*=utf-8''${encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

function textPart(text: string): Uint8Array {
  const body = Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'utf8');
  // Always base64: no transport may rewrite the signed text (RFC 8551 §3.1.1).
  return Buffer.from(`Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64Lines(body)}`, 'latin1');
}

function fileEntity(f: OutgoingFile): Uint8Array {
  const ct = (f.contentType ?? 'application/octet-stream').toLowerCase();
  if (f.name === '' || /[\r\n\0/\\]/.test(f.name))
    throw new SsmaxError('USAGE', `Cannot attach "${f.name.slice(0, 40)}". A file name must be non-empty, without line breaks or path separators.`);
  return Buffer.from(
    `Content-Type: ${ct}; ${fileParam('name', f.name)}\r\nContent-Disposition: attachment; ${fileParam('filename', f.name)}\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64Lines(f.content)}`,
    'latin1',
  );
}

function signedDataPart(filename: string, der: Uint8Array): Uint8Array {
  return Buffer.from(
    `Content-Type: application/pkcs7-mime; smime-type=signed-data; name="${filename}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${filename}"\r\n\r\n${b64Lines(der)}`,
    'latin1',
  );
}

function formatDate(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function describeFiles(text: string, files: readonly ManifestFile[], domain: string): string {
  if (files.length === 0) return text;
  const lines = files.map((f) => `  ${f.n}. ${f.name} (${f.contentType}, ${f.size} bytes, SHA-256 ${f.sha256})`);
  return `${text.replace(/\s+$/, '')}\n\n-- Attached files, encrypted to ${domain} (SSMAX procedure 3) --\n${lines.join('\n')}\n`;
}

export class UserAgent {
  readonly address: string;
  readonly mode: VerificationMode;
  private readonly o: UserAgentOptions;
  private readonly now: () => Date;
  private readonly random: RandomSource;

  constructor(o: UserAgentOptions) {
    this.o = o;
    this.address = normaliseAddress(o.address);
    this.mode = o.mode;
    this.now = o.now ?? (() => new Date());
    this.random = o.random ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  private get domain(): string {
    return this.address.slice(this.address.lastIndexOf('@') + 1);
  }

  private async cardCert(label: string): Promise<Uint8Array> {
    const der = await this.o.card.getCertificate(label);
    if (!der) throw new SsmaxError('KEY_NOT_FOUND', `Cannot use card ${this.o.card.label}. It holds no ${label} certificate.`);
    return der;
  }

  /**
   * (3): builds and signs the mail on the card. The PIN opens one signing session, closed before
   * returning, so a stolen unlocked laptop cannot sign the next mail.
   */
  async compose(input: ComposeInput): Promise<ComposedMail> {
    if (input.to.length === 0) throw new SsmaxError('USAGE', 'Cannot compose the mail. It needs at least one recipient.');
    const files = input.files ?? [];
    const described: ManifestFile[] = files.map((f, i) => ({
      n: i + 1,
      name: f.name,
      contentType: (f.contentType ?? 'application/octet-stream').toLowerCase(),
      size: f.content.byteLength,
      sha256: sha256Hex(f.content),
    }));
    const text = describeFiles(input.text, described, this.domain);
    const bodyBytes = Buffer.from(text.replace(/\r\n|\r|\n/g, '\r\n'), 'utf8');
    const messageId = `<${Buffer.from(this.random(16)).toString('hex')}@${this.domain}>`;
    const date = formatDate(this.now());
    const parts: Uint8Array[] = [textPart(text)];
    for (const [i, f] of files.entries()) {
      const der =
        this.o.fileEncryption === false
          ? encodePlainData(fileEntity(f))
          : await encryptContent(fileEntity(f), { recipients: [this.o.orgEncryptionCertificate], cipher: 'aes-256-gcm', random: this.random });
      parts.push(buildFilePart(i + 1, der));
    }
    const signingCert = await this.cardCert(CardObjects.signingCertificate);
    const orgCert = await this.cardCert(CardObjects.orgCertificate);
    const card = this.o.card;
    await card.login(input.pin);
    try {
      const key = await card.key(CardObjects.signingKey);
      let manifest: Manifest | undefined;
      if (this.mode === 'end-to-end') {
        manifest = {
          v: 1,
          type: 'ssmax-manifest',
          messageId,
          from: this.address,
          to: [...input.to],
          cc: [...(input.cc ?? [])],
          subject: input.subject,
          date,
          bodySha256: sha256Hex(bodyBytes),
          files: described,
        };
        parts.push(signedDataPart(MANIFEST_FILENAME, await signManifest(manifest, { key, certificate: signingCert, chain: [orgCert] }, this.now())));
      }
      const hpFields: MimeHeader[] | undefined =
        this.o.headerProtection === true
          ? [
              { name: 'From', value: this.address },
              { name: 'To', value: input.to.join(', ') },
              ...(input.cc && input.cc.length > 0 ? [{ name: 'Cc', value: input.cc.join(', ') }] : []),
              { name: 'Subject', value: encodeHeaderText(input.subject) },
              { name: 'Date', value: date },
              { name: 'Message-ID', value: messageId },
            ]
          : undefined;
      const mixed = assembleMixed(parts, this.random);
      // RFC 9788 §2.1: the real fields go inside, signed; HP-Outer records what stands outside (hcp_baseline).
      const entity = hpFields ? injectProtectedHeaders(mixed, hpFields, { hp: 'cipher', outer: outerHeadersFor(hpFields) }) : mixed;
      const signature = await signSignedData(entity, { key, certificate: signingCert, chain: [orgCert], detached: true, signingTime: this.now() });
      const raw = hpFields
        ? await wrapHeaderProtected(buildMultipartSigned(entity, signature, { random: this.random }), {
            recipients: [this.o.orgEncryptionCertificate],
            outer: outerHeadersFor(hpFields),
            random: this.random,
          })
        : buildMultipartSigned(entity, signature, {
            headers: {
              from: this.address,
              to: input.to,
              ...(input.cc && input.cc.length > 0 ? { cc: input.cc } : {}),
              subject: input.subject,
              date,
              messageId,
            },
            random: this.random,
          });
      return { raw, messageId, ...(manifest ? { manifest } : {}) };
    } finally {
      await card.logout();
    }
  }

  /** (3)→(4): composes and submits to the MSA over SMTP AUTH. */
  async send(input: ComposeInput): Promise<ComposedMail & { readonly response: string }> {
    const mail = await this.compose(input);
    const response = await this.submit(mail.raw, [...input.to, ...(input.cc ?? [])]);
    return { ...mail, response };
  }

  /** Submits a raw mail to the MSA (SMTP AUTH, from the user's loopback address). Throws on a 4xx/5xx reply. */
  async submit(raw: Uint8Array, recipients: readonly string[]): Promise<string> {
    const m = this.o.msa;
    if (!m) throw new SsmaxError('USAGE', 'Cannot send the mail. The user agent has no MSA configured.');
    const transport = nodemailer.createTransport({
      host: m.host,
      port: m.port,
      secure: false,
      ...(m.localAddress ? { localAddress: m.localAddress } : {}),
      auth: { user: m.user, pass: m.password },
      ...(m.tls
        ? { requireTLS: true, tls: { ...(m.tls.ca ? { ca: m.tls.ca } : {}), ...(m.tls.servername ? { servername: m.tls.servername } : {}) } }
        : { ignoreTLS: true }),
    });
    try {
      const info = await transport.sendMail({ envelope: { from: this.address, to: [...recipients] }, raw: Buffer.from(raw) });
      return info.response;
    } finally {
      transport.close();
    }
  }

  /** (10): reads INBOX over IMAP and verifies every mail. The PIN opens one decryption session for all of them. */
  async inbox(pin: string): Promise<MailVerdict[]> {
    const a = this.o.imap;
    if (!a) throw new SsmaxError('USAGE', 'Cannot read the mailbox. The user agent has no IMAP access configured.');
    const client = new ImapFlow({
      host: a.host,
      port: a.port,
      secure: false,
      auth: { user: a.user, pass: a.totp ? `${a.password}:${a.totp()}` : a.password },
      logger: false,
    });
    try {
      await client.connect();
    } catch (cause) {
      // A refused login leaves imapflow's socket open; close it so the caller's process can exit.
      client.close();
      throw new SsmaxError('IO_ERROR', `Cannot read the mailbox of ${a.user}. The IMAP login failed.`, { cause });
    }
    const raws: { uid: number; source: Uint8Array }[] = [];
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const exists = typeof client.mailbox === 'object' ? client.mailbox.exists : 0;
        if (exists > 0) {
          for await (const msg of client.fetch('1:*', { uid: true, source: true })) {
            if (msg.source) raws.push({ uid: msg.uid, source: new Uint8Array(msg.source) });
          }
        }
      } finally {
        lock.release();
      }
    } finally {
      await client.logout().catch(() => client.close());
    }
    await this.o.card.login(pin);
    try {
      const out: MailVerdict[] = [];
      for (const r of raws) out.push({ ...(await this.verifyLoggedIn(r.source)), uid: r.uid });
      return out;
    } finally {
      await this.o.card.logout();
    }
  }

  /** (10) on one raw mail: opens a card session with the PIN for the decryption. */
  async read(raw: Uint8Array, pin: string): Promise<MailVerdict> {
    await this.o.card.login(pin);
    try {
      return await this.verifyLoggedIn(raw);
    } finally {
      await this.o.card.logout();
    }
  }

  /**
   * Hostile input never escapes as an exception, and one mail never takes the others of an inbox down
   * with it: whatever a mail makes the agent trip over (a malformed part, a document of an unexpected
   * shape, a bug of ours) makes that mail unverified. Only a fault of the card or the machine
   * (infrastructure) stops the whole read.
   */
  private async verifyLoggedIn(raw: Uint8Array): Promise<MailVerdict> {
    try {
      return await this.verifyUnguarded(raw);
    } catch (e) {
      if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
      const why =
        e instanceof SsmaxError ? `${e.code}: ${e.message}` : `the user agent failed on it: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
      return this.unverified(raw, [`the mail cannot be checked (${why})`]);
    }
  }

  /**
   * ssmax-plus addition 2: opens with the card an enveloped mail an organisation delivered (`X-SSMAX-Hop` outside,
   * RFC 9788); other mail is read as it came. An envelope no org hop delivered is not opened: nothing inspected
   * its inside at (8), so its files must not be released, even as unverified outside mail.
   */
  private async openProtected(
    arrived: Uint8Array,
  ): Promise<{ readonly ok: true; readonly message: Uint8Array; readonly opened?: OpenedHeaderProtected } | { readonly ok: false; readonly problem: string }> {
    if (!isEnvelopedMessage(arrived) || getHeader(parseSmime(arrived).headers, 'X-SSMAX-Hop') === undefined) return { ok: true, message: arrived };
    try {
      const encCert = await this.cardCert(CardObjects.encryptionCertificate);
      const encKey = await this.o.card.key(CardObjects.encryptionKey);
      const opened = await openHeaderProtected(arrived, async (der) => (await decryptContent(der, { key: encKey, certificate: encCert })).content);
      return opened ? { ok: true, message: opened.message, opened } : { ok: true, message: arrived };
    } catch (e) {
      if (e instanceof SsmaxError && e.category === 'infrastructure') throw e;
      return { ok: false, problem: `the mail is encrypted but your card cannot open it (${e instanceof SsmaxError ? e.code : 'error'})` };
    }
  }

  private async verifyUnguarded(arrived: Uint8Array): Promise<MailVerdict> {
    const hp = await this.openProtected(arrived);
    if (!hp.ok) return this.unverified(arrived, [hp.problem]);
    const raw = hp.message;
    const problems: string[] = [];
    let parsed;
    try {
      parsed = parseSmime(raw);
    } catch (e) {
      return this.unverified(raw, [`the mail is not well-formed MIME (${e instanceof SsmaxError ? e.code : 'error'})`]);
    }
    const headers = parsed.headers;
    // One parser for every service (issue 10 item 4): the From (4) and (7) bound is the From shown.
    const sender = shownSender(headers);
    const from = sender.from;
    const subject = getHeader(headers, 'Subject')?.trim() ?? '';
    const messageId = getHeader(headers, 'Message-ID')?.trim() ?? '';
    // Outside mail: the own MX found no SSMAX hop, skipped (7), ran (8) on its plain parts and marked it (mta-in.ts).
    // The MX's mark sits above any header the sender wrote; a mail with an SSMAX hop is never outside mail.
    const markedOutside = getHeader(headers, 'X-SSMAX-Hop') === undefined && getHeader(headers, 'X-SSMAX-Verdict')?.trim().toLowerCase() === 'unverified';
    if (markedOutside)
      return this.unverified(raw, ['the mail carries no organisation signature: it is not from an SSMAX member (unverified)'], 'release-unverified');
    if (parsed.kind !== 'multipart-signed')
      return this.unverified(raw, ['the mail carries no organisation signature and your MX did not mark it as outside mail (unverified)']);

    // Paper mode: the receiving org's signature, chained to the org certificate on the card (paper §4 (1)).
    const ownOrg = parseCertificate(await this.cardCert(CardObjects.orgCertificate));
    const time = this.now();
    let outerSigner: CertificateInfo | undefined;
    try {
      const v = verifySignedData(parsed.signature, { detachedContent: parsed.signedEntity });
      const s = v.signers[0];
      if (v.signers.length !== 1 || !s?.valid || !s.certificate) problems.push(`the organisation signature does not verify${s?.code ? ` (${s.code})` : ''}`);
      else {
        outerSigner = parseCertificate(s.certificate);
        // The org CA also certifies keys that must never speak for the org (the KMS encryption key, the
        // trace vault's sealing key): the signer needs digitalSignature, and is the KMS signing certificate.
        const chain = validateChain({
          leaf: outerSigner,
          intermediates: v.certificates,
          trustAnchors: [ownOrg],
          time,
          revocation: 'none',
          requiredExtKeyUsage: EMAIL_PROTECTION,
          requiredKeyUsage: ['digitalSignature'],
        });
        if (!chain.valid) problems.push(`the signer is not your organisation (${chain.code}: ${chain.reasons[0] ?? ''})`);
        else if (outerSigner.identityProofing !== undefined || outerSigner.emailAddresses.length > 0)
          problems.push('the mail is signed by a user, not by your organisation');
        else if (this.o.orgSigningCertificate && Buffer.compare(Buffer.from(outerSigner.der), Buffer.from(this.o.orgSigningCertificate)) !== 0) {
          problems.push(`the signer is not your organisation's KMS signing certificate (${outerSigner.subject})`);
        }
      }
    } catch (e) {
      problems.push(`the organisation signature is malformed (${e instanceof SsmaxError ? e.code : 'error'})`);
    }

    let parts;
    try {
      parts = classifyParts(parsed.signedEntity);
    } catch (e) {
      return this.unverified(raw, [...problems, `the signed content is not well-formed MIME (${e instanceof SsmaxError ? e.code : 'error'})`]);
    }
    // A part in no SSMAX role was never inspected, attested or signed for by the sender (issue 10 item 2).
    const structure = structureProblem(parts, { attestations: 'in-order' });
    if (structure) problems.push(`the signed content is not an SSMAX mail (${structure})`);
    const bodyBytes = parts.body ? parts.body.body : new Uint8Array();
    const text = parts.body ? (findTextBody(parts.body) ?? '') : '';

    // Attestations, in hop order. The last one is the receiving org's (it must be the outer signer).
    const attestations: { a: OrgAttestation; signer: Uint8Array; certs: readonly Uint8Array[] }[] = [];
    for (const p of parts.attestations) {
      const v = verifyAttestation(p.part.body);
      if (!v.valid) problems.push(`an organisation attestation does not verify (${v.code})`);
      else attestations.push({ a: v.attestation, signer: v.signerCertificate, certs: v.certificates });
    }
    attestations.sort((x, y) => x.a.hop - y.a.hop);
    const last = attestations.at(-1);
    const first = attestations[0];
    if (!last) problems.push('the mail carries no attestation from your organisation');
    else if (outerSigner && Buffer.compare(Buffer.from(last.signer), Buffer.from(outerSigner.der)) !== 0)
      problems.push('the last attestation is not signed by your organisation');
    // ssmax-plus addition 3: a copy is named by the receiving org's attestation; the time that counts is its delivery, not the reading.
    let freshness: MailVerdict['freshness'];
    const window = first?.a.freshness;
    if (this.o.replayCache && first && last && first !== last && window) {
      const fresh = this.o.replayCache.admitCopy(
        `${first.a.org}\n${first.a.messageId}`,
        `${last.a.org}\n${last.a.at}`,
        Date.parse(window.notAfter),
        Date.parse(last.a.at),
      );
      freshness = fresh
        ? { ok: true, detail: `first copy of ${first.a.messageId} from ${first.a.domain} within its window (until ${window.notAfter})` }
        : {
            ok: false,
            detail: `replay: another copy of ${first.a.messageId} from ${first.a.domain} was delivered within its window (until ${window.notAfter})`,
          };
      if (!fresh) problems.push(freshness.detail);
    }
    const notice: IdentityNotice | undefined = last?.a.identityNotice;
    if (sender.problem && this.o.fromSignerBinding !== false) problems.push(sender.problem);
    if (notice && this.o.fromSignerBinding !== false && normaliseAddress(notice.sender) !== normaliseAddress(from))
      problems.push(`the identity notice names ${notice.sender}, the mail is from ${from}`);
    // The verified mail is this message for this user: the receiving org attested its Message-ID, and
    // To or Cc names the user (SSMAX mail has no Bcc: the sender manifest lists To and Cc).
    if (last && last.a.messageId !== messageId)
      problems.push(`your organisation attested message ${last.a.messageId.slice(0, 100)}, not ${messageId.slice(0, 100)}`);
    const to = addressesIn(getHeader(headers, 'To'));
    const cc = addressesIn(getHeader(headers, 'Cc'));
    if (to === undefined || cc === undefined) problems.push('the To or Cc field cannot be parsed');
    else if (![...to, ...cc].includes(this.address))
      problems.push(`the mail is addressed to ${[...to, ...cc].join(', ').slice(0, 200) || 'nobody'}, not to you (${this.address})`);

    // End-to-end: the manifest (signature, signer chain, headers, body) and every attestation, before any
    // file is decrypted; the files still encrypted count as not yet arrived, their hashes come after.
    const e2e = this.mode === 'end-to-end';
    const root = e2e ? await this.o.card.getCertificate(CardObjects.registryRoot) : undefined;
    const dropped = attestations.flatMap((x) => x.a.files.filter((f) => f.action === 'dropped').map((f) => f.n));
    const checkManifest = (
      manifest: Uint8Array,
      anchor: Uint8Array,
      arrived: readonly { n: number; name: string; sha256: string }[],
      notYet: readonly number[],
    ): ManifestVerification =>
      verifyManifest(manifest, {
        ...(this.o.fromSignerBinding === false ? { fromSignerBinding: false } : {}),
        trustAnchors: [anchor],
        crls: first?.a.orgCrl ? [new Uint8Array(Buffer.from(first.a.orgCrl, 'base64'))] : [],
        time,
        expected: {
          messageId,
          from,
          to: to ?? [],
          cc: cc ?? [],
          subject,
          date: getHeader(headers, 'Date')?.trim() ?? '',
          body: bodyBytes,
          files: arrived,
          droppedFiles: [...dropped, ...notYet],
        },
      });
    let manifestFiles: readonly ManifestFile[] | undefined;
    let manifestSigner: MailVerdict['manifestSigner'];
    const attestedOtherThanSigned = new Set<number>();
    if (e2e) {
      if (!root) problems.push('the card holds no registry root: the sender manifest cannot be checked');
      else if (!parts.manifest) problems.push('the mail carries no sender manifest');
      else {
        const mv = checkManifest(
          parts.manifest.body,
          root,
          [],
          parts.files.map((f) => f.n),
        );
        problems.push(...mv.problems);
        manifestFiles = mv.manifest?.files;
        if (mv.problems.length === 0 && mv.signerCertificate)
          manifestSigner = { serial: mv.signerCertificate.serialNumber, address: mv.signerCertificate.emailAddresses[0] ?? '' };
        // Every org on the way must have attested the sender's files, each with its own org key (paper §4 (3)).
        for (const x of attestations) {
          const chain = validateChain({
            leaf: x.signer,
            intermediates: x.certs,
            trustAnchors: [root],
            time,
            revocation: 'none',
            requiredExtKeyUsage: EMAIL_PROTECTION,
            requiredKeyUsage: ['digitalSignature'],
          });
          const signerDomain = parseCertificate(x.signer).dnsNames[0]?.toLowerCase();
          if (!chain.valid) problems.push(`the attestation of hop ${x.a.hop} is not signed by a registry member (${chain.code})`);
          else if (signerDomain !== x.a.domain.toLowerCase())
            problems.push(`the attestation of hop ${x.a.hop} names ${x.a.domain} but is signed for ${signerDomain}`);
          if (x.a.messageId !== messageId) problems.push(`the attestation of hop ${x.a.hop} is for another message`);
          for (const af of x.a.files) {
            const mf = mv.manifest?.files.find((f) => f.n === af.n);
            if (mf && af.action === 're-encrypted' && af.sha256 !== mf.sha256) {
              problems.push(`hop ${x.a.hop} (${x.a.domain}) attested file ${af.n} with another content than the sender signed`);
              attestedOtherThanSigned.add(af.n);
            }
          }
        }
        if (first && normaliseAddress(from).split('@')[1] !== first.a.domain.toLowerCase())
          problems.push(`the first attestation is from ${first.a.domain}, not from the sender's domain`);
        if (notice && mv.signerCertificate && notice.certSerial.toLowerCase() !== mv.signerCertificate.serialNumber.toLowerCase()) {
          problems.push('the identity notice names another certificate than the one that signed the manifest');
        }
      }
    }

    let files: ReceivedFile[];
    if (problems.length > 0) {
      // Refused on signatures or attestations alone: no file is decrypted.
      files = parts.files.map((f) => ({
        n: f.n,
        name: `${f.n}`,
        contentType: 'application/octet-stream',
        ok: false,
        withheld: attestedOtherThanSigned.has(f.n) ? 'differs-from-manifest' : 'mail-not-verified',
      }));
    } else {
      const opened: { n: number; name: string; contentType: string; sha256?: string; plain?: Uint8Array; withheld?: WithheldReason }[] = [];
      let released = false;
      try {
        const encCert = await this.cardCert(CardObjects.encryptionCertificate);
        const encKey = await this.o.card.key(CardObjects.encryptionKey);
        for (const f of parts.files) {
          let entity: Uint8Array | undefined;
          try {
            entity =
              (this.o.fileEncryption === false ? readPlainData(f.der) : undefined) ??
              (await decryptContent(f.der, { key: encKey, certificate: encCert })).content;
            const e = parseMimeEntity(entity);
            // A copy: the parsed body may share memory with the decrypted entity, which is zeroed now.
            const plain = new Uint8Array(e.body);
            e.body.fill(0);
            opened.push({ n: f.n, name: e.filename ?? `${f.n}`, contentType: e.contentType.mediaType, sha256: sha256Hex(plain), plain });
          } catch (e) {
            problems.push(`file ${f.n} cannot be decrypted with your card (${e instanceof SsmaxError ? e.code : 'error'})`);
            opened.push({ n: f.n, name: `${f.n}`, contentType: 'application/octet-stream', withheld: 'decrypt-failed' });
          } finally {
            entity?.fill(0);
          }
        }
        // The attestations must describe the files that arrived (each org states the SHA-256 it re-encrypted).
        for (const d of opened) {
          const att = last?.a.files.find((x) => x.n === d.n);
          if (d.sha256 !== undefined && att && att.sha256 !== d.sha256) {
            problems.push(`file ${d.n} differs from what your organisation attested`);
            d.withheld ??= 'differs-from-attestation';
          }
        }
        if (e2e && root && parts.manifest) {
          const mv = checkManifest(
            parts.manifest.body,
            root,
            opened.flatMap((d) => (d.sha256 !== undefined ? [{ n: d.n, name: d.name, sha256: d.sha256 }] : [])),
            [],
          );
          problems.push(...mv.problems);
          for (const d of opened) {
            if (d.sha256 !== undefined && mv.fileOk.get(d.n) !== true)
              d.withheld ??= manifestFiles?.some((f) => f.n === d.n) ? 'differs-from-manifest' : 'not-in-manifest';
          }
        }
        released = problems.length === 0 && opened.every((d) => d.plain !== undefined && d.withheld === undefined);
        files = opened.map((d) => {
          const base = { n: d.n, name: d.name, contentType: d.contentType, ...(d.sha256 !== undefined ? { sha256: d.sha256 } : {}) };
          return released ? { ...base, ok: true, content: d.plain! } : { ...base, ok: false, withheld: d.withheld ?? 'mail-not-verified' };
        });
      } finally {
        if (!released) for (const d of opened) d.plain?.fill(0);
      }
    }

    const identityNotice: IdentityNoticeView | undefined = notice
      ? {
          proofing: notice.proofing,
          proofedAt: notice.proofedAt,
          cardAndPinUsed: notice.cardAndPinUsed,
          ...(first ? { sendingOrg: first.a.org, sendingDomain: first.a.domain } : {}),
          certSerial: notice.certSerial,
        }
      : undefined;
    return {
      verified: problems.length === 0 && files.every((f) => f.ok),
      mode: this.mode,
      senderAddress: from,
      subject,
      messageId,
      text,
      ...(identityNotice ? { identityNotice } : {}),
      ...(manifestSigner && problems.length === 0 ? { manifestSigner } : {}),
      ...(hp.opened
        ? { headerProtection: { protected: hp.opened.protectedHeaders !== undefined, outerDifferences: describeDifferences(hp.opened.differences) } }
        : {}),
      ...(freshness ? { freshness } : {}),
      files,
      problems,
    };
  }

  /**
   * A mail that is not SSMAX mail, or cannot be checked as such. Its attachments are released, each flagged
   * `unverified`, only for outside mail the own MX marked; otherwise they are listed as withheld.
   */
  private unverified(raw: Uint8Array, problems: string[], attachments: 'withhold' | 'release-unverified' = 'withhold'): MailVerdict {
    let headers: readonly MimeHeader[] = [];
    let text = '';
    let files: ReceivedFile[] = [];
    try {
      const e = parseMimeEntity(raw);
      headers = e.headers;
      text = findTextBody(e) ?? '';
      // The attachments as the MX's inbound inspection (8) scanned them (mta-in.ts, inspectPlainMail).
      files = collectAttachments(e).map((a, i): ReceivedFile => {
        const base = { n: i + 1, name: a.filename, contentType: a.contentType, ok: false };
        return attachments === 'release-unverified'
          ? { ...base, sha256: sha256Hex(a.content), unverified: true, content: a.content }
          : { ...base, withheld: 'mail-not-verified' };
      });
    } catch {
      files = [];
    }
    return {
      verified: false,
      mode: this.mode,
      ...(attachments === 'release-unverified' ? { outside: true } : {}),
      senderAddress: shownSender(headers).from,
      subject: getHeader(headers, 'Subject')?.trim() ?? '',
      messageId: getHeader(headers, 'Message-ID')?.trim() ?? '',
      text,
      files,
      problems,
    };
  }

  /**
   * (11): forwards a verified mail. Per destination, only the chosen files go on; they are re-encrypted
   * to the user's own org (it is a new mail from this user, through (4)–(10) again) and signed on the card.
   */
  async forward(
    mail: MailVerdict,
    input: {
      readonly to: readonly string[];
      readonly cc?: readonly string[];
      readonly keepFiles: readonly string[];
      readonly text?: string;
      readonly pin: string;
      readonly send?: boolean;
    },
  ): Promise<ComposedMail> {
    if (!mail.verified) throw new SsmaxError('USAGE', `Cannot forward mail ${mail.messageId}. It did not verify; forward only what you could check.`);
    const kept = mail.files.filter((f) => input.keepFiles.includes(f.name));
    for (const name of input.keepFiles) {
      if (!kept.some((f) => f.name === name)) throw new SsmaxError('USAGE', `Cannot forward file ${name}. The mail has no such file.`);
    }
    const files = kept.map((f) => {
      if (!f.content) throw new SsmaxError('USAGE', `Cannot forward file ${f.name}. It was not decrypted.`);
      return { name: f.name, contentType: f.contentType, content: f.content };
    });
    const text = `${input.text ?? ''}\n\n-- Forwarded mail ${mail.messageId} from ${mail.senderAddress} (verified by SSMAX) --\n${mail.text}`;
    const compose: ComposeInput = { to: input.to, ...(input.cc ? { cc: input.cc } : {}), subject: `Fwd: ${mail.subject}`, text, files, pin: input.pin };
    if (input.send) return this.send(compose);
    return this.compose(compose);
  }
}
