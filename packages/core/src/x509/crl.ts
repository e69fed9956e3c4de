/**
 * CRL issuance and parsing (RFC 5280 §5). Structure errors in a CRL use the MALFORMED_CERTIFICATE code
 * (the error table has no CRL-specific code; a CRL is certificate-management data).
 */
import { SsmaxError } from '../errors.js';
import { Oids } from '../oids.js';
import { DerReader } from './der-reader.js';
import {
  derBitString,
  derEncode,
  derEnumerated,
  derExplicit,
  derImplicit,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  wholeSeconds,
} from '../der/der-writer.js';
import { integerHex, parseCertificate, sameBytes, type CertificateInfo } from './certificate-info.js';
import { keyIdentifier, type CertificateIssuer } from './issue.js';
import { parseName } from './names.js';
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

export interface RevokedEntry {
  /** Serial number in hex (as CertificateInfo.serialNumber). */
  readonly serialNumber: string;
  readonly revocationDate: Date;
  readonly reason?: CrlReason;
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
  /** A delta CRL (deltaCRLIndicator, RFC 5280 §5.2.4); the validator does not process delta CRLs. */
  readonly delta?: true;
}

const REASON_NAMES = new Map<number, CrlReason>(Object.entries(CrlReasons).map(([k, v]) => [v, k as CrlReason]));

/** Issues a v2 CRL with reasonCode entry extensions, CRL number and AKI, signed with the issuer key. */
export async function issueCrl(o: IssueCrlOptions): Promise<CrlInfo> {
  const issuer: CertificateInfo = o.issuer.certificate instanceof Uint8Array ? parseCertificate(o.issuer.certificate) : o.issuer.certificate;
  if (!sameBytes(issuer.spki, o.issuer.key.spki)) throw new SsmaxError('USAGE', `Cannot issue the CRL. The issuer key does not belong to ${issuer.subject}.`);
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.includes('cRLSign'))
    throw new SsmaxError('USAGE', `Cannot issue the CRL. ${issuer.subject} lacks the cRLSign key usage.`);
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0)
    throw new SsmaxError('USAGE', `Cannot issue the CRL. The CRL number must be a non-negative integer, not ${o.crlNumber}.`);
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
    // RFC 5280 §5.3.1: reasonCode unspecified SHOULD be absent rather than encoded.
    const ext =
      e.reason !== undefined && e.reason !== 'unspecified'
        ? [derSequence(derSequence(derOid(Oids.reasonCode), derOctetString(derEnumerated(CrlReasons[e.reason]))))]
        : [];
    return derSequence(derInteger(new Uint8Array(Buffer.from(hexStr, 'hex'))), derTime(e.revocationDate), ...ext);
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
      for (const ext of extsNode ? r.sequence(extsNode, 'crlEntryExtensions') : []) {
        const { id, critical, value } = r.extension(ext);
        if (id === Oids.reasonCode) {
          reason = REASON_NAMES.get(r.smallInt(r.parse(value), 'reasonCode', true));
          if (reason === undefined) r.fail('reasonCode is not a known CRLReason');
        } else if (critical) unhandled.push(id);
      }
      revoked.push(reason === undefined ? { serialNumber, revocationDate } : { serialNumber, revocationDate, reason });
    }
  }
  let crlNumber: string | undefined;
  let crlNumberCritical = false;
  let delta = false;
  let aki: string | undefined;
  if (tbs[i] && r.isContext(tbs[i]!, 0)) {
    const [extSeq, ...ex] = r.children(tbs[i++], 'crlExtensions');
    if (ex.length > 0) r.fail('crlExtensions wrapper has extra fields');
    for (const ext of r.sequence(extSeq, 'crlExtensions')) {
      const { id, critical, value } = r.extension(ext);
      if (id === Oids.crlNumber) {
        const n = r.parse(value);
        if (!r.isUniversal(n, 2)) r.fail('cRLNumber is not an INTEGER');
        crlNumber = integerHex(r.primitiveContent(n, 'cRLNumber'));
        crlNumberCritical = critical;
      } else if (id === Oids.authorityKeyIdentifier) {
        for (const f of r.sequence(r.parse(value), 'authorityKeyIdentifier')) {
          if (r.isContext(f, 0)) aki = Buffer.from(r.primitiveContent(f, 'keyIdentifier')).toString('hex');
        }
      } else if (critical) unhandled.push(id);
      if (id === Oids.deltaCrlIndicator) delta = true;
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
    ...(delta ? { delta: true as const } : {}),
  };
}
