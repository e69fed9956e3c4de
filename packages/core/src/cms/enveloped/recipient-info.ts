/**
 * RecipientInfo construction and content-encryption-key recovery (RFC 5652 §6.2):
 * KeyTransRecipientInfo with RSAES-OAEP (RFC 8017 §7.1, parameters RFC 4055 §4.1) and
 * KeyAgreeRecipientInfo with ephemeral-static ECDH P-256 (RFC 5753 §3.1) + X9.63 KDF + AES key wrap
 * (RFC 3394). Private-key operations go through {@link PrivateKeyOps}, so token keys work unchanged.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { PrivateKeyOps } from '../../keys.js';
import { Oids } from '../../oids.js';
import type { OaepHash } from '../../tokens/token.js';
import { derBitString, derEncode, derExplicit, derImplicit, derInteger, derOctetString, derOid, derSequence } from '../../der/der-writer.js';
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
import type { RecipientCertificate } from './recipient-certificate.js';

/** RFC 3394 §2.2.3.1 default initial value. */
const KEY_WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

export type RandomSource = (n: number) => Uint8Array;

// ---------------------------------------------------------------------------------------------
// Encryption side

/** RSAES-OAEP-params with SHA-256 and MGF1-SHA-256; pSource left at its default (RFC 4055 §4.1). */
function oaepSha256Params(): Uint8Array {
  const sha256 = algId(Oids.sha256);
  return derEncode(derSequence(derExplicit(0, sha256), derExplicit(1, algId(Oids.mgf1, sha256))));
}

/** Public keys of parsed (and cached, see recipient-certificate.ts) certificates: decoding the SPKI every message costs. */
const publicKeys = new WeakMap<RecipientCertificate, crypto.KeyObject>();

function buildKtri(cert: RecipientCertificate, cek: Uint8Array): Uint8Array {
  let pub = publicKeys.get(cert);
  if (!pub) {
    pub = crypto.createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
    publicKeys.set(cert, pub);
  }
  const encryptedKey = crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  // RFC 5652 §6.2.1: version 0 with issuerAndSerialNumber.
  return derEncode(derSequence(derInteger(0), cert.issuerAndSerial, algId(Oids.rsaesOaep, oaepSha256Params()), derOctetString(encryptedKey)));
}

/** ECC-CMS-SharedInfo (RFC 5753 §7.2). */
function sharedInfo(wrapAlgDer: Uint8Array, ukm: Uint8Array | undefined, kekBits: number): Uint8Array {
  const supp = new Uint8Array(4);
  new DataView(supp.buffer).setUint32(0, kekBits);
  return derEncode(derSequence(wrapAlgDer, ...(ukm ? [derExplicit(0, derOctetString(ukm))] : []), derExplicit(2, derOctetString(supp))));
}

/** ANSI X9.63 KDF (SEC 1 §3.6.1), as RFC 5753 §7.2 prescribes. */
function x963Kdf(hash: 'sha1' | 'sha256', z: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 1; have < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = crypto.createHash(hash).update(z).update(c).update(info).digest();
    out.push(block);
    have += block.length;
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, len));
}

function ephemeralEcdh(random: RandomSource): crypto.ECDH {
  for (let i = 0; i < 8; i++) {
    const ecdh = crypto.createECDH('prime256v1');
    try {
      // A 32-byte draw lies outside [1, n-1] with probability ~2^-32; draw again then.
      ecdh.setPrivateKey(Buffer.from(random(32)));
      return ecdh;
    } catch {
      continue;
    }
  }
  throw new SsmaxError('INTERNAL', 'Cannot make an ephemeral ECDH key. The random source keeps returning invalid scalars.');
}

function buildKari(cert: RecipientCertificate, cek: Uint8Array, random: RandomSource): Uint8Array {
  const eph = ephemeralEcdh(random);
  let z: Buffer;
  try {
    z = eph.computeSecret(Buffer.from(cert.ecPoint ?? new Uint8Array()));
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CERTIFICATE', 'Cannot encrypt to the EC recipient. Its public key is not a valid P-256 point.', { cause });
  }
  const wrapAlg = algId(Oids.aes256Wrap);
  const kek = x963Kdf('sha256', z, sharedInfo(wrapAlg, undefined, 256), 32);
  const wrapper = crypto.createCipheriv('id-aes256-wrap', kek, KEY_WRAP_IV);
  const wrapped = Buffer.concat([wrapper.update(cek), wrapper.final()]);
  // RFC 5753 §3.1.1: originatorKey with id-ecPublicKey and absent parameters (the curve is the recipient's).
  const originatorKey = derImplicit(1, true, algId(Oids.ecPublicKey), derBitString(eph.getPublicKey()));
  return derEncode(
    derImplicit(
      1, // [1] IMPLICIT KeyAgreeRecipientInfo
      true,
      derInteger(3),
      derExplicit(0, originatorKey),
      algId(Oids.dhSinglePassStdDhSha256Kdf, wrapAlg),
      derSequence(derSequence(cert.issuerAndSerial, derOctetString(wrapped))),
    ),
  );
}

export function buildRecipientInfo(cert: RecipientCertificate, cek: Uint8Array, random: RandomSource): { der: Uint8Array; version: number } {
  return cert.kind === 'rsa' ? { der: buildKtri(cert, cek), version: 0 } : { der: buildKari(cert, cek, random), version: 3 };
}

// ---------------------------------------------------------------------------------------------
// Decryption side

interface Candidate {
  readonly kind: 'ktri' | 'kari';
  readonly rid: { type: 'issuerAndSerial' | 'ski'; bytes: Uint8Array };
  readonly attempt: () => Promise<Uint8Array>;
}

function readRid(buf: Uint8Array, n: Node | undefined, what: string): Candidate['rid'] {
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
  if (oid === Oids.sha1) return 'SHA-1';
  if (oid === Oids.sha256) return 'SHA-256';
  throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. RSA-OAEP with hash ${oid} is not supported (SHA-1 or SHA-256).`);
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
        if (mgf.oid !== Oids.mgf1 || !mgf.params) throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. Only MGF1 is supported.');
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

function ktriCandidate(buf: Uint8Array, ri: Node, key: PrivateKeyOps, keyLen: number): Candidate {
  const [ver, ridNode, alg, ek, extra] = children(buf, ri);
  if (!ver || !alg || !ek || extra) throw malformed('KeyTransRecipientInfo does not have four fields');
  decodeSmallInteger(buf, ver, 'KeyTransRecipientInfo version');
  const rid = readRid(buf, ridNode, 'KeyTransRecipientInfo rid');
  const { oid, params } = readAlgId(buf, alg, 'keyEncryptionAlgorithm');
  const encryptedKey = octetValue(buf, expectTag(ek, Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
  return {
    kind: 'ktri',
    rid,
    attempt: async () => {
      if (oid !== Oids.rsaesOaep) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Key transport ${oid} is not supported (use RSAES-OAEP).`);
      }
      const hash = parseOaepParams(buf, params);
      if (!key.oaepHashes.includes(hash)) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. The key does not support OAEP with ${hash}.`);
      }
      const cek = await key.decryptRsaOaep(hash, encryptedKey);
      if (cek.byteLength !== keyLen) throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content. The recovered key has the wrong length.');
      return cek;
    },
  };
}

/** SubjectPublicKeyInfo for an originator point on P-256 (RFC 5480 §2). */
function p256Spki(point: Uint8Array): Uint8Array {
  return derEncode(derSequence(derSequence(derOid(Oids.ecPublicKey), derOid(Oids.prime256v1)), derBitString(point)));
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

  const agree = async (wrapped: Uint8Array): Promise<Uint8Array> => {
    if (!originator || originator.tag !== 0xa1) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. Only an ephemeral originatorKey is supported for key agreement.');
    }
    const [oAlg, oKey] = children(buf, originator);
    const o = readAlgId(buf, expectTag(oAlg, Tag.SEQUENCE, 'originatorKey algorithm'), 'originatorKey algorithm');
    if (o.oid !== Oids.ecPublicKey) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Originator key ${o.oid} is not EC.`);
    if (o.params && !paramsAbsentOrNull(buf, o.params) && decodeOid(buf, o.params, 'curve') !== Oids.prime256v1) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt the content-encryption key. The originator key is not on P-256.');
    }
    const bits = value(buf, expectTag(oKey, Tag.BIT_STRING, 'originator publicKey'));
    if (bits[0] !== 0) throw malformed('The originator public key has unused bits');
    const kdfHash =
      keaAlg.oid === Oids.dhSinglePassStdDhSha256Kdf ? 'sha256' : keaAlg.oid === Oids.dhSinglePassStdDhSha1Kdf ? 'sha1' : undefined;
    if (!kdfHash) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Key agreement ${keaAlg.oid} is not supported.`);
    if (!keaAlg.params) throw malformed('The key agreement algorithm has no key-wrap algorithm');
    const wrap = readAlgId(buf, keaAlg.params, 'KeyWrapAlgorithm');
    const kekLen = wrap.oid === Oids.aes256Wrap ? 32 : wrap.oid === Oids.aes128Wrap ? 16 : 0;
    if (kekLen === 0) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content-encryption key. Key wrap ${wrap.oid} is not supported.`);
    let z: Uint8Array;
    try {
      z = await key.deriveEcdh(p256Spki(bits.subarray(1)));
    } catch (e) {
      if (SsmaxError.is(e, 'MALFORMED_DER')) throw malformed('The originator public key is not a valid P-256 point', e);
      throw e;
    }
    // RFC 5753 §7.2: keyInfo is the KeyWrapAlgorithm exactly as sent.
    const kek = x963Kdf(kdfHash, z, sharedInfo(raw(buf, keaAlg.params), ukm, kekLen * 8), kekLen);
    let cek: Buffer;
    try {
      const d = crypto.createDecipheriv(kekLen === 32 ? 'id-aes256-wrap' : 'id-aes128-wrap', kek, KEY_WRAP_IV);
      cek = Buffer.concat([d.update(wrapped), d.final()]);
    } catch (cause) {
      throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. AES key unwrap failed its integrity check (wrong key or corrupted input).', { cause });
    }
    if (cek.byteLength !== keyLen) throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content. The recovered key has the wrong length.');
    return new Uint8Array(cek);
  };

  return reks.map((rek) => {
    const [ridNode, ek, extra] = children(buf, expectTag(rek, Tag.SEQUENCE, 'RecipientEncryptedKey'));
    if (extra) throw malformed('RecipientEncryptedKey has unexpected trailing fields');
    const rid = readRid(buf, ridNode, 'RecipientEncryptedKey rid');
    const wrapped = octetValue(buf, expectTag(ek, Tag.OCTET_STRING, 'encryptedKey'), 'encryptedKey');
    return { kind: 'kari' as const, rid, attempt: () => agree(wrapped) };
  });
}

function ridMatches(rid: Candidate['rid'], cert: RecipientCertificate): boolean {
  if (rid.type === 'issuerAndSerial') return Buffer.compare(rid.bytes, cert.issuerAndSerial) === 0;
  return cert.subjectKeyIdentifier !== undefined && Buffer.compare(rid.bytes, cert.subjectKeyIdentifier) === 0;
}

/**
 * Recovers the content-encryption key from the RecipientInfos SET (DER/BER bytes of the whole SET).
 * With a certificate, only RecipientInfos naming it are tried; without one, every RecipientInfo of the
 * key's type is tried (as openssl does without -recip).
 */
export async function recoverContentKey(
  riSet: Uint8Array,
  key: PrivateKeyOps,
  cert: RecipientCertificate | undefined,
  keyLen: number,
): Promise<Uint8Array> {
  const set = readNode(riSet, 0);
  if (set.tag !== Tag.SET || set.end !== riSet.byteLength) throw malformed('recipientInfos is not a SET');
  const all: Candidate[] = [];
  for (const ri of children(riSet, set)) {
    if (ri.tag === Tag.SEQUENCE) all.push(ktriCandidate(riSet, ri, key, keyLen));
    else if (ri.tag === 0xa1) all.push(...kariCandidates(riSet, ri, key, keyLen));
    else if (ri.tag < 0xa2 || ri.tag > 0xa4) throw malformed(`RecipientInfo has an unknown tag 0x${ri.tag.toString(16)}`);
    // kekri [2], pwri [3], ori [4]: not for us (RFC 5652 §6.2.3-§6.2.5).
  }
  if (all.length === 0) throw malformed('recipientInfos is empty');
  const wanted = key.algorithm === 'EC-P256' ? 'kari' : 'ktri';
  const candidates = all.filter((c) => c.kind === wanted && (!cert || ridMatches(c.rid, cert)));
  if (candidates.length === 0) {
    throw new SsmaxError('NO_MATCHING_RECIPIENT', `Cannot decrypt the content. None of the ${all.length} recipients is ${cert ? 'the given certificate' : `a ${key.algorithm} key`}.`);
  }
  const errors: unknown[] = [];
  for (const c of candidates) {
    try {
      return await c.attempt();
    } catch (e) {
      if (SsmaxError.is(e) && (e.code === 'MALFORMED_CMS' || e.code === 'MALFORMED_DER')) throw e;
      errors.push(e);
    }
  }
  const unsupported = errors.find((e) => SsmaxError.is(e, 'UNSUPPORTED_ALGORITHM'));
  if (unsupported && errors.every((e) => SsmaxError.is(e, 'UNSUPPORTED_ALGORITHM'))) throw unsupported;
  const infra = errors.find((e) => !SsmaxError.is(e) || e.category === 'infrastructure' || e.code.startsWith('PIN_'));
  if (infra) throw infra instanceof SsmaxError ? infra : new SsmaxError('INTERNAL', 'Cannot decrypt the content-encryption key. The key operation failed.', { cause: infra });
  if (cert) {
    throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. The RecipientInfo names the certificate but the key does not open it.', { cause: errors[0] });
  }
  throw new SsmaxError('NO_MATCHING_RECIPIENT', `Cannot decrypt the content. The key opens none of the ${candidates.length} ${wanted === 'kari' ? 'key-agreement' : 'key-transport'} recipients.`, { cause: errors[0] });
}
