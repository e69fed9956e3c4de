/**
 * Interpreting SignerInfo.signatureAlgorithm for verification (RFC 5754 §3, RFC 4056, RFC 5758 §3.2,
 * RFC 3370 §3.2, RFC 8419 §2.2). The OID table and the AlgorithmIdentifiers we write are the shared ones
 * in ../../signature-algorithms.ts.
 */
import { Oids } from '../../oids.js';
import { eddsaCurveOfOid, signatureOidInfo } from '../../signature-algorithms.js';
import {
  berInteger,
  berIs,
  digestAlgorithmFromOid,
  paramsAbsentOrNull,
  readAlgorithmIdentifier,
  TagClass,
  UniversalTag,
  type AlgorithmIdentifier,
  type DigestAlgorithm,
} from '../common/index.js';
import type { SignerDigestAlgorithm } from './signer-digests.js';

/**
 * A signature algorithm understood for verification. For RSA and ECDSA `hash` hashes the signed bytes; for
 * Ed25519/Ed448 (PureEdDSA) the signature covers the signed bytes themselves and `hash` is only the
 * messageDigest algorithm of the signed attributes (RFC 8419 §3).
 */
export type VerifyAlgorithm =
  | { readonly kind: 'RSASSA-PKCS1-v1_5'; readonly hash: DigestAlgorithm }
  | { readonly kind: 'RSASSA-PSS'; readonly hash: DigestAlgorithm; readonly saltLength: number }
  | { readonly kind: 'ECDSA'; readonly hash: DigestAlgorithm }
  | { readonly kind: 'Ed25519'; readonly hash: 'SHA-512' }
  | { readonly kind: 'Ed448'; readonly hash: 'SHAKE256' };

/** RFC 8419 §3.1: the digestAlgorithm each EdDSA curve requires (SHA-512; SHAKE256 with 512-bit output). */
const EDDSA_DIGEST = { Ed25519: 'SHA-512', Ed448: 'SHAKE256' } as const;

/** Result of interpreting signatureAlgorithm against digestAlgorithm: an algorithm or a reason. */
export type VerifyAlgorithmResult = { readonly ok: true; readonly alg: VerifyAlgorithm } | { readonly ok: false; readonly reason: string };

/**
 * Interprets a SignerInfo's signatureAlgorithm. `digest` is the SignerInfo digestAlgorithm; a
 * signature algorithm that names a different hash is refused rather than guessed at.
 */
export function interpretSignatureAlgorithm(sig: AlgorithmIdentifier, digest: SignerDigestAlgorithm): VerifyAlgorithmResult {
  const mismatch = (h: DigestAlgorithm): VerifyAlgorithmResult => ({
    ok: false,
    reason: `signatureAlgorithm ${sig.oid} uses ${h} but digestAlgorithm is ${digest}`,
  });
  const curve = eddsaCurveOfOid(sig.oid);
  if (curve) {
    // RFC 8419 §2.2: parameters MUST be absent. §3.1: Ed25519 with SHA-512, Ed448 with SHAKE256; a signer
    // naming another digest is outside the profile (and its messageDigest would be checked with that digest).
    if (sig.parameters !== undefined) return { ok: false, reason: `${curve} signatureAlgorithm parameters must be absent (RFC 8419 §2.2)` };
    const want = EDDSA_DIGEST[curve];
    if (digest !== want) return { ok: false, reason: `${curve} signers use digestAlgorithm ${want} (RFC 8419 §3.1), this one names ${digest}` };
    return { ok: true, alg: curve === 'Ed25519' ? { kind: curve, hash: 'SHA-512' } : { kind: curve, hash: 'SHAKE256' } };
  }
  // RFC 8419 §2.3: SHAKE256 is defined for CMS only together with Ed448.
  if (digest === 'SHAKE256') return { ok: false, reason: `digestAlgorithm SHAKE256 is used only with Ed448 (RFC 8419 §3.1), not with ${sig.oid}` };
  if (sig.oid === Oids.rsaEncryption) {
    // RFC 3370 §3.2: rsaEncryption means PKCS#1 v1.5 with the SignerInfo digestAlgorithm.
    return paramsAbsentOrNull(sig)
      ? { ok: true, alg: { kind: 'RSASSA-PKCS1-v1_5', hash: digest } }
      : { ok: false, reason: 'rsaEncryption parameters are not NULL' };
  }
  const known = signatureOidInfo(sig.oid);
  if (known?.kind === 'rsa-pkcs1') {
    if (!paramsAbsentOrNull(sig)) return { ok: false, reason: `${sig.oid} parameters are not NULL` };
    return known.hash === digest ? { ok: true, alg: { kind: 'RSASSA-PKCS1-v1_5', hash: known.hash } } : mismatch(known.hash);
  }
  if (known?.kind === 'ecdsa') {
    // RFC 5758 §3.2: the parameters MUST be omitted, and we never write them. gpgsm 2.2 writes NULL there;
    // OpenSSL reads it, and a NULL carries nothing that could change what is verified, so it is read too.
    // Anything else is refused rather than guessed at.
    if (!paramsAbsentOrNull(sig)) return { ok: false, reason: `${sig.oid} parameters must be absent (RFC 5758 §3.2) or NULL` };
    return known.hash === digest ? { ok: true, alg: { kind: 'ECDSA', hash: known.hash } } : mismatch(known.hash);
  }
  if (sig.oid === Oids.ecPublicKey) return { ok: true, alg: { kind: 'ECDSA', hash: digest } };
  if (sig.oid === Oids.rsassaPss) return interpretPss(sig, digest);
  return { ok: false, reason: `signatureAlgorithm ${sig.oid} is not supported` };
}

/** RFC 4055 §3.1 RSASSA-PSS-params with their DEFAULTs (SHA-1, MGF1-SHA-1, salt 20, trailer 1). */
function interpretPss(sig: AlgorithmIdentifier, digest: SignerDigestAlgorithm): VerifyAlgorithmResult {
  const p = sig.parameters;
  if (!berIs(p, TagClass.universal, UniversalTag.sequence, true))
    return { ok: false, reason: 'RSASSA-PSS parameters are missing (RFC 4056 §2 requires them in CMS)' };
  let hash: DigestAlgorithm = 'SHA-1';
  let mgfHash: DigestAlgorithm = 'SHA-1';
  let saltLength = 20;
  let last = -1;
  try {
    for (const field of p.children) {
      if (field.tagClass !== TagClass.context || !field.constructed || field.children.length !== 1 || field.tagNumber <= last || field.tagNumber > 3) {
        return { ok: false, reason: 'RSASSA-PSS parameters are malformed' };
      }
      last = field.tagNumber;
      const v = field.children[0]!;
      if (field.tagNumber === 0) {
        const h = readAlgorithmIdentifier(v, 'the PSS hashAlgorithm');
        const d = digestAlgorithmFromOid(h.oid);
        if (!d || !paramsAbsentOrNull(h)) return { ok: false, reason: `PSS hash ${h.oid} is not supported` };
        hash = d;
      } else if (field.tagNumber === 1) {
        const m = readAlgorithmIdentifier(v, 'the PSS maskGenAlgorithm');
        if (m.oid !== Oids.mgf1 || !m.parameters) return { ok: false, reason: `PSS mask generation ${m.oid} is not supported` };
        const mh = readAlgorithmIdentifier(m.parameters, 'the MGF1 hash');
        const d = digestAlgorithmFromOid(mh.oid);
        if (!d || !paramsAbsentOrNull(mh)) return { ok: false, reason: `MGF1 hash ${mh.oid} is not supported` };
        mgfHash = d;
      } else if (field.tagNumber === 2) {
        const s = berInteger(v, 'the PSS saltLength');
        if (s < 0n || s > 1024n) return { ok: false, reason: `PSS saltLength ${s} is out of range` };
        saltLength = Number(s);
      } else if (berInteger(v, 'the PSS trailerField') !== 1n) {
        return { ok: false, reason: 'PSS trailerField is not 1 (RFC 4055 §3.1)' };
      }
    }
  } catch {
    return { ok: false, reason: 'RSASSA-PSS parameters are malformed' };
  }
  // node:crypto (OpenSSL) uses the signature hash for MGF1 too, so a different MGF1 hash is refused.
  if (mgfHash !== hash) return { ok: false, reason: `PSS with MGF1-${mgfHash} and hash ${hash} is not supported` };
  if (hash !== digest) return { ok: false, reason: `PSS hash ${hash} differs from digestAlgorithm ${digest}` };
  return { ok: true, alg: { kind: 'RSASSA-PSS', hash, saltLength } };
}
