/**
 * The one signature-algorithm register for certificates, CRLs and CMS: which AlgorithmIdentifier we
 * write for each {@link SignScheme}, which signature OIDs name which scheme and hash, and checking a
 * signature against a SubjectPublicKeyInfo. The X.509 and CMS readers apply their own acceptance
 * policy on top (X.509 refuses SHA-1 and sub-2048-bit RSA; CMS reports verdict codes).
 *
 * Checks use node:crypto rather than WebCrypto: it takes the DER ECDSA-Sig-Value that X.509 and CMS
 * carry (RFC 3279 §2.2.3, RFC 5753 §2.1.1) without conversion, accepts any RSA-PSS salt length, and
 * imports both rsaEncryption and id-RSASSA-PSS SubjectPublicKeyInfos; the test bed targets Node 20 only.
 */
import * as crypto from 'node:crypto';
import { digestAlgorithmOid, digestLength, encodeAlgorithmIdentifier, type DigestAlgorithm } from './cms/common/algorithm-identifier.js';
import { derExplicit, derInteger, derNull, derSequence } from './der/der-writer.js';
import { Oids } from './oids.js';
import type { SignScheme } from './tokens/token.js';

/** A signature OID that fixes both the scheme and the hash (RFC 4055 §5, RFC 5758 §3.2, RFC 3279 §2.2.1). */
export interface SignatureOidInfo {
  readonly oid: string;
  readonly kind: 'rsa-pkcs1' | 'ecdsa';
  readonly hash: DigestAlgorithm;
}

const SIGNATURE_OIDS: readonly SignatureOidInfo[] = [
  { oid: Oids.sha1WithRSAEncryption, kind: 'rsa-pkcs1', hash: 'SHA-1' },
  { oid: Oids.sha256WithRSAEncryption, kind: 'rsa-pkcs1', hash: 'SHA-256' },
  { oid: Oids.sha384WithRSAEncryption, kind: 'rsa-pkcs1', hash: 'SHA-384' },
  { oid: Oids.sha512WithRSAEncryption, kind: 'rsa-pkcs1', hash: 'SHA-512' },
  { oid: Oids.ecdsaWithSHA256, kind: 'ecdsa', hash: 'SHA-256' },
  { oid: Oids.ecdsaWithSHA384, kind: 'ecdsa', hash: 'SHA-384' },
  { oid: Oids.ecdsaWithSHA512, kind: 'ecdsa', hash: 'SHA-512' },
];

/** Scheme and hash named by a signature OID; undefined for id-RSASSA-PSS (its hash is in the parameters) and unknown OIDs. */
export function signatureOidInfo(oid: string): SignatureOidInfo | undefined {
  return SIGNATURE_OIDS.find((s) => s.oid === oid);
}

/** EdDSA curves (RFC 8032): the signature OID is also the key OID, and PureEdDSA has no separate hash. */
export type EdDsaCurve = 'Ed25519' | 'Ed448';

/** The EdDSA curve an OID names (RFC 8410 §3: id-Ed25519, id-Ed448), else undefined. */
export function eddsaCurveOfOid(oid: string): EdDsaCurve | undefined {
  return oid === Oids.ed25519 ? 'Ed25519' : oid === Oids.ed448 ? 'Ed448' : undefined;
}

/**
 * DER AlgorithmIdentifier for signing with `scheme` (hash as {@link schemeHash} says).
 * - PKCS#1 v1.5: sha256WithRSAEncryption, NULL parameters (RFC 4055 §5, RFC 5754 §3.2).
 * - PSS: id-RSASSA-PSS with explicit hash, MGF1 with the same hash, salt = hash length (as SoftwareKey
 *   signs; RFC 4055 §3.1, RFC 4056 §2-§3); hash parameters absent (preferred per RFC 4055 §2.1),
 *   trailerField left at its DEFAULT so DER omits it.
 * - ECDSA: ecdsa-with-SHA256/384/512, parameters absent (RFC 5758 §3.2, RFC 5753 §2.1.1).
 */
export function encodeSignatureAlgorithm(scheme: SignScheme): Uint8Array {
  switch (scheme) {
    case 'RSASSA-PKCS1-v1_5-SHA256':
      return encodeAlgorithmIdentifier(Oids.sha256WithRSAEncryption, derNull());
    case 'RSASSA-PSS-SHA256':
    case 'RSASSA-PSS-SHA384':
    case 'RSASSA-PSS-SHA512': {
      const hash = schemeHash(scheme)!;
      const h = encodeAlgorithmIdentifier(digestAlgorithmOid(hash));
      return encodeAlgorithmIdentifier(
        Oids.rsassaPss,
        derSequence(derExplicit(0, h), derExplicit(1, encodeAlgorithmIdentifier(Oids.mgf1, h)), derExplicit(2, derInteger(digestLength(hash)))),
      );
    }
    case 'ECDSA-SHA256':
      return encodeAlgorithmIdentifier(Oids.ecdsaWithSHA256);
    case 'ECDSA-SHA384':
      return encodeAlgorithmIdentifier(Oids.ecdsaWithSHA384);
    case 'ECDSA-SHA512':
      return encodeAlgorithmIdentifier(Oids.ecdsaWithSHA512);
    // RFC 8410 §3 / RFC 8419 §2.2: id-Ed25519 / id-Ed448, parameters absent.
    case 'Ed25519':
      return encodeAlgorithmIdentifier(Oids.ed25519);
    case 'Ed448':
      return encodeAlgorithmIdentifier(Oids.ed448);
  }
}

/** The hash a scheme signs with (PSS: also the MGF1 hash and the salt length); undefined for PureEdDSA, which has none. */
export function schemeHash(scheme: SignScheme): 'SHA-256' | 'SHA-384' | 'SHA-512' | undefined {
  if (scheme === 'Ed25519' || scheme === 'Ed448') return undefined;
  return scheme.endsWith('SHA512') ? 'SHA-512' : scheme.endsWith('SHA384') ? 'SHA-384' : 'SHA-256';
}

/** What a signature check needs: the scheme, the node:crypto hash name, and the PSS salt length. */
export type SignatureCheckAlgorithm =
  | { readonly kind: 'rsa-pkcs1' | 'ecdsa'; readonly nodeHash: string }
  | { readonly kind: 'rsa-pss'; readonly nodeHash: string; readonly saltLength: number }
  | { readonly kind: 'eddsa'; readonly curve: EdDsaCurve };

export interface SignatureCheckPolicy {
  /** Smallest RSA modulus accepted, in bits; default no minimum. */
  readonly minRsaBits?: number;
  /** Refuse PKCS#1 v1.5 with an id-RSASSA-PSS key (RFC 4055 §1.2 restricts such keys to PSS). */
  readonly pssKeyOnlyPss?: boolean;
}

/** Why a signature check failed, as a verdict code and a reason that names the key's owner. */
export type SignatureCheckResult =
  { readonly ok: true } | { readonly ok: false; readonly code: 'MALFORMED_CERTIFICATE' | 'BAD_SIGNATURE' | 'UNSUPPORTED_ALGORITHM'; readonly reason: string };

/**
 * Verifies `signature` over `data` with the public key in `spki` (P-256/P-384/P-521 for ECDSA, RSA or
 * RSA-PSS keys for RSA, Ed25519/Ed448 keys for PureEdDSA over `data` itself). `keyOwner` names the key
 * in reasons ("the issuer"). Never throws.
 */
export function checkSignature(
  alg: SignatureCheckAlgorithm,
  spki: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  keyOwner: string,
  policy: SignatureCheckPolicy = {},
): SignatureCheckResult {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, code: 'MALFORMED_CERTIFICATE', reason: `the public key of ${keyOwner} cannot be read` };
  }
  const type = key.asymmetricKeyType;
  if (alg.kind === 'eddsa') {
    // RFC 8410 §3: the key OID fixes the curve; an Ed448 signature cannot come from an Ed25519 key.
    const want = alg.curve === 'Ed25519' ? 'ed25519' : 'ed448';
    if (type !== want)
      return { ok: false, code: 'BAD_SIGNATURE', reason: `an ${alg.curve} signature cannot come from the ${type ?? 'unknown'} key of ${keyOwner}` };
  } else if (alg.kind === 'ecdsa') {
    if (type !== 'ec') return { ok: false, code: 'BAD_SIGNATURE', reason: `an ECDSA signature cannot come from the ${type ?? 'unknown'} key of ${keyOwner}` };
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'secp384r1' && curve !== 'secp521r1') {
      return { ok: false, code: 'UNSUPPORTED_ALGORITHM', reason: `curve ${curve ?? 'unknown'} of ${keyOwner} is not supported (P-256, P-384, P-521)` };
    }
  } else {
    if (type !== 'rsa' && type !== 'rsa-pss')
      return { ok: false, code: 'BAD_SIGNATURE', reason: `an RSA signature cannot come from the ${type ?? 'unknown'} key of ${keyOwner}` };
    if (policy.minRsaBits !== undefined && (key.asymmetricKeyDetails?.modulusLength ?? 0) < policy.minRsaBits) {
      return { ok: false, code: 'UNSUPPORTED_ALGORITHM', reason: `the RSA key of ${keyOwner} is shorter than ${policy.minRsaBits} bits` };
    }
    if (policy.pssKeyOnlyPss === true && alg.kind === 'rsa-pkcs1' && type === 'rsa-pss') {
      return { ok: false, code: 'UNSUPPORTED_ALGORITHM', reason: `the id-RSASSA-PSS key of ${keyOwner} cannot make PKCS#1 v1.5 signatures` };
    }
  }
  let ok = false;
  if (alg.kind === 'eddsa') {
    try {
      // PureEdDSA (RFC 8032 §5.1.7, §5.2.7): no pre-hash, no context; node:crypto takes a null digest.
      ok = crypto.verify(null, data, key, signature);
    } catch {
      ok = false;
    }
    return ok ? { ok: true } : { ok: false, code: 'BAD_SIGNATURE', reason: `the ${alg.curve} signature does not verify with the key of ${keyOwner}` };
  }
  try {
    const opts =
      alg.kind === 'ecdsa'
        ? { key, dsaEncoding: 'der' as const }
        : alg.kind === 'rsa-pss'
          ? { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }
          : { key, padding: crypto.constants.RSA_PKCS1_PADDING };
    ok = crypto.verify(alg.nodeHash, data, opts, signature);
  } catch {
    ok = false;
  }
  return ok
    ? { ok: true }
    : { ok: false, code: 'BAD_SIGNATURE', reason: `the ${SCHEME_NAMES[alg.kind]} signature does not verify with the key of ${keyOwner}` };
}

const SCHEME_NAMES = { 'rsa-pkcs1': 'RSA PKCS#1 v1.5', 'rsa-pss': 'RSA-PSS', ecdsa: 'ECDSA' } as const;
