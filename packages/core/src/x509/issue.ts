/**
 * Issuing the SSMAX certificate profiles (docs/PROTOCOL.md §2). The issuer key is a PrivateKeyOps, so a
 * CA key may live in a token: we build the TBSCertificate, hand its bytes to `key.sign`, and wrap.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SsmaxError } from '../errors.js';
import type { PrivateKeyOps } from '../keys.js';
import { Oids, SsmaxOids } from '../oids.js';
import { encodeSignatureAlgorithm } from '../signature-algorithms.js';
import type { SignScheme } from '../tokens/token.js';
import { parseCertificate, sameBytes, spkiKeyType, spkiPublicKeyBits, type CertificateInfo, type KeyUsageName, KeyUsageNames } from './certificate-info.js';
import {
  derBitString,
  derBoolean,
  derEncode,
  derExplicit,
  derIa5String,
  derImplicit,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  wholeSeconds,
  type DerInput,
} from '../der/der-writer.js';
import { encodeName, type NameSpec } from './names.js';
import { chooseScheme, signWith } from './signature-algorithms.js';
import { encodeIdentityProofing, encodeOrgRole, encodeTraceId, isDomainName, type IdentityProofing, type OrgKind } from './ssmax-extensions.js';

/** Randomness source: returns `n` random bytes. */
export type RandomSource = (n: number) => Uint8Array;

/** The CA that signs: its certificate and its private key (software or token). */
export interface CertificateIssuer {
  /** DER, or an already parsed certificate. */
  readonly certificate: Uint8Array | CertificateInfo;
  readonly key: PrivateKeyOps;
  /** Signature scheme; default PKCS#1 v1.5 for RSA keys, ECDSA for EC keys. */
  readonly scheme?: SignScheme;
}

interface CommonOptions {
  /** The clock: notBefore is `now()` (whole seconds). */
  readonly now: () => Date;
  /** Validity in days from notBefore; clamped to the issuer's notAfter. */
  readonly validityDays?: number;
  readonly random?: RandomSource;
}

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: DerInput;
}

function nonNegative(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new SsmaxError('USAGE', `Cannot encode ${what} ${n} as INTEGER. Only non-negative safe integers are supported.`);
  return n;
}

const defaultRandom: RandomSource = (n) => new Uint8Array(randomBytes(n));
const DAY_MS = 86_400_000;

/**
 * RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable (CA/B BR §7.1 asks for 64 random bits;
 * we use 128). The top bit is set so every serial is a full 128-bit value (17 DER octets with the sign byte).
 */
function randomSerial(random: RandomSource): Uint8Array {
  const b = random(16);
  if (b.byteLength !== 16) throw new SsmaxError('USAGE', `Cannot make a serial number. The random source returned ${b.byteLength} bytes, expected 16.`);
  const s = new Uint8Array(b);
  s[0] = (s[0] ?? 0) | 0x80;
  return s;
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(spkiPublicKeyBits(spki)).digest());
}

const keyUsageExt = (usages: readonly KeyUsageName[]): Extension => ({
  oid: Oids.keyUsage,
  // RFC 5280 §4.2.1.3: SHOULD be critical.
  critical: true,
  value: derNamedBits(usages.map((u) => KeyUsageNames.indexOf(u))),
});

const basicConstraintsExt = (ca: boolean, pathLen?: number): Extension => ({
  oid: Oids.basicConstraints,
  // RFC 5280 §4.2.1.9: MUST be critical in CA certificates; cA FALSE is the DEFAULT and is omitted in DER.
  critical: true,
  value: ca ? derSequence(derBoolean(true), ...(pathLen === undefined ? [] : [derInteger(nonNegative(pathLen, 'pathLen'))])) : derSequence(),
});

const skiExt = (spki: Uint8Array): Extension => ({ oid: Oids.subjectKeyIdentifier, critical: false, value: derOctetString(keyIdentifier(spki)) });

function akiExt(issuer: CertificateInfo): Extension {
  // RFC 5280 §4.2.1.1: the issuer's SKI when it has one, else computed the same way.
  const keyId = issuer.subjectKeyIdentifier !== undefined ? new Uint8Array(Buffer.from(issuer.subjectKeyIdentifier, 'hex')) : keyIdentifier(issuer.spki);
  return { oid: Oids.authorityKeyIdentifier, critical: false, value: derSequence(derImplicit(0, false, keyId)) };
}

const ekuExt = (...purposes: string[]): Extension => ({ oid: Oids.extKeyUsage, critical: false, value: derSequence(...purposes.map(derOid)) });

function sanExt(names: { email?: string; dns?: string }): Extension {
  const gns: DerInput[] = [];
  // GeneralName rfc822Name [1] and dNSName [2] are IMPLICIT IA5String (RFC 5280 §4.2.1.6).
  if (names.email !== undefined) gns.push(derImplicit(1, false, ...derIa5String(names.email).parts));
  if (names.dns !== undefined) gns.push(derImplicit(2, false, ...derIa5String(names.dns).parts));
  return { oid: Oids.subjectAltName, critical: false, value: derSequence(...gns) };
}

function encodeExtensions(exts: readonly Extension[]): DerInput {
  return derExplicit(3, derSequence(...exts.map((e) => derSequence(derOid(e.oid), ...(e.critical ? [derBoolean(true)] : []), derOctetString(e.value)))));
}

function checkSpki(spki: Uint8Array): void {
  const type = spkiKeyType(spki);
  if (type === 'other') throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot issue the certificate. The subject key is neither RSA nor EC P-256/P-384.');
}

interface BuildParams {
  readonly issuerName: Uint8Array;
  readonly issuerNotAfter?: Date;
  readonly key: PrivateKeyOps;
  readonly scheme: SignScheme | undefined;
  readonly subjectName: Uint8Array;
  readonly spki: Uint8Array;
  readonly extensions: readonly Extension[];
  readonly options: CommonOptions;
  readonly defaultDays: number;
}

async function build(p: BuildParams): Promise<CertificateInfo> {
  checkSpki(p.spki);
  const scheme = chooseScheme(p.key, p.scheme);
  const algId = encodeSignatureAlgorithm(scheme);
  const days = p.options.validityDays ?? p.defaultDays;
  if (!(days > 0)) throw new SsmaxError('USAGE', `Cannot issue the certificate. validityDays must be positive, not ${days}.`);
  const notBefore = wholeSeconds(p.options.now());
  let notAfter = wholeSeconds(new Date(notBefore.getTime() + days * DAY_MS));
  if (p.issuerNotAfter && notAfter > p.issuerNotAfter) notAfter = p.issuerNotAfter;
  if (notAfter <= notBefore) throw new SsmaxError('USAGE', 'Cannot issue the certificate. The issuer certificate has expired at the given time.');
  const tbs = derEncode(
    derSequence(
      derExplicit(0, derInteger(2)),
      derInteger(randomSerial(p.options.random ?? defaultRandom)),
      algId,
      p.issuerName,
      derSequence(derTime(notBefore), derTime(notAfter)),
      p.subjectName,
      p.spki,
      encodeExtensions(p.extensions),
    ),
  );
  const signature = await signWith(p.key, scheme, tbs);
  return parseCertificate(derEncode(derSequence(tbs, algId, derBitString(signature))));
}

function resolveIssuer(issuer: CertificateIssuer, what: string): CertificateInfo {
  const info = issuer.certificate instanceof Uint8Array ? parseCertificate(issuer.certificate) : issuer.certificate;
  if (!sameBytes(info.spki, issuer.key.spki)) {
    throw new SsmaxError('USAGE', `Cannot issue the ${what}. The issuer key does not belong to the issuer certificate (${info.subject}).`);
  }
  if (info.basicConstraints?.ca !== true || (info.keyUsage !== undefined && !info.keyUsage.includes('keyCertSign'))) {
    throw new SsmaxError('USAGE', `Cannot issue the ${what}. The issuer certificate (${info.subject}) is not a CA with keyCertSign.`);
  }
  return info;
}

/** The org's mail domain as its certificate records it (SSMAX org-role extension, else first dNSName). */
export function orgMailDomain(org: CertificateInfo): string | undefined {
  return org.orgRole?.mailDomain ?? org.dnsNames[0];
}

const attr = (info: CertificateInfo, type: string): string | undefined => info.subjectAttributes.find((a) => a.type === type)?.value;

// ---------------------------------------------------------------------------------------------------

export interface IssueRootOptions extends CommonOptions {
  readonly subject: NameSpec;
  /** The registry's key; it signs its own certificate. */
  readonly key: PrivateKeyOps;
  readonly scheme?: SignScheme;
  /** CA certificates allowed below the root; default 1 (the org CA). */
  readonly pathLen?: number;
}

/** The registry root: self-signed CA (default 10 years, pathLen 1). */
export async function issueRootCertificate(o: IssueRootOptions): Promise<CertificateInfo> {
  const name = encodeName(o.subject);
  return build({
    issuerName: name,
    key: o.key,
    scheme: o.scheme,
    subjectName: name,
    spki: o.key.spki,
    extensions: [basicConstraintsExt(true, o.pathLen ?? 1), keyUsageExt(['keyCertSign', 'cRLSign']), skiExt(o.key.spki)],
    options: o,
    defaultDays: 3650,
  });
}

export interface IssueOrgOptions extends CommonOptions {
  /** The registry root (or registry issuing CA). */
  readonly issuer: CertificateIssuer;
  readonly subjectSpki: Uint8Array;
  /** Organisation name: the subject O. */
  readonly organization: string;
  /** The org's mail domain (A-label): subject CN, dNSName SAN and the org-role extension. */
  readonly mailDomain: string;
  readonly kind?: OrgKind;
  readonly country?: string;
}

/** The "global" org certificate: CA, pathLen 0, issued by the registry (default 5 years). */
export async function issueOrgCertificate(o: IssueOrgOptions): Promise<CertificateInfo> {
  const issuer = resolveIssuer(o.issuer, 'org certificate');
  if (!isDomainName(o.mailDomain)) throw new SsmaxError('USAGE', `Cannot issue the org certificate. "${o.mailDomain}" is not a domain name in A-label form.`);
  const domain = o.mailDomain.toLowerCase();
  return build({
    issuerName: issuer.subjectDer,
    issuerNotAfter: issuer.notAfter,
    key: o.issuer.key,
    scheme: o.issuer.scheme,
    subjectName: encodeName({ ...(o.country ? { C: o.country } : {}), O: o.organization, CN: domain }),
    spki: o.subjectSpki,
    extensions: [
      basicConstraintsExt(true, 0),
      keyUsageExt(['keyCertSign', 'cRLSign']),
      skiExt(o.subjectSpki),
      akiExt(issuer),
      sanExt({ dns: domain }),
      { oid: SsmaxOids.extOrgRole, critical: false, value: encodeOrgRole({ kind: o.kind ?? 'organisation', mailDomain: domain }) },
    ],
    options: o,
    defaultDays: 1825,
  });
}

export type KmsPurpose = 'signing' | 'encryption';

export interface IssueOrgKmsOptions extends CommonOptions {
  /** The org CA. */
  readonly issuer: CertificateIssuer;
  readonly subjectSpki: Uint8Array;
  readonly purpose: KmsPurpose;
  /** Subject CN; default "<domain> KMS signing|encryption". */
  readonly commonName?: string;
}

function encryptionUsage(spki: Uint8Array): KeyUsageName {
  // RFC 8550 §4.4.2 / RFC 5280 §4.2.1.3: RSA key transport uses keyEncipherment, EC(DH) keyAgreement.
  const t = spkiKeyType(spki);
  if (t === 'rsa') return 'keyEncipherment';
  if (t === 'ec-p256' || t === 'ec-p384') return 'keyAgreement';
  throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot issue an encryption certificate. A ${t} key can neither transport nor agree keys.`);
}

/** An org KMS certificate (org signature key or org encryption key), issued by the org CA (default 2 years). */
export async function issueOrgKmsCertificate(o: IssueOrgKmsOptions): Promise<CertificateInfo> {
  const issuer = resolveIssuer(o.issuer, 'KMS certificate');
  const domain = orgMailDomain(issuer);
  if (domain === undefined) throw new SsmaxError('USAGE', `Cannot issue the KMS certificate. The issuer (${issuer.subject}) records no mail domain.`);
  const usages: KeyUsageName[] = o.purpose === 'signing' ? ['digitalSignature', 'nonRepudiation'] : [encryptionUsage(o.subjectSpki)];
  const org = attr(issuer, 'O');
  return build({
    issuerName: issuer.subjectDer,
    issuerNotAfter: issuer.notAfter,
    key: o.issuer.key,
    scheme: o.issuer.scheme,
    subjectName: encodeName({ ...(org ? { O: org } : {}), CN: o.commonName ?? `${domain} KMS ${o.purpose}` }),
    spki: o.subjectSpki,
    extensions: [basicConstraintsExt(false), keyUsageExt(usages), ekuExt(Oids.emailProtection), skiExt(o.subjectSpki), akiExt(issuer), sanExt({ dns: domain })],
    options: o,
    defaultDays: 730,
  });
}

/** What a user certificate's key is for (RFC 8550 §4.4.2). */
export type UserCertificateUsage = 'signing' | 'encryption' | 'combined';

export interface IssueUserOptions extends CommonOptions {
  /** The org CA. */
  readonly issuer: CertificateIssuer;
  readonly subjectSpki: Uint8Array;
  /** The user's address (ASCII), in the org's mail domain. */
  readonly email: string;
  /** Subject CN; default the address. */
  readonly commonName?: string;
  readonly usage: UserCertificateUsage;
  readonly identityProofing: IdentityProofing;
  /** 16 random bytes from the org's sealed traceability table (see `newTraceId`). */
  readonly traceId: Uint8Array;
}

const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$/;

/** The "private" user e-mail address certificate, issued by the org CA (default 1 year). */
export async function issueUserCertificate(o: IssueUserOptions): Promise<CertificateInfo> {
  const issuer = resolveIssuer(o.issuer, 'user certificate');
  if (!EMAIL_RE.test(o.email)) throw new SsmaxError('USAGE', `Cannot issue the user certificate. "${o.email}" is not an ASCII e-mail address.`);
  const domain = orgMailDomain(issuer);
  const userDomain = o.email.slice(o.email.lastIndexOf('@') + 1).toLowerCase();
  // SSMAX: an org certifies only addresses in its own domain (paper §4 (1)).
  if (domain !== undefined && userDomain !== domain.toLowerCase()) {
    throw new SsmaxError('USAGE', `Cannot issue the user certificate. ${o.email} is outside the org's mail domain ${domain}.`);
  }
  const usages: KeyUsageName[] = [];
  if (o.usage !== 'encryption') usages.push('digitalSignature', 'nonRepudiation');
  if (o.usage !== 'signing') usages.push(encryptionUsage(o.subjectSpki));
  const org = attr(issuer, 'O');
  return build({
    issuerName: issuer.subjectDer,
    issuerNotAfter: issuer.notAfter,
    key: o.issuer.key,
    scheme: o.issuer.scheme,
    subjectName: encodeName({ ...(org ? { O: org } : {}), CN: o.commonName ?? o.email }),
    spki: o.subjectSpki,
    extensions: [
      basicConstraintsExt(false),
      keyUsageExt(usages),
      ekuExt(Oids.emailProtection),
      skiExt(o.subjectSpki),
      akiExt(issuer),
      sanExt({ email: o.email }),
      { oid: SsmaxOids.extIdentityProofing, critical: false, value: encodeIdentityProofing(o.identityProofing) },
      { oid: SsmaxOids.extTraceId, critical: false, value: encodeTraceId(o.traceId) },
    ],
    options: o,
    defaultDays: 365,
  });
}

/** S/MIME Baseline Requirements validation types (CA/B Forum SMC, §3.2 and §7.1.6.1). */
export type SmimeValidationType = 'mailbox' | 'sponsor';

export interface IssueSmimeOptions extends CommonOptions {
  /** A public S/MIME CA (any CA certificate; no SSMAX org-role needed). */
  readonly issuer: CertificateIssuer;
  readonly subjectSpki: Uint8Array;
  readonly email: string;
  /**
   * `mailbox`: the CA checked control of the mailbox only; the subject is the address alone.
   * `sponsor`: an organisation vouched for the named person (S/MIME BR §3.2.4); subject carries O and CN.
   */
  readonly validation: SmimeValidationType;
  /** Sponsor-validated only: the person's name (CN) and the sponsoring organisation (O). */
  readonly commonName?: string;
  readonly organization?: string;
  readonly usage: UserCertificateUsage;
}

const SMIME_POLICY: Record<SmimeValidationType, string> = { mailbox: Oids.smimeBrMailboxValidated, sponsor: Oids.smimeBrSponsorValidated };

/**
 * An ordinary S/MIME end-entity certificate from a public CA (RFC 8550 §4.4; S/MIME BR profile):
 * rfc822Name SAN, emailProtection EKU and the validation-type policy. It carries none of the SSMAX
 * extensions: a public CA proves mailbox control or an organisation's sponsorship, not who typed
 * the PIN (default 1 year).
 */
export async function issueSmimeCertificate(o: IssueSmimeOptions): Promise<CertificateInfo> {
  const issuer = resolveIssuer(o.issuer, 'S/MIME certificate');
  if (!EMAIL_RE.test(o.email)) throw new SsmaxError('USAGE', `Cannot issue the S/MIME certificate. "${o.email}" is not an ASCII e-mail address.`);
  if (o.validation === 'sponsor' && (!o.commonName || !o.organization)) {
    throw new SsmaxError('USAGE', "Cannot issue a sponsor-validated certificate. It needs the person's name and the sponsoring organisation.");
  }
  const usages: KeyUsageName[] = [];
  if (o.usage !== 'encryption') usages.push('digitalSignature', 'nonRepudiation');
  if (o.usage !== 'signing') usages.push(encryptionUsage(o.subjectSpki));
  const subject: NameSpec = o.validation === 'sponsor' ? { O: o.organization!, CN: o.commonName! } : { CN: o.email };
  return build({
    issuerName: issuer.subjectDer,
    issuerNotAfter: issuer.notAfter,
    key: o.issuer.key,
    scheme: o.issuer.scheme,
    subjectName: encodeName(subject),
    spki: o.subjectSpki,
    extensions: [
      basicConstraintsExt(false),
      keyUsageExt(usages),
      ekuExt(Oids.emailProtection),
      { oid: Oids.certificatePolicies, critical: false, value: derSequence(derSequence(derOid(SMIME_POLICY[o.validation]))) },
      skiExt(o.subjectSpki),
      akiExt(issuer),
      sanExt({ email: o.email }),
    ],
    options: o,
    defaultDays: 365,
  });
}
