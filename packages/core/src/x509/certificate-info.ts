/**
 * Parsing X.509 v3 certificates (RFC 5280 §4.1) into a plain object. Parsing is total: any input
 * yields a CertificateInfo or a typed SsmaxError (MALFORMED_DER / LIMIT_EXCEEDED from the bounded DER
 * decoder, MALFORMED_CERTIFICATE for a structure that is not a certificate).
 *
 * We walk asn1js nodes ourselves instead of using pkijs: pkijs decodes extension values lazily with
 * an unbounded asn1js.fromBER and turns failures into a `parsingError` property, and we want every
 * byte bounded by SMALL_DER_LIMITS and every failure typed.
 */
import type * as asn1js from 'asn1js';
import { Oids, SsmaxOids } from '../oids.js';
import { DerReader } from './der-reader.js';
import { parseName, sameName, type NameAttribute } from './names.js';
import { readSignatureAlgorithm, type SignatureAlgorithm } from './signature-algorithms.js';
import { decodeIdentityProofing, decodeOrgRole, decodeTraceId, type IdentityProofing, type OrgRole } from './ssmax-extensions.js';

/** KeyUsage bits in order (RFC 5280 §4.2.1.3). */
export const KeyUsageNames = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KeyUsageNames)[number];

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLen?: number;
}

export interface ExtensionSummary {
  readonly oid: string;
  readonly critical: boolean;
  /**
   * The extnValue contents (the extension's own DER). Path processing (name constraints, policies, CRL
   * distribution points) reads extensions from here rather than parsing the TBSCertificate again: a parse of a
   * large certificate costs up to a second, and each re-parse multiplied it (fuzz x509-path).
   */
  readonly value: Uint8Array;
}

/** Public key type read from the SubjectPublicKeyInfo. */
export type PublicKeyType = 'rsa' | 'rsa-pss' | 'ec-p256' | 'ec-p384' | 'ec-p521' | 'ed25519' | 'ed448' | 'x25519' | 'x448' | 'other';

/** RFC 8410 §3: the curve OIDs name the key type; their parameters MUST be absent. */
const CURVE_KEY_TYPES: ReadonlyMap<string, PublicKeyType> = new Map([
  [Oids.ed25519, 'ed25519'],
  [Oids.ed448, 'ed448'],
  ['1.3.101.110', 'x25519'], // id-X25519
  ['1.3.101.111', 'x448'], // id-X448
]);

/** Everything the test bed needs to know about a certificate, as plain data. */
export interface CertificateInfo {
  /** The certificate DER, exactly as given. */
  readonly der: Uint8Array;
  /** The signed part (TBSCertificate), exactly as encoded. */
  readonly tbsDer: Uint8Array;
  /** 1 or 3. */
  readonly version: number;
  /** Serial number as lowercase hex without the sign byte (as `openssl x509 -serial` prints it). */
  readonly serialNumber: string;
  readonly subject: string;
  readonly issuer: string;
  readonly subjectDer: Uint8Array;
  /** Subject attributes in encoding order (e.g. `{ type: 'O', value: 'Example' }`). */
  readonly subjectAttributes: readonly NameAttribute[];
  readonly issuerDer: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  readonly publicKeyType: PublicKeyType;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signatureValue: Uint8Array;
  /** rfc822Name SAN entries, then legacy subject emailAddress values (RFC 8550 §3). */
  readonly emailAddresses: readonly string[];
  readonly dnsNames: readonly string[];
  readonly keyUsage?: readonly KeyUsageName[];
  readonly extKeyUsage?: readonly string[];
  /** certificatePolicies policy identifiers (RFC 5280 §4.2.1.4), e.g. the S/MIME BR validation type. */
  readonly policies?: readonly string[];
  readonly basicConstraints?: BasicConstraints;
  /** Hex. */
  readonly subjectKeyIdentifier?: string;
  /** Hex (the keyIdentifier field only). */
  readonly authorityKeyIdentifier?: string;
  readonly identityProofing?: IdentityProofing;
  readonly traceId?: Uint8Array;
  readonly orgRole?: OrgRole;
  readonly extensions: readonly ExtensionSummary[];
  /** Subject and issuer names match (RFC 5280 §6.1: self-issued; names compared by §7.1). */
  readonly selfIssued: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Serial/INTEGER content octets as hex without a leading sign byte; a negative value (two's complement,
 * top bit set) is its magnitude with a "-" in front, so -1 (ff) and 255 (00 ff) stay distinct.
 */
export function integerHex(content: Uint8Array): string {
  if (content.byteLength > 0 && content[0]! >= 0x80) {
    const magnitude = (1n << BigInt(content.byteLength * 8)) - BigInt(`0x${hex(content)}`);
    const digits = magnitude.toString(16);
    return `-${digits.length % 2 ? '0' : ''}${digits}`;
  }
  let i = 0;
  while (i < content.byteLength - 1 && content[i] === 0) i++;
  return hex(content.subarray(i));
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

function readSpki(r: DerReader, node: asn1js.AsnType | undefined): { der: Uint8Array; type: PublicKeyType } {
  const [algNode, keyNode, ...extra] = r.sequence(node, 'subjectPublicKeyInfo');
  if (extra.length > 0) r.fail('subjectPublicKeyInfo has extra fields');
  const [algOid, params] = r.sequence(algNode, 'subjectPublicKeyInfo algorithm');
  const id = r.oid(algOid, 'subjectPublicKeyInfo algorithm');
  r.bitString(keyNode, 'subjectPublicKey');
  let type: PublicKeyType = 'other';
  if (id === Oids.rsaEncryption) type = 'rsa';
  else if (id === Oids.rsassaPss) type = 'rsa-pss';
  else if (id === Oids.ecPublicKey && params && r.isUniversal(params, 6)) {
    const curve = r.oid(params, 'EC curve');
    type = curve === Oids.prime256v1 ? 'ec-p256' : curve === Oids.secp384r1 ? 'ec-p384' : curve === Oids.secp521r1 ? 'ec-p521' : 'other';
  } else if (CURVE_KEY_TYPES.has(id) && params === undefined) type = CURVE_KEY_TYPES.get(id)!;
  return { der: r.raw(node!, 'subjectPublicKeyInfo'), type };
}

/** The subjectPublicKey BIT STRING content of an SPKI (the input to the RFC 5280 §4.2.1.2 key id). */
export function spkiPublicKeyBits(spki: Uint8Array, what = 'the subject public key'): Uint8Array {
  const r: DerReader = new DerReader('MALFORMED_DER', what);
  const [algNode, keyNode, ...extra] = r.sequence(r.parse(spki), 'SubjectPublicKeyInfo');
  if (extra.length > 0) r.fail('SubjectPublicKeyInfo has extra fields');
  r.oid(r.sequence(algNode, 'algorithm')[0], 'algorithm');
  const { bytes, unusedBits } = r.bitString(keyNode, 'subjectPublicKey');
  if (unusedBits !== 0 || bytes.byteLength === 0) r.fail('subjectPublicKey is empty or not whole bytes');
  return bytes;
}

/** The key type of an SPKI, for choosing key usages at issuance. */
export function spkiKeyType(spki: Uint8Array): PublicKeyType {
  const r: DerReader = new DerReader('MALFORMED_DER', 'the subject public key');
  return readSpki(r, r.parse(spki)).type;
}

function readKeyUsage(r: DerReader, der: Uint8Array): KeyUsageName[] {
  const { bytes, unusedBits } = r.bitString(r.parse(der), 'keyUsage');
  const out: KeyUsageName[] = [];
  const nbits = bytes.byteLength * 8 - unusedBits;
  for (let i = 0; i < nbits && i < KeyUsageNames.length; i++) {
    if (((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0) out.push(KeyUsageNames[i]!);
  }
  return out;
}

function readBasicConstraints(r: DerReader, der: Uint8Array): BasicConstraints {
  const items = r.sequence(r.parse(der), 'basicConstraints');
  let ca = false;
  let i = 0;
  if (items[i] && r.isUniversal(items[i]!, 1)) ca = r.boolean(items[i++], 'basicConstraints cA');
  let pathLen: number | undefined;
  if (items[i]) pathLen = r.smallInt(items[i++], 'basicConstraints pathLenConstraint');
  if (i !== items.length) r.fail('basicConstraints has extra fields');
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function readGeneralNames(r: DerReader, der: Uint8Array, what: string): { emails: string[]; dns: string[] } {
  const emails: string[] = [];
  const dns: string[] = [];
  const names = r.sequence(r.parse(der), what);
  if (names.length === 0) r.fail(`${what} is empty`);
  for (const gn of names) {
    if (gn.idBlock.tagClass !== 3) r.fail(`${what} holds a name that is not context-tagged`);
    const tag = gn.idBlock.tagNumber;
    if (tag === 1 || tag === 2) {
      const text = Buffer.from(r.primitiveContent(gn, `${what} name`)).toString('latin1');
      if (!/^[\x21-\x7e]+$/.test(text)) r.fail(`${what} holds a name with non-IA5 or control characters`);
      (tag === 1 ? emails : dns).push(text);
    }
  }
  return { emails, dns };
}

function readAki(r: DerReader, der: Uint8Array): string | undefined {
  for (const f of r.sequence(r.parse(der), 'authorityKeyIdentifier')) {
    if (r.isContext(f, 0)) return hex(r.primitiveContent(f, 'authorityKeyIdentifier keyIdentifier'));
  }
  return undefined;
}

/** certificatePolicies (RFC 5280 §4.2.1.4): the policyIdentifier of each PolicyInformation; qualifiers are skipped. */
function readPolicies(r: DerReader, der: Uint8Array): string[] {
  const items = r.sequence(r.parse(der), 'certificatePolicies');
  if (items.length === 0) r.fail('certificatePolicies is empty');
  return items.map((n) => r.oid(r.sequence(n, 'PolicyInformation')[0], 'policyIdentifier'));
}

function readEku(r: DerReader, der: Uint8Array): string[] {
  const items = r.sequence(r.parse(der), 'extKeyUsage');
  if (items.length === 0) r.fail('extKeyUsage is empty');
  return items.map((n) => r.oid(n, 'extKeyUsage purpose'));
}

/**
 * Parses a DER certificate. Throws SsmaxError MALFORMED_DER / LIMIT_EXCEEDED / MALFORMED_CERTIFICATE.
 */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  return new DerReader('MALFORMED_CERTIFICATE', 'the certificate').guard((r) => parseCertificateWith(r, der));
}

function parseCertificateWith(r: DerReader, der: Uint8Array): CertificateInfo {
  const [tbsNode, outerAlgNode, sigNode, ...extra] = r.sequence(r.parse(der), 'Certificate');
  if (extra.length > 0 || !tbsNode) r.fail('Certificate has the wrong number of fields');
  const tbs = r.sequence(tbsNode, 'TBSCertificate');
  let i = 0;
  let version = 1;
  if (tbs[i] && r.isContext(tbs[i]!, 0)) {
    const [v, ...vx] = r.children(tbs[i++], 'version');
    if (vx.length > 0) r.fail('version has extra fields');
    const n = r.smallInt(v, 'version');
    if (n > 2) r.fail(`version ${n + 1} is unknown`);
    version = n + 1;
  }
  const serialNode = tbs[i++];
  if (!serialNode || !r.isUniversal(serialNode, 2)) r.fail('serialNumber is not an INTEGER');
  const serialContent = r.primitiveContent(serialNode, 'serialNumber');
  if (serialContent.byteLength === 0 || serialContent.byteLength > 21) r.fail('serialNumber is empty or longer than 20 octets');
  const innerAlgNode = tbs[i++];
  const signatureAlgorithm = readSignatureAlgorithm(r, outerAlgNode, 'signatureAlgorithm');
  readSignatureAlgorithm(r, innerAlgNode, 'TBSCertificate signature');
  // RFC 5280 §4.1.1.2: the two AlgorithmIdentifiers MUST be identical.
  if (!sameBytes(r.raw(outerAlgNode!, 'signatureAlgorithm'), r.raw(innerAlgNode!, 'signature')))
    r.fail('signatureAlgorithm differs from TBSCertificate signature');
  const issuer = parseName(r, tbs[i++], 'issuer');
  const [nb, na, ...vx] = r.sequence(tbs[i++], 'validity');
  if (vx.length > 0) r.fail('validity has extra fields');
  const notBefore = r.time(nb, 'notBefore');
  const notAfter = r.time(na, 'notAfter');
  const subject = parseName(r, tbs[i++], 'subject');
  const spki = readSpki(r, tbs[i++]);
  while (tbs[i] && (r.isContext(tbs[i]!, 1) || r.isContext(tbs[i]!, 2))) i++;

  const extensions: ExtensionSummary[] = [];
  const info: {
    emails: string[];
    dns: string[];
    keyUsage?: KeyUsageName[];
    extKeyUsage?: string[];
    policies?: string[];
    basicConstraints?: BasicConstraints;
    ski?: string;
    aki?: string;
    identityProofing?: IdentityProofing;
    traceId?: Uint8Array;
    orgRole?: OrgRole;
  } = { emails: [], dns: [] };
  if (tbs[i] && r.isContext(tbs[i]!, 3)) {
    if (version !== 3) r.fail('extensions appear in a certificate that is not version 3');
    const [extSeq, ...ex] = r.children(tbs[i++], 'extensions');
    if (ex.length > 0) r.fail('extensions wrapper has extra fields');
    const list = r.sequence(extSeq, 'Extensions');
    if (list.length === 0) r.fail('Extensions is empty');
    for (const ext of list) {
      const { id, critical, value } = r.extension(ext);
      // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
      if (extensions.some((e) => e.oid === id)) r.fail(`extension ${id} appears twice`);
      extensions.push({ oid: id, critical, value });
      switch (id) {
        case Oids.keyUsage:
          info.keyUsage = readKeyUsage(r, value);
          break;
        case Oids.extKeyUsage:
          info.extKeyUsage = readEku(r, value);
          break;
        case Oids.certificatePolicies:
          info.policies = readPolicies(r, value);
          break;
        case Oids.basicConstraints:
          info.basicConstraints = readBasicConstraints(r, value);
          break;
        case Oids.subjectKeyIdentifier:
          info.ski = hex(r.octets(r.parse(value), 'subjectKeyIdentifier'));
          break;
        case Oids.authorityKeyIdentifier:
          info.aki = readAki(r, value);
          break;
        case Oids.subjectAltName: {
          const { emails, dns } = readGeneralNames(r, value, 'subjectAltName');
          info.emails.push(...emails);
          info.dns.push(...dns);
          break;
        }
        case SsmaxOids.extIdentityProofing:
          info.identityProofing = decodeIdentityProofing(value);
          break;
        case SsmaxOids.extTraceId:
          info.traceId = decodeTraceId(value);
          break;
        case SsmaxOids.extOrgRole:
          info.orgRole = decodeOrgRole(value);
          break;
        default:
          break;
      }
    }
  }
  if (i !== tbs.length) r.fail('TBSCertificate has unexpected trailing fields');
  const sig = r.bitString(sigNode, 'signatureValue');
  if (sig.unusedBits !== 0) r.fail('signatureValue is not whole bytes');

  return {
    der: new Uint8Array(der),
    tbsDer: r.raw(tbsNode, 'TBSCertificate'),
    version,
    serialNumber: integerHex(serialContent),
    subject: subject.text,
    issuer: issuer.text,
    subjectDer: subject.der,
    subjectAttributes: subject.attributes,
    issuerDer: issuer.der,
    notBefore,
    notAfter,
    spki: spki.der,
    publicKeyType: spki.type,
    signatureAlgorithm,
    signatureValue: sig.bytes,
    emailAddresses: [...info.emails, ...subject.emailAddresses],
    dnsNames: info.dns,
    ...(info.keyUsage ? { keyUsage: info.keyUsage } : {}),
    ...(info.extKeyUsage ? { extKeyUsage: info.extKeyUsage } : {}),
    ...(info.policies ? { policies: info.policies } : {}),
    ...(info.basicConstraints ? { basicConstraints: info.basicConstraints } : {}),
    ...(info.ski !== undefined ? { subjectKeyIdentifier: info.ski } : {}),
    ...(info.aki !== undefined ? { authorityKeyIdentifier: info.aki } : {}),
    ...(info.identityProofing ? { identityProofing: info.identityProofing } : {}),
    ...(info.traceId ? { traceId: info.traceId } : {}),
    ...(info.orgRole ? { orgRole: info.orgRole } : {}),
    extensions,
    selfIssued: sameName(subject.der, issuer.der),
  };
}
