/**
 * The token interface: the ID-card stand-in. Keys are generated inside the token and never leave it;
 * every private-key operation (sign, RSA decrypt, ECDH) runs inside the token.
 *
 * Three backends implement it (see `capabilities`): in-process WebCrypto, SoftHSM2 native (the embedded
 * default) and SoftHSM2 in a container reached over p11-kit remoting. They differ in what they can do;
 * callers must consult {@link TokenCapabilities} and pick a variant that keeps the key in the token.
 */

export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'EC-P256' | EdDsaAlgorithm | KeyAgreementAlgorithm;

/** Key-agreement-only key types (issue 12): ECDH on P-384/P-521 and X25519/X448 (RFC 8418); they never sign. */
export type KeyAgreementAlgorithm = 'EC-P384' | 'EC-P521' | 'X25519' | 'X448';

/** EdDSA key algorithms (RFC 8032, RFC 8410): signing only, with the scheme of the same name. */
export type EdDsaAlgorithm = 'Ed25519' | 'Ed448';

/**
 * Signature schemes. RSA and ECDSA sign a SHA-256 digest of the data (computed by the caller for
 * `signDigest`); Ed25519 and Ed448 are PureEdDSA (RFC 8032 §5.1, RFC 8419 §3): they sign the data itself,
 * so tokens serve them through `signData` only.
 */
export type SignScheme = 'RSASSA-PKCS1-v1_5-SHA256' | 'RSASSA-PSS-SHA256' | 'ECDSA-SHA256' | EdDsaAlgorithm | WideHashScheme;

/**
 * ECDSA and RSA-PSS over SHA-384/SHA-512 (RFC 5758 §3.2, RFC 4056 §2; PSS salt = hash length). Software keys
 * make them (EC P-384/P-521 keys, interop with other CMS implementations); no token backend offers them.
 */
export type WideHashScheme = 'ECDSA-SHA384' | 'ECDSA-SHA512' | 'RSASSA-PSS-SHA384' | 'RSASSA-PSS-SHA512';

/** True for the EdDSA schemes (and key algorithms), which sign the data, never a digest. */
export function isEdDsa(x: KeyAlgorithm | SignScheme): x is EdDsaAlgorithm {
  return x === 'Ed25519' || x === 'Ed448';
}

/** The schemes a key of this algorithm can make: PKCS#1 and PSS for RSA, ECDSA for P-256, EdDSA for its curve. */
export function schemesForKeyAlgorithm(algorithm: KeyAlgorithm): readonly SignScheme[] {
  if (isEdDsa(algorithm)) return [algorithm];
  if (algorithm === 'EC-P256') return ['ECDSA-SHA256'];
  if (!algorithm.startsWith('RSA-')) return []; // key-agreement-only keys (issue 12)
  return ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256'];
}

export type OaepHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

/**
 * What a generated key may do. `encryption`: RSA decryption or ECDH only (PKCS#11 CKA_SIGN false), so a
 * key certified for key transport cannot make signatures that verify under its certificate; `signing`:
 * signatures only. `signing-and-encryption` is the old default, for tests and the demo's combined key.
 */
export type KeyPurpose = 'signing' | 'encryption' | 'signing-and-encryption';

export type TokenBackend = 'webcrypto' | 'softhsm-native' | 'softhsm-container';

export interface TokenCapabilities {
  readonly backend: TokenBackend;
  readonly keyAlgorithms: readonly KeyAlgorithm[];
  readonly signSchemes: readonly SignScheme[];
  /** OAEP hashes the token's own OAEP mechanism accepts. */
  readonly oaepHashesNative: readonly OaepHash[];
  /**
   * OAEP hashes `decryptRsaOaep` accepts in total. A hash missing from `oaepHashesNative` is served by a
   * raw RSA decryption inside the token (CKM_RSA_X_509) and OAEP decoding on the host: the private key
   * still never leaves the token.
   */
  readonly oaepHashes: readonly OaepHash[];
  /** ECDH (CKM_ECDH1_DERIVE) with the token's EC keys. */
  readonly ecdh: boolean;
  /** Human-readable notes on what differs and why (shown in the README's capability table). */
  readonly notes: readonly string[];
  /**
   * What the token signs. 'digest' (the default when absent): a SHA-256 digest computed by the host,
   * via `signDigest`. 'data': the token hashes the data itself, via `signData` (WebCrypto cannot sign a
   * bare digest).
   */
  readonly signInput?: 'digest' | 'data';
  /**
   * Where the private key lives: 'token' (a PKCS#11 token: sensitive, never extractable, the host only
   * ever holds handles) or 'process' (in this process's memory behind non-extractable CryptoKey handles).
   */
  readonly keyStorage?: 'token' | 'process';
  /** Whether the token itself locks the user PIN after repeated failures (SoftHSM2 2.6.1 never does; see Card). */
  readonly pinLockout?: boolean;
}

/** Protection attributes of a private key, for audits and tests. Never carries key material. */
export interface PrivateKeyAudit {
  readonly sensitive: boolean;
  readonly extractable: boolean;
  /** CKA_ALWAYS_SENSITIVE: the key was sensitive from the moment it was generated. */
  readonly alwaysSensitive: boolean;
  /** CKA_NEVER_EXTRACTABLE: the key was never extractable. */
  readonly neverExtractable: boolean;
  /** True when an attempt to read the secret value (CKA_VALUE / CKA_PRIVATE_EXPONENT / pkcs8 export) was refused. */
  readonly valueReadRefused: boolean;
}

/** A reference to a key pair inside a token. Holds no secret. */
export interface KeyHandle {
  /** Token-unique id (CKA_ID in hex for PKCS#11). */
  readonly id: string;
  readonly label: string;
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the public half. */
  readonly spki: Uint8Array;
  /** What the token lets the key do (read from the token's key attributes). */
  readonly purpose?: KeyPurpose;
}

export interface Token extends AsyncDisposable {
  readonly label: string;
  readonly capabilities: TokenCapabilities;
  /** Opens a user session. Throws SsmaxError PIN_INCORRECT on a wrong PIN (no lock-out here: see Card). */
  login(pin: string): Promise<void>;
  logout(): Promise<void>;
  readonly loggedIn: boolean;
  /**
   * Generates a non-extractable, sensitive key pair inside the token, allowed only what `purpose` says
   * (default `signing-and-encryption`); the token refuses the rest with USAGE. Requires login.
   */
  generateKeyPair(label: string, algorithm: KeyAlgorithm, purpose?: KeyPurpose): Promise<KeyHandle>;
  findKey(label: string): Promise<KeyHandle | undefined>;
  listKeys(): Promise<KeyHandle[]>;
  /**
   * Signs a SHA-256 digest inside the token. ECDSA returns the DER `ECDSA-Sig-Value` (RFC 5480 / RFC 5753),
   * RSA returns the raw signature block.
   */
  signDigest(key: KeyHandle, scheme: SignScheme, digest: Uint8Array): Promise<Uint8Array>;
  /** RSA-OAEP (MGF1 with the same hash, empty label) decryption inside the token. */
  decryptRsaOaep(key: KeyHandle, hash: OaepHash, ciphertext: Uint8Array): Promise<Uint8Array>;
  /** ECDH inside the token: returns the shared secret Z (the x-coordinate), for a KDF on the host. */
  deriveEcdh(key: KeyHandle, peerSpki: Uint8Array): Promise<Uint8Array>;
  /** Stores a certificate object on the token (e.g. the org certificate, the user's own certificate). */
  putCertificate(label: string, der: Uint8Array): Promise<void>;
  getCertificate(label: string): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
  /**
   * Signs `data`, hashing it with SHA-256 inside the token. Present on tokens whose
   * `capabilities.signInput` is 'data'.
   */
  signData?(key: KeyHandle, scheme: SignScheme, data: Uint8Array): Promise<Uint8Array>;
  /**
   * The issuer's reset: authenticates with the SO PIN and sets a new user PIN (PKCS#11: C_Login as
   * CKU_SO + C_InitPIN). Throws PIN_INCORRECT on a wrong SO PIN. Leaves the token logged out.
   */
  resetUserPin?(soPin: string, newUserPin: string): Promise<void>;
  /** Reads a private key's protection attributes and tries (expecting refusal) to read its value. */
  auditPrivateKey?(key: KeyHandle): Promise<PrivateKeyAudit>;
}
