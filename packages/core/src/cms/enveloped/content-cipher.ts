/**
 * Content-encryption algorithms of EnvelopedData and AuthEnvelopedData (issue 12), as one table:
 * AES-128/192/256 in CBC (RFC 3565) and GCM (RFC 5084), ChaCha20-Poly1305 (RFC 8103) and, for reading
 * old mail only, 3DES-CBC (RFC 3370 §5.1). Each row says whether we still produce it and whether reading
 * it is reported as legacy.
 */
import * as crypto from 'node:crypto';
import { SsmaxError } from '../../errors.js';
import { Oids } from '../../oids.js';
import { derInteger, derOctetString, derSequence } from '../../der/der-writer.js';
import { encodeAlgorithmIdentifier } from '../common/algorithm-identifier.js';
import { children, decodeSmallInteger, expectTag, malformed, octetValue, readAlgId, readNode, Tag } from './ber-node-reader.js';
import { tagWithoutAad } from './gcm-aad.js';
import { Poly1305 } from './poly1305.js';

export type ContentCipher =
  'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'des-ede3-cbc';

export interface ContentCipherSpec {
  readonly oid: string;
  readonly keyLength: number;
  /** IV (CBC) or nonce (AEAD) length. */
  readonly ivLength: number;
  /** Authenticated encryption: only in AuthEnvelopedData (RFC 5083 §2.1); CBC only in EnvelopedData. */
  readonly aead: boolean;
  /** We write it (encrypt / reencrypt). */
  readonly produce: boolean;
  /** Reading it is reported as legacy (EnvelopeInfo.legacy). */
  readonly legacy: boolean;
}

export const CONTENT_CIPHERS: Readonly<Record<ContentCipher, ContentCipherSpec>> = Object.freeze({
  'aes-128-cbc': { oid: Oids.aes128Cbc, keyLength: 16, ivLength: 16, aead: false, produce: true, legacy: false },
  'aes-192-cbc': { oid: Oids.aes192Cbc, keyLength: 24, ivLength: 16, aead: false, produce: true, legacy: false },
  'aes-256-cbc': { oid: Oids.aes256Cbc, keyLength: 32, ivLength: 16, aead: false, produce: true, legacy: false },
  'aes-128-gcm': { oid: Oids.aes128Gcm, keyLength: 16, ivLength: 12, aead: true, produce: true, legacy: false },
  'aes-192-gcm': { oid: Oids.aes192Gcm, keyLength: 24, ivLength: 12, aead: true, produce: true, legacy: false },
  'aes-256-gcm': { oid: Oids.aes256Gcm, keyLength: 32, ivLength: 12, aead: true, produce: true, legacy: false },
  'chacha20-poly1305': { oid: Oids.chacha20Poly1305, keyLength: 32, ivLength: 12, aead: true, produce: true, legacy: false },
  // 64-bit block (Sweet32) and 112-bit security: read, never written.
  'des-ede3-cbc': { oid: Oids.desEde3Cbc, keyLength: 24, ivLength: 8, aead: false, produce: false, legacy: true },
});

export const PRODUCIBLE_CIPHERS = (Object.keys(CONTENT_CIPHERS) as ContentCipher[]).filter((c) => CONTENT_CIPHERS[c].produce);

const byOid = new Map<string, ContentCipher>((Object.keys(CONTENT_CIPHERS) as ContentCipher[]).map((c) => [CONTENT_CIPHERS[c].oid, c]));

export interface ContentAlg {
  readonly cipher: ContentCipher;
  readonly iv: Uint8Array;
  /** AEAD tag length (0 for CBC). */
  readonly tagLength: number;
}

/** Reads contentEncryptionAlgorithm (DER/BER element) for EnvelopedData (`auth` false) or AuthEnvelopedData. */
export function parseContentAlg(der: Uint8Array, auth: boolean): ContentAlg {
  const { oid, params } = readAlgId(der, readNode(der, 0), 'contentEncryptionAlgorithm');
  const cipher = byOid.get(oid);
  const container = auth ? 'AuthEnvelopedData' : 'EnvelopedData';
  if (!cipher) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content. Content encryption ${oid} is not supported (AES-128/192/256 CBC or GCM, ChaCha20-Poly1305, 3DES-CBC).`,
    );
  }
  const spec = CONTENT_CIPHERS[cipher];
  if (spec.aead !== auth) {
    throw new SsmaxError(
      'UNSUPPORTED_ALGORITHM',
      `Cannot decrypt the content. ${cipher} is not allowed in ${container} (RFC 5083 §2.1: authenticated ciphers go in AuthEnvelopedData, CBC in EnvelopedData).`,
    );
  }
  if (cipher === 'chacha20-poly1305') {
    // RFC 8103 §3: the parameters are AEADChaCha20Poly1305Nonce ::= OCTET STRING (SIZE(12)); the tag is 16 bytes.
    const nonce = octetValue(der, expectTag(params, Tag.OCTET_STRING, 'AEADChaCha20Poly1305Nonce'), 'nonce');
    if (nonce.byteLength !== 12) throw malformed(`The ChaCha20-Poly1305 nonce is ${nonce.byteLength} bytes, not 12`);
    return { cipher, iv: nonce, tagLength: 16 };
  }
  if (spec.aead) {
    // RFC 5084 §3.2: GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen INTEGER DEFAULT 12 }
    const [nonce, icv, extra] = children(der, expectTag(params, Tag.SEQUENCE, 'GCMParameters'));
    if (!nonce || extra) throw malformed('GCMParameters has the wrong number of fields');
    const iv = octetValue(der, nonce, 'aes-nonce');
    const tagLength = icv ? decodeSmallInteger(der, icv, 'aes-ICVlen') : 12;
    // RFC 5084 §3.1 recommends a 12-byte nonce; tags below 12 bytes are too weak to accept.
    if (iv.byteLength !== 12) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content. A ${iv.byteLength}-byte GCM nonce is not supported.`);
    if (tagLength < 12 || tagLength > 16)
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt the content. A ${tagLength}-byte GCM tag is not supported.`);
    return { cipher, iv, tagLength };
  }
  // RFC 3565 §4.1 (AES IV) / RFC 3370 §5.1 (3DES IV): the parameters are the IV as an OCTET STRING.
  const iv = octetValue(der, expectTag(params, Tag.OCTET_STRING, 'CBC IV'), 'CBC IV');
  if (iv.byteLength !== spec.ivLength) throw malformed(`The ${cipher} IV is ${iv.byteLength} bytes, not ${spec.ivLength}`);
  return { cipher, iv, tagLength: 0 };
}

/** The contentEncryptionAlgorithm we write: RFC 3565 §4.1, RFC 5084 §3.2 (16-byte ICV), RFC 8103 §3. */
export function encodeContentAlg(cipher: ContentCipher, iv: Uint8Array): Uint8Array {
  const spec = CONTENT_CIPHERS[cipher];
  if (cipher === 'chacha20-poly1305' || !spec.aead) return encodeAlgorithmIdentifier(spec.oid, derOctetString(iv));
  return encodeAlgorithmIdentifier(spec.oid, derSequence(derOctetString(iv), derInteger(16)));
}

/** Streaming decryption of the content; `final` checks the padding or the tag. */
export interface ContentDecipher {
  update(ciphertext: Uint8Array): Uint8Array;
  /**
   * Ends the stream. AEAD: `mac` is the received tag, `aad` the authenticated attributes (DER SET OF),
   * which RFC 5083 §2.2 puts after the ciphertext; throws AUTH_TAG_MISMATCH. CBC: throws DECRYPT_FAILED.
   */
  final(mac: Uint8Array | undefined, aad: Uint8Array | undefined): Uint8Array;
}

export function createContentDecipher(alg: ContentAlg, cek: Uint8Array): ContentDecipher {
  const { cipher, iv, tagLength } = alg;
  if (cipher === 'chacha20-poly1305') return chachaPolyDecipher(cek, iv);
  const spec = CONTENT_CIPHERS[cipher];
  if (!spec.aead) {
    const d = crypto.createDecipheriv(cipher, cek, iv);
    return {
      update: (c) => d.update(c),
      final: () => {
        try {
          return d.final();
        } catch (cause) {
          throw new SsmaxError(
            'DECRYPT_FAILED',
            `Cannot decrypt the content. The ${cipher.toUpperCase()} padding is invalid (wrong key or corrupted ciphertext).`,
            { cause },
          );
        }
      },
    };
  }
  const d = crypto.createDecipheriv(cipher as crypto.CipherGCMTypes, cek, iv, { authTagLength: tagLength });
  let length = 0;
  const key = Uint8Array.from(cek); // the caller wipes its copy when the stream ends; GHASH needs it at the end
  return {
    update(c) {
      length += c.byteLength;
      return d.update(c);
    },
    final(mac, aad) {
      try {
        if (!mac || mac.byteLength !== tagLength) {
          throw new SsmaxError(
            'AUTH_TAG_MISMATCH',
            `Cannot authenticate the content. The mac is ${mac?.byteLength ?? 0} bytes, not the ${tagLength} GCMParameters declare.`,
          );
        }
        d.setAuthTag(aad ? tagWithoutAad(key, mac, aad, length) : mac);
        return d.final();
      } catch (cause) {
        if (SsmaxError.is(cause)) throw cause;
        throw new SsmaxError(
          'AUTH_TAG_MISMATCH',
          'Cannot authenticate the content. The AES-GCM tag does not match (the ciphertext, attributes or tag were altered).',
          { cause },
        );
      } finally {
        key.fill(0);
      }
    },
  };
}

/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) with the AAD arriving after the ciphertext: ChaCha20 from block
 * counter 1 decrypts, and Poly1305 runs on the host so the AAD's share of the tag can be added at the end.
 */
function chachaPolyDecipher(cek: Uint8Array, nonce: Uint8Array): ContentDecipher {
  const iv = (counter: number) => Buffer.concat([Buffer.from(Uint32Array.of(counter).buffer), nonce]); // OpenSSL: 32-bit LE counter || nonce
  // RFC 8439 §2.6: the one-time Poly1305 key is the first 32 bytes of the block with counter 0.
  const otk = crypto.createCipheriv('chacha20', cek, iv(0)).update(Buffer.alloc(32));
  const poly = new Poly1305(otk);
  otk.fill(0);
  const stream = crypto.createDecipheriv('chacha20', cek, iv(1));
  return {
    update(c) {
      poly.update(c);
      return stream.update(c);
    },
    final(mac, aad) {
      const expected = poly.finishAead(aad ?? new Uint8Array(0));
      if (!mac || mac.byteLength !== 16 || !crypto.timingSafeEqual(expected, mac)) {
        throw new SsmaxError(
          'AUTH_TAG_MISMATCH',
          'Cannot authenticate the content. The ChaCha20-Poly1305 tag does not match (the ciphertext, attributes or tag were altered).',
        );
      }
      return stream.final();
    },
  };
}

/** Streaming encryption of the content. */
export interface ContentEncryptor {
  update(plaintext: Uint8Array): Buffer;
  final(): Buffer;
  /** AEAD tag after `final` (undefined for CBC). */
  tag(): Uint8Array | undefined;
}

export function createContentCipher(cipher: ContentCipher, cek: Uint8Array, iv: Uint8Array, aad: Uint8Array | undefined): ContentEncryptor {
  const spec = CONTENT_CIPHERS[cipher];
  if (!spec.produce) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot encrypt the content. ${cipher} is read for old mail only, never written.`);
  if (!spec.aead) {
    const c = crypto.createCipheriv(cipher, cek, iv);
    return { update: (p) => c.update(p), final: () => c.final(), tag: () => undefined };
  }
  const c =
    cipher === 'chacha20-poly1305'
      ? crypto.createCipheriv(cipher, cek, iv, { authTagLength: 16 })
      : crypto.createCipheriv(cipher as crypto.CipherGCMTypes, cek, iv, { authTagLength: 16 });
  if (aad) (c as crypto.CipherGCM).setAAD(aad);
  return { update: (p) => c.update(p), final: () => c.final(), tag: () => c.getAuthTag() };
}
