import * as crypto from 'node:crypto';
import pkcs11js from 'pkcs11js';
import * as pkijs from 'pkijs';
import { SsmaxError, type ErrorCode } from '../errors.js';
import { parseDer } from '../asn1.js';
import {
  isEdDsa,
  schemesForKeyAlgorithm,
  type KeyAlgorithm,
  type KeyHandle,
  type KeyPurpose,
  type OaepHash,
  type PrivateKeyAudit,
  type SignScheme,
  type Token,
  type TokenCapabilities,
} from './token.js';
import { Pkcs11Module } from './pkcs11-module.js';
import {
  P256_EC_PARAMS,
  SHA256_DIGEST_INFO_PREFIX,
  ecP256PointFromSpki,
  ecP256SpkiFromPoint,
  ecPointFromAttribute,
  ecdsaRawToDer,
  rsaSpkiFromComponents,
} from './key-encoding.js';
import { emeOaepDecode } from './oaep.js';

const P = pkcs11js;

export interface Pkcs11TokenOptions {
  /** The loaded module; the token takes one reference and releases it on close. */
  readonly module: Pkcs11Module;
  readonly slot: Buffer;
  readonly label: string;
  /** What this module and transport can do, measured (see docs/tokens.md); operations outside it are refused. */
  readonly capabilities: TokenCapabilities;
  /** Runs after the token is closed (e.g. a reader that tracks its open tokens). */
  readonly onClose?: () => void | Promise<void>;
}

interface CachedKey {
  readonly priv: Buffer;
  readonly modulusBytes: number;
}

// Built once: the hot path must not allocate mechanism descriptions per call.
const MECH_RSA_PKCS: pkcs11js.Mechanism = { mechanism: P.CKM_RSA_PKCS };
const MECH_RSA_X_509: pkcs11js.Mechanism = { mechanism: P.CKM_RSA_X_509 };
const MECH_ECDSA: pkcs11js.Mechanism = { mechanism: P.CKM_ECDSA };
// RFC 8017 §9.1 / RFC 4056 §3.1: SHA-256, MGF1-SHA-256, salt length = hash length.
const MECH_RSA_PSS: pkcs11js.Mechanism = {
  mechanism: P.CKM_RSA_PKCS_PSS,
  parameter: { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 } as pkcs11js.RsaPSS,
};
const CKZ_DATA_SPECIFIED = 1; // PKCS#11 v2.40 §2.1.8; pkcs11js does not export it.
// PKCS#11 v3.0 §2.3.5-§2.3.6 (Edwards curves); pkcs11js 2.1 does not export them.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
// No CK_EDDSA_PARAMS: PureEdDSA without a context (RFC 8419 §3 uses neither HashEdDSA nor a context).
const MECH_EDDSA: pkcs11js.Mechanism = { mechanism: CKM_EDDSA };
/** CKA_EC_PARAMS for the Edwards curves: the RFC 8410 curve OID, DER (SoftHSM2 2.6 also takes the OID form). */
const EDWARDS_EC_PARAMS = {
  Ed25519: Buffer.from('06032b6570', 'hex'),
  Ed448: Buffer.from('06032b6571', 'hex'),
} as const;
/** RFC 8410 §4 SubjectPublicKeyInfo prefix (AlgorithmIdentifier without parameters) and key length per curve. */
const EDWARDS_SPKI = {
  Ed25519: { prefix: Buffer.from('302a300506032b6570032100', 'hex'), length: 32 },
  Ed448: { prefix: Buffer.from('3043300506032b6571033a00', 'hex'), length: 57 },
} as const;

/** The raw Edwards public key from CKA_EC_POINT: DER OCTET STRING (PKCS#11 v3.0 §2.3.5) or the bare key. */
function edwardsKey(value: Buffer, length: number): Buffer {
  if (value.length === length + 2 && value[0] === 0x04 && value[1] === length) return value.subarray(2);
  if (value.length === length) return value;
  throw new SsmaxError('TOKEN_ERROR', `Cannot read the Edwards public key from the token. CKA_EC_POINT has ${value.length} bytes, expected ${length}.`);
}
const oaepMechanism = (hash: OaepHash): pkcs11js.Mechanism => ({
  mechanism: P.CKM_RSA_PKCS_OAEP,
  parameter: {
    type: P.CK_PARAMS_RSA_OAEP,
    hashAlg: hash === 'SHA-1' ? P.CKM_SHA_1 : P.CKM_SHA256,
    mgf: hash === 'SHA-1' ? P.CKG_MGF1_SHA1 : P.CKG_MGF1_SHA256,
    source: CKZ_DATA_SPECIFIED,
  } as pkcs11js.RsaOAEP,
});

const PIN_CODES: ReadonlyMap<number, ErrorCode> = new Map([
  [P.CKR_PIN_INCORRECT, 'PIN_INCORRECT'],
  [P.CKR_PIN_LOCKED, 'PIN_LOCKED'],
  [P.CKR_USER_NOT_LOGGED_IN, 'PIN_REQUIRED'],
  // The key's attributes forbid the operation (CKA_SIGN / CKA_DECRYPT / CKA_DERIVE false): a caller error.
  [P.CKR_KEY_FUNCTION_NOT_PERMITTED, 'USAGE'],
]);

function ckrCode(err: unknown): number | undefined {
  return err instanceof P.Pkcs11Error ? err.code : undefined;
}

function ckrName(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A PKCS#11 token (one slot of a loaded module) behind the {@link Token} interface. One implementation
 * serves SoftHSM2 loaded natively and SoftHSM2 reached over p11-kit remoting; they differ only in module
 * path, C_Initialize flags and declared capabilities.
 *
 * Keys are generated with CKA_SENSITIVE, non-extractable, private and on the token; the host holds only
 * object handles. One session per token object; handles are cached per login, so a signature costs
 * exactly C_SignInit + C_Sign.
 */
export class Pkcs11Token implements Token {
  readonly label: string;
  readonly capabilities: TokenCapabilities;
  private readonly p: pkcs11js.PKCS11;
  private session: Buffer | undefined;
  private loggedInFlag = false;
  private readonly cache = new Map<string, CachedKey>();
  private closed = false;

  private constructor(
    private readonly options: Pkcs11TokenOptions,
    session: Buffer,
  ) {
    this.label = options.label;
    this.capabilities = options.capabilities;
    this.p = options.module.pkcs11;
    this.session = session;
  }

  /** Opens a read-write session on the slot. The caller's module reference passes to the token. */
  static open(options: Pkcs11TokenOptions): Pkcs11Token {
    let session: Buffer;
    try {
      session = options.module.pkcs11.C_OpenSession(options.slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
    } catch (cause) {
      throw new SsmaxError('TOKEN_ERROR', `Cannot open a session on token ${options.label}. C_OpenSession failed (${ckrName(cause)}).`, { cause });
    }
    return new Pkcs11Token(options, session);
  }

  get loggedIn(): boolean {
    return this.loggedInFlag;
  }

  private get s(): Buffer {
    if (!this.session) throw new SsmaxError('USAGE', `Cannot use token ${this.label}. It is closed.`);
    return this.session;
  }

  private fail(err: unknown, what: string, fallback: ErrorCode = 'TOKEN_ERROR'): never {
    if (err instanceof SsmaxError) throw err;
    const code = ckrCode(err);
    const mapped = code === undefined ? undefined : PIN_CODES.get(code);
    throw new SsmaxError(mapped ?? fallback, `Cannot ${what} on token ${this.label}. The token answered ${ckrName(err)}.`, {
      cause: err,
      details: { ckr: code },
    });
  }

  async login(pin: string): Promise<void> {
    // PKCS#11 login state is per token, not per session: C_Login while logged in returns
    // CKR_USER_ALREADY_LOGGED_IN without checking the PIN, so always log out first.
    await this.logout();
    try {
      this.p.C_Login(this.s, P.CKU_USER, pin);
    } catch (err) {
      if (ckrCode(err) === P.CKR_USER_ALREADY_LOGGED_IN) {
        this.p.C_Logout(this.s);
        try {
          this.p.C_Login(this.s, P.CKU_USER, pin);
        } catch (err2) {
          this.fail(err2, 'log in');
        }
      } else {
        this.fail(err, 'log in');
      }
    }
    this.loggedInFlag = true;
  }

  async logout(): Promise<void> {
    // Private-object handles are invalidated by a logout (SoftHSM drops them), so the cache goes too.
    this.cache.clear();
    if (!this.loggedInFlag) return;
    this.loggedInFlag = false;
    try {
      this.p.C_Logout(this.s);
    } catch (err) {
      if (ckrCode(err) !== P.CKR_USER_NOT_LOGGED_IN) this.fail(err, 'log out');
    }
  }

  private requireLogin(what: string): void {
    if (!this.loggedInFlag) throw new SsmaxError('PIN_REQUIRED', `Cannot ${what} on token ${this.label}. No user is logged in; enter the PIN first.`);
  }

  private find(template: pkcs11js.Template, max = 64): Buffer[] {
    const s = this.s;
    this.p.C_FindObjectsInit(s, template);
    try {
      return this.p.C_FindObjects(s, max);
    } finally {
      this.p.C_FindObjectsFinal(s);
    }
  }

  private attr(handle: Buffer, type: number): Buffer {
    const [a] = this.p.C_GetAttributeValue(this.s, handle, [{ type }]);
    if (!a) throw new SsmaxError('TOKEN_ERROR', `Cannot read attribute ${type} on token ${this.label}. The token returned nothing.`);
    return a.value;
  }

  private describe(priv: Buffer): KeyHandle {
    const id = this.attr(priv, P.CKA_ID);
    const label = this.attr(priv, P.CKA_LABEL).toString('utf8');
    const keyType = this.attr(priv, P.CKA_KEY_TYPE).readUInt32LE(0); // CK_ULONG, host byte order (little-endian here)
    const [pub] = this.find(
      [
        { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
        { type: P.CKA_ID, value: id },
      ],
      1,
    );
    if (!pub) throw new SsmaxError('KEY_NOT_FOUND', `Cannot read key ${label} on token ${this.label}. Its public key object is missing.`);
    let algorithm: KeyAlgorithm;
    let spki: Uint8Array;
    let modulusBytes = 0;
    if (keyType === P.CKK_RSA) {
      const n = this.attr(pub, P.CKA_MODULUS);
      const e = this.attr(pub, P.CKA_PUBLIC_EXPONENT);
      spki = rsaSpkiFromComponents(n, e);
      modulusBytes = n.length;
      if (n.length === 256) algorithm = 'RSA-2048';
      else if (n.length === 384) algorithm = 'RSA-3072';
      else throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use key ${label} on token ${this.label}. RSA-${n.length * 8} is not supported.`);
    } else if (keyType === CKK_EC_EDWARDS) {
      const params = this.attr(pub, P.CKA_EC_PARAMS);
      const curve = params.equals(EDWARDS_EC_PARAMS.Ed25519) ? 'Ed25519' : params.equals(EDWARDS_EC_PARAMS.Ed448) ? 'Ed448' : undefined;
      if (!curve)
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use key ${label} on token ${this.label}. Its Edwards curve is neither Ed25519 nor Ed448.`);
      const s = EDWARDS_SPKI[curve];
      spki = new Uint8Array(Buffer.concat([s.prefix, edwardsKey(this.attr(pub, P.CKA_EC_POINT), s.length)]));
      algorithm = curve;
    } else if (keyType === P.CKK_EC) {
      const params = this.attr(pub, P.CKA_EC_PARAMS);
      if (!params.equals(P256_EC_PARAMS)) {
        throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use key ${label} on token ${this.label}. Only the P-256 curve is supported.`);
      }
      spki = ecP256SpkiFromPoint(ecPointFromAttribute(this.attr(pub, P.CKA_EC_POINT)));
      algorithm = 'EC-P256';
    } else {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot use key ${label} on token ${this.label}. Key type ${keyType} is not supported.`);
    }
    const flag = (type: number): boolean => this.attr(priv, type)[0] === 1;
    const canSign = flag(P.CKA_SIGN);
    const canDecrypt = keyType !== CKK_EC_EDWARDS && flag(keyType === P.CKK_RSA ? P.CKA_DECRYPT : P.CKA_DERIVE);
    const purpose: KeyPurpose = canSign && canDecrypt ? 'signing-and-encryption' : canSign ? 'signing' : 'encryption';
    const handle: KeyHandle = { id: id.toString('hex'), label, algorithm, spki, purpose };
    this.cache.set(handle.id, { priv, modulusBytes });
    return handle;
  }

  async generateKeyPair(label: string, algorithm: KeyAlgorithm, purpose: KeyPurpose = 'signing-and-encryption'): Promise<KeyHandle> {
    this.requireLogin('generate a key pair');
    if (!this.capabilities.keyAlgorithms.includes(algorithm)) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot generate a ${algorithm} key on token ${this.label}. The backend does not offer it.`);
    }
    if (await this.findKey(label)) throw new SsmaxError('USAGE', `Cannot generate key ${label} on token ${this.label}. A key with that label exists.`);
    if (isEdDsa(algorithm)) return this.generateEdwards(label, algorithm, purpose);
    const id = crypto.randomBytes(16);
    const common = [
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_ID, value: id },
      { type: P.CKA_LABEL, value: label },
    ];
    const rsa = algorithm !== 'EC-P256';
    const sign = purpose !== 'encryption';
    const decrypt = purpose !== 'signing';
    const pub: pkcs11js.Template = [
      ...common,
      { type: P.CKA_PRIVATE, value: false },
      { type: P.CKA_VERIFY, value: sign },
      ...(rsa
        ? [
            { type: P.CKA_ENCRYPT, value: decrypt },
            { type: P.CKA_MODULUS_BITS, value: algorithm === 'RSA-2048' ? 2048 : 3072 },
            { type: P.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          ]
        : [{ type: P.CKA_EC_PARAMS, value: Buffer.from(P256_EC_PARAMS) }]),
    ];
    const priv: pkcs11js.Template = [
      ...common,
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      // The token enforces these (C_SignInit / C_DecryptInit / C_DeriveKey fail with CKR_KEY_FUNCTION_NOT_PERMITTED).
      { type: P.CKA_SIGN, value: sign },
      ...(rsa ? [{ type: P.CKA_DECRYPT, value: decrypt }] : [{ type: P.CKA_DERIVE, value: decrypt }]),
    ];
    let pair: pkcs11js.KeyPair;
    try {
      pair = this.p.C_GenerateKeyPair(this.s, { mechanism: rsa ? P.CKM_RSA_PKCS_KEY_PAIR_GEN : P.CKM_EC_KEY_PAIR_GEN }, pub, priv);
    } catch (err) {
      this.fail(err, `generate a ${algorithm} key pair`);
    }
    return this.describe(pair.privateKey);
  }

  /** An Ed25519/Ed448 pair (CKM_EC_EDWARDS_KEY_PAIR_GEN): CKA_SIGN only, nothing to decrypt or derive with. */
  private generateEdwards(label: string, algorithm: 'Ed25519' | 'Ed448', purpose: KeyPurpose): KeyHandle {
    if (purpose === 'encryption')
      throw new SsmaxError('USAGE', `Cannot generate key ${label} for encryption on token ${this.label}. ${algorithm} keys only sign.`);
    const common = [
      { type: P.CKA_TOKEN, value: true },
      { type: P.CKA_ID, value: crypto.randomBytes(16) },
      { type: P.CKA_LABEL, value: label },
    ];
    const pub: pkcs11js.Template = [
      ...common,
      { type: P.CKA_PRIVATE, value: false },
      { type: P.CKA_VERIFY, value: true },
      { type: P.CKA_EC_PARAMS, value: EDWARDS_EC_PARAMS[algorithm] },
    ];
    const priv: pkcs11js.Template = [
      ...common,
      { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true },
      { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_SIGN, value: true },
      { type: P.CKA_DERIVE, value: false },
    ];
    let pair: pkcs11js.KeyPair;
    try {
      pair = this.p.C_GenerateKeyPair(this.s, { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN }, pub, priv);
    } catch (err) {
      this.fail(err, `generate a ${algorithm} key pair`);
    }
    return this.describe(pair.privateKey);
  }

  async findKey(label: string): Promise<KeyHandle | undefined> {
    // Without a login the token hides CKA_PRIVATE objects itself, so a stolen card shows no keys.
    try {
      const [priv] = this.find(
        [
          { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
          { type: P.CKA_LABEL, value: label },
        ],
        1,
      );
      return priv ? this.describe(priv) : undefined;
    } catch (err) {
      this.fail(err, `find key ${label}`);
    }
  }

  async listKeys(): Promise<KeyHandle[]> {
    try {
      return this.find([{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }], 1024).map((h) => this.describe(h));
    } catch (err) {
      this.fail(err, 'list keys');
    }
  }

  private cached(key: KeyHandle): CachedKey {
    const hit = this.cache.get(key.id);
    if (hit) return hit;
    const [priv] = this.find(
      [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_ID, value: Buffer.from(key.id, 'hex') },
      ],
      1,
    );
    if (!priv) throw new SsmaxError('KEY_NOT_FOUND', `Cannot use key ${key.label} on token ${this.label}. The token has no such private key.`);
    this.describe(priv);
    return this.cache.get(key.id)!;
  }

  async signDigest(key: KeyHandle, scheme: SignScheme, digest: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('sign');
    if (!this.capabilities.signSchemes.includes(scheme)) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot sign with ${scheme} on token ${this.label}. The backend does not offer it (see capabilities).`);
    }
    if (isEdDsa(scheme))
      throw new SsmaxError('USAGE', `Cannot sign a digest with ${scheme} on token ${this.label}. PureEdDSA signs the data itself; use signData.`);
    if (digest.length !== 32)
      throw new SsmaxError('USAGE', `Cannot sign on token ${this.label}. Expected a 32-byte SHA-256 digest, got ${digest.length} bytes.`);
    const ec = key.algorithm === 'EC-P256';
    if (!schemesForKeyAlgorithm(key.algorithm).includes(scheme)) {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme} on token ${this.label}. Key ${key.label} is ${key.algorithm}.`);
    }
    const { priv } = this.cached(key);
    let mech: pkcs11js.Mechanism;
    let input: Buffer;
    if (scheme === 'RSASSA-PKCS1-v1_5-SHA256') {
      // RFC 8017 §9.2 step 2: CKM_RSA_PKCS pads T = DigestInfo(SHA-256, H) itself.
      mech = MECH_RSA_PKCS;
      input = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
    } else {
      mech = scheme === 'RSASSA-PSS-SHA256' ? MECH_RSA_PSS : MECH_ECDSA;
      input = Buffer.from(digest.buffer, digest.byteOffset, digest.length);
    }
    let sig: Buffer;
    try {
      this.p.C_SignInit(this.s, mech, priv);
      sig = this.p.C_Sign(this.s, input, Buffer.allocUnsafe(512));
    } catch (err) {
      this.fail(err, `sign with ${scheme}`);
    }
    return ec ? ecdsaRawToDer(sig) : new Uint8Array(sig);
  }

  /**
   * Signs `data`: PureEdDSA (CKM_EDDSA) over the data itself for Ed25519/Ed448 keys; the other schemes hash
   * with SHA-256 on the host and go through {@link signDigest}.
   */
  async signData(key: KeyHandle, scheme: SignScheme, data: Uint8Array): Promise<Uint8Array> {
    if (!isEdDsa(scheme)) return this.signDigest(key, scheme, crypto.createHash('sha256').update(data).digest());
    this.requireLogin('sign');
    if (!this.capabilities.signSchemes.includes(scheme)) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot sign with ${scheme} on token ${this.label}. The backend does not offer it (see capabilities).`);
    }
    if (key.algorithm !== scheme)
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot sign with ${scheme} on token ${this.label}. Key ${key.label} is ${key.algorithm}.`);
    const { priv } = this.cached(key);
    try {
      this.p.C_SignInit(this.s, MECH_EDDSA, priv);
      return new Uint8Array(this.p.C_Sign(this.s, Buffer.from(data.buffer, data.byteOffset, data.byteLength), Buffer.allocUnsafe(114)));
    } catch (err) {
      this.fail(err, `sign with ${scheme}`);
    }
  }

  async decryptRsaOaep(key: KeyHandle, hash: OaepHash, ciphertext: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('decrypt');
    if (!this.capabilities.oaepHashes.includes(hash)) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot decrypt RSA-OAEP with ${hash} on token ${this.label}. The backend does not offer it.`);
    }
    if (!key.algorithm.startsWith('RSA-'))
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot decrypt RSA-OAEP on token ${this.label}. Key ${key.label} is not an RSA key.`);
    const { priv, modulusBytes } = this.cached(key);
    const decryptFailed = (cause?: unknown) =>
      new SsmaxError('DECRYPT_FAILED', 'Cannot decrypt the content-encryption key. RSA-OAEP decoding failed (wrong key or corrupted input).', { cause });
    // RFC 8017 §7.1.2 step 1b.
    if (ciphertext.length !== modulusBytes) throw decryptFailed();
    const c = Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length);
    const native = this.capabilities.oaepHashesNative.includes(hash);
    let out: Buffer;
    try {
      this.p.C_DecryptInit(this.s, native ? oaepMechanism(hash) : MECH_RSA_X_509, priv);
      out = this.p.C_Decrypt(this.s, c, Buffer.alloc(modulusBytes));
    } catch (err) {
      const code = ckrCode(err);
      // A key not allowed to decrypt is refused at C_DecryptInit, before any padding is looked at.
      if (
        code === P.CKR_USER_NOT_LOGGED_IN ||
        code === P.CKR_SESSION_HANDLE_INVALID ||
        code === P.CKR_DEVICE_REMOVED ||
        code === P.CKR_KEY_FUNCTION_NOT_PERMITTED
      )
        this.fail(err, 'decrypt');
      // Every padding or range failure reads the same (RFC 8017 §7.1.2 note, Manger's attack).
      throw decryptFailed(err);
    }
    if (native) return new Uint8Array(out);
    try {
      // The private key stayed in the token (raw RSA, CKM_RSA_X_509); only the padded block m leaves it.
      return emeOaepDecode(out, modulusBytes, hash);
    } finally {
      out.fill(0);
    }
  }

  async deriveEcdh(key: KeyHandle, peerSpki: Uint8Array): Promise<Uint8Array> {
    this.requireLogin('run ECDH');
    if (!this.capabilities.ecdh) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot run ECDH on token ${this.label}. The backend does not offer CKM_ECDH1_DERIVE (see capabilities).`);
    }
    if (key.algorithm !== 'EC-P256')
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot run ECDH on token ${this.label}. Key ${key.label} is not an EC key.`);
    const point = ecP256PointFromSpki(peerSpki);
    const { priv } = this.cached(key);
    let secret: Buffer | undefined;
    try {
      // Z leaves the token as an extractable session object (RFC 5753 §3.1.1 needs Z for the KDF on the host).
      secret = this.p.C_DeriveKey(
        this.s,
        { mechanism: P.CKM_ECDH1_DERIVE, parameter: { type: P.CK_PARAMS_EC_DH, kdf: P.CKD_NULL, publicData: Buffer.from(point) } as pkcs11js.ECDH1 },
        priv,
        [
          { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
          { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET },
          { type: P.CKA_TOKEN, value: false },
          { type: P.CKA_SENSITIVE, value: false },
          { type: P.CKA_EXTRACTABLE, value: true },
          { type: P.CKA_VALUE_LEN, value: 32 },
        ],
      );
      return new Uint8Array(this.attr(secret, P.CKA_VALUE));
    } catch (err) {
      return this.fail(err, 'run ECDH');
    } finally {
      if (secret) this.p.C_DestroyObject(this.s, secret);
    }
  }

  async putCertificate(label: string, der: Uint8Array): Promise<void> {
    let subject: ArrayBuffer;
    try {
      const cert = new pkijs.Certificate({ schema: parseDer(der, 'certificate') });
      subject = cert.subject.toSchema().toBER(false);
    } catch (cause) {
      if (cause instanceof SsmaxError) throw cause;
      throw new SsmaxError('MALFORMED_CERTIFICATE', `Cannot store certificate ${label} on token ${this.label}. It is not an X.509 certificate.`, { cause });
    }
    try {
      for (const old of this.find([
        { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
        { type: P.CKA_LABEL, value: label },
      ])) {
        this.p.C_DestroyObject(this.s, old);
      }
      this.p.C_CreateObject(this.s, [
        { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
        { type: P.CKA_CERTIFICATE_TYPE, value: P.CKC_X_509 },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: false },
        { type: P.CKA_LABEL, value: label },
        { type: P.CKA_SUBJECT, value: Buffer.from(subject) },
        { type: P.CKA_VALUE, value: Buffer.from(der) },
      ]);
    } catch (err) {
      this.fail(err, `store certificate ${label}`);
    }
  }

  async getCertificate(label: string): Promise<Uint8Array | undefined> {
    try {
      const [h] = this.find(
        [
          { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
          { type: P.CKA_LABEL, value: label },
        ],
        1,
      );
      return h ? new Uint8Array(this.attr(h, P.CKA_VALUE)) : undefined;
    } catch (err) {
      this.fail(err, `read certificate ${label}`);
    }
  }

  async resetUserPin(soPin: string, newUserPin: string): Promise<void> {
    await this.logout();
    try {
      this.p.C_Login(this.s, P.CKU_SO, soPin);
    } catch (err) {
      this.fail(err, 'log in as security officer');
    }
    try {
      this.p.C_InitPIN(this.s, newUserPin);
    } catch (err) {
      this.fail(err, 'set the user PIN');
    } finally {
      this.p.C_Logout(this.s);
    }
  }

  async auditPrivateKey(key: KeyHandle): Promise<PrivateKeyAudit> {
    this.requireLogin('audit a key');
    const { priv } = this.cached(key);
    const flag = (type: number) => this.attr(priv, type)[0] === 1;
    let valueReadRefused: boolean;
    try {
      const v = this.attr(priv, key.algorithm.startsWith('RSA-') ? P.CKA_PRIVATE_EXPONENT : P.CKA_VALUE);
      v.fill(0);
      valueReadRefused = false;
    } catch (err) {
      valueReadRefused = ckrCode(err) === P.CKR_ATTRIBUTE_SENSITIVE;
    }
    return {
      sensitive: flag(P.CKA_SENSITIVE),
      extractable: flag(P.CKA_EXTRACTABLE),
      alwaysSensitive: flag(P.CKA_ALWAYS_SENSITIVE),
      neverExtractable: flag(P.CKA_NEVER_EXTRACTABLE),
      valueReadRefused,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.logout();
      if (this.session) this.p.C_CloseSession(this.session);
    } catch {
      // Closing must release the module even when the transport is gone.
    } finally {
      this.session = undefined;
      this.options.module.release();
      await this.options.onClose?.();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
