import * as crypto from 'node:crypto';
import type { PrivateKeyOps } from '../keys.js';
import type { KeyHandle, OaepHash, SignScheme, Token } from './token.js';

/**
 * A token key as {@link PrivateKeyOps}, so CMS code never knows where the key lives. Kept thin on
 * purpose: one host SHA-256 and one `signDigest` per signature, no session or attribute work.
 */
export function bindTokenKey(token: Token, key: KeyHandle): PrivateKeyOps {
  const caps = token.capabilities;
  const ec = key.algorithm === 'EC-P256';
  // An encryption-only key offers no signature scheme, a signing-only key no decryption (the token refuses them anyway).
  const signSchemes: readonly SignScheme[] = key.purpose === 'encryption' ? [] : caps.signSchemes.filter((s) => (s === 'ECDSA-SHA256') === ec);
  const oaepHashes: readonly OaepHash[] = ec || key.purpose === 'signing' ? [] : caps.oaepHashes;
  const signData = caps.signInput === 'data' ? token.signData?.bind(token) : undefined;
  const sign = signData
    ? (scheme: SignScheme, data: Uint8Array) => signData(key, scheme, data)
    : (scheme: SignScheme, data: Uint8Array) => token.signDigest(key, scheme, crypto.createHash('sha256').update(data).digest());
  return {
    algorithm: key.algorithm,
    spki: key.spki,
    signSchemes,
    oaepHashes,
    sign,
    decryptRsaOaep: (hash, ciphertext) => token.decryptRsaOaep(key, hash, ciphertext),
    deriveEcdh: (peerSpki) => token.deriveEcdh(key, peerSpki),
  };
}
