import * as crypto from 'node:crypto';
import type { PrivateKeyOps } from '../keys.js';
import { SsmaxError } from '../errors.js';
import { isEdDsa, schemesForKeyAlgorithm, type KeyHandle, type OaepHash, type SignScheme, type Token } from './token.js';

/**
 * A token key as {@link PrivateKeyOps}, so CMS code never knows where the key lives. Kept thin on
 * purpose: one host SHA-256 and one `signDigest` per signature, no session or attribute work. EdDSA keys
 * sign the data itself (PureEdDSA has no digest to hand over), through the token's `signData`.
 */
export function bindTokenKey(token: Token, key: KeyHandle): PrivateKeyOps {
  const caps = token.capabilities;
  const rsa = key.algorithm.startsWith('RSA-');
  // An encryption-only key offers no signature scheme, a signing-only key no decryption (the token refuses them anyway).
  const ofKey = schemesForKeyAlgorithm(key.algorithm);
  const signSchemes: readonly SignScheme[] = key.purpose === 'encryption' ? [] : caps.signSchemes.filter((s) => ofKey.includes(s));
  const oaepHashes: readonly OaepHash[] = !rsa || key.purpose === 'signing' ? [] : caps.oaepHashes;
  const signData = caps.signInput === 'data' ? token.signData?.bind(token) : undefined;
  const sign = async (scheme: SignScheme, data: Uint8Array): Promise<Uint8Array> => {
    if (isEdDsa(scheme)) {
      if (!token.signData)
        throw new SsmaxError(
          'CAPABILITY_MISSING',
          `Cannot sign with ${scheme} on token ${token.label}. The token cannot sign data (PureEdDSA needs signData).`,
        );
      return token.signData(key, scheme, data);
    }
    return signData ? signData(key, scheme, data) : token.signDigest(key, scheme, crypto.createHash('sha256').update(data).digest());
  };
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
