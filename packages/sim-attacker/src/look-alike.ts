import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { domainToASCII, domainToUnicode } from 'node:url';
import {
  SoftwareKey,
  buildMimeEntity,
  buildMultipartSigned,
  issueOrgCertificate,
  issueRootCertificate,
  issueUserCertificate,
  newTraceId,
  parseCertificate,
  requestMailboxCertificate,
  signSignedData,
  type CertificateInfo,
  type PublicCaEndpoint,
  type IdentityProofingMethod,
  type MimeAttachmentInput,
} from '@ssmax/core';
import type { DmarcPolicy } from '@ssmax/sim-net';
import { dkimSign } from 'mailauth';
import { composeMail, formatAddress } from './compose-mail.js';
import type { AttackerContext, ServiceRef } from './footholds.js';
import { OutcomeRecorder, type AttackOutcome } from './outcome.js';
import { mxOf, type ClientTls } from './smtp-send.js';
import { deliverAndRecord } from './spoof-direct.js';

/** How a look-alike name was made. */
export type LookAlikeTechnique = 'homograph' | 'substitution' | 'omission' | 'repetition' | 'transposition' | 'hyphenation' | 'tld-swap';

export interface LookAlikeCandidate {
  readonly technique: LookAlikeTechnique;
  /** The name as a reader sees it (U-label form for IDNs). */
  readonly unicode: string;
  /** The name on the wire (A-label, RFC 5890 §2.3.2.1). */
  readonly ascii: string;
}

// Cyrillic letters that render like Latin ones in most fonts (Unicode TR #39 confusables).
const HOMOGLYPHS: Readonly<Record<string, string>> = {
  a: '\u0430',
  c: '\u0441',
  e: '\u0435',
  i: '\u0456',
  o: '\u043e',
  p: '\u0440',
  x: '\u0445',
  y: '\u0443',
  s: '\u0455',
};
const VISUAL_SUBSTITUTES: Readonly<Record<string, string>> = { l: '1', o: '0', i: 'l', m: 'rn', w: 'vv' };

/**
 * Names that look like `domain` (pattern A, incident 3): an IDN homograph per confusable letter of the
 * first label, and near-miss spellings (visual substitutions, a dropped or doubled letter, swapped
 * neighbours, a hyphen, another TLD). Deterministic, no duplicates, never `domain` itself.
 */
export function lookAlikeDomains(domain: string): LookAlikeCandidate[] {
  const ascii = domainToASCII(domain.toLowerCase());
  const dot = ascii.indexOf('.');
  const label = dot < 0 ? ascii : ascii.slice(0, dot);
  const rest = dot < 0 ? '' : ascii.slice(dot);
  const out: LookAlikeCandidate[] = [];
  const seen = new Set<string>([ascii]);
  const add = (technique: LookAlikeTechnique, unicodeName: string): void => {
    const a = domainToASCII(unicodeName);
    if (!a || seen.has(a) || !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(a)) return;
    seen.add(a);
    out.push({ technique, unicode: domainToUnicode(a), ascii: a });
  };
  for (let i = 0; i < label.length; i++) {
    const g = HOMOGLYPHS[label[i]!];
    if (g) add('homograph', label.slice(0, i) + g + label.slice(i + 1) + rest);
  }
  for (let i = 0; i < label.length; i++) {
    const s = VISUAL_SUBSTITUTES[label[i]!];
    if (s) add('substitution', label.slice(0, i) + s + label.slice(i + 1) + rest);
  }
  for (let i = 0; i < label.length; i++) if (label[i] !== '-') add('omission', label.slice(0, i) + label.slice(i + 1) + rest);
  for (let i = 0; i < label.length; i++) if (label[i] !== '-') add('repetition', label.slice(0, i + 1) + label[i] + label.slice(i + 1) + rest);
  for (let i = 0; i + 1 < label.length; i++) add('transposition', label.slice(0, i) + label[i + 1] + label[i] + label.slice(i + 2) + rest);
  for (let i = 1; i < label.length; i++) if (label[i] !== '-' && label[i - 1] !== '-') add('hyphenation', `${label.slice(0, i)}-${label.slice(i)}${rest}`);
  const tld = rest.lastIndexOf('.');
  if (tld >= 0) for (const t of ['.com', '.net', '.co', '.example']) if (rest.slice(tld) !== t) add('tld-swap', label + rest.slice(0, tld) + t);
  return out;
}

/**
 * The attacker's S/MIME identity for a look-alike domain: either a self-made root and "org" CA outside
 * the registry (`own-ca`), or a mailbox-validated certificate a public CA issued after the attacker
 * proved control of the domain it registered (`public-ca`).
 */
export interface AttackerPki {
  readonly source: 'own-ca' | 'public-ca';
  /** The self-made root (own-ca only). */
  readonly root?: CertificateInfo;
  /** The self-made org CA (own-ca only). */
  readonly org?: CertificateInfo;
  /** Its key (own-ca only): signs what the attacker passes off as its organisation's. */
  readonly orgKey?: SoftwareKey;
  readonly user: CertificateInfo;
  readonly userKey: SoftwareKey;
  /** Certificates to send with a signature besides the user's (own-ca: org and root; public-ca: none). */
  readonly chain: readonly Uint8Array[];
}

export interface RegisterLookAlikeOptions {
  /** The look-alike name, in U-label or A-label form. */
  readonly domain: string;
  /** DKIM selector (default `s1`). */
  readonly selector?: string;
  /** DMARC policy published for the look-alike (default p=reject: it passes, so strictness costs nothing). */
  readonly dmarc?: DmarcPolicy;
  /** Local part for the S/MIME certificate, e.g. `ceo`; omit for no S/MIME identity. */
  readonly smimeLocalPart?: string;
  /**
   * Obtain the S/MIME certificate from this public CA (mailbox validation by a DNS TXT record the
   * attacker publishes in its own zone) instead of making its own CA. A public CA checks domain control,
   * which the attacker really has: the certificate is genuine.
   */
  readonly publicCa?: PublicCaEndpoint;
  /** Organisation name in the attacker's certificates (default: the look-alike domain). */
  readonly organization?: string;
  /**
   * Identity-proofing method the attacker's own CA writes into the user certificate. The default
   * `employeeCardPin` is a lie on purpose: only the issuer's trust makes that extension mean anything.
   */
  readonly claimedProofing?: IdentityProofingMethod;
}

export interface LookAlikeSendOptions {
  /** Local part of the From address at the look-alike domain (default the S/MIME local part, else `info`). */
  readonly fromLocal?: string;
  readonly displayName?: string;
  readonly to: string | readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly attachments?: readonly MimeAttachmentInput[];
  /** Sign with the attacker's own S/MIME certificate (needs `smimeLocalPart` at registration). */
  readonly smime?: boolean;
  /** Default: the recipient domain's MX, port 25. */
  readonly mx?: ServiceRef;
  readonly tls?: ClientTls;
}

/**
 * A look-alike domain the attacker really owns (incident 3): its own MX address, SPF naming the attacker's
 * address, a DKIM key published in the zone, DMARC, and optionally an S/MIME identity from its own CA. Mail
 * from it passes SPF, DKIM and DMARC honestly — those checks prove domain control, not resemblance.
 */
export class LookAlikeDomain {
  private constructor(
    private readonly ctx: AttackerContext,
    /** A-label. */
    readonly domain: string,
    readonly unicode: string,
    readonly selector: string,
    private readonly dkimKey: KeyObject,
    readonly dkimPublicKey: KeyObject,
    readonly pki: AttackerPki | undefined,
    readonly setupActions: readonly string[],
  ) {}

  /** Registers the name in the simulated DNS and creates the DKIM key and (optionally) the S/MIME PKI. */
  static async register(ctx: AttackerContext, o: RegisterLookAlikeOptions): Promise<LookAlikeDomain> {
    const domain = domainToASCII(o.domain.toLowerCase());
    if (!domain) throw new TypeError(`"${o.domain}" is not a valid domain name.`);
    const selector = o.selector ?? 's1';
    const zone = ctx.net.zone;
    const actions: string[] = [];
    const mailHost = `mail.${domain}`;
    zone.addA(mailHost, ctx.address).addMx(domain, mailHost, 10).addPtr(ctx.address, mailHost);
    actions.push(`registered ${domain} (${domainToUnicode(domain)}): MX ${mailHost} → ${ctx.address}, PTR`);
    actions.push(`published SPF: ${zone.publishSpf(domain, { ip4: [ctx.address] })}`);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    zone.publishDkim(domain, selector, { publicKey });
    actions.push(`published DKIM key ${selector}._domainkey.${domain} (RSA-2048)`);
    actions.push(`published DMARC: ${zone.publishDmarc(domain, o.dmarc ?? { p: 'reject' })}`);
    let pki: AttackerPki | undefined;
    if (o.smimeLocalPart !== undefined && o.publicCa) {
      const userKey = SoftwareKey.generate('EC-P256');
      const email = `${o.smimeLocalPart}@${domain}`;
      const got = await requestMailboxCertificate(o.publicCa, { email, spki: userKey.spki, publishTxt: (name, value) => void zone.addTxt(name, value) });
      const user = parseCertificate(got.certificate);
      pki = { source: 'public-ca', user, userKey, chain: [] };
      actions.push(
        `published TXT ${got.challenge.txtName} and obtained a mailbox-validated S/MIME certificate for ${email} from the public CA "${user.issuer}"`,
      );
    } else if (o.smimeLocalPart !== undefined) {
      const now = ctx.now ?? (() => new Date());
      const rootKey = SoftwareKey.generate('EC-P256');
      const orgKey = SoftwareKey.generate('EC-P256');
      const userKey = SoftwareKey.generate('EC-P256');
      const organization = o.organization ?? domainToUnicode(domain);
      const root = await issueRootCertificate({ subject: { O: organization, CN: `${organization} Root CA` }, key: rootKey, now });
      const org = await issueOrgCertificate({ issuer: { certificate: root, key: rootKey }, subjectSpki: orgKey.spki, organization, mailDomain: domain, now });
      const email = `${o.smimeLocalPart}@${domain}`;
      const user = await issueUserCertificate({
        issuer: { certificate: org, key: orgKey },
        subjectSpki: userKey.spki,
        email,
        usage: 'signing',
        identityProofing: { method: o.claimedProofing ?? 'employeeCardPin', proofedAt: new Date(Math.floor(now().getTime() / 1000) * 1000) },
        traceId: newTraceId(),
        now,
      });
      pki = { source: 'own-ca', root, org, orgKey, user, userKey, chain: [org.der, root.der] };
      actions.push(`issued itself an S/MIME certificate for ${email} from its own root "${root.subject}" (not registry-certified)`);
    }
    return new LookAlikeDomain(ctx, domain, domainToUnicode(domain), selector, privateKey, publicKey, pki, actions);
  }

  /** Prepends a DKIM-Signature (RFC 6376, d= the look-alike, relaxed/relaxed) to `raw`. */
  async dkimSign(raw: Uint8Array): Promise<Uint8Array> {
    const res = await dkimSign(Buffer.from(raw), {
      // One t= for the signed and the written header: without signTime, mailauth 4.13.3 reads the clock once
      // for the header it signs and again for the header it writes, and a second boundary crossed in between
      // gives a signature over another t= than the one sent ("bad signature", about 1 in 600 mails).
      signTime: new Date(),
      signatureData: [{ signingDomain: this.domain, selector: this.selector, privateKey: this.dkimKey.export({ type: 'pkcs8', format: 'pem' }) as string }],
    } as never);
    if (res.errors.length > 0) throw res.errors[0];
    return new Uint8Array(Buffer.concat([Buffer.from(res.signatures, 'latin1'), Buffer.from(raw)]));
  }

  /** Builds, optionally S/MIME-signs, DKIM-signs and sends a mail from the look-alike domain to the recipient's MX. */
  async send(o: LookAlikeSendOptions): Promise<AttackOutcome> {
    const rec = new OutcomeRecorder('look-alike-domain');
    for (const a of this.setupActions) rec.act(a);
    const { raw, envelopeFrom, to } = await this.compose(o, rec);
    const mx = o.mx ?? { host: await mxOf(this.ctx, to[0]!.split('@')[1] ?? ''), port: 25 };
    return deliverAndRecord(this.ctx, rec, { target: mx, envelope: { from: envelopeFrom, to }, raw, ...(o.tls ? { tls: o.tls } : {}) });
  }

  /** Builds the mail `send` would send (S/MIME-signed when asked, DKIM-signed), without sending it. */
  async compose(o: Omit<LookAlikeSendOptions, 'mx' | 'tls'>, rec?: OutcomeRecorder): Promise<{ raw: Uint8Array; envelopeFrom: string; to: string[] }> {
    const to = typeof o.to === 'string' ? [o.to] : [...o.to];
    const local = o.fromLocal ?? (this.pki ? this.pki.user.emailAddresses[0]!.split('@')[0]! : 'info');
    const address = `${local}@${this.domain}`;
    const from = formatAddress(o.displayName, address);
    const date = this.ctx.now?.() ?? new Date();
    const messageId = `${randomBytes(12).toString('hex')}@${this.domain}`;
    let raw: Uint8Array;
    if (o.smime) {
      if (!this.pki) throw new TypeError('Cannot S/MIME-sign. The look-alike domain was registered without smimeLocalPart.');
      const inner = buildMimeEntity({ text: o.text, ...(o.attachments ? { attachments: o.attachments } : {}) });
      const sig = await signSignedData(inner, {
        key: this.pki.userKey,
        certificate: this.pki.user.der,
        chain: this.pki.chain,
        detached: true,
        signingTime: date,
      });
      raw = buildMultipartSigned(inner, sig, { headers: { from, to, subject: o.subject, date, messageId } });
      rec?.act(`S/MIME-signed as ${this.pki.user.emailAddresses[0]} with its own certificate`);
    } else {
      raw = composeMail({ from, to, subject: o.subject, text: o.text, ...(o.attachments ? { attachments: o.attachments } : {}), date, messageId });
    }
    raw = await this.dkimSign(raw);
    rec?.act(`DKIM-signed d=${this.domain} s=${this.selector}`);
    return { raw, envelopeFrom: address, to };
  }
}
