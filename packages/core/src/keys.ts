import type { KeyAlgorithm, OaepHash, SignScheme } from './tokens/token.js';

/**
 * What the CMS layer needs from a private key. A token key (via `bindTokenKey`) and an in-process
 * software key (PEM/PKCS#8, used by the CLI's `--key`) both implement it, so CMS code never knows
 * where the key lives.
 */
export interface PrivateKeyOps {
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the public half. */
  readonly spki: Uint8Array;
  /**
   * Signs `data`, hashing it first with the scheme's hash (SHA-256 on tokens: token keys hash on the host
   * and sign the digest inside the token); Ed25519/Ed448 sign `data` itself (PureEdDSA, RFC 8032).
   * ECDSA returns the DER `ECDSA-Sig-Value`; RSA the raw signature block; EdDSA R||S.
   */
  sign(scheme: SignScheme, data: Uint8Array): Promise<Uint8Array>;
  decryptRsaOaep(hash: OaepHash, ciphertext: Uint8Array): Promise<Uint8Array>;
  deriveEcdh(peerSpki: Uint8Array): Promise<Uint8Array>;
  /**
   * RSADP (RFC 8017 §5.1.2) without any padding check, for PKCS#1 v1.5 key transport with implicit
   * rejection (issue 12). Absent where the key cannot do it (WebCrypto has no raw RSA).
   */
  decryptRsaRaw?(ciphertext: Uint8Array): Promise<Uint8Array>;
  /** OAEP hashes this key can decrypt with (token capabilities). */
  readonly oaepHashes: readonly OaepHash[];
  readonly signSchemes: readonly SignScheme[];
}
