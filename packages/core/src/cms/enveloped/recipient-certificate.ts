/**
 * What the enveloped-data code needs from a recipient certificate: the exact DER of issuer and serial
 * (RFC 5652 §10.2.4 IssuerAndSerialNumber, compared byte for byte), the SubjectKeyIdentifier if present,
 * and the public key. pkijs validates the structure; the issuer/serial bytes are cut from the original
 * encoding rather than re-encoded so they match what other implementations put in RecipientIdentifier.
 */
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { parseDer, SMALL_DER_LIMITS } from '../../asn1.js';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import { derEncode, derSequence } from '../../der/der-writer.js';
import { children, decodeOid, expectTag, raw, readAlgId, readNode, Tag, value } from './ber-node-reader.js';

/** Curves of key-agreement recipients (issue 12): NIST curves with ECDH, and RFC 8418's X25519/X448. */
export type AgreementCurve = 'P-256' | 'P-384' | 'P-521' | 'X25519' | 'X448';

export const EC_CURVE_OIDS: Readonly<Record<string, AgreementCurve>> = Object.freeze({
  [Oids.prime256v1]: 'P-256',
  [Oids.secp384r1]: 'P-384',
  [Oids.secp521r1]: 'P-521',
});

export interface RecipientCertificate {
  /** 'ec' covers every key-agreement recipient (ECDH on {@link curve}). */
  readonly kind: 'rsa' | 'ec';
  readonly curve?: AgreementCurve;
  /** DER IssuerAndSerialNumber. */
  readonly issuerAndSerial: Uint8Array;
  readonly subjectKeyIdentifier?: Uint8Array;
  readonly spki: Uint8Array;
  /** EC point, or the raw X25519/X448 public key (key agreement only). */
  readonly ecPoint?: Uint8Array;
}

function bad(reason: string, cause?: unknown): SsmaxError {
  return new SsmaxError('MALFORMED_CERTIFICATE', `Cannot use the recipient certificate. ${reason}.`, cause === undefined ? {} : { cause });
}

/**
 * Parsed certificates by SHA-256 of their DER, most recently used last. An org hop parses the same
 * two or three certificates (its own, the next party's) for every message, and the pkijs structural
 * check is most of a small hop's time; keying by content (not by the Uint8Array) keeps a caller that
 * reuses a buffer for another certificate from getting a stale answer. Only successes are cached.
 */
const CACHE_SIZE = 64;
const cache = new Map<string, RecipientCertificate>();

/**
 * Parses what encryption to (or decryption as) this certificate needs. Results are cached by content;
 * the returned object and its byte arrays are shared between callers and must not be modified.
 */
export function parseRecipientCertificate(der: Uint8Array): RecipientCertificate {
  const key = createHash('sha256').update(der).digest('base64');
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const parsed = parseUncached(der);
  cache.set(key, parsed);
  if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return parsed;
}

function parseUncached(der: Uint8Array): RecipientCertificate {
  try {
    // Structural validation by pkijs (throws on anything that is not an X.509 certificate).
    new pkijs.Certificate({ schema: parseDer(der, 'the recipient certificate', SMALL_DER_LIMITS) });
  } catch (cause) {
    throw bad('It is not an X.509 certificate', cause);
  }
  try {
    const cert = readNode(der, 0);
    const [tbs] = children(der, expectTag(cert, Tag.SEQUENCE, 'Certificate'));
    const fields = children(der, expectTag(tbs, Tag.SEQUENCE, 'TBSCertificate'));
    let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
    const serial = expectTag(fields[i++], Tag.INTEGER, 'serialNumber');
    i++; // signature
    const issuer = expectTag(fields[i++], Tag.SEQUENCE, 'issuer');
    i += 2; // validity, subject
    const spkiNode = expectTag(fields[i++], Tag.SEQUENCE, 'subjectPublicKeyInfo');
    const spki = raw(der, spkiNode).slice();
    const [alg, bits] = children(der, spkiNode);
    const { oid, params } = readAlgId(der, alg as NonNullable<typeof alg>, 'SPKI algorithm');
    let subjectKeyIdentifier: Uint8Array | undefined;
    for (const f of fields.slice(i)) {
      if (f.tag !== 0xa3) continue;
      for (const ext of children(der, expectTag(children(der, f)[0], Tag.SEQUENCE, 'extensions'))) {
        const parts = children(der, ext);
        if (decodeOid(der, parts[0] as NonNullable<(typeof parts)[0]>, 'extnID') !== Oids.subjectKeyIdentifier) continue;
        const extnValue = expectTag(parts.at(-1), Tag.OCTET_STRING, 'extnValue');
        const inner = readNode(der, extnValue.valueStart, extnValue.valueEnd);
        subjectKeyIdentifier = value(der, expectTag(inner, Tag.OCTET_STRING, 'KeyIdentifier')).slice();
      }
    }
    const issuerAndSerial = derEncode(derSequence(raw(der, issuer), raw(der, serial)));
    const base = { issuerAndSerial, spki, ...(subjectKeyIdentifier ? { subjectKeyIdentifier } : {}) };
    if (oid === Oids.rsaEncryption) return { kind: 'rsa', ...base };
    const point = () =>
      value(der, expectTag(bits, Tag.BIT_STRING, 'subjectPublicKey'))
        .subarray(1)
        .slice();
    if (oid === Oids.ecPublicKey) {
      const curve = params && params.tag === Tag.OID ? EC_CURVE_OIDS[decodeOid(der, params, 'namedCurve')] : undefined;
      if (!curve)
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          'Cannot encrypt to the recipient. Only EC keys on the named curves P-256, P-384 and P-521 are supported.',
        );
      return { kind: 'ec', curve, ...base, ecPoint: point() };
    }
    // RFC 8410 §3 / RFC 8418 §2: X25519 and X448 keys, parameters absent.
    if (oid === Oids.x25519 || oid === Oids.x448) {
      const curve = oid === Oids.x25519 ? 'X25519' : 'X448';
      const p = point();
      if (params || p.byteLength !== (curve === 'X25519' ? 32 : 56)) throw bad(`Its ${curve} public key is malformed`);
      return { kind: 'ec', curve, ...base, ecPoint: p };
    }
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot encrypt to the recipient. Its key algorithm ${oid} is neither RSA, EC nor X25519/X448.`);
  } catch (cause) {
    if (SsmaxError.is(cause) && cause.code !== 'MALFORMED_CMS') throw cause;
    throw bad('Its fields could not be read', cause);
  }
}
