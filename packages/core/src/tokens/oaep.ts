import * as crypto from 'node:crypto';
import { SsmaxError } from '../errors.js';
import type { OaepHash } from './token.js';

const HASH: Record<OaepHash, { name: string; len: number }> = {
  'SHA-1': { name: 'sha1', len: 20 },
  'SHA-256': { name: 'sha256', len: 32 },
  'SHA-384': { name: 'sha384', len: 48 },
  'SHA-512': { name: 'sha512', len: 64 },
};

/** MGF1 (RFC 8017 §B.2.1). */
function mgf1(hash: string, seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const counter = Buffer.alloc(4);
  for (let off = 0, i = 0; off < length; i++) {
    counter.writeUInt32BE(i);
    const block = crypto.createHash(hash).update(seed).update(counter).digest();
    out.set(block.subarray(0, Math.min(block.length, length - off)), off);
    off += block.length;
  }
  return out;
}

/** One error for every decoding failure, so the caller cannot tell which check failed (RFC 8017 §7.1.2 note; Manger's attack). */
function decryptionError(): SsmaxError {
  return new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. RSA-OAEP decoding failed (wrong key or corrupted input).');
}

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2 step 3) of the output of a raw RSA decryption, with an empty label
 * and MGF1 over the same hash. `em` is the integer m as produced by the token; it is left-padded to
 * `k` bytes (I2OSP, RFC 8017 §4.1). All checks run to the end and fail with one error.
 */
export function emeOaepDecode(em: Uint8Array, k: number, hash: OaepHash): Uint8Array {
  const { name, len: hLen } = HASH[hash];
  // RFC 8017 §7.1.2 step 1c: k < 2hLen + 2 is a decryption error.
  if (k < 2 * hLen + 2 || em.length > k) throw decryptionError();
  const padded = new Uint8Array(k);
  padded.set(em, k - em.length);
  const lHash = crypto.createHash(name).digest();
  const y = padded[0]!;
  const maskedSeed = padded.subarray(1, 1 + hLen);
  const maskedDb = padded.subarray(1 + hLen);
  const seedMask = mgf1(name, maskedDb, hLen);
  const seed = new Uint8Array(hLen);
  for (let i = 0; i < hLen; i++) seed[i] = maskedSeed[i]! ^ seedMask[i]!;
  const dbMask = mgf1(name, seed, k - hLen - 1);
  const db = new Uint8Array(k - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i]! ^ dbMask[i]!;

  // Step 3g, without early exits: bad accumulates every failed check; the separator is the first 0x01
  // after lHash' that follows only zero bytes.
  let bad = y;
  for (let i = 0; i < hLen; i++) bad |= db[i]! ^ lHash[i]!;
  let found = 0;
  let sepIndex = 0;
  for (let i = hLen; i < db.length; i++) {
    const b = db[i]!;
    const isOne = b === 1 ? 1 : 0;
    const isZero = b === 0 ? 1 : 0;
    const beforeSep = found ^ 1;
    sepIndex = beforeSep & isOne ? i : sepIndex;
    // Before the separator (PS), any byte other than 0x00 is a decoding error.
    bad |= beforeSep & ((isZero | isOne) ^ 1);
    found |= isOne;
  }
  bad |= found ^ 1;
  if (bad !== 0) throw decryptionError();
  return db.slice(sepIndex + 1);
}
