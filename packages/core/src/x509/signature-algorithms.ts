/**
 * Signature algorithms for certificates and CRLs: the AlgorithmIdentifiers we write, and checking
 * the ones we read.
 *
 * Checks use node:crypto rather than WebCrypto: it takes the DER ECDSA-Sig-Value that X.509 carries
 * (RFC 3279 §2.2.3) without conversion, accepts any RSA-PSS salt length, and imports
 * both rsaEncryption and id-RSASSA-PSS SubjectPublicKeyInfos; the test bed targets Node 20 only.
 */
import * as crypto from 'node:crypto';
import type * as asn1js from 'asn1js';
import { SsmaxError } from '../errors.js';
import type { PrivateKeyOps } from '../keys.js';
import { Oids } from '../oids.js';
import type { SignScheme } from '../tokens/token.js';
import type { DerReader } from './der-reader.js';
import { ctxConstructed, nullDer, oid, seq, smallInteger } from './der-writer.js';
import { X509Oids } from './x509-oids.js';

/** What we understood from a signature AlgorithmIdentifier. */
export type SignatureAlgorithm =
  | { readonly kind: 'rsa-pkcs1'; readonly oid: string; readonly hash: HashName }
  | { readonly kind: 'rsa-pss'; readonly oid: string; readonly hash: HashName; readonly saltLength: number }
  | { readonly kind: 'ecdsa'; readonly oid: string; readonly hash: HashName }
  | { readonly kind: 'unsupported'; readonly oid: string; readonly reason: string };

export type HashName = 'sha256' | 'sha384' | 'sha512';

const HASH_BY_OID: Record<string, HashName> = {
  [Oids.sha256]: 'sha256',
  [Oids.sha384]: 'sha384',
  [Oids.sha512]: 'sha512',
};

/** AlgorithmIdentifier for signing with `scheme` (PrivateKeyOps always hashes with SHA-256). */
export function signatureAlgorithmDer(scheme: SignScheme): Uint8Array {
  switch (scheme) {
    case 'RSASSA-PKCS1-v1_5-SHA256':
      // RFC 4055 §5: parameters NULL for sha256WithRSAEncryption.
      return seq(oid(Oids.sha256WithRSAEncryption), nullDer());
    case 'RSASSA-PSS-SHA256': {
      // RFC 4055 §3.1: SHA-256, MGF1-SHA-256, salt 32 (= hash length, as SoftwareKey signs); hash
      // parameters absent (the preferred encoding per RFC 4055 §2.1).
      const sha256 = seq(oid(Oids.sha256));
      return seq(oid(Oids.rsassaPss), seq(ctxConstructed(0, sha256), ctxConstructed(1, seq(oid(Oids.mgf1), sha256)), ctxConstructed(2, smallInteger(32))));
    }
    case 'ECDSA-SHA256':
      // RFC 5758 §3.2: parameters absent.
      return seq(oid(Oids.ecdsaWithSHA256));
  }
}

/** Picks the scheme for an issuer key: the requested one, else PKCS#1 v1.5 for RSA and ECDSA for EC. */
export function chooseScheme(key: PrivateKeyOps, requested: SignScheme | undefined): SignScheme {
  const scheme = requested ?? (key.algorithm === 'EC-P256' ? 'ECDSA-SHA256' : 'RSASSA-PKCS1-v1_5-SHA256');
  if (!key.signSchemes.includes(scheme)) {
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme}. The issuer key (${key.algorithm}) supports ${key.signSchemes.join(', ') || 'no scheme'}.`);
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
  return HASH_BY_OID[id] ?? id;
}

/** Reads a signature AlgorithmIdentifier. Unknown or weak algorithms come back as `unsupported`. */
export function readSignatureAlgorithm(r: DerReader, node: asn1js.AsnType | undefined, name: string): SignatureAlgorithm {
  const [o, params, ...extra] = r.sequence(node, name);
  const id = r.oid(o, `${name} algorithm`);
  if (extra.length > 0) r.fail(`${name} has extra fields`);
  const nullOrAbsent = params === undefined || r.isUniversal(params, 5);
  const pkcs1: Record<string, HashName> = {
    [Oids.sha256WithRSAEncryption]: 'sha256',
    [X509Oids.sha384WithRSAEncryption]: 'sha384',
    [X509Oids.sha512WithRSAEncryption]: 'sha512',
  };
  const ecdsa: Record<string, HashName> = {
    [Oids.ecdsaWithSHA256]: 'sha256',
    [X509Oids.ecdsaWithSHA384]: 'sha384',
    [X509Oids.ecdsaWithSHA512]: 'sha512',
  };
  if (pkcs1[id]) {
    if (!nullOrAbsent) r.fail(`${name} has parameters that are not NULL`);
    return { kind: 'rsa-pkcs1', oid: id, hash: pkcs1[id] };
  }
  if (ecdsa[id]) {
    // RFC 5758 §3.2: parameters MUST be absent.
    if (params !== undefined) r.fail(`${name} (ECDSA) has parameters`);
    return { kind: 'ecdsa', oid: id, hash: ecdsa[id] };
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
          if (r.oid(mo, 'PSS maskGenAlgorithm') !== Oids.mgf1 || mx.length > 0) return { kind: 'unsupported', oid: id, reason: 'the PSS mask generation function is not MGF1' };
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

/** Verifies `signature` over `data` with the public key in `spki`. Never throws. */
export function verifySignature(alg: SignatureAlgorithm, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): SignatureCheck {
  if (alg.kind === 'unsupported') return { ok: false, reason: alg.reason };
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, reason: 'the issuer public key cannot be imported' };
  }
  const type = key.asymmetricKeyType;
  try {
    if (alg.kind === 'ecdsa') {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (type !== 'ec' || (curve !== 'prime256v1' && curve !== 'secp384r1')) return { ok: false, reason: `an ECDSA signature needs a P-256 or P-384 key, the issuer key is ${type} ${curve ?? ''}`.trim() };
      return crypto.verify(alg.hash, data, { key, dsaEncoding: 'der' }, signature) ? { ok: true } : { ok: false, reason: 'the ECDSA signature does not verify' };
    }
    if (type !== 'rsa' && type !== 'rsa-pss') return { ok: false, reason: `an RSA signature needs an RSA key, the issuer key is ${type ?? 'unknown'}` };
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return { ok: false, reason: 'the issuer RSA key is shorter than 2048 bits' };
    if (alg.kind === 'rsa-pss') {
      const ok = crypto.verify(alg.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature);
      return ok ? { ok: true } : { ok: false, reason: 'the RSA-PSS signature does not verify' };
    }
    if (type === 'rsa-pss') return { ok: false, reason: 'an id-RSASSA-PSS key cannot make PKCS#1 v1.5 signatures' };
    const ok = crypto.verify(alg.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
    return ok ? { ok: true } : { ok: false, reason: 'the RSA PKCS#1 v1.5 signature does not verify' };
  } catch {
    return { ok: false, reason: 'the signature is malformed' };
  }
}
