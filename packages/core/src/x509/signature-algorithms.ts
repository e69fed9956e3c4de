/**
 * Signature algorithms for certificates and CRLs: the X.509 acceptance policy (no SHA-1, RSA keys of
 * at least 2048 bits) over the shared register in ../signature-algorithms.ts, and reading the
 * AlgorithmIdentifiers of parsed certificates and CRLs.
 */
import type * as asn1js from 'asn1js';
import { digestAlgorithmFromOid, nodeHashName } from '../cms/common/algorithm-identifier.js';
import { SsmaxError } from '../errors.js';
import type { PrivateKeyOps } from '../keys.js';
import { Oids } from '../oids.js';
import { checkSignature, eddsaCurveOfOid, signatureOidInfo, type EdDsaCurve } from '../signature-algorithms.js';
import { isEdDsa, type SignScheme } from '../tokens/token.js';
import type { DerReader } from './der-reader.js';

/** What we understood from a signature AlgorithmIdentifier. */
export type SignatureAlgorithm =
  | { readonly kind: 'rsa-pkcs1'; readonly oid: string; readonly hash: HashName }
  | { readonly kind: 'rsa-pss'; readonly oid: string; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: 'ecdsa'; readonly oid: string; readonly hash: HashName }
  | { readonly kind: 'eddsa'; readonly oid: string; readonly curve: EdDsaCurve }
  | { readonly kind: 'unsupported'; readonly oid: string; readonly reason: string };

export type HashName = 'sha256' | 'sha384' | 'sha512';

/** Picks the scheme for an issuer key: the requested one, else PKCS#1 v1.5 for RSA and ECDSA for EC. */
export function chooseScheme(key: PrivateKeyOps, requested: SignScheme | undefined): SignScheme {
  const scheme = requested ?? (key.algorithm === 'EC-P256' ? 'ECDSA-SHA256' : isEdDsa(key.algorithm) ? key.algorithm : 'RSASSA-PKCS1-v1_5-SHA256');
  if (!key.signSchemes.includes(scheme)) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot sign with ${scheme}. The issuer key (${key.algorithm}) supports ${key.signSchemes.join(', ') || 'no scheme'}.`,
    );
  }
  return scheme;
}

export async function signWith(key: PrivateKeyOps, scheme: SignScheme, tbs: Uint8Array): Promise<Uint8Array> {
  try {
    return await key.sign(scheme, tbs);
  } catch (cause) {
    if (cause instanceof SsmaxError) throw cause;
    throw new SsmaxError('TOKEN_ERROR', `Cannot sign with ${scheme}. The issuer key failed.`, { cause });
  }
}

function hashAlgorithm(r: DerReader, node: asn1js.AsnType | undefined, name: string): HashName | string {
  const [o, params, ...extra] = r.sequence(node, name);
  const id = r.oid(o, `${name} algorithm`);
  if (extra.length > 0 || (params !== undefined && !r.isUniversal(params, 5))) r.fail(`${name} has unexpected parameters`);
  const d = digestAlgorithmFromOid(id);
  return d !== undefined && d !== 'SHA-1' ? (nodeHashName(d) as HashName) : id;
}

/** Reads a signature AlgorithmIdentifier. Unknown or weak algorithms come back as `unsupported`. */
export function readSignatureAlgorithm(r: DerReader, node: asn1js.AsnType | undefined, name: string): SignatureAlgorithm {
  const [o, params, ...extra] = r.sequence(node, name);
  const id = r.oid(o, `${name} algorithm`);
  if (extra.length > 0) r.fail(`${name} has extra fields`);
  const nullOrAbsent = params === undefined || r.isUniversal(params, 5);
  const known = signatureOidInfo(id);
  const hash = known && known.hash !== 'SHA-1' ? (nodeHashName(known.hash) as HashName) : undefined;
  if (known?.kind === 'rsa-pkcs1' && hash) {
    if (!nullOrAbsent) r.fail(`${name} has parameters that are not NULL`);
    return { kind: 'rsa-pkcs1', oid: id, hash };
  }
  if (known?.kind === 'ecdsa' && hash) {
    // RFC 5758 §3.2: parameters MUST be absent.
    if (params !== undefined) r.fail(`${name} (ECDSA) has parameters`);
    return { kind: 'ecdsa', oid: id, hash };
  }
  const curve = eddsaCurveOfOid(id);
  if (curve) {
    // RFC 8410 §3: "the parameters MUST be absent".
    if (params !== undefined) r.fail(`${name} (${curve}) has parameters`);
    return { kind: 'eddsa', oid: id, curve };
  }
  if (id === Oids.rsassaPss) {
    // RFC 4055 §3.1 RSASSA-PSS-params; defaults are SHA-1 / MGF1-SHA-1 / 20 / trailer 1.
    let hash: string = 'sha1';
    let mgfHash: string = 'sha1';
    let saltLength = 20;
    for (const field of params ? r.sequence(params, `${name} parameters`) : []) {
      const [inner, ...more] = r.children(field, `${name} parameter`);
      if (more.length > 0 || field.idBlock.tagClass !== 3) r.fail(`${name} parameters are malformed`);
      switch (field.idBlock.tagNumber) {
        case 0:
          hash = hashAlgorithm(r, inner, 'PSS hashAlgorithm');
          break;
        case 1: {
          const [mo, mp, ...mx] = r.sequence(inner, 'PSS maskGenAlgorithm');
          if (r.oid(mo, 'PSS maskGenAlgorithm') !== Oids.mgf1 || mx.length > 0)
            return { kind: 'unsupported', oid: id, reason: 'the PSS mask generation function is not MGF1' };
          mgfHash = hashAlgorithm(r, mp, 'MGF1 hash');
          break;
        }
        case 2:
          saltLength = r.smallInt(inner, 'PSS saltLength');
          break;
        case 3:
          if (r.smallInt(inner, 'PSS trailerField') !== 1) r.fail(`${name} trailerField is not 1`);
          break;
        default:
          r.fail(`${name} parameters hold an unknown field [${field.idBlock.tagNumber}]`);
      }
    }
    if (!['sha256', 'sha384', 'sha512'].includes(hash)) return { kind: 'unsupported', oid: id, reason: `RSA-PSS with hash ${hash} is not accepted` };
    // node:crypto uses the message hash for MGF1 too (RFC 8017 allows otherwise; nobody issues that).
    if (mgfHash !== hash) return { kind: 'unsupported', oid: id, reason: 'RSA-PSS with an MGF1 hash different from the message hash is not supported' };
    return { kind: 'rsa-pss', oid: id, hash: hash as HashName, saltLength };
  }
  return { kind: 'unsupported', oid: id, reason: `signature algorithm ${id} is not accepted (SHA-1 and unknown algorithms are refused)` };
}

export type SignatureCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Verifies `signature` over `data` with the issuer public key in `spki`. Never throws. */
export function verifySignature(alg: SignatureAlgorithm, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): SignatureCheck {
  if (alg.kind === 'unsupported') return { ok: false, reason: alg.reason };
  const check =
    alg.kind === 'rsa-pss'
      ? { kind: 'rsa-pss' as const, nodeHash: alg.hash, saltLength: alg.saltLength }
      : alg.kind === 'eddsa'
        ? { kind: 'eddsa' as const, curve: alg.curve }
        : { kind: alg.kind, nodeHash: alg.hash };
  const r = checkSignature(check, spki, data, signature, 'the issuer', {
    minRsaBits: 2048,
    pssKeyOnlyPss: true,
  });
  return r.ok ? r : { ok: false, reason: r.reason };
}
