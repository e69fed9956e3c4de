/**
 * The few facts CMS needs from an X.509 certificate (RFC 5280 §4.1): issuer and serial number for
 * IssuerAndSerialNumber (RFC 5652 §10.2.4), the SubjectPublicKeyInfo, and the subjectKeyIdentifier.
 * Chain validation is the x509 module's job; this only locates fields.
 */
import { SMALL_DER_LIMITS } from '../../asn1.js';
import { SsmaxError } from '../../errors.js';
import { berContent, berEncoded, berIs, berOid, readBer, TagClass, UniversalTag, type BerElement } from '../common/index.js';
import { Oids } from '../../oids.js';

export interface CertificateIds {
  /** Exact encoding of the issuer Name. */
  readonly issuer: Uint8Array;
  /** Exact encoding of the serialNumber INTEGER (tag, length, contents). */
  readonly serialNumber: Uint8Array;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** subjectKeyIdentifier extension value (the key identifier octets), if present. */
  readonly subjectKeyIdentifier?: Uint8Array;
}

/** Throws MALFORMED_CERTIFICATE if the bytes are not an X.509 Certificate. */
export function readCertificateIds(der: Uint8Array): CertificateIds {
  let root: BerElement;
  try {
    root = readBer(der, 'the certificate', SMALL_DER_LIMITS);
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CERTIFICATE', 'Cannot read the certificate. It is not valid DER.', { cause });
  }
  const bad = (why: string): never => {
    throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot read the certificate. ${why}.`);
  };
  const tbs = root.children[0];
  if (
    !berIs(root, TagClass.universal, UniversalTag.sequence, true) ||
    root.children.length !== 3 ||
    !berIs(tbs, TagClass.universal, UniversalTag.sequence, true)
  ) {
    return bad('It is not a SEQUENCE of tbsCertificate, signatureAlgorithm, signature');
  }
  const f = [...tbs.children];
  if (berIs(f[0], TagClass.context, 0, true)) f.shift();
  const [serial, , issuer, , , spki, ...rest] = f;
  if (!berIs(serial, TagClass.universal, UniversalTag.integer, false)) return bad('The serialNumber is not an INTEGER');
  if (!berIs(issuer, TagClass.universal, UniversalTag.sequence, true)) return bad('The issuer is not a Name');
  if (!berIs(spki, TagClass.universal, UniversalTag.sequence, true)) return bad('The subjectPublicKeyInfo is missing');
  let subjectKeyIdentifier: Uint8Array | undefined;
  const extsWrapper = rest.find((e) => berIs(e, TagClass.context, 3, true));
  const exts = extsWrapper?.children[0];
  if (exts) {
    for (const ext of exts.children) {
      const [id, ...more] = ext.children;
      if (!id || !berIs(id, TagClass.universal, UniversalTag.oid, false)) continue;
      if (berOid(id, 'an extension id') !== Oids.subjectKeyIdentifier) continue;
      const value = more[more.length - 1];
      if (!value || !berIs(value, TagClass.universal, UniversalTag.octetString, false)) continue;
      const inner = readBer(berContent(value), 'the subjectKeyIdentifier', SMALL_DER_LIMITS);
      if (berIs(inner, TagClass.universal, UniversalTag.octetString, false)) subjectKeyIdentifier = berContent(inner);
    }
  }
  const ids = { issuer: berEncoded(issuer), serialNumber: berEncoded(serial), spki: berEncoded(spki) };
  return subjectKeyIdentifier ? { ...ids, subjectKeyIdentifier } : ids;
}
