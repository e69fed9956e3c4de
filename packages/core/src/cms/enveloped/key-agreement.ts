/**
 * Ephemeral-static key agreement for KeyAgreeRecipientInfo (RFC 5652 §6.2.2): ECDH on P-256/P-384/P-521
 * (RFC 5753 §3.1) and X25519/X448 (RFC 8418 §2), with the ANSI X9.63 KDF (SEC 1 §3.6.1, RFC 5753 §7.2)
 * or HKDF (RFC 5869; OIDs of RFC 8619, used by RFC 8418 §2) over ECC-CMS-SharedInfo, and an AES key wrap.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import type { KeyAlgorithm } from '../../tokens/token.js';
import { Oids } from '../../oids.js';
import { derBitString, derEncode, derExplicit, derOctetString, derOid, derSequence } from '../../der/der-writer.js';
import { encodeAlgorithmIdentifier as algId } from '../common/algorithm-identifier.js';
import type { AgreementCurve } from './recipient-certificate.js';

export type KdfHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export interface KdfSpec {
  readonly kind: 'x963' | 'hkdf';
  readonly hash: KdfHash;
  /** The cofactor variant (RFC 5753 §7.1.4): the same result on every curve here (cofactor 1, or X25519/X448 clamping). */
  readonly cofactor?: boolean;
}

/** keyEncryptionAlgorithm OIDs of KeyAgreeRecipientInfo → KDF. */
export const KARI_KDFS: Readonly<Record<string, KdfSpec>> = Object.freeze({
  [Oids.dhSinglePassStdDhSha1Kdf]: { kind: 'x963', hash: 'sha1' },
  [Oids.dhSinglePassStdDhSha224Kdf]: { kind: 'x963', hash: 'sha224' },
  [Oids.dhSinglePassStdDhSha256Kdf]: { kind: 'x963', hash: 'sha256' },
  [Oids.dhSinglePassStdDhSha384Kdf]: { kind: 'x963', hash: 'sha384' },
  [Oids.dhSinglePassStdDhSha512Kdf]: { kind: 'x963', hash: 'sha512' },
  [Oids.dhSinglePassCofactorDhSha1Kdf]: { kind: 'x963', hash: 'sha1', cofactor: true },
  [Oids.dhSinglePassCofactorDhSha224Kdf]: { kind: 'x963', hash: 'sha224', cofactor: true },
  [Oids.dhSinglePassCofactorDhSha256Kdf]: { kind: 'x963', hash: 'sha256', cofactor: true },
  [Oids.dhSinglePassCofactorDhSha384Kdf]: { kind: 'x963', hash: 'sha384', cofactor: true },
  [Oids.dhSinglePassCofactorDhSha512Kdf]: { kind: 'x963', hash: 'sha512', cofactor: true },
  [Oids.dhSinglePassStdDhHkdfSha256]: { kind: 'hkdf', hash: 'sha256' },
  [Oids.dhSinglePassStdDhHkdfSha384]: { kind: 'hkdf', hash: 'sha384' },
  [Oids.dhSinglePassStdDhHkdfSha512]: { kind: 'hkdf', hash: 'sha512' },
});

export function kdfOid(kind: 'x963' | 'hkdf', hash: 'sha256' | 'sha384' | 'sha512'): string {
  const oid = Object.keys(KARI_KDFS).find((o) => KARI_KDFS[o]?.kind === kind && KARI_KDFS[o]?.hash === hash && !KARI_KDFS[o]?.cofactor);
  return oid as string;
}

interface CurveSpec {
  readonly keyAlgorithm: KeyAlgorithm;
  /** id-ecPublicKey curves: the namedCurve OID and node's curve name; X25519/X448: the key OID. */
  readonly oid: string;
  readonly ec: boolean;
  readonly nodeName: string;
  /** Private scalar / key length in bytes. */
  readonly privateLength: number;
  /** The hash we use for the KDF when we write (RFC 5753 §8 / RFC 8418 §2: matched to the curve's strength). */
  readonly kdfHash: 'sha256' | 'sha384' | 'sha512';
}

export const CURVES: Readonly<Record<AgreementCurve, CurveSpec>> = Object.freeze({
  'P-256': { keyAlgorithm: 'EC-P256', oid: Oids.prime256v1, ec: true, nodeName: 'prime256v1', privateLength: 32, kdfHash: 'sha256' },
  'P-384': { keyAlgorithm: 'EC-P384', oid: Oids.secp384r1, ec: true, nodeName: 'secp384r1', privateLength: 48, kdfHash: 'sha384' },
  'P-521': { keyAlgorithm: 'EC-P521', oid: Oids.secp521r1, ec: true, nodeName: 'secp521r1', privateLength: 66, kdfHash: 'sha512' },
  X25519: { keyAlgorithm: 'X25519', oid: Oids.x25519, ec: false, nodeName: 'x25519', privateLength: 32, kdfHash: 'sha256' },
  X448: { keyAlgorithm: 'X448', oid: Oids.x448, ec: false, nodeName: 'x448', privateLength: 56, kdfHash: 'sha512' },
});

export function curveOfKeyAlgorithm(alg: KeyAlgorithm): AgreementCurve | undefined {
  return (Object.keys(CURVES) as AgreementCurve[]).find((c) => CURVES[c].keyAlgorithm === alg);
}

/** SubjectPublicKeyInfo of a public key on `curve` (RFC 5480 §2 / RFC 8410 §4). */
export function spkiOf(curve: AgreementCurve, publicKey: Uint8Array): Uint8Array {
  const c = CURVES[curve];
  const alg = c.ec ? derSequence(derOid(Oids.ecPublicKey), derOid(c.oid)) : derSequence(derOid(c.oid));
  return derEncode(derSequence(alg, derBitString(publicKey)));
}

/** originatorKey's algorithm as we write it: id-ecPublicKey with absent parameters (RFC 5753 §7.1.1), id-X25519/id-X448 (RFC 8418 §2). */
export function originatorAlgorithm(curve: AgreementCurve): Uint8Array {
  const c = CURVES[curve];
  return c.ec ? algId(Oids.ecPublicKey) : algId(c.oid);
}

/** ECC-CMS-SharedInfo (RFC 5753 §7.2; RFC 8418 §2 uses it for both KDFs). */
export function sharedInfo(wrapAlgDer: Uint8Array, ukm: Uint8Array | undefined, kekBits: number): Uint8Array {
  const supp = new Uint8Array(4);
  new DataView(supp.buffer).setUint32(0, kekBits);
  return derEncode(derSequence(wrapAlgDer, ...(ukm ? [derExplicit(0, derOctetString(ukm))] : []), derExplicit(2, derOctetString(supp))));
}

/**
 * ANSI X9.63 KDF (SEC 1 §3.6.1), or HKDF (RFC 8418 §2.2) with IKM = Z, the ukm as salt when there is one
 * (empty otherwise) and the DER ECC-CMS-SharedInfo as info. We never write a ukm, so the salt reading
 * only matters for foreign messages that carry one.
 */
export function deriveKek(kdf: KdfSpec, z: Uint8Array, info: Uint8Array, len: number, ukm?: Uint8Array): Uint8Array {
  if (kdf.kind === 'hkdf') return new Uint8Array(crypto.hkdfSync(kdf.hash, z, ukm ?? new Uint8Array(0), info, len));
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 1; have < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = crypto.createHash(kdf.hash).update(z).update(c).update(info).digest();
    out.push(block);
    have += block.length;
  }
  return new Uint8Array(Buffer.concat(out).subarray(0, len));
}

// RFC 8410 §7 PKCS#8 prefixes: an X25519/X448 private key is the raw scalar inside OneAsymmetricKey.
const X_PKCS8_PREFIX: Record<'X25519' | 'X448', string> = {
  X25519: '302e020100300506032b656e04220420',
  X448: '3046020100300506032b656f043a0438',
};

export interface Ephemeral {
  readonly publicKey: Uint8Array;
  agree(peerPublicKey: Uint8Array): Uint8Array;
}

/** An ephemeral key pair on `curve` drawn from `random` (so seeded tests reproduce messages). */
export function ephemeralKey(curve: AgreementCurve, random: (n: number) => Uint8Array): Ephemeral {
  const c = CURVES[curve];
  if (!c.ec) {
    const x = curve as 'X25519' | 'X448';
    const priv = crypto.createPrivateKey({
      key: Buffer.concat([Buffer.from(X_PKCS8_PREFIX[x], 'hex'), random(c.privateLength)]),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = new Uint8Array(crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' })).subarray(-c.privateLength);
    return {
      publicKey,
      agree(peer) {
        const pub = crypto.createPublicKey({ key: Buffer.from(spkiOf(curve, peer)), format: 'der', type: 'spki' });
        return new Uint8Array(crypto.diffieHellman({ privateKey: priv, publicKey: pub }));
      },
    };
  }
  for (let i = 0; i < 8; i++) {
    const ecdh = crypto.createECDH(c.nodeName);
    try {
      const d = random(c.privateLength);
      if (curve === 'P-521') d[0] = (d[0] as number) & 0x01; // 521 bits
      // A draw outside [1, n-1] is rare (about 2^-32 for P-256); draw again then.
      ecdh.setPrivateKey(Buffer.from(d));
      return { publicKey: new Uint8Array(ecdh.getPublicKey()), agree: (peer) => new Uint8Array(ecdh.computeSecret(Buffer.from(peer))) };
    } catch {
      continue;
    }
  }
  throw new SsmaxError('INTERNAL', 'Cannot make an ephemeral ECDH key. The random source keeps returning invalid scalars.');
}

/** RFC 7748 §6.1: an all-zero X25519/X448 shared secret means a low-order peer point; refuse it. */
export function isAllZero(z: Uint8Array): boolean {
  let acc = 0;
  for (const b of z) acc |= b;
  return acc === 0;
}
