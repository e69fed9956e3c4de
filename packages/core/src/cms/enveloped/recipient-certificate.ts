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

export interface RecipientCertificate {
  readonly kind: 'rsa' | 'ec';
  /** DER IssuerAndSerialNumber. */
  readonly issuerAndSerial: Uint8Array;
  readonly subjectKeyIdentifier?: Uint8Array;
  readonly spki: Uint8Array;
  /** Uncompressed/compressed EC point (EC only). */
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
    if (oid === Oids.ecPublicKey) {
      if (!params || decodeOid(der, params, 'namedCurve') !== Oids.prime256v1) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot encrypt to the recipient. Only EC keys on P-256 are supported.');
      }
      const b = value(der, expectTag(bits, Tag.BIT_STRING, 'subjectPublicKey'));
      return { kind: 'ec', ...base, ecPoint: b.subarray(1).slice() };
    }
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot encrypt to the recipient. Its key algorithm ${oid} is neither RSA nor EC.`);
  } catch (cause) {
    if (SsmaxError.is(cause) && cause.code !== 'MALFORMED_CMS') throw cause;
    throw bad('Its fields could not be read', cause);
  }
}
