import * as crypto from 'node:crypto';
import { SsmaxError } from '../errors.js';

/** DER prefix of DigestInfo { sha256, NULL } before the 32-byte digest (RFC 8017 §9.2 note 1). */
export const SHA256_DIGEST_INFO_PREFIX = Uint8Array.from(Buffer.from('3031300d060960864801650304020105000420', 'hex'));

/** DER of the named-curve OID prime256v1 (RFC 5480 §2.1.1.1), the CKA_EC_PARAMS for P-256. */
export const P256_EC_PARAMS = Uint8Array.from(Buffer.from('06082a8648ce3d030107', 'hex'));

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** SubjectPublicKeyInfo (RFC 8017 §A.1.1 in RFC 5280 §4.1.2.7) from an RSA modulus and public exponent. */
export function rsaSpkiFromComponents(modulus: Uint8Array, exponent: Uint8Array): Uint8Array {
  const key = crypto.createPublicKey({
    key: { kty: 'RSA', n: Buffer.from(stripLeadingZeros(modulus)).toString('base64url'), e: Buffer.from(stripLeadingZeros(exponent)).toString('base64url') },
    format: 'jwk',
  });
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

/**
 * The uncompressed P-256 point from CKA_EC_POINT. PKCS#11 v2.40 §2.3.3 says DER OCTET STRING; some
 * modules return the raw point, so both are accepted.
 */
export function ecPointFromAttribute(value: Uint8Array): Uint8Array {
  if (value.length === 67 && value[0] === 0x04 && value[1] === 0x41 && value[2] === 0x04) return value.subarray(2);
  if (value.length === 65 && value[0] === 0x04) return value;
  throw new SsmaxError(
    'TOKEN_ERROR',
    `Cannot read the EC public key from the token. CKA_EC_POINT has ${value.length} bytes, expected an uncompressed P-256 point.`,
  );
}

/** SubjectPublicKeyInfo for an uncompressed P-256 point (RFC 5480 §2.2). */
export function ecP256SpkiFromPoint(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 0x04) {
    throw new SsmaxError('MALFORMED_DER', 'Cannot encode the EC public key. The point is not an uncompressed P-256 point.');
  }
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: Buffer.from(point.subarray(1, 33)).toString('base64url'), y: Buffer.from(point.subarray(33)).toString('base64url') },
    format: 'jwk',
  });
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

/**
 * The uncompressed point of a P-256 SubjectPublicKeyInfo, for CKM_ECDH1_DERIVE's public data. OpenSSL's
 * import rejects points that are not on the curve (invalid-curve attacks, SEC 1 §3.2.2).
 */
export function ecP256PointFromSpki(spki: Uint8Array): Uint8Array {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new SsmaxError('MALFORMED_DER', 'Cannot run ECDH. The peer public key is not a valid SubjectPublicKeyInfo.', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot run ECDH. The peer public key is not an EC P-256 key.');
  }
  const jwk = key.export({ format: 'jwk' });
  const pad = (s: string | undefined) => {
    const b = Buffer.from(s ?? '', 'base64url');
    return Buffer.concat([Buffer.alloc(32 - b.length), b]);
  };
  return new Uint8Array(Buffer.concat([Buffer.from([4]), pad(jwk.x), pad(jwk.y)]));
}

function derInteger(unsigned: Uint8Array): Buffer {
  let v = stripLeadingZeros(unsigned);
  // DER INTEGER is two's complement (X.690 §8.3): a set high bit needs a leading zero byte.
  if ((v[0] ?? 0) & 0x80) v = Uint8Array.from([0, ...v]);
  return Buffer.concat([Buffer.from([0x02, v.length]), Buffer.from(v)]);
}

/** Converts the PKCS#11 ECDSA signature r||s (PKCS#11 v2.40 §2.3.1) to DER ECDSA-Sig-Value (RFC 5480 §2.2 / RFC 3279 §2.2.3). */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0 || raw.length > 132) {
    throw new SsmaxError('TOKEN_ERROR', `Cannot encode the ECDSA signature. The token returned ${raw.length} bytes, expected r||s.`);
  }
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  // P-256 signatures are at most 72 bytes, so the short length form always suffices.
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, body.length]), body]));
}
