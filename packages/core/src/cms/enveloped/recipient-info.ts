/**
 * RecipientInfo construction and content-encryption-key recovery (RFC 5652 §6.2), issue 12:
 * - KeyTransRecipientInfo: RSAES-OAEP with SHA-1/256/384/512 (RFC 8017 §7.1, RFC 4055 §4.1); RSAES-PKCS1-v1_5
 *   read only, with implicit rejection (pkcs1v15.ts);
 * - KeyAgreeRecipientInfo: ephemeral-static ECDH on P-256/384/521 (RFC 5753) and X25519/X448 (RFC 8418) with
 *   the X9.63 or HKDF KDFs and AES key wrap (key-agreement.ts);
 * - KEKRecipientInfo: a shared AES key wrap key named by an identifier (RFC 5652 §6.2.3, RFC 3565 §2.3.2);
 * - PasswordRecipientInfo: PBKDF2 (RFC 8018) and the PWRI-KEK wrap (RFC 3211).
 * Private-key operations go through {@link PrivateKeyOps}, so token keys work unchanged.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import type { OaepHash } from '../../tokens/token.js';
import { derBitString, derEncode, derExplicit, derImplicit, derInteger, derNull, derOctetString, derOid, derSequence } from '../../der/der-writer.js';
import { encodeAlgorithmIdentifier as algId } from '../common/algorithm-identifier.js';
import {
  children,
  decodeOid,
  decodeSmallInteger,
  expectTag,
  malformed,
  octetValue,
  paramsAbsentOrNull,
  raw,
  readAlgId,
  readNode,
  Tag,
  value,
  type Node,
} from './ber-node-reader.js';
import {
  CURVES,
  curveOfKeyAlgorithm,
  deriveKek,
  ephemeralKey,
  isAllZero,
  kdfOid,
  KARI_KDFS,
  originatorAlgorithm,
  sharedInfo,
  spkiOf,
} from './key-agreement.js';
import { AES_WRAP, aesKeyUnwrap, aesKeyWrap, aesWrapOid, PWRI_CIPHERS, pwriUnwrap, pwriWrap } from './key-wrap.js';
import { decryptPkcs1v15ContentKey } from './pkcs1v15.js';
import { EC_CURVE_OIDS, type AgreementCurve, type RecipientCertificate } from './recipient-certificate.js';

export type RandomSource = (n: number) => Uint8Array;

/** A KEK shared out of band (kekri; openssl's -secretkey / -secretkeyid). */
export interface SecretKeyRecipient {
  /** KEKIdentifier.keyIdentifier. */
  readonly id: Uint8Array;
  /** The AES key-encryption key: 16, 24 or 32 bytes. */
  readonly key: Uint8Array;
}

/** A password recipient (pwri; openssl's -pwri_password). */
export interface PasswordRecipient {
  readonly password: Uint8Array | string;
  /** PBKDF2 iterations when writing; default 600 000 (OWASP 2023 for HMAC-SHA-256). */
  readonly iterations?: number;
}

/** How a certificate recipient is written. */
export interface CertificateRecipientOptions {
  /** RSA-OAEP hash (and MGF1 hash); default SHA-256. */
  readonly oaepHash?: OaepHash;
  /** Key agreement KDF: X9.63 (default) or HKDF (RFC 8418 §2.2; X25519/X448 recipients only). */
  readonly kdf?: 'x963' | 'hkdf';
}

const PBKDF2_DEFAULT_ITERATIONS = 600_000;
/** Above this a foreign message's iteration count is a denial of service, not a password hash. */
const PBKDF2_MAX_ITERATIONS = 10_000_000;

const OAEP_HASH_OIDS: Readonly<Record<OaepHash, string>> = { 'SHA-1': Oids.sha1, 'SHA-256': Oids.sha256, 'SHA-384': Oids.sha384, 'SHA-512': Oids.sha512 };

// ---------------------------------------------------------------------------------------------
// Encryption side

/** RSAES-OAEP-params (RFC 4055 §4.1): SHA-1 is the all-default empty SEQUENCE. */
function oaepParams(hash: OaepHash): Uint8Array {
  if (hash === 'SHA-1') return derEncode(derSequence());
  const h = algId(OAEP_HASH_OIDS[hash]);
  return derEncode(derSequence(derExplicit(0, h), derExplicit(1, algId(Oids.mgf1, h))));
}

/** Public keys of parsed (and cached, see recipient-certificate.ts) certificates: decoding the SPKI every message costs. */
const publicKeys = new WeakMap<RecipientCertificate, crypto.KeyObject>();

function buildKtri(cert: RecipientCertificate, cek: Uint8Array, hash: OaepHash): Uint8Array {
  let pub = publicKeys.get(cert);
  if (!pub) {
    pub = crypto.createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
    publicKeys.set(cert, pub);
  }
  const encryptedKey = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.replace('-', '').toLowerCase() }, cek);
  // RFC 5652 §6.2.1: version 0 with issuerAndSerialNumber.
  return derEncode(derSequence(derInteger(0), cert.issuerAndSerial, algId(Oids.rsaesOaep, oaepParams(hash)), derOctetString(encryptedKey)));
}

function buildKari(cert: RecipientCertificate, cek: Uint8Array, random: RandomSource, kdfKind: 'x963' | 'hkdf'): Uint8Array {
  const curve = cert.curve as AgreementCurve;
  const spec = CURVES[curve];
  if (kdfKind === 'hkdf' && spec.ec) {
    throw new SsmaxError(
      'USAGE',
      `Cannot encrypt to the ${curve} recipient with HKDF. RFC 8418 defines the HKDF schemes for X25519 and X448; NIST curves use the X9.63 KDF.`,
    );
  }
  const eph = ephemeralKey(curve, random);
  let z: Uint8Array;
  try {
    z = eph.agree(cert.ecPoint ?? new Uint8Array());
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot encrypt to the ${curve} recipient. Its public key is not a valid ${curve} point.`, { cause });
  }
  if (isAllZero(z))
    throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot encrypt to the ${curve} recipient. Its public key is a low-order point (RFC 7748 §6).`);
  // The KEK is at least as strong as the CEK: AES-128 content gets an AES-128 wrap, the rest AES-256.
  const wrapOid = aesWrapOid(cek.byteLength <= 16 ? 16 : 32);
  const wrapAlg = algId(wrapOid);
  const kdf = { kind: kdfKind, hash: spec.kdfHash } as const;
  const kekLen = AES_WRAP[wrapOid]!.kekLength;
  const kek = deriveKek(kdf, z, sharedInfo(wrapAlg, undefined, kekLen * 8), kekLen);
  const wrapped = aesKeyWrap(wrapOid, kek, cek);
  kek.fill(0);
  z.fill(0);
  // RFC 5753 §3.1.1 / RFC 8418 §2: originatorKey [1] OriginatorPublicKey.
  const originatorKey = derImplicit(1, true, originatorAlgorithm(curve), derBitString(eph.publicKey));
  return derEncode(
    derImplicit(
      1, // [1] IMPLICIT KeyAgreeRecipientInfo
      true,
      derInteger(3),
      derExplicit(0, originatorKey),
      algId(kdfOid(kdfKind, spec.kdfHash), wrapAlg),
      derSequence(derSequence(cert.issuerAndSerial, derOctetString(wrapped))),
    ),
  );
}

function buildKekri(r: SecretKeyRecipient, cek: Uint8Array): Uint8Array {
  const wrapOid = aesWrapOid(r.key.byteLength);
  const wrapped = aesKeyWrap(wrapOid, r.key, cek);
  // RFC 5652 §6.2.3: version 4, KEKIdentifier { keyIdentifier }.
  return derEncode(derImplicit(2, true, derInteger(4), derSequence(derOctetString(r.id)), algId(wrapOid), derOctetString(wrapped)));
}

function utf8(p: Uint8Array | string): Uint8Array {
  return typeof p === 'string' ? new Uint8Array(Buffer.from(p, 'utf8')) : p;
}

function buildPwri(r: PasswordRecipient, cek: Uint8Array, random: RandomSource): Uint8Array {
  const iterations = r.iterations ?? PBKDF2_DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1000 || iterations > PBKDF2_MAX_ITERATIONS) {
    throw new SsmaxError('USAGE', `Cannot encrypt to a password. ${iterations} PBKDF2 iterations is outside 1000..${PBKDF2_MAX_ITERATIONS}.`);
  }
  const salt = random(16);
  const iv = random(16);
  const kek = new Uint8Array(crypto.pbkdf2Sync(utf8(r.password), salt, iterations, 32, 'sha256'));
  const wrapped = pwriWrap(Oids.aes256Cbc, kek, iv, cek, random);
  kek.fill(0);
  // RFC 8018 §A.2 PBKDF2-params with prf hmacWithSHA256; RFC 3211 §2.2 keyDerivationAlgorithm [0]. The optional
  // keyLength is left out (the KEK cipher fixes it): gpgsm 2.2 reads salt, iterationCount, prf only.
  const pbkdf2Params = derSequence(derOctetString(salt), derInteger(iterations), algId(Oids.hmacWithSha256, derNull()));
  return derEncode(
    derImplicit(
      3, // [3] IMPLICIT PasswordRecipientInfo
      true,
      derInteger(0),
      derImplicit(0, true, derOid(Oids.pbkdf2), pbkdf2Params),
      algId(Oids.pwriKek, algId(Oids.aes256Cbc, derOctetString(iv))),
      derOctetString(wrapped),
    ),
  );
}

export type RecipientSpec =
  | { readonly kind: 'certificate'; readonly cert: RecipientCertificate; readonly options?: CertificateRecipientOptions }
  | { readonly kind: 'kek'; readonly recipient: SecretKeyRecipient }
  | { readonly kind: 'password'; readonly recipient: PasswordRecipient };

/** One RecipientInfo (DER) and its version, for the EnvelopedData version rule (RFC 5652 §6.1). */
export function buildRecipientInfo(
  spec: RecipientSpec,
  cek: Uint8Array,
  random: RandomSource,
): { der: Uint8Array; version: number; kind: 'ktri' | 'kari' | 'kekri' | 'pwri' } {
  if (spec.kind === 'kek') return { der: buildKekri(spec.recipient, cek), version: 4, kind: 'kekri' };
  if (spec.kind === 'password') return { der: buildPwri(spec.recipient, cek, random), version: 0, kind: 'pwri' };
  const { cert, options } = spec;
  if (cert.kind === 'rsa') return { der: buildKtri(cert, cek, options?.oaepHash ?? 'SHA-256'), version: 0, kind: 'ktri' };
  return { der: buildKari(cert, cek, random, options?.kdf ?? 'x963'), version: 3, kind: 'kari' };
}

// ---------------------------------------------------------------------------------------------
// Decryption side

/** What the caller can open recipients with. */
export interface RecipientCredentials {
  readonly key?: PrivateKeyOps;
  /** With `key`: only RecipientInfos naming this certificate are tried. */
  readonly certificate?: RecipientCertificate;
  readonly secretKey?: SecretKeyRecipient;
  readonly password?: Uint8Array | string;
}

/** How the content-encryption key was recovered, for EnvelopeInfo. */
export interface KeyManagement {
  readonly recipient: 'ktri' | 'kari' | 'kekri' | 'pwri';
  /** e.g. 'RSAES-OAEP-SHA-256', 'RSAES-PKCS1-v1_5', 'ECDH-X25519+HKDF-SHA256+AES-256-WRAP'. */
  readonly algorithm: string;
  /** Set when the algorithm is only read for old mail. */
  readonly legacy?: string;
}

interface Attempt {
  readonly cek: Uint8Array;
  readonly via: KeyManagement;
}

interface Candidate {
  readonly kind: 'ktri' | 'kari' | 'kekri' | 'pwri';
  readonly rid?: { type: 'issuerAndSerial' | 'ski'; bytes: Uint8Array };
  /** RSA PKCS#1 v1.5: never fails on a wrong key or padding (implicit rejection), so it is tried last. */
  readonly implicit?: boolean;
  readonly attempt: () => Promise<Attempt>;
}

function readRid(buf: Uint8Array, n: Node | undefined, what: string): NonNullable<Candidate['rid']> {
  if (!n) throw malformed(`${what} is missing`);
  if (n.tag === Tag.SEQUENCE) return { type: 'issuerAndSerial', bytes: raw(buf, n) };
  if (n.tag === 0x80) return { type: 'ski', bytes: value(buf, n) };
  // KeyAgreeRecipientIdentifier rKeyId [0] IMPLICIT RecipientKeyIdentifier (RFC 5652 §6.2.2)
  if (n.tag === 0xa0) return { type: 'ski', bytes: octetValue(buf, expectTag(children(buf, n)[0], Tag.OCTET_STRING, 'subjectKeyIdentifier'), what) };
  throw malformed(`${what} is neither issuerAndSerialNumber nor a key identifier`);
}

function hashOfAlgId(buf: Uint8Array, n: Node, what: string): OaepHash {
  const { oid, params } = readAlgId(buf, n, what);
  if (!paramsAbsentOrNull(buf, params)) throw malformed(`${what} has unexpected parameters`);
  const hash = (Object.keys(OAEP_HASH_OIDS) as OaepHash[]).find((h) => OAEP_HASH_OIDS[h] === oid);
  if (!hash)
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content-encryption key. RSA-OAEP with hash ${oid} is not supported (SHA-1, SHA-256, SHA-384 or SHA-512).`,
    );
  return hash;
}

/** RSAES-OAEP-params (RFC 8017 A.2.1): defaults are SHA-1, MGF1-SHA-1, empty label. */
function parseOaepParams(buf: Uint8Array, params: Node | undefined): OaepHash {
  let hash: OaepHash = 'SHA-1';
  let mgfHash: OaepHash = 'SHA-1';
  if (params && !paramsAbsentOrNull(buf, params)) {
    for (const f of children(buf, expectTag(params, Tag.SEQUENCE, 'RSAES-OAEP-params'))) {
      const inner = children(buf, f)[0];
      if (!inner) throw malformed('An RSAES-OAEP-params field is empty');
      if (f.tag === 0xa0) hash = hashOfAlgId(buf, inner, 'hashAlgorithm');
      else if (f.tag === 0xa1) {
        const mgf = readAlgId(buf, inner, 'maskGenAlgorithm');
        if (mgf.oid !== Oids.mgf1 || !mgf.params)
          throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. Only MGF1 is supported.');
        mgfHash = hashOfAlgId(buf, mgf.params, 'MGF1 hash');
      } else if (f.tag === 0xa2) {
        const ps = readAlgId(buf, inner, 'pSourceAlgorithm');
        if (ps.oid !== Oids.pSpecified || !ps.params || octetValue(buf, ps.params, 'label').byteLength !== 0) {
          throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. An OAEP label is not supported.');
        }
      } else throw malformed('RSAES-OAEP-params has an unknown field');
    }
  }
  if (hash !== mgfHash) {
    throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. OAEP with ${hash} and MGF1-${mgfHash} is not supported.`);
  }
  return hash;
}

const wrongLength = () => new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content. The recovered key has the wrong length.');

function ktriCandidate(buf: Uint8Array, ri: Node, key: PrivateKeyOps, keyLen: number): Candidate {
  const [ver, ridNode, alg, ek, extra] = children(buf, ri);
  if (!ver || !alg || !ek || extra) throw malformed('KeyTransRecipientInfo does not have four fields');
  decodeSmallInteger(buf, ver, 'KeyTransRecipientInfo version');
  const rid = readRid(buf, ridNode, 'KeyTransRecipientInfo rid');
  const { oid, params } = readAlgId(buf, alg, 'keyEncryptionAlgorithm');
  const encryptedKey = octetValue(buf, expectTag(ek, Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
  if (oid === Oids.rsaEncryption) {
    if (!paramsAbsentOrNull(buf, params)) throw malformed('rsaEncryption key transport has parameters');
    return {
      kind: 'ktri',
      rid,
      implicit: true,
      attempt: async () => ({
        cek: await decryptPkcs1v15ContentKey(key, encryptedKey, keyLen),
        via: { recipient: 'ktri', algorithm: 'RSAES-PKCS1-v1_5', legacy: 'RSA PKCS#1 v1.5 key transport (RFC 8017 §7.2; read for old mail, never written)' },
      }),
    };
  }
  return {
    kind: 'ktri',
    rid,
    attempt: async () => {
      if (oid !== Oids.rsaesOaep) {
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          `Cannot decrypt the content-encryption key. Key transport ${oid} is not supported (RSAES-OAEP or RSAES-PKCS1-v1_5).`,
        );
      }
      const hash = parseOaepParams(buf, params);
      if (!key.oaepHashes.includes(hash)) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. The key does not support OAEP with ${hash}.`);
      }
      const cek = await key.decryptRsaOaep(hash, encryptedKey);
      if (cek.byteLength !== keyLen) throw wrongLength();
      return { cek, via: { recipient: 'ktri', algorithm: `RSAES-OAEP-${hash}` } };
    },
  };
}

function kariCandidates(buf: Uint8Array, ri: Node, key: PrivateKeyOps, keyLen: number): Candidate[] {
  const fields = children(buf, ri);
  let i = 0;
  decodeSmallInteger(buf, expectTag(fields[i++], Tag.INTEGER, 'KeyAgreeRecipientInfo version'), 'version');
  const originator = children(buf, expectTag(fields[i++], 0xa0, 'originator'))[0];
  let ukm: Uint8Array | undefined;
  if (fields[i]?.tag === 0xa1) ukm = octetValue(buf, expectTag(children(buf, fields[i++] as Node)[0], Tag.OCTET_STRING, 'ukm'), 'ukm');
  const kea = expectTag(fields[i++], Tag.SEQUENCE, 'keyEncryptionAlgorithm');
  const reks = children(buf, expectTag(fields[i++], Tag.SEQUENCE, 'recipientEncryptedKeys'));
  if (fields[i]) throw malformed('KeyAgreeRecipientInfo has unexpected trailing fields');
  const keaAlg = readAlgId(buf, kea, 'keyEncryptionAlgorithm');

  const agree = async (wrapped: Uint8Array): Promise<Attempt> => {
    const curve = curveOfKeyAlgorithm(key.algorithm);
    if (!curve) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. A ${key.algorithm} key cannot do key agreement.`);
    if (!originator || originator.tag !== 0xa1) {
      throw new SsmaxError(
        'UNSUPPORTED_ALGORITHM',
        'Cannot decrypt the content-encryption key. Only an ephemeral originatorKey is supported for key agreement.',
      );
    }
    const [oAlg, oKey] = children(buf, originator);
    const o = readAlgId(buf, expectTag(oAlg, Tag.SEQUENCE, 'originatorKey algorithm'), 'originatorKey algorithm');
    const spec = CURVES[curve];
    if (spec.ec) {
      if (o.oid !== Oids.ecPublicKey)
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          `Cannot decrypt the content-encryption key. Originator key ${o.oid} is not an EC key; the recipient key is ${curve}.`,
        );
      // RFC 5753 §7.1.1: parameters absent or NULL (the recipient's curve), or the same named curve.
      if (o.params && !paramsAbsentOrNull(buf, o.params) && EC_CURVE_OIDS[decodeOid(buf, o.params, 'curve')] !== curve) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. The originator key is not on ${curve}.`);
      }
    } else if (o.oid !== spec.oid || o.params) {
      // RFC 8418 §2: id-X25519 / id-X448 with absent parameters.
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Originator key ${o.oid} is not a ${curve} key.`);
    }
    const bits = value(buf, expectTag(oKey, Tag.BIT_STRING, 'originator publicKey'));
    if (bits[0] !== 0) throw malformed('The originator public key has unused bits');
    const kdf = KARI_KDFS[keaAlg.oid];
    if (!kdf)
      throw new SsmaxError(
        'UNSUPPORTED_ALGORITHM',
        `Cannot decrypt the content-encryption key. Key agreement ${keaAlg.oid} is not supported (dhSinglePass X9.63 or RFC 8418 HKDF schemes).`,
      );
    if (!keaAlg.params) throw malformed('The key agreement algorithm has no key-wrap algorithm');
    const wrap = readAlgId(buf, keaAlg.params, 'KeyWrapAlgorithm');
    const w = AES_WRAP[wrap.oid];
    if (!w)
      throw new SsmaxError(
        'UNSUPPORTED_ALGORITHM',
        `Cannot decrypt the content-encryption key. Key wrap ${wrap.oid} is not supported (AES-128/192/256 key wrap).`,
      );
    let z: Uint8Array;
    try {
      z = await key.deriveEcdh(spkiOf(curve, bits.subarray(1)));
    } catch (e) {
      if (SsmaxError.is(e, 'MALFORMED_DER') || SsmaxError.is(e, 'MALFORMED_KEY')) throw malformed(`The originator public key is not a valid ${curve} point`, e);
      throw e;
    }
    // RFC 7748 §6.1: a low-order point gives Z = 0; the key is nobody's.
    if (isAllZero(z)) throw malformed(`The originator public key is a low-order ${curve} point`);
    // RFC 5753 §7.2: keyInfo is the KeyWrapAlgorithm exactly as sent.
    const kek = deriveKek(kdf, z, sharedInfo(raw(buf, keaAlg.params), ukm, w.kekLength * 8), w.kekLength, ukm);
    z.fill(0);
    const cek = aesKeyUnwrap(wrap.oid, kek, wrapped);
    kek.fill(0);
    if (cek.byteLength !== keyLen) throw wrongLength();
    return {
      cek,
      via: {
        recipient: 'kari',
        algorithm: `ECDH-${curve}+${kdf.kind === 'hkdf' ? 'HKDF' : 'X9.63'}-${kdf.hash.toUpperCase()}+${w.name.replace('id-', '').toUpperCase()}`,
      },
    };
  };

  return reks.map((rek) => {
    const [ridNode, ek, extra] = children(buf, expectTag(rek, Tag.SEQUENCE, 'RecipientEncryptedKey'));
    if (extra) throw malformed('RecipientEncryptedKey has unexpected trailing fields');
    const rid = readRid(buf, ridNode, 'RecipientEncryptedKey rid');
    const wrapped = octetValue(buf, expectTag(ek, Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
    return { kind: 'kari' as const, rid, attempt: () => agree(wrapped) };
  });
}

/** KEKRecipientInfo (RFC 5652 §6.2.3); only offered when its keyIdentifier is the caller's. */
function kekriCandidate(buf: Uint8Array, ri: Node, secret: SecretKeyRecipient, keyLen: number): Candidate | undefined {
  const [ver, kekid, alg, ek, extra] = children(buf, ri);
  if (!ver || !kekid || !alg || !ek || extra) throw malformed('KEKRecipientInfo does not have four fields');
  decodeSmallInteger(buf, ver, 'KEKRecipientInfo version');
  const id = octetValue(buf, expectTag(children(buf, expectTag(kekid, Tag.SEQUENCE, 'KEKIdentifier'))[0], Tag.OCTET_STRING, 'keyIdentifier'), 'keyIdentifier');
  const { oid } = readAlgId(buf, alg, 'keyEncryptionAlgorithm');
  const wrapped = octetValue(buf, expectTag(ek, Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
  if (Buffer.compare(id, secret.id) !== 0) return undefined;
  return {
    kind: 'kekri',
    attempt: async () => {
      const cek = aesKeyUnwrap(oid, secret.key, wrapped);
      if (cek.byteLength !== keyLen) throw wrongLength();
      return { cek, via: { recipient: 'kekri', algorithm: `KEK+${AES_WRAP[oid]!.name.replace('id-', '').toUpperCase()}` } };
    },
  };
}

const PBKDF2_PRFS: Readonly<Record<string, string>> = {
  [Oids.hmacWithSha1]: 'sha1',
  [Oids.hmacWithSha224]: 'sha224',
  [Oids.hmacWithSha256]: 'sha256',
  [Oids.hmacWithSha384]: 'sha384',
  [Oids.hmacWithSha512]: 'sha512',
};

/** PasswordRecipientInfo (RFC 5652 §6.2.4, RFC 3211 §2.2) with PBKDF2. */
function pwriCandidate(buf: Uint8Array, ri: Node, password: Uint8Array | string, keyLen: number): Candidate {
  const fields = children(buf, ri);
  let i = 0;
  decodeSmallInteger(buf, expectTag(fields[i++], Tag.INTEGER, 'PasswordRecipientInfo version'), 'version');
  const kdaNode = fields[i]?.tag === 0xa0 ? (fields[i++] as Node) : undefined;
  const kea = expectTag(fields[i++], Tag.SEQUENCE, 'keyEncryptionAlgorithm');
  const wrapped = octetValue(buf, expectTag(fields[i++], Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
  if (fields[i]) throw malformed('PasswordRecipientInfo has unexpected trailing fields');
  return {
    kind: 'pwri',
    attempt: async () => {
      if (!kdaNode)
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          'Cannot decrypt the content-encryption key. A password recipient without a key derivation algorithm is not supported.',
        );
      // [0] IMPLICIT KeyDerivationAlgorithmIdentifier: the children are the OID and the parameters.
      const [kdaOid, kdaParams, kdaExtra] = children(buf, kdaNode);
      if (!kdaOid || kdaExtra) throw malformed('keyDerivationAlgorithm is malformed');
      const kdaAlg = decodeOid(buf, kdaOid, 'keyDerivationAlgorithm');
      if (kdaAlg !== Oids.pbkdf2)
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Key derivation ${kdaAlg} is not supported (PBKDF2).`);
      // RFC 8018 §A.2: PBKDF2-params ::= SEQUENCE { salt CHOICE { specified OCTET STRING, ... }, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1 }
      const p = children(buf, expectTag(kdaParams, Tag.SEQUENCE, 'PBKDF2-params'));
      let j = 0;
      const saltNode = p[j++];
      if (saltNode?.tag !== Tag.OCTET_STRING)
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. Only a specified PBKDF2 salt is supported.');
      const salt = value(buf, saltNode);
      const iterations = decodeSmallInteger(buf, expectTag(p[j++], Tag.INTEGER, 'iterationCount'), 'iterationCount');
      let keyLength: number | undefined;
      if (p[j]?.tag === Tag.INTEGER) keyLength = decodeSmallInteger(buf, p[j++] as Node, 'keyLength');
      let prf = 'sha1';
      if (p[j]) {
        const prfAlg = readAlgId(buf, p[j++] as Node, 'prf');
        const name = PBKDF2_PRFS[prfAlg.oid];
        if (!name)
          throw new SsmaxError(
            'UNSUPPORTED_ALGORITHM',
            `Cannot decrypt the content-encryption key. PBKDF2 PRF ${prfAlg.oid} is not supported (HMAC with SHA-1/224/256/384/512).`,
          );
        prf = name;
      }
      if (p[j]) throw malformed('PBKDF2-params has unexpected trailing fields');
      if (iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) {
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          `Cannot decrypt the content-encryption key. ${iterations} PBKDF2 iterations is outside 1..${PBKDF2_MAX_ITERATIONS}.`,
        );
      }
      // RFC 3211 §2.3: id-alg-PWRI-KEK whose parameters name the block cipher and its IV.
      const keaAlg = readAlgId(buf, kea, 'keyEncryptionAlgorithm');
      if (keaAlg.oid !== Oids.pwriKek || !keaAlg.params)
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          `Cannot decrypt the content-encryption key. Password key encryption ${keaAlg.oid} is not supported (id-alg-PWRI-KEK).`,
        );
      const inner = readAlgId(buf, keaAlg.params, 'PWRI-KEK cipher');
      const cipher = PWRI_CIPHERS[inner.oid];
      if (!cipher)
        throw new SsmaxError(
          'UNSUPPORTED_ALGORITHM',
          `Cannot decrypt the content-encryption key. The PWRI-KEK cipher ${inner.oid} is not supported (AES-CBC or 3DES-CBC).`,
        );
      const iv = octetValue(buf, expectTag(inner.params, Tag.OCTET_STRING, 'PWRI-KEK IV'), 'PWRI-KEK IV');
      if (keyLength !== undefined && keyLength !== cipher.keyLength) throw malformed(`PBKDF2 keyLength ${keyLength} does not fit ${cipher.name}`);
      const kek = new Uint8Array(crypto.pbkdf2Sync(utf8(password), salt, iterations, cipher.keyLength, prf));
      try {
        const cek = pwriUnwrap(inner.oid, kek, iv, wrapped);
        if (cek.byteLength !== keyLen) {
          cek.fill(0);
          throw new SsmaxError(
            'DECRYPT_FAILED',
            'Cannot decrypt the content-encryption key. The password does not open it (wrong password or corrupted input).',
          );
        }
        return {
          cek,
          via: {
            recipient: 'pwri',
            algorithm: `PBKDF2-HMAC-${prf.toUpperCase()}+PWRI-KEK-${cipher.name.toUpperCase()}`,
            ...(cipher.block === 8 ? { legacy: '3DES-CBC password key wrap (RFC 3211; read for old mail, never written)' } : {}),
          },
        };
      } finally {
        kek.fill(0);
      }
    },
  };
}

function ridMatches(rid: Candidate['rid'], cert: RecipientCertificate): boolean {
  if (!rid) return false;
  if (rid.type === 'issuerAndSerial') return Buffer.compare(rid.bytes, cert.issuerAndSerial) === 0;
  return cert.subjectKeyIdentifier !== undefined && Buffer.compare(rid.bytes, cert.subjectKeyIdentifier) === 0;
}

const describeKey = (key: PrivateKeyOps) => (key.algorithm.startsWith('RSA') ? 'key-transport' : 'key-agreement');

/**
 * Recovers the content-encryption key from the RecipientInfos SET (DER/BER bytes of the whole SET) with
 * whatever the caller holds: a private key (optionally pinned to its certificate), a KEK, a password.
 * With a certificate, only RecipientInfos naming it are tried; without one, every RecipientInfo of the
 * key's type is tried (as openssl does without -recip), except that PKCS#1 v1.5 ones, which cannot fail
 * (implicit rejection), need either the certificate or to be the only one of their kind.
 */
export async function recoverContentKey(riSet: Uint8Array, creds: RecipientCredentials, keyLen: number): Promise<Attempt> {
  const set = readNode(riSet, 0);
  if (set.tag !== Tag.SET || set.end !== riSet.byteLength) throw malformed('recipientInfos is not a SET');
  const { key, certificate: cert, secretKey, password } = creds;
  if (!key && !secretKey && password === undefined) throw new SsmaxError('USAGE', 'Cannot decrypt the content. Give a private key, a KEK or a password.');
  const rsa = key?.algorithm.startsWith('RSA') ?? false;
  const candidates: Candidate[] = [];
  let total = 0;
  let kekris = 0;
  for (const ri of children(riSet, set)) {
    total++;
    if (ri.tag === Tag.SEQUENCE) {
      if (key && rsa) candidates.push(ktriCandidate(riSet, ri, key, keyLen));
    } else if (ri.tag === 0xa1) {
      if (key && !rsa) candidates.push(...kariCandidates(riSet, ri, key, keyLen));
    } else if (ri.tag === 0xa2) {
      kekris++;
      const c = secretKey ? kekriCandidate(riSet, ri, secretKey, keyLen) : undefined;
      if (c) candidates.push(c);
    } else if (ri.tag === 0xa3) {
      if (password !== undefined) candidates.push(pwriCandidate(riSet, ri, password, keyLen));
    } else if (ri.tag !== 0xa4) {
      // ori [4] (RFC 5652 §6.2.5) is not for us; any other tag is not a RecipientInfo.
      throw malformed(`RecipientInfo has an unknown tag 0x${ri.tag.toString(16)}`);
    }
  }
  if (total === 0) throw malformed('recipientInfos is empty');
  const usable = candidates.filter((c) => !cert || (c.kind !== 'ktri' && c.kind !== 'kari') || ridMatches(c.rid, cert));
  if (usable.length === 0) {
    const what = [
      key ? (cert ? 'the given certificate' : `a ${key.algorithm} key`) : undefined,
      secretKey ? `the KEK ${Buffer.from(secretKey.id).toString('hex')} (${kekris} KEK recipients)` : undefined,
      password !== undefined ? 'a password' : undefined,
    ].filter(Boolean);
    throw new SsmaxError('NO_MATCHING_RECIPIENT', `Cannot decrypt the content. None of the ${total} recipients is ${what.join(' or ')}.`);
  }
  const implicit = usable.filter((c) => c.implicit);
  const explicit = usable.filter((c) => !c.implicit);
  const errors: unknown[] = [];
  for (const c of explicit) {
    try {
      return await c.attempt();
    } catch (e) {
      if (SsmaxError.is(e) && (e.code === 'MALFORMED_CMS' || e.code === 'MALFORMED_DER')) throw e;
      errors.push(e);
    }
  }
  const infra = errors.find((e) => !SsmaxError.is(e) || e.category === 'infrastructure' || e.code.startsWith('PIN_'));
  if (infra)
    throw infra instanceof SsmaxError
      ? infra
      : new SsmaxError('INTERNAL', 'Cannot decrypt the content-encryption key. The key operation failed.', { cause: infra });
  if (implicit.length === 1) return (implicit[0] as Candidate).attempt();
  if (implicit.length > 1) {
    // Picking "the one whose padding checks out" would be the padding oracle implicit rejection removes.
    throw new SsmaxError(
      'NO_MATCHING_RECIPIENT',
      `Cannot decrypt the content. ${implicit.length} recipients use RSA PKCS#1 v1.5 and no certificate says which is ours; give the recipient certificate.`,
    );
  }
  if (errors.every((e) => SsmaxError.is(e, 'UNSUPPORTED_ALGORITHM'))) throw errors[0];
  if (cert) {
    throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. The RecipientInfo names the certificate but the key does not open it.', {
      cause: errors[0],
    });
  }
  // A KEK named by its identifier, or a password, that does not open its recipient: the secret is wrong.
  const secretFailure = explicit.findIndex((c) => c.kind === 'kekri' || c.kind === 'pwri');
  if (secretFailure >= 0 && SsmaxError.is(errors[secretFailure], 'DECRYPT_FAILED')) throw errors[secretFailure];
  throw new SsmaxError(
    'NO_MATCHING_RECIPIENT',
    `Cannot decrypt the content. The key opens none of the ${explicit.length} ${key ? describeKey(key) : ''} recipients.`,
    { cause: errors[0] },
  );
}
