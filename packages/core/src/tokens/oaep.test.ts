import * as crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { emeOaepDecode } from './oaep.js';
import type { OaepHash } from './token.js';

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const K = 256;

/** The encoded message EM that node's OAEP encryption produced, recovered with a raw RSA decryption. */
function encodedMessage(hash: OaepHash, message: Uint8Array): Uint8Array {
  const c = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash === 'SHA-1' ? 'sha1' : 'sha256' }, message);
  return new Uint8Array(crypto.privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_NO_PADDING }, c));
}

function mgf1(hash: string, seed: Uint8Array, len: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; Buffer.concat(blocks).length < len; i++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(i);
    blocks.push(crypto.createHash(hash).update(seed).update(ctr).digest());
  }
  return Buffer.concat(blocks).subarray(0, len);
}

/** EME-OAEP encoding (RFC 8017 §7.1.1 step 2) with a caller-chosen DB, to craft malformed blocks. */
function encodeWithDb(hash: OaepHash, db: Buffer): Uint8Array {
  const h = hash === 'SHA-1' ? 'sha1' : 'sha256';
  const hLen = hash === 'SHA-1' ? 20 : 32;
  expect(db.length).toBe(K - hLen - 1);
  const seed = crypto.randomBytes(hLen);
  const dbMask = mgf1(h, seed, db.length);
  const maskedDb = Buffer.from(db.map((b, i) => b ^ dbMask[i]!));
  const seedMask = mgf1(h, maskedDb, hLen);
  const maskedSeed = Buffer.from(seed.map((b, i) => b ^ seedMask[i]!));
  return new Uint8Array(Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]));
}

function failsWithOneError(f: () => unknown): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(SsmaxError.is(err, 'DECRYPT_FAILED')).toBe(true);
  expect((err as Error).message).toBe('Cannot decrypt the content-encryption key. RSA-OAEP decoding failed (wrong key or corrupted input).');
}

describe('emeOaepDecode', () => {
  for (const hash of ['SHA-1', 'SHA-256'] as const) {
    const hLen = hash === 'SHA-1' ? 20 : 32;
    it(`recovers node:crypto's ${hash} messages of every edge length when decoding`, () => {
      for (const len of [0, 1, 32, K - 2 * hLen - 2]) {
        const m = crypto.randomBytes(len);
        expect(Buffer.from(emeOaepDecode(encodedMessage(hash, m), K, hash)).equals(m)).toBe(true);
      }
    });

    it(`fails with the same error when Y, lHash or the separator is damaged (${hash})`, () => {
      const em = encodedMessage(hash, crypto.randomBytes(32));
      const badY = em.slice();
      badY[0] = 1;
      failsWithOneError(() => emeOaepDecode(badY, K, hash));
      // A damaged masked seed unmasks DB to noise, so lHash' no longer matches.
      const badSeed = em.slice();
      badSeed[5]! ^= 0x80;
      failsWithOneError(() => emeOaepDecode(badSeed, K, hash));
      const badDb = em.slice();
      badDb[1 + hLen + 3]! ^= 0x01;
      failsWithOneError(() => emeOaepDecode(badDb, K, hash));
      failsWithOneError(() => emeOaepDecode(new Uint8Array(K), K, hash));
      failsWithOneError(() => emeOaepDecode(em, 2 * hLen + 1, hash));
      failsWithOneError(() => emeOaepDecode(new Uint8Array(K + 1), K, hash));
    });
  }

  for (const hash of ['SHA-1', 'SHA-256'] as const) {
    const hLen = hash === 'SHA-1' ? 20 : 32;
    const lHash = crypto.createHash(hash === 'SHA-1' ? 'sha1' : 'sha256').digest();
    it(`accepts a test-encoded block that node:crypto also decrypts, and refuses crafted DBs (${hash})`, () => {
      const m = Buffer.from('content-encryption key');
      const ps = Buffer.alloc(K - m.length - 2 * hLen - 2);
      const good = encodeWithDb(hash, Buffer.concat([lHash, ps, Buffer.from([1]), m]));
      // The test encoder is checked against the oracle before it crafts bad blocks.
      const c = crypto.publicEncrypt({ key: publicKey, padding: crypto.constants.RSA_NO_PADDING }, good);
      expect(
        crypto
          .privateDecrypt({ key: privateKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash === 'SHA-1' ? 'sha1' : 'sha256' }, c)
          .equals(m),
      ).toBe(true);
      expect(Buffer.from(emeOaepDecode(good, K, hash)).equals(m)).toBe(true);
      const psWithJunk = Buffer.from(ps);
      psWithJunk[7] = 0x80;
      failsWithOneError(() => emeOaepDecode(encodeWithDb(hash, Buffer.concat([lHash, psWithJunk, Buffer.from([1]), m])), K, hash));
      const noSeparator = Buffer.alloc(K - hLen - 1 - hLen);
      failsWithOneError(() => emeOaepDecode(encodeWithDb(hash, Buffer.concat([lHash, noSeparator])), K, hash));
      const wrongLHash = Buffer.from(lHash);
      wrongLHash[hLen - 1]! ^= 1;
      failsWithOneError(() => emeOaepDecode(encodeWithDb(hash, Buffer.concat([wrongLHash, ps, Buffer.from([1]), m])), K, hash));
      // Separator right after lHash (empty PS) and an empty message are both valid.
      const tight = Buffer.concat([lHash, Buffer.from([1]), Buffer.alloc(K - 2 * hLen - 2, 0x55)]);
      expect(emeOaepDecode(encodeWithDb(hash, tight), K, hash).length).toBe(K - 2 * hLen - 2);
    });
  }

  it('fails when the hash differs from the one used to encode', () => {
    failsWithOneError(() => emeOaepDecode(encodedMessage('SHA-1', Buffer.from('x')), K, 'SHA-256'));
    failsWithOneError(() => emeOaepDecode(encodedMessage('SHA-256', Buffer.from('x')), K, 'SHA-1'));
  });

  it('left-pads an encoded message whose leading zero bytes the token stripped', () => {
    const m = crypto.randomBytes(16);
    const em = encodedMessage('SHA-256', m);
    expect(em[0]).toBe(0);
    expect(Buffer.from(emeOaepDecode(em.subarray(1), K, 'SHA-256')).equals(m)).toBe(true);
  });
});
