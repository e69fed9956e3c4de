/**
 * Issue 10 item 8: a key generated for encryption cannot sign, and a signing key cannot decrypt, on a real
 * SoftHSM2 token: the refusal comes from the token (CKA_SIGN / CKA_DECRYPT / CKA_DERIVE false), not from
 * a check of ours the caller could skip by calling the token directly.
 */
import * as crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, openSoftHsmStore, type SoftHsmStore } from '../testing/softhsm-store.js';
import { bindTokenKey } from './bind-token-key.js';
import type { Pkcs11Token } from './pkcs11-token.js';

let hsm: SoftHsmStore;
let token: Pkcs11Token;
beforeAll(async () => {
  hsm = openSoftHsmStore('ssmax-key-purpose-');
  hsm.reader.initToken({ label: 'purpose', soPin: '87654321', userPin: '1234' });
  token = hsm.reader.openToken('purpose');
  await token.login('1234');
});
afterAll(async () => {
  await token?.close();
  await hsm?.[Symbol.asyncDispose]();
});

const digest = crypto.createHash('sha256').update('statement').digest();

describe('Token key purpose (issue 10 item 8)', () => {
  it('refuses to sign with an RSA encryption key and still decrypts with it', async () => {
    const enc = await token.generateKeyPair('enc-rsa', 'RSA-2048', 'encryption');
    expect(enc.purpose).toBe('encryption');
    expect(await errorCode(token.signDigest(enc, 'RSASSA-PKCS1-v1_5-SHA256', digest))).toBe('USAGE');
    expect(await errorCode(token.signDigest(enc, 'RSASSA-PSS-SHA256', digest))).toBe('USAGE');
    const ct = crypto.publicEncrypt(
      {
        key: crypto.createPublicKey({ key: Buffer.from(enc.spki), format: 'der', type: 'spki' }),
        oaepHash: 'sha256',
        padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
      },
      Buffer.from('cek'),
    );
    expect(Buffer.from(await token.decryptRsaOaep(enc, 'SHA-256', ct)).toString()).toBe('cek');
    // Bound as PrivateKeyOps it offers no signature scheme at all.
    expect(bindTokenKey(token, enc).signSchemes).toEqual([]);
  });

  it('refuses to sign with an EC encryption (ECDH) key and still derives with it', async () => {
    const enc = await token.generateKeyPair('enc-ec', 'EC-P256', 'encryption');
    expect(await errorCode(token.signDigest(enc, 'ECDSA-SHA256', digest))).toBe('USAGE');
    const peer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const z = await token.deriveEcdh(enc, new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' })));
    const expected = crypto.diffieHellman({
      privateKey: peer.privateKey,
      publicKey: crypto.createPublicKey({ key: Buffer.from(enc.spki), format: 'der', type: 'spki' }),
    });
    expect(Buffer.from(z).equals(expected)).toBe(true);
  });

  it('refuses to decrypt or derive with a signing key and still signs with it', async () => {
    const rsa = await token.generateKeyPair('sig-rsa', 'RSA-2048', 'signing');
    const ec = await token.generateKeyPair('sig-ec', 'EC-P256', 'signing');
    expect([rsa.purpose, ec.purpose]).toEqual(['signing', 'signing']);
    const ct = crypto.publicEncrypt(
      {
        key: crypto.createPublicKey({ key: Buffer.from(rsa.spki), format: 'der', type: 'spki' }),
        oaepHash: 'sha256',
        padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
      },
      Buffer.from('cek'),
    );
    expect(await errorCode(token.decryptRsaOaep(rsa, 'SHA-256', ct))).toBe('USAGE');
    const peer = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    expect(await errorCode(token.deriveEcdh(ec, new Uint8Array(peer)))).toBe('USAGE');
    const sig = await token.signDigest(ec, 'ECDSA-SHA256', digest);
    expect(
      crypto.verify(
        'sha256',
        Buffer.from('statement'),
        { key: crypto.createPublicKey({ key: Buffer.from(ec.spki), format: 'der', type: 'spki' }), dsaEncoding: 'der' },
        sig,
      ),
    ).toBe(true);
  });

  it('reads the purpose back from the token after a re-open', async () => {
    await token.logout();
    const again = hsm.reader.openToken('purpose');
    try {
      await again.login('1234');
      expect((await again.findKey('enc-rsa'))?.purpose).toBe('encryption');
      expect((await again.findKey('sig-ec'))?.purpose).toBe('signing');
      expect(await errorCode(again.signDigest((await again.findKey('enc-rsa'))!, 'RSASSA-PKCS1-v1_5-SHA256', digest))).toBe('USAGE');
    } finally {
      await again.close();
      await token.login('1234');
    }
  });
});
