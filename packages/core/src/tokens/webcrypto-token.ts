import * as nodeCrypto from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import { SsmaxError } from '../errors.js';
import type { KeyAlgorithm, KeyHandle, KeyPurpose, OaepHash, PrivateKeyAudit, SignScheme, Token, TokenCapabilities } from './token.js';
import { ecdsaRawToDer } from './key-encoding.js';

/** Measured with @peculiar/webcrypto; see docs/tokens.md and webcrypto-token.test.ts. */
export const WEBCRYPTO_CAPABILITIES: TokenCapabilities = Object.freeze<TokenCapabilities>({
  backend: 'webcrypto',
  keyAlgorithms: ['RSA-2048', 'RSA-3072', 'EC-P256', 'Ed25519', 'X25519'],
  signSchemes: ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256', 'Ed25519'],
  oaepHashesNative: ['SHA-1', 'SHA-256'],
  oaepHashes: ['SHA-1', 'SHA-256'],
  ecdh: true,
  signInput: 'data',
  keyStorage: 'process',
  pinLockout: false,
  notes: [
    "In-process: the key lives in this process's memory behind non-extractable CryptoKey objects; nothing outside the process holds it, and nothing inside is kept from it.",
    'WebCrypto binds one algorithm to a key, so a new key pair is generated once as extractable, imported as one non-extractable CryptoKey per use (PKCS#1, PSS, OAEP-SHA-1, OAEP-SHA-256, ECDSA, ECDH) and the PKCS#8 bytes are zeroed: not always-sensitive.',
    'WebCrypto cannot sign a bare digest: signData hashes inside the provider (signInput = data).',
    'Keys and PINs live only as long as the token object; the Card layer counts PIN failures.',
    'X25519 (issue 12): WebCrypto "X25519" deriveBits, a key-agreement-only key (RFC 8418 recipients); generated non-extractable.',
    'Ed25519 (issue 12): WebCrypto "Ed25519" (@peculiar/webcrypto 1.7 and node:crypto webcrypto); signing only (PureEdDSA over the data, RFC 8032). Ed448 is not offered: the standard algorithm name has no Ed448.',
  ],
});

export interface WebCryptoTokenOptions {
  /**
   * The WebCrypto provider, e.g. `new Crypto()` from @peculiar/webcrypto or node's `crypto.webcrypto`. Only its
   * `subtle` is used (the PIN salt comes from node:crypto), so a provider need not carry node's `CryptoKey` constructor.
   */
  readonly crypto: Pick<Crypto, 'subtle'>;
  readonly label: string;
  readonly userPin: string;
  readonly soPin: string;
}

type Crypto = webcrypto.Crypto;
type CryptoKey = webcrypto.CryptoKey;
type SubtleCrypto = webcrypto.SubtleCrypto;

interface WebKey {
  readonly handle: KeyHandle;
  readonly sign: ReadonlyMap<SignScheme, CryptoKey>;
  readonly oaep: ReadonlyMap<OaepHash, CryptoKey>;
  readonly ecdh?: CryptoKey;
}

function pinDigest(salt: Buffer, pin: string): Buffer {
  return nodeCrypto.createHash('sha256').update(salt).update(pin, 'utf8').digest();
}

/**
 * An in-process token over an injected WebCrypto provider: the cheapest backend, for tests and worlds
 * that need many cards. Private keys are non-extractable CryptoKeys and every private operation is gated
 * by a PIN held (salted and hashed) in memory. It does not survive the process.
 */
export class WebCryptoToken implements Token {
  readonly label: string;
  readonly capabilities = WEBCRYPTO_CAPABILITIES;
  private readonly subtle: SubtleCrypto;
  private readonly salt = nodeCrypto.randomBytes(16);
  private userPinHash: Buffer;
  private readonly soPinHash: Buffer;
  private loggedInFlag = false;
  private readonly keys = new Map<string, WebKey>();
  private readonly certs = new Map<string, Uint8Array>();
  private closed = false;

  constructor(private readonly options: WebCryptoTokenOptions) {
    this.label = options.label;
    this.subtle = options.crypto.subtle;
    this.userPinHash = pinDigest(this.salt, options.userPin);
    this.soPinHash = pinDigest(this.salt, options.soPin);
  }

  get loggedIn(): boolean {
    return this.loggedInFlag;
  }

  private checkOpen(): void {
    if (this.closed) throw new SsmaxError('USAGE', `Cannot use token ${this.label}. It is closed.`);
  }

  private requireLogin(what: string): void {
    this.checkOpen();
    if (!this.loggedInFlag) throw new SsmaxError('PIN_REQUIRED', `Cannot ${what} on token ${this.label}. No user is logged in; enter the PIN first.`);
  }

  async login(pin: string): Promise<void> {
    this.checkOpen();
    this.loggedInFlag = false;
    if (!nodeCrypto.timingSafeEqual(pinDigest(this.salt, pin), this.userPinHash)) {
      throw new SsmaxError('PIN_INCORRECT', `Cannot log in to token ${this.label}. The PIN is incorrect.`);
    }
    this.loggedInFlag = true;
  }

  async logout(): Promise<void> {
    this.loggedInFlag = false;
  }

  async resetUserPin(soPin: string, newUserPin: string): Promise<void> {
    this.checkOpen();
    this.loggedInFlag = false;
    if (!nodeCrypto.timingSafeEqual(pinDigest(this.salt, soPin), this.soPinHash)) {
      throw new SsmaxError('PIN_INCORRECT', `Cannot log in as security officer on token ${this.label}. The SO PIN is incorrect.`);
    }
    this.userPinHash = pinDigest(this.salt, newUserPin);
  }

  async generateKeyPair(label: string, algorithm: KeyAlgorithm, purpose: KeyPurpose = 'signing-and-encryption'): Promise<KeyHandle> {
    this.requireLogin('generate a key pair');
    if ([...this.keys.values()].some((k) => k.handle.label === label)) {
      throw new SsmaxError('USAGE', `Cannot generate key ${label} on token ${this.label}. A key with that label exists.`);
    }
    if (!this.capabilities.keyAlgorithms.includes(algorithm)) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot generate a ${algorithm} key on token ${this.label}. The backend does not offer it.`);
    }
    if (algorithm === 'Ed25519') return this.generateEd25519(label, purpose);
    if (algorithm === 'X25519') return this.generateX25519(label, purpose);
    const s = this.subtle;
    const rsa = algorithm !== 'EC-P256';
    const pair = (await s.generateKey(
      rsa
        ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: algorithm === 'RSA-2048' ? 2048 : 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
        : { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['sign', 'verify'],
    )) as webcrypto.CryptoKeyPair;
    const spki = new Uint8Array(await s.exportKey('spki', pair.publicKey));
    // WebCrypto binds one algorithm per key: re-import the PKCS#8 once per use, non-extractable, then wipe it.
    const pkcs8 = new Uint8Array(await s.exportKey('pkcs8', pair.privateKey));
    const imp = (alg: webcrypto.AlgorithmIdentifier | webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams, usages: webcrypto.KeyUsage[]) =>
      s.importKey('pkcs8', pkcs8, alg, false, usages);
    const sign = new Map<SignScheme, CryptoKey>();
    const oaep = new Map<OaepHash, CryptoKey>();
    let ecdh: CryptoKey | undefined;
    // Only the handles the purpose allows are made: the missing ones are the CKA_SIGN / CKA_DECRYPT false of PKCS#11.
    const canSign = purpose !== 'encryption';
    const canDecrypt = purpose !== 'signing';
    try {
      if (rsa) {
        if (canSign) sign.set('RSASSA-PKCS1-v1_5-SHA256', await imp({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, ['sign']));
        if (canSign) sign.set('RSASSA-PSS-SHA256', await imp({ name: 'RSA-PSS', hash: 'SHA-256' }, ['sign']));
        if (canDecrypt) oaep.set('SHA-1', await imp({ name: 'RSA-OAEP', hash: 'SHA-1' }, ['decrypt']));
        if (canDecrypt) oaep.set('SHA-256', await imp({ name: 'RSA-OAEP', hash: 'SHA-256' }, ['decrypt']));
      } else {
        if (canSign) sign.set('ECDSA-SHA256', await imp({ name: 'ECDSA', namedCurve: 'P-256' }, ['sign']));
        if (canDecrypt) ecdh = await imp({ name: 'ECDH', namedCurve: 'P-256' }, ['deriveBits']);
      }
    } finally {
      pkcs8.fill(0);
    }
    const handle: KeyHandle = { id: nodeCrypto.randomBytes(16).toString('hex'), label, algorithm, spki, purpose };
    this.keys.set(handle.id, { handle, sign, oaep, ...(ecdh ? { ecdh } : {}) });
    return handle;
  }

  /** An X25519 pair (RFC 7748, RFC 8418 key agreement): one non-extractable deriveBits handle, nothing to sign with. */
  private async generateX25519(label: string, purpose: KeyPurpose): Promise<KeyHandle> {
    if (purpose === 'signing') throw new SsmaxError('USAGE', `Cannot generate key ${label} for signing on token ${this.label}. X25519 keys only agree keys.`);
    const pair = (await this.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as webcrypto.CryptoKeyPair;
    const spki = new Uint8Array(await this.subtle.exportKey('spki', pair.publicKey));
    const handle: KeyHandle = { id: nodeCrypto.randomBytes(16).toString('hex'), label, algorithm: 'X25519', spki, purpose: 'encryption' };
    this.keys.set(handle.id, { handle, sign: new Map(), oaep: new Map(), ecdh: pair.privateKey });
    return handle;
  }

  /** An Ed25519 pair (RFC 8032): one non-extractable signing handle, nothing to decrypt with. */
  private async generateEd25519(label: string, purpose: KeyPurpose): Promise<KeyHandle> {
    if (purpose === 'encryption') throw new SsmaxError('USAGE', `Cannot generate key ${label} for encryption on token ${this.label}. Ed25519 keys only sign.`);
    const pair = (await this.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const spki = new Uint8Array(await this.subtle.exportKey('spki', pair.publicKey));
    const handle: KeyHandle = { id: nodeCrypto.randomBytes(16).toString('hex'), label, algorithm: 'Ed25519', spki, purpose: 'signing' };
    this.keys.set(handle.id, { handle, sign: new Map([['Ed25519', pair.privateKey]]), oaep: new Map() });
    return handle;
  }

  async findKey(label: string): Promise<KeyHandle | undefined> {
    return (await this.listKeys()).find((k) => k.label === label);
  }

  async listKeys(): Promise<KeyHandle[]> {
    this.checkOpen();
    // Like CKA_PRIVATE objects on a PKCS#11 token, keys are invisible before login.
    if (!this.loggedInFlag) return [];
    return [...this.keys.values()].map((k) => k.handle);
  }

  private key(handle: KeyHandle): WebKey {
    const k = this.keys.get(handle.id);
    if (!k) throw new SsmaxError('KEY_NOT_FOUND', `Cannot use key ${handle.label} on token ${this.label}. The token has no such key.`);
    return k;
  }

  async signDigest(_key: KeyHandle, scheme: SignScheme, _digest: Uint8Array): Promise<Uint8Array> {
    throw new SsmaxError(
      'CAPABILITY_MISSING',
      `Cannot sign a bare digest with ${scheme} on token ${this.label}. WebCrypto hashes itself; use signData (capabilities.signInput = data).`,
    );
  }

  async signData(key: KeyHandle, scheme: SignScheme, data: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('sign');
    const k = this.key(key).sign.get(scheme);
    if (!k) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme} on token ${this.label}. Key ${key.label} is ${key.algorithm}.`);
    // PureEdDSA: the provider signs the data itself and returns R||S (RFC 8032 §5.1.6), which CMS carries as is.
    if (scheme === 'Ed25519') return new Uint8Array(await this.subtle.sign({ name: 'Ed25519' }, k, data));
    const alg =
      scheme === 'RSASSA-PKCS1-v1_5-SHA256'
        ? { name: 'RSASSA-PKCS1-v1_5' }
        : scheme === 'RSASSA-PSS-SHA256'
          ? { name: 'RSA-PSS', saltLength: 32 } // RFC 4056 §3.1: salt length = hash length
          : { name: 'ECDSA', hash: 'SHA-256' };
    const sig = new Uint8Array(await this.subtle.sign(alg, k, data));
    // WebCrypto ECDSA returns r||s (IEEE P1363); CMS wants DER ECDSA-Sig-Value (RFC 5753 §7.2).
    return scheme === 'ECDSA-SHA256' ? ecdsaRawToDer(sig) : sig;
  }

  async decryptRsaOaep(key: KeyHandle, hash: OaepHash, ciphertext: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('decrypt');
    const k = this.key(key).oaep.get(hash);
    if (!k) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt RSA-OAEP on token ${this.label}. Key ${key.label} is ${key.algorithm}.`);
    try {
      return new Uint8Array(await this.subtle.decrypt({ name: 'RSA-OAEP' }, k, ciphertext));
    } catch (cause) {
      throw new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. RSA-OAEP decoding failed (wrong key or corrupted input).', { cause });
    }
  }

  async deriveEcdh(key: KeyHandle, peerSpki: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('run ECDH');
    const k = this.key(key).ecdh;
    if (!k) throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot run ECDH on token ${this.label}. Key ${key.label} is not an EC key.`);
    let peer: CryptoKey;
    try {
      peer = await this.subtle.importKey('spki', peerSpki, key.algorithm === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: 'P-256' }, true, []);
    } catch (cause) {
      throw new SsmaxError(
        'MALFORMED_DER',
        `Cannot run ECDH. The peer public key is not a valid ${key.algorithm === 'X25519' ? 'X25519' : 'P-256'} SubjectPublicKeyInfo.`,
        { cause },
      );
    }
    return new Uint8Array(
      await this.subtle.deriveBits({ name: key.algorithm === 'X25519' ? 'X25519' : 'ECDH', public: peer } as webcrypto.EcdhKeyDeriveParams, k, 256),
    );
  }

  async putCertificate(label: string, der: Uint8Array): Promise<void> {
    this.checkOpen();
    try {
      new nodeCrypto.X509Certificate(der);
    } catch (cause) {
      throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot store certificate ${label} on token ${this.label}. It is not an X.509 certificate.`, { cause });
    }
    this.certs.set(label, der.slice());
  }

  async getCertificate(label: string): Promise<Uint8Array | undefined> {
    this.checkOpen();
    return this.certs.get(label)?.slice();
  }

  async auditPrivateKey(key: KeyHandle): Promise<PrivateKeyAudit> {
    this.requireLogin('audit a key');
    const k = this.key(key);
    const all = [...k.sign.values(), ...k.oaep.values(), ...(k.ecdh ? [k.ecdh] : [])];
    let refused = 0;
    for (const c of all) {
      try {
        await this.subtle.exportKey('pkcs8', c);
      } catch {
        refused++;
      }
    }
    const extractable = all.some((c) => c.extractable);
    return {
      sensitive: !extractable,
      extractable,
      alwaysSensitive: false,
      neverExtractable: false,
      valueReadRefused: refused === all.length && all.length > 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.loggedInFlag = false;
    this.keys.clear();
    this.certs.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
