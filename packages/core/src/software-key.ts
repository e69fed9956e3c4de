import * as crypto from 'node:crypto';
import { SsmaxError } from './errors.js';
import type { PrivateKeyOps } from './keys.js';
import type { KeyAlgorithm, OaepHash, SignScheme } from './tokens/token.js';
import { looksLikePem } from './pem.js';
import { schemeHash } from './signature-algorithms.js';

/**
 * An in-process private key (PKCS#8 PEM/DER, or a node KeyObject) behind the same interface as a token
 * key. Used by the CLI's `--key` and by tests that need an oracle-independent key; the test bed's cards
 * and HSMs use token keys instead.
 */
export class SoftwareKey implements PrivateKeyOps {
  readonly algorithm: KeyAlgorithm;
  readonly spki: Uint8Array;
  readonly oaepHashes: readonly OaepHash[] = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];
  readonly signSchemes: readonly SignScheme[];

  private constructor(private readonly key: crypto.KeyObject) {
    const t = key.asymmetricKeyType;
    const d = key.asymmetricKeyDetails ?? {};
    if (t === 'rsa') {
      const bits = d.modulusLength ?? 0;
      if (bits !== 2048 && bits !== 3072) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use the private key. RSA-${bits} is not supported (use 2048 or 3072 bits).`);
      }
      checkRsaParts(key);
      this.algorithm = bits === 2048 ? 'RSA-2048' : 'RSA-3072';
      this.signSchemes = ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'RSASSA-PSS-SHA384', 'RSASSA-PSS-SHA512'];
    } else if (t === 'ec' && d.namedCurve === 'prime256v1') {
      this.algorithm = 'EC-P256';
      this.signSchemes = ['ECDSA-SHA256', 'ECDSA-SHA384', 'ECDSA-SHA512'];
    } else if (t === 'ed25519' || t === 'ed448') {
      // RFC 8032 PureEdDSA (RFC 8419 for CMS): the key signs with its own curve only.
      this.algorithm = t === 'ed25519' ? 'Ed25519' : 'Ed448';
      this.signSchemes = [this.algorithm];
    } else if (keyAgreementOnly(t, d.namedCurve)) {
      // Issue 12: recipients of key agreement only (ECDH P-384/P-521, X25519/X448 per RFC 8418).
      this.algorithm = keyAgreementOnly(t, d.namedCurve) as KeyAlgorithm;
      // Issue 12 (SignedData interop): a software P-384/P-521 key also signs, with ECDSA (RFC 5758 §3.2).
      this.signSchemes = t === 'ec' ? ['ECDSA-SHA256', 'ECDSA-SHA384', 'ECDSA-SHA512'] : [];
    } else {
      throw new SsmaxError(
        'UNSUPPORTED_ALGORITHM',
        `Cannot use the private key. Key type ${t ?? 'unknown'} ${d.namedCurve ?? ''} is not supported (use RSA or EC P-256).`,
      );
    }
    this.spki = new Uint8Array(crypto.createPublicKey(key).export({ format: 'der', type: 'spki' }));
  }

  static fromKeyObject(key: crypto.KeyObject): SoftwareKey {
    if (key.type !== 'private') throw new SsmaxError('USAGE', 'Cannot use the key. It is not a private key.');
    return new SoftwareKey(key);
  }

  /** Reads PKCS#8 / PKCS#1 / SEC1 keys in PEM or DER. */
  static fromBytes(bytes: Uint8Array, passphrase?: string): SoftwareKey {
    try {
      const key = looksLikePem(bytes)
        ? crypto.createPrivateKey({ key: Buffer.from(bytes).toString('latin1'), format: 'pem', ...(passphrase ? { passphrase } : {}) })
        : crypto.createPrivateKey({ key: Buffer.from(bytes), format: 'der', type: 'pkcs8', ...(passphrase ? { passphrase } : {}) });
      return new SoftwareKey(key);
    } catch (cause) {
      if (cause instanceof SsmaxError) throw cause;
      throw new SsmaxError('MALFORMED_PEM', 'Cannot read the private key. It is not a PKCS#8, PKCS#1 or SEC1 key in PEM or DER.', { cause });
    }
  }

  static generate(algorithm: KeyAlgorithm): SoftwareKey {
    if (algorithm === 'Ed25519') return new SoftwareKey(crypto.generateKeyPairSync('ed25519').privateKey);
    if (algorithm === 'Ed448') return new SoftwareKey(crypto.generateKeyPairSync('ed448').privateKey);
    if (algorithm === 'X25519') return new SoftwareKey(crypto.generateKeyPairSync('x25519').privateKey);
    if (algorithm === 'X448') return new SoftwareKey(crypto.generateKeyPairSync('x448').privateKey);
    if (algorithm === 'EC-P384' || algorithm === 'EC-P521')
      return new SoftwareKey(crypto.generateKeyPairSync('ec', { namedCurve: algorithm.slice(3) }).privateKey);
    const { privateKey } =
      algorithm === 'EC-P256'
        ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : crypto.generateKeyPairSync('rsa', { modulusLength: algorithm === 'RSA-2048' ? 2048 : 3072 });
    return new SoftwareKey(privateKey);
  }

  /** PKCS#8 PEM, for handing to openssl in interop tests. */
  exportPkcs8Pem(): string {
    return this.key.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  async sign(scheme: SignScheme, data: Uint8Array): Promise<Uint8Array> {
    if (!this.signSchemes.includes(scheme)) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme}. The key is ${this.algorithm}.`);
    }
    const opts: crypto.SignKeyObjectInput = { key: this.key };
    const hash = schemeHash(scheme);
    if (scheme.startsWith('RSASSA-PSS-')) {
      // RFC 8017 §9.1 with MGF1 over the same hash and salt = hash length (RFC 4056 §3.1 recommends it).
      opts.padding = crypto.constants.RSA_PKCS1_PSS_PADDING;
      opts.saltLength = hash === 'SHA-512' ? 64 : hash === 'SHA-384' ? 48 : 32;
    } else if (scheme.startsWith('ECDSA-')) {
      opts.dsaEncoding = 'der';
    }
    try {
      // PureEdDSA (RFC 8032 §5.1.6) takes the data itself: node:crypto wants a null digest name.
      return new Uint8Array(crypto.sign(hash === undefined ? null : hash.replace('-', '').toLowerCase(), data, opts));
    } catch (cause) {
      throw refused(this.algorithm, 'sign', cause);
    }
  }

  async decryptRsaOaep(hash: OaepHash, ciphertext: Uint8Array): Promise<Uint8Array> {
    if (!this.algorithm.startsWith('RSA')) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt with RSA-OAEP. The key is not an RSA key.');
    }
    try {
      return new Uint8Array(
        crypto.privateDecrypt({ key: this.key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash.replace('-', '').toLowerCase() }, ciphertext),
      );
    } catch (cause) {
      throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. RSA-OAEP decoding failed (wrong key or corrupted input).', { cause });
    }
  }

  /**
   * RSADP (RFC 8017 §5.1.2): the bare RSA private-key operation, for PKCS#1 v1.5 key transport whose
   * padding the caller checks with implicit rejection (RFC 8017 §7.2.2 note; cms/enveloped/pkcs1v15.ts).
   */
  async decryptRsaRaw(ciphertext: Uint8Array): Promise<Uint8Array> {
    if (!this.algorithm.startsWith('RSA')) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', 'Cannot decrypt with RSA. The key is not an RSA key.');
    }
    try {
      return new Uint8Array(crypto.privateDecrypt({ key: this.key, padding: crypto.constants.RSA_NO_PADDING }, ciphertext));
    } catch (cause) {
      throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. The RSA ciphertext is out of range.', { cause });
    }
  }

  async deriveEcdh(peerSpki: Uint8Array): Promise<Uint8Array> {
    if (!(['EC-P256', 'EC-P384', 'EC-P521', 'X25519', 'X448'] as const).some((a) => a === this.algorithm)) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot run ECDH. The key is ${this.algorithm}, not a key-agreement key.`);
    }
    let peer: crypto.KeyObject;
    try {
      peer = crypto.createPublicKey({ key: Buffer.from(peerSpki), format: 'der', type: 'spki' });
    } catch (cause) {
      throw new SsmaxError('MALFORMED_DER', 'Cannot run ECDH. The peer public key is not a valid SubjectPublicKeyInfo.', { cause });
    }
    try {
      return new Uint8Array(crypto.diffieHellman({ privateKey: this.key, publicKey: peer }));
    } catch (cause) {
      throw refused(this.algorithm, 'run ECDH', cause);
    }
  }
}

/** The key-agreement-only algorithm of a node key type and curve (issue 12), or undefined. */
function keyAgreementOnly(type: string | undefined, curve: string | undefined): KeyAlgorithm | undefined {
  if (type === 'x25519') return 'X25519';
  if (type === 'x448') return 'X448';
  if (type === 'ec' && curve === 'secp384r1') return 'EC-P384';
  if (type === 'ec' && curve === 'secp521r1') return 'EC-P521';
  return undefined;
}

/** An OpenSSL failure on our own key, in our words; the library's text stays in `cause` and `details`. */
function refused(algorithm: KeyAlgorithm, what: string, cause: unknown): SsmaxError {
  const reason = (cause as { reason?: unknown }).reason;
  return new SsmaxError(
    'MALFORMED_KEY',
    `Cannot use the private key. The crypto library refused to ${what} with this ${algorithm} key; the key is damaged or not a valid key.`,
    {
      cause,
      ...(typeof reason === 'string' ? { details: { library: reason } } : {}),
    },
  );
}

/**
 * RFC 8017 §3.2: n = p·q (odd), e·d ≡ 1 mod lcm(p−1, q−1). node reads a key whose parts contradict each
 * other without complaint, and OpenSSL then fails deep inside a signature ("no inverse"); check once at
 * load, in integers (a few microseconds for 3072 bits).
 */
function checkRsaParts(key: crypto.KeyObject): void {
  const j = key.export({ format: 'jwk' });
  const int = (v: string | undefined): bigint => (v ? BigInt(`0x${Buffer.from(v, 'base64url').toString('hex') || '0'}`) : 0n);
  const [n, e, d, p, q] = [int(j.n), int(j.e), int(j.d), int(j.p), int(j.q)];
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const why =
    n % 2n === 0n
      ? 'the modulus is even'
      : p < 2n || q < 2n || p * q !== n
        ? 'the modulus is not the product of its primes'
        : (e * d) % (((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n)) !== 1n
          ? 'the private exponent does not invert the public one'
          : undefined;
  if (why) throw new SsmaxError('MALFORMED_KEY', `Cannot use the private key. Its RSA parts do not fit together (${why}); the key is damaged.`);
}
