/**
 * Key wrapping for RecipientInfos (issue 12): the AES key wrap of RFC 3394 (kari, kekri; RFC 3565 §2.3.2)
 * and the CBC-based key wrap of RFC 3211 §2.3 (pwri). Every unwrap failure is one typed DECRYPT_FAILED.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';

/** RFC 3394 §2.2.3.1 default initial value. */
const KEY_WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

export const AES_WRAP: Readonly<Record<string, { readonly name: 'id-aes128-wrap' | 'id-aes192-wrap' | 'id-aes256-wrap'; readonly kekLength: number }>> =
  Object.freeze({
    [Oids.aes128Wrap]: { name: 'id-aes128-wrap', kekLength: 16 },
    [Oids.aes192Wrap]: { name: 'id-aes192-wrap', kekLength: 24 },
    [Oids.aes256Wrap]: { name: 'id-aes256-wrap', kekLength: 32 },
  });

/** The AES key-wrap OID for a KEK of this length. */
export function aesWrapOid(kekLength: number): string {
  const oid = Object.keys(AES_WRAP).find((o) => AES_WRAP[o]?.kekLength === kekLength);
  if (!oid) throw new SsmaxError('USAGE', `Cannot wrap the content-encryption key. A ${kekLength}-byte KEK fits no AES key wrap (16, 24 or 32 bytes).`);
  return oid;
}

export function aesKeyWrap(wrapOid: string, kek: Uint8Array, cek: Uint8Array): Uint8Array {
  const w = AES_WRAP[wrapOid];
  if (!w || kek.byteLength !== w.kekLength)
    throw new SsmaxError('USAGE', 'Cannot wrap the content-encryption key. The KEK does not fit the key-wrap algorithm.');
  const c = crypto.createCipheriv(w.name, kek, KEY_WRAP_IV);
  return new Uint8Array(Buffer.concat([c.update(cek), c.final()]));
}

export function aesKeyUnwrap(wrapOid: string, kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const w = AES_WRAP[wrapOid];
  if (!w)
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content-encryption key. Key wrap ${wrapOid} is not supported (AES-128/192/256 key wrap).`,
    );
  if (kek.byteLength !== w.kekLength) {
    throw new SsmaxError(
      'DECRYPT_FAILED',
      `Cannot decrypt the content-encryption key. The key-encryption key is ${kek.byteLength} bytes; ${w.name} needs ${w.kekLength}.`,
    );
  }
  // RFC 3394 §2.2.2: (n + 1) 64-bit blocks with n >= 2. node's id-aes*-wrap decipher does not check the
  // length itself and returns garbage for a ragged input (found by Wycheproof aes_wrap_test.json).
  if (wrapped.byteLength % 8 !== 0 || wrapped.byteLength < 24) {
    throw new SsmaxError(
      'DECRYPT_FAILED',
      `Cannot decrypt the content-encryption key. A ${wrapped.byteLength}-byte wrapped key is not an AES key wrap output.`,
    );
  }
  try {
    const d = crypto.createDecipheriv(w.name, kek, KEY_WRAP_IV);
    return new Uint8Array(Buffer.concat([d.update(wrapped), d.final()]));
  } catch (cause) {
    throw new SsmaxError(
      'DECRYPT_FAILED',
      'Cannot decrypt the content-encryption key. AES key unwrap failed its integrity check (wrong key or corrupted input).',
      { cause },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 3211 §2.3: CEK formatted as length || check bytes || key || padding, CBC-encrypted twice.

/** Block ciphers the PWRI-KEK may name (RFC 3211 §2.3; OpenSSL uses the content cipher, 3DES included). */
export const PWRI_CIPHERS: Readonly<Record<string, { readonly name: string; readonly keyLength: number; readonly block: number }>> = Object.freeze({
  [Oids.aes128Cbc]: { name: 'aes-128-cbc', keyLength: 16, block: 16 },
  [Oids.aes192Cbc]: { name: 'aes-192-cbc', keyLength: 24, block: 16 },
  [Oids.aes256Cbc]: { name: 'aes-256-cbc', keyLength: 32, block: 16 },
  [Oids.desEde3Cbc]: { name: 'des-ede3-cbc', keyLength: 24, block: 8 },
});

function cbc(encrypt: boolean, name: string, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const c = encrypt ? crypto.createCipheriv(name, key, iv) : crypto.createDecipheriv(name, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function pwriWrap(cipherOid: string, kek: Uint8Array, iv: Uint8Array, cek: Uint8Array, random: (n: number) => Uint8Array): Uint8Array {
  const c = PWRI_CIPHERS[cipherOid];
  if (!c || cek.byteLength > 255) throw new SsmaxError('USAGE', 'Cannot wrap the content-encryption key for a password recipient.');
  // §2.3.1: at least two blocks, so the second pass chains the whole key into every block.
  const len = Math.max(2 * c.block, Math.ceil((4 + cek.byteLength) / c.block) * c.block);
  const block = new Uint8Array(len);
  block[0] = cek.byteLength;
  for (let i = 0; i < 3; i++) block[1 + i] = ~(cek[i] as number) & 0xff;
  block.set(cek, 4);
  block.set(random(len - 4 - cek.byteLength), 4 + cek.byteLength);
  const first = cbc(true, c.name, kek, iv, block);
  block.fill(0);
  return new Uint8Array(cbc(true, c.name, kek, first.subarray(len - c.block), first));
}

export function pwriUnwrap(cipherOid: string, kek: Uint8Array, iv: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const c = PWRI_CIPHERS[cipherOid];
  if (!c)
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content-encryption key. The PWRI-KEK cipher ${cipherOid} is not supported (AES-CBC or 3DES-CBC).`,
    );
  const b = c.block;
  const n = wrapped.byteLength;
  const fail = () =>
    new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. The password does not open it (wrong password or corrupted input).');
  if (n < 2 * b || n % b !== 0 || iv.byteLength !== b) throw fail();
  // §2.3.2: the last block, decrypted with the one before it as IV, is the IV of the first pass's last block...
  const lastFirstPass = cbc(false, c.name, kek, wrapped.subarray(n - 2 * b, n - b), wrapped.subarray(n - b));
  // ...which is the IV for the other n−1 blocks; then the first pass is undone with the real IV.
  const firstPass = Buffer.concat([cbc(false, c.name, kek, lastFirstPass, wrapped.subarray(0, n - b)), lastFirstPass]);
  const block = cbc(false, c.name, kek, iv, firstPass);
  try {
    const len = block[0] as number;
    const check = ((block[1]! ^ block[4]!) & (block[2]! ^ block[5]!) & (block[3]! ^ block[6]!)) === 0xff;
    if (!check || len < 3 || 4 + len > n) throw fail();
    return new Uint8Array(block.subarray(4, 4 + len));
  } finally {
    block.fill(0);
  }
}
