/**
 * CRL issuance and parsing (RFC 5280 §5), with the CRL extensions revocation checking reads: cRLNumber,
 * deltaCRLIndicator (§5.2.4), issuingDistributionPoint (§5.2.5) and the certificateIssuer entry extension
 * (§5.3.3), and the certificate's cRLDistributionPoints (§4.2.1.13). Structure errors in a CRL use the
 * MALFORMED_CERTIFICATE code (the error table has no CRL-specific code; a CRL is certificate-management
 * data); a malformed extension one of these parsers reads makes the whole CRL malformed, so it is never
 * used with part of its scope unread. revocation.ts applies them (§6.3).
 */
import type * as asn1js from 'asn1js';
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import { DerReader } from './der-reader.js';
import {
  derBitString,
  derBoolean,
  derEncode,
  derEnumerated,
  derExplicit,
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
import { integerHex, parseCertificate, sameBytes, type CertificateInfo } from './certificate-info.js';
import { keyIdentifier, type CertificateIssuer } from './issue.js';
import { parseName, type ParsedName } from './names.js';
import { encodeSignatureAlgorithm } from '../signature-algorithms.js';
import { chooseScheme, readSignatureAlgorithm, signWith, verifySignature, type SignatureAlgorithm } from './signature-algorithms.js';

/** CRLReason (RFC 5280 §5.3.1); value 7 is unused. */
export const CrlReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type CrlReason = keyof typeof CrlReasons;

/** ReasonFlags bits in order (RFC 5280 §4.2.1.13): the reasons a distribution point or a partitioned CRL covers. */
export const ReasonFlagNames = [
  'unused',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
  'aACompromise',
] as const;
export type ReasonFlag = (typeof ReasonFlagNames)[number];

/**
 * A GeneralName (RFC 5280 §4.2.1.6) as far as CRL scopes compare them: a directoryName by its Name, any
 * other form by its exact encoding.
 */
export type CrlGeneralName =
  | { readonly form: 'directoryName'; /** The Name DER. */ readonly der: Uint8Array; readonly text: string }
  | {
      readonly form: 'other';
      /** Context tag of the GeneralName CHOICE. */ readonly tag: number;
      /** The whole GeneralName DER. */ readonly der: Uint8Array;
      readonly text: string;
    };

/** DistributionPointName (RFC 5280 §4.2.1.13). */
export type DistributionPointName =
  | { readonly fullName: readonly CrlGeneralName[] }
  /** An RDN (its DER, a SET) to append to the CRL issuer's name. */
  | { readonly nameRelativeToCRLIssuer: Uint8Array; readonly text: string };

/** One DistributionPoint of a certificate's cRLDistributionPoints extension (RFC 5280 §4.2.1.13). */
export interface DistributionPoint {
  readonly distributionPoint?: DistributionPointName;
  /** Absent: every reason. */
  readonly reasons?: readonly ReasonFlag[];
  /** Present: the CRL for this point is an indirect CRL issued by one of these names. */
  readonly cRLIssuer?: readonly CrlGeneralName[];
}

/** The issuingDistributionPoint CRL extension (RFC 5280 §5.2.5): the scope of a CRL. */
export interface IssuingDistributionPoint {
  readonly distributionPoint?: DistributionPointName;
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCACerts: boolean;
  /** Absent: every reason. */
  readonly onlySomeReasons?: readonly ReasonFlag[];
  readonly indirectCRL: boolean;
  readonly onlyContainsAttributeCerts: boolean;
  /** The extension value as encoded: a delta CRL's scope must be the same as its base's (RFC 5280 §6.3.3 (c)(2)). */
  readonly der: Uint8Array;
}

export interface RevokedEntry {
  /** Serial number in hex (as CertificateInfo.serialNumber). */
  readonly serialNumber: string;
  readonly revocationDate: Date;
  readonly reason?: CrlReason;
  /**
   * The certificateIssuer entry extension (RFC 5280 §5.3.3, indirect CRLs only): the issuer of this entry's
   * certificate and of the entries after it, up to the next entry that has the extension.
   */
  readonly certificateIssuer?: readonly CrlGeneralName[];
}

export interface IssueCrlOptions {
  /** The CA whose certificates the CRL covers; its certificate needs cRLSign. */
  readonly issuer: CertificateIssuer;
  readonly now: () => Date;
  /** nextUpdate = thisUpdate + this many hours; default 168 (7 days). */
  readonly nextUpdateHours?: number;
  /** Monotonically increasing CRL number (RFC 5280 §5.2.3). */
  readonly crlNumber: number;
  readonly revoked: readonly RevokedEntry[];
  /** Issue a delta CRL (RFC 5280 §5.2.4) that updates the complete CRL with this number. */
  readonly baseCrlNumber?: number;
  /** Issue a CRL of this scope (RFC 5280 §5.2.5); full names are directoryNames given as Name DER. */
  readonly issuingDistributionPoint?: {
    readonly fullName?: readonly Uint8Array[];
    readonly onlyContainsUserCerts?: boolean;
    readonly onlyContainsCACerts?: boolean;
    readonly onlySomeReasons?: readonly ReasonFlag[];
    readonly indirectCRL?: boolean;
  };
}

export interface CrlInfo {
  readonly der: Uint8Array;
  readonly tbsDer: Uint8Array;
  readonly issuer: string;
  readonly issuerDer: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Hex. */
  readonly crlNumber?: string;
  readonly authorityKeyIdentifier?: string;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signatureValue: Uint8Array;
  readonly revoked: readonly RevokedEntry[];
  /** Critical CRL or entry extensions we do not process (RFC 5280 §5.2: such a CRL must not be used for revocation). */
  readonly unhandledCriticalExtensions: readonly string[];
  /** The cRLNumber extension is marked critical (RFC 5280 §5.2.3: conforming issuers mark it non-critical). */
  readonly crlNumberCritical?: true;
  /** Hex; present on a delta CRL only (deltaCRLIndicator, RFC 5280 §5.2.4): the complete CRL it updates. */
  readonly baseCrlNumber?: string;
  readonly issuingDistributionPoint?: IssuingDistributionPoint;
}

const REASON_NAMES = new Map<number, CrlReason>(Object.entries(CrlReasons).map(([k, v]) => [v, k as CrlReason]));

function encodeGeneralName(n: CrlGeneralName): DerInput {
  return n.form === 'directoryName' ? derExplicit(4, n.der) : n.der;
}

function encodeIdp(idp: NonNullable<IssueCrlOptions['issuingDistributionPoint']>): DerInput {
  const fields: DerInput[] = [];
  if (idp.fullName !== undefined) fields.push(derExplicit(0, derImplicit(0, true, ...idp.fullName.map((dn) => derExplicit(4, dn)))));
  // BOOLEAN DEFAULT FALSE fields are present only when TRUE (DER, X.690 §11.5).
  const flag = (n: number, v: boolean | undefined): void => {
    if (v) fields.push(derImplicit(n, false, Uint8Array.of(0xff)));
  };
  flag(1, idp.onlyContainsUserCerts);
  flag(2, idp.onlyContainsCACerts);
  if (idp.onlySomeReasons !== undefined) {
    // ReasonFlags as a named-bit BIT STRING, re-tagged [3] IMPLICIT.
    const bits = derNamedBits(idp.onlySomeReasons.map((f) => ReasonFlagNames.indexOf(f)));
    bits[0] = 0x83;
    fields.push(bits);
  }
  flag(4, idp.indirectCRL);
  return derSequence(...fields);
}

/**
 * Issues a v2 CRL with reasonCode (and certificateIssuer) entry extensions, CRL number and AKI, signed with
 * the issuer key; with `baseCrlNumber` a delta CRL, with `issuingDistributionPoint` a CRL of that scope.
 */
export async function issueCrl(o: IssueCrlOptions): Promise<CrlInfo> {
  const issuer: CertificateInfo = o.issuer.certificate instanceof Uint8Array ? parseCertificate(o.issuer.certificate) : o.issuer.certificate;
  if (!sameBytes(issuer.spki, o.issuer.key.spki)) throw new SsmaxError('USAGE', `Cannot issue the CRL. The issuer key does not belong to ${issuer.subject}.`);
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.includes('cRLSign'))
    throw new SsmaxError('USAGE', `Cannot issue the CRL. ${issuer.subject} lacks the cRLSign key usage.`);
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0)
    throw new SsmaxError('USAGE', `Cannot issue the CRL. The CRL number must be a non-negative integer, not ${o.crlNumber}.`);
  if (o.baseCrlNumber !== undefined && (!Number.isSafeInteger(o.baseCrlNumber) || o.baseCrlNumber < 0 || o.baseCrlNumber >= o.crlNumber))
    throw new SsmaxError(
      'USAGE',
      `Cannot issue the delta CRL. The base CRL number must be a non-negative integer below ${o.crlNumber}, not ${o.baseCrlNumber}.`,
    );
  const indirect = o.issuingDistributionPoint?.indirectCRL === true;
  if (!indirect && o.revoked.some((e) => e.certificateIssuer !== undefined))
    throw new SsmaxError('USAGE', 'Cannot issue the CRL. Only an indirect CRL names certificate issuers in its entries (RFC 5280 §5.3.3).');
  const hours = o.nextUpdateHours ?? 168;
  if (!(hours > 0)) throw new SsmaxError('USAGE', 'Cannot issue the CRL. nextUpdateHours must be positive.');
  const scheme = chooseScheme(o.issuer.key, o.issuer.scheme);
  const algId = encodeSignatureAlgorithm(scheme);
  const thisUpdate = wholeSeconds(o.now());
  const nextUpdate = new Date(thisUpdate.getTime() + hours * 3_600_000);

  const entries = o.revoked.map((e) => {
    if (!/^[0-9a-f]+$/i.test(e.serialNumber) || e.serialNumber.length > 40) {
      throw new SsmaxError('USAGE', `Cannot issue the CRL. "${e.serialNumber}" is not a hex serial number.`);
    }
    const hexStr = e.serialNumber.length % 2 ? `0${e.serialNumber}` : e.serialNumber;
    const exts: DerInput[] = [];
    // RFC 5280 §5.3.1: reasonCode unspecified SHOULD be absent rather than encoded.
    if (e.reason !== undefined && e.reason !== 'unspecified')
      exts.push(derSequence(derOid(Oids.reasonCode), derOctetString(derEnumerated(CrlReasons[e.reason]))));
    // RFC 5280 §5.3.3: certificateIssuer MUST be critical.
    if (e.certificateIssuer !== undefined)
      exts.push(derSequence(derOid(Oids.certificateIssuer), derBoolean(true), derOctetString(derSequence(...e.certificateIssuer.map(encodeGeneralName)))));
    return derSequence(derInteger(new Uint8Array(Buffer.from(hexStr, 'hex'))), derTime(e.revocationDate), ...(exts.length > 0 ? [derSequence(...exts)] : []));
  });
  const akiKeyId = issuer.subjectKeyIdentifier !== undefined ? new Uint8Array(Buffer.from(issuer.subjectKeyIdentifier, 'hex')) : keyIdentifier(issuer.spki);
  const tbs = derEncode(
    derSequence(
      derInteger(1),
      algId,
      issuer.subjectDer,
      derTime(thisUpdate),
      derTime(nextUpdate),
      // RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked.
      ...(entries.length > 0 ? [derSequence(...entries)] : []),
      derExplicit(
        0,
        derSequence(
          derSequence(derOid(Oids.authorityKeyIdentifier), derOctetString(derSequence(derImplicit(0, false, akiKeyId)))),
          derSequence(derOid(Oids.crlNumber), derOctetString(derInteger(o.crlNumber))),
          // RFC 5280 §5.2.4, §5.2.5: both MUST be critical.
          ...(o.baseCrlNumber !== undefined
            ? [derSequence(derOid(Oids.deltaCrlIndicator), derBoolean(true), derOctetString(derInteger(o.baseCrlNumber)))]
            : []),
          ...(o.issuingDistributionPoint !== undefined
            ? [derSequence(derOid(Oids.issuingDistributionPoint), derBoolean(true), derOctetString(encodeIdp(o.issuingDistributionPoint)))]
            : []),
        ),
      ),
    ),
  );

  const signature = await signWith(o.issuer.key, scheme, tbs);
  return parseCrl(derEncode(derSequence(tbs, algId, derBitString(signature))));
}

/**
 * Whether `crl` was issued and signed by `issuer` (RFC 5280 §6.3.3 (b), (f)): the issuer names match and
 * the signature verifies with the issuer's public key. A relying party that fetched the CRL over the
 * network calls this before reading its entries. Never throws for a bad CRL; a malformed one throws.
 */
export function verifyCrlSignature(
  crl: CrlInfo | Uint8Array,
  issuer: CertificateInfo | Uint8Array,
): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  const c = crl instanceof Uint8Array ? parseCrl(crl) : crl;
  const i = issuer instanceof Uint8Array ? parseCertificate(issuer) : issuer;
  if (!sameBytes(c.issuerDer, i.subjectDer)) return { ok: false, reason: `the CRL is issued by "${c.issuer}", not "${i.subject}"` };
  const sig = verifySignature(c.signatureAlgorithm, i.spki, c.tbsDer, c.signatureValue);
  return sig.ok ? { ok: true } : { ok: false, reason: `the CRL signature does not verify with the key of "${i.subject}": ${sig.reason}` };
}

/** Parses a DER CRL. Throws SsmaxError MALFORMED_DER / LIMIT_EXCEEDED / MALFORMED_CERTIFICATE. */
export function parseCrl(der: Uint8Array): CrlInfo {
  return new DerReader('MALFORMED_CERTIFICATE', 'the CRL').guard((r) => parseCrlWith(r, der));
}

function parseCrlWith(r: DerReader, der: Uint8Array): CrlInfo {
  const [tbsNode, algNode, sigNode, ...extra] = r.sequence(r.parse(der), 'CertificateList');
  if (extra.length > 0 || !tbsNode) r.fail('CertificateList has the wrong number of fields');
  const tbs = r.sequence(tbsNode, 'TBSCertList');
  let i = 0;
  if (tbs[i] && r.isUniversal(tbs[i]!, 2)) {
    if (r.smallInt(tbs[i++], 'version') !== 1) r.fail('version is not v2');
  }
  const signatureAlgorithm = readSignatureAlgorithm(r, algNode, 'signatureAlgorithm');
  const inner = tbs[i++];
  readSignatureAlgorithm(r, inner, 'TBSCertList signature');
  if (!sameBytes(r.raw(algNode!, 'signatureAlgorithm'), r.raw(inner!, 'signature'))) r.fail('signatureAlgorithm differs from TBSCertList signature');
  const issuer = parseName(r, tbs[i++], 'issuer');
  const thisUpdate = r.time(tbs[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  if (tbs[i] && (r.isUniversal(tbs[i]!, 23) || r.isUniversal(tbs[i]!, 24))) nextUpdate = r.time(tbs[i++], 'nextUpdate');
  const unhandled: string[] = [];
  const revoked: RevokedEntry[] = [];
  if (tbs[i] && r.isUniversal(tbs[i]!, 16)) {
    for (const entry of r.sequence(tbs[i++], 'revokedCertificates')) {
      const [serialNode, dateNode, extsNode, ...ex] = r.sequence(entry, 'revoked entry');
      if (ex.length > 0 || !serialNode || !r.isUniversal(serialNode, 2)) r.fail('revoked entry is malformed');
      const serialNumber = integerHex(r.primitiveContent(serialNode, 'userCertificate'));
      const revocationDate = r.time(dateNode, 'revocationDate');
      let reason: CrlReason | undefined;
      let certificateIssuer: CrlGeneralName[] | undefined;
      const seen = new Set<string>();
      for (const ext of extsNode ? r.sequence(extsNode, 'crlEntryExtensions') : []) {
        const { id, critical, value } = r.extension(ext);
        // RFC 5280 §5.3: an extension appears at most once in an entry.
        if (seen.has(id)) r.fail(`entry ${serialNumber} has extension ${id} twice`);
        seen.add(id);
        if (id === Oids.reasonCode) {
          reason = REASON_NAMES.get(r.smallInt(r.parse(value), 'reasonCode', true));
          if (reason === undefined) r.fail('reasonCode is not a known CRLReason');
        } else if (id === Oids.certificateIssuer) certificateIssuer = readGeneralNames(r, r.parse(value), 'certificateIssuer');
        else if (critical) unhandled.push(id);
      }
      revoked.push({
        serialNumber,
        revocationDate,
        ...(reason !== undefined ? { reason } : {}),
        ...(certificateIssuer !== undefined ? { certificateIssuer } : {}),
      });
    }
  }
  let crlNumber: string | undefined;
  let crlNumberCritical = false;
  let baseCrlNumber: string | undefined;
  let idp: IssuingDistributionPoint | undefined;
  let aki: string | undefined;
  if (tbs[i] && r.isContext(tbs[i]!, 0)) {
    const [extSeq, ...ex] = r.children(tbs[i++], 'crlExtensions');
    if (ex.length > 0) r.fail('crlExtensions wrapper has extra fields');
    const seen = new Set<string>();
    for (const ext of r.sequence(extSeq, 'crlExtensions')) {
      const { id, critical, value } = r.extension(ext);
      // RFC 5280 §5.2: an extension appears at most once; two scopes or two base numbers would be ambiguous.
      if (seen.has(id)) r.fail(`extension ${id} appears twice`);
      seen.add(id);
      if (id === Oids.crlNumber) {
        crlNumber = readCrlNumber(r, value, 'cRLNumber');
        crlNumberCritical = critical;
      } else if (id === Oids.deltaCrlIndicator) baseCrlNumber = readCrlNumber(r, value, 'deltaCRLIndicator BaseCRLNumber');
      else if (id === Oids.issuingDistributionPoint) idp = readIssuingDistributionPoint(r, value);
      else if (id === Oids.authorityKeyIdentifier) {
        for (const f of r.sequence(r.parse(value), 'authorityKeyIdentifier')) {
          if (r.isContext(f, 0)) aki = Buffer.from(r.primitiveContent(f, 'keyIdentifier')).toString('hex');
        }
      } else if (critical) unhandled.push(id);
    }
  }
  if (i !== tbs.length) r.fail('TBSCertList has unexpected trailing fields');
  const sig = r.bitString(sigNode, 'signatureValue');
  if (sig.unusedBits !== 0) r.fail('signatureValue is not whole bytes');
  return {
    der: new Uint8Array(der),
    tbsDer: r.raw(tbsNode, 'TBSCertList'),
    issuer: issuer.text,
    issuerDer: issuer.der,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    ...(crlNumber !== undefined ? { crlNumber } : {}),
    ...(aki !== undefined ? { authorityKeyIdentifier: aki } : {}),
    signatureAlgorithm,
    signatureValue: sig.bytes,
    revoked,
    unhandledCriticalExtensions: unhandled,
    ...(crlNumberCritical ? { crlNumberCritical: true as const } : {}),
    ...(baseCrlNumber !== undefined ? { baseCrlNumber } : {}),
    ...(idp !== undefined ? { issuingDistributionPoint: idp } : {}),
  };
}

/** CRLNumber / BaseCRLNumber: INTEGER (0..MAX) (RFC 5280 §5.2.3, §5.2.4), as hex. */
function readCrlNumber(r: DerReader, value: Uint8Array, what: string): string {
  const n = r.parse(value);
  if (!r.isUniversal(n, 2)) r.fail(`${what} is not an INTEGER`);
  const content = r.primitiveContent(n, what);
  // RFC 5280 §5.2.3: at most 20 octets, never negative.
  if (content.byteLength === 0 || content.byteLength > 21 || (content[0]! & 0x80) !== 0) r.fail(`${what} is negative or longer than 20 octets`);
  return integerHex(content);
}

/** Compares two CRL numbers (hex, as CrlInfo holds them). */
export function compareCrlNumbers(a: string, b: string): number {
  const x = BigInt(`0x${a}`);
  const y = BigInt(`0x${b}`);
  return x < y ? -1 : x > y ? 1 : 0;
}

function readGeneralName(r: DerReader, node: asn1js.AsnType, what: string): CrlGeneralName {
  if (node.idBlock.tagClass !== 3 || node.idBlock.tagNumber > 8) r.fail(`${what} holds a name that is not a GeneralName`);
  const tag = node.idBlock.tagNumber;
  if (tag === 4) {
    // directoryName [4] is EXPLICIT (Name is a CHOICE).
    const [name, ...ex] = r.children(node, `${what} directoryName`);
    if (ex.length > 0) r.fail(`${what} directoryName has extra fields`);
    const parsed: ParsedName = parseName(r, name, `${what} directoryName`);
    return { form: 'directoryName', der: parsed.der, text: parsed.text };
  }
  const der = r.raw(node, what);
  // rfc822Name, dNSName, uniformResourceIdentifier are IA5String; other forms are shown as hex.
  const ia5 = (tag === 1 || tag === 2 || tag === 6) && !node.idBlock.isConstructed ? Buffer.from(r.primitiveContent(node, what)).toString('latin1') : undefined;
  return { form: 'other', tag, der, text: ia5 !== undefined && /^[\x20-\x7e]*$/.test(ia5) ? ia5 : `#${Buffer.from(der).toString('hex')}` };
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, given the node whose children are the names. */
function readGeneralNames(r: DerReader, node: asn1js.AsnType, what: string): CrlGeneralName[] {
  const names = r.children(node, what);
  if (names.length === 0) r.fail(`${what} is empty`);
  return names.map((n) => readGeneralName(r, n, what));
}

/** DistributionPointName, inside its EXPLICIT [0] wrapper (a CHOICE is always explicitly tagged). */
function readDistributionPointName(r: DerReader, wrapper: asn1js.AsnType, what: string): DistributionPointName {
  const [choice, ...ex] = r.children(wrapper, what);
  if (!choice || ex.length > 0) r.fail(`${what} is not one DistributionPointName`);
  if (r.isContext(choice, 0) && choice.idBlock.isConstructed) return { fullName: readGeneralNames(r, choice, `${what} fullName`) };
  if (r.isContext(choice, 1) && choice.idBlock.isConstructed) {
    // nameRelativeToCRLIssuer [1] IMPLICIT RelativeDistinguishedName: read it as the SET it stands for.
    const raw = r.raw(choice, `${what} nameRelativeToCRLIssuer`);
    const rdn = new Uint8Array(raw);
    rdn[0] = 0x31;
    const asName = derEncode(derSequence(rdn));
    const parsed = new DerReader('MALFORMED_CERTIFICATE', 'the RDN').guard((q) => parseName(q, q.parse(asName), `${what} nameRelativeToCRLIssuer`));
    return { nameRelativeToCRLIssuer: rdn, text: parsed.text };
  }
  return r.fail(`${what} is neither a fullName nor a nameRelativeToCRLIssuer`);
}

/** ReasonFlags, an IMPLICIT [n] BIT STRING. */
function readReasonFlags(r: DerReader, node: asn1js.AsnType, what: string): ReasonFlag[] {
  const content = r.primitiveContent(node, what);
  const unused = content[0];
  if (unused === undefined || unused > 7 || (content.byteLength === 1 && unused !== 0)) r.fail(`${what} is not a BIT STRING`);
  const out: ReasonFlag[] = [];
  const nbits = (content.byteLength - 1) * 8 - unused;
  for (let b = 0; b < nbits && b < ReasonFlagNames.length; b++) if (((content[1 + (b >> 3)] ?? 0) & (0x80 >> (b & 7))) !== 0) out.push(ReasonFlagNames[b]!);
  return out;
}

/** An IMPLICIT [n] BOOLEAN. */
function readImplicitBoolean(r: DerReader, node: asn1js.AsnType, what: string): boolean {
  const content = r.primitiveContent(node, what);
  if (content.byteLength !== 1) r.fail(`${what} is not a BOOLEAN`);
  return content[0] !== 0;
}

/** issuingDistributionPoint (RFC 5280 §5.2.5). */
function readIssuingDistributionPoint(r: DerReader, value: Uint8Array): IssuingDistributionPoint {
  const what = 'issuingDistributionPoint';
  const fields = r.sequence(r.parse(value), what);
  // RFC 5280 §5.2.5: the extension MUST NOT be an empty sequence.
  if (fields.length === 0) r.fail(`${what} is empty`);
  let last = -1;
  let distributionPoint: DistributionPointName | undefined;
  let onlySomeReasons: ReasonFlag[] | undefined;
  const flags = [false, false, false, false, false, false];
  for (const f of fields) {
    const tag = f.idBlock.tagNumber;
    if (f.idBlock.tagClass !== 3 || tag > 5 || tag <= last) r.fail(`${what} has an unknown, repeated or misplaced field`);
    last = tag;
    if (tag === 0) distributionPoint = readDistributionPointName(r, f, `${what} distributionPoint`);
    else if (tag === 3) onlySomeReasons = readReasonFlags(r, f, `${what} onlySomeReasons`);
    else flags[tag] = readImplicitBoolean(r, f, `${what} field [${tag}]`);
  }
  const [, onlyContainsUserCerts, onlyContainsCACerts, , indirectCRL, onlyContainsAttributeCerts] = flags as [
    boolean,
    boolean,
    boolean,
    boolean,
    boolean,
    boolean,
  ];
  // RFC 5280 §5.2.5: at most one of the three "only contains" booleans is TRUE.
  if ([onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts].filter(Boolean).length > 1)
    r.fail(`${what} asserts more than one of onlyContainsUserCerts, onlyContainsCACerts and onlyContainsAttributeCerts`);
  return {
    ...(distributionPoint !== undefined ? { distributionPoint } : {}),
    onlyContainsUserCerts,
    onlyContainsCACerts,
    ...(onlySomeReasons !== undefined ? { onlySomeReasons } : {}),
    indirectCRL,
    onlyContainsAttributeCerts,
    der: new Uint8Array(value),
  };
}

/**
 * The certificate's cRLDistributionPoints (RFC 5280 §4.2.1.13); empty when it has none. Throws SsmaxError
 * MALFORMED_CERTIFICATE when the extension is malformed.
 */
export function readCrlDistributionPoints(cert: CertificateInfo): DistributionPoint[] {
  const value = cert.extensions.find((e) => e.oid === Oids.crlDistributionPoints)?.value;
  if (value === undefined) return [];
  const what = 'cRLDistributionPoints';
  return new DerReader('MALFORMED_CERTIFICATE', `the ${what} of "${cert.subject}"`).guard((r) => {
    const points = r.sequence(r.parse(value), what);
    if (points.length === 0) r.fail(`${what} is empty`);
    return points.map((p) => {
      let last = -1;
      let distributionPoint: DistributionPointName | undefined;
      let reasons: ReasonFlag[] | undefined;
      let cRLIssuer: CrlGeneralName[] | undefined;
      for (const f of r.sequence(p, 'DistributionPoint')) {
        const tag = f.idBlock.tagNumber;
        if (f.idBlock.tagClass !== 3 || tag > 2 || tag <= last) r.fail('a DistributionPoint has an unknown, repeated or misplaced field');
        last = tag;
        if (tag === 0) distributionPoint = readDistributionPointName(r, f, 'distributionPoint');
        else if (tag === 1) reasons = readReasonFlags(r, f, 'reasons');
        else cRLIssuer = readGeneralNames(r, f, 'cRLIssuer');
      }
      // RFC 5280 §4.2.1.13: a DistributionPoint MUST NOT consist of the reasons field alone.
      if (distributionPoint === undefined && cRLIssuer === undefined) r.fail('a DistributionPoint has neither a distributionPoint nor a cRLIssuer');
      return {
        ...(distributionPoint !== undefined ? { distributionPoint } : {}),
        ...(reasons !== undefined ? { reasons } : {}),
        ...(cRLIssuer !== undefined ? { cRLIssuer } : {}),
      };
    });
  });
}
