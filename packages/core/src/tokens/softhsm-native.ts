import * as fs from 'node:fs';
import * as path from 'node:path';
import pkcs11js from 'pkcs11js';
import { SsmaxError } from '../errors.js';
import { Pkcs11Module } from './pkcs11-module.js';
import { Pkcs11Token } from './pkcs11-token.js';
import type { TokenCapabilities } from './token.js';

/** Where Debian installs SoftHSM2's PKCS#11 module. */
export const SOFTHSM2_MODULE_PATH = '/usr/lib/softhsm/libsofthsm2.so';

/** Measured on SoftHSM2 2.6.1 (Debian bookworm) loaded in-process; see docs/tokens.md and softhsm-native.test.ts. */
export const SOFTHSM_NATIVE_CAPABILITIES: TokenCapabilities = Object.freeze<TokenCapabilities>({
  backend: 'softhsm-native',
  keyAlgorithms: ['RSA-2048', 'RSA-3072', 'EC-P256', 'Ed25519', 'Ed448'],
  signSchemes: ['RSASSA-PKCS1-v1_5-SHA256', 'RSASSA-PSS-SHA256', 'ECDSA-SHA256', 'Ed25519', 'Ed448'],
  oaepHashesNative: ['SHA-1'],
  oaepHashes: ['SHA-1', 'SHA-256'],
  ecdh: true,
  signInput: 'digest',
  keyStorage: 'token',
  pinLockout: false,
  notes: [
    'CKM_RSA_PKCS_OAEP with SHA-256 returns CKR_ARGUMENTS_BAD: OAEP-SHA-256 runs as raw RSA (CKM_RSA_X_509) in the token plus EME-OAEP decoding on the host; the key stays in the token.',
    'CKM_ECDSA_SHA256 is CKR_MECHANISM_INVALID: the host hashes and the token signs with CKM_ECDSA.',
    'Ed25519 and Ed448 (issue 12): CKM_EC_EDWARDS_KEY_PAIR_GEN with the RFC 8410 curve OID as CKA_EC_PARAMS, CKM_EDDSA without parameters (PureEdDSA, no context) over the data itself (signData).',
    'The token never locks the user PIN; the Card layer counts failures.',
  ],
});

export interface SoftHsmNativeOptions {
  /** Directory that holds this reader's softhsm2.conf and its token store. Created if missing. */
  readonly storageDir: string;
  readonly modulePath?: string;
}

export interface InitTokenOptions {
  readonly label: string;
  readonly soPin: string;
  readonly userPin: string;
}

/**
 * The "card reader" for SoftHSM2 loaded in this process. SoftHSM reads SOFTHSM2_CONF once, at
 * C_Initialize, so one reader (one token directory) serves a process; it holds any number of tokens
 * (cards), each found by label. A second reader with another directory in the same process is refused
 * while the first is open.
 */
export class SoftHsmNative implements AsyncDisposable {
  readonly storageDir: string;
  readonly confPath: string;
  private readonly module: Pkcs11Module;
  private disposed = false;

  private constructor(storageDir: string, confPath: string, module: Pkcs11Module) {
    this.storageDir = storageDir;
    this.confPath = confPath;
    this.module = module;
  }

  static open(options: SoftHsmNativeOptions): SoftHsmNative {
    const storageDir = path.resolve(options.storageDir);
    const tokenDir = path.join(storageDir, 'tokens');
    const confPath = path.join(storageDir, 'softhsm2.conf');
    try {
      fs.mkdirSync(tokenDir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(
        confPath,
        [
          '# Written by SoftHsmNative: one token directory per process (SoftHSM reads this at C_Initialize).',
          `directories.tokendir = ${tokenDir}`,
          'objectstore.backend = file',
          'log.level = ERROR',
          'slots.removable = false',
          'slots.mechanisms = ALL',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
    } catch (cause) {
      throw new SsmaxError('IO_ERROR', `Cannot prepare the SoftHSM2 store in ${storageDir}. Writing softhsm2.conf failed.`, { cause });
    }
    const module = Pkcs11Module.acquire({ path: options.modulePath ?? SOFTHSM2_MODULE_PATH, env: { SOFTHSM2_CONF: confPath } });
    return new SoftHsmNative(storageDir, confPath, module);
  }

  /** Labels of the initialised tokens in this store. */
  labels(): string[] {
    return this.module.tokens().map((t) => t.label);
  }

  /**
   * Initialises a new token (a blank card) in a free slot: C_InitToken with the SO PIN, then C_InitPIN
   * for the user PIN as SO. Refuses a label already in use (C_InitToken would silently create a twin).
   */
  initToken({ label, soPin, userPin }: InitTokenOptions): void {
    if (this.module.slotByLabel(label)) throw new SsmaxError('USAGE', `Cannot initialise token ${label}. A token with that label exists.`);
    const slot = this.module.freeSlot();
    if (!slot) throw new SsmaxError('TOKEN_ERROR', `Cannot initialise token ${label}. SoftHSM offers no free slot.`);
    const p = this.module.pkcs11;
    try {
      p.C_InitToken(slot, soPin, label.padEnd(32, ' '));
      // SoftHSM moves the new token to a new slot id: find it by label.
      const newSlot = this.module.slotByLabel(label);
      if (!newSlot) throw new SsmaxError('TOKEN_ERROR', `Cannot initialise token ${label}. It did not appear after C_InitToken.`);
      const s = p.C_OpenSession(newSlot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        p.C_Login(s, pkcs11js.CKU_SO, soPin);
        p.C_InitPIN(s, userPin);
        p.C_Logout(s);
      } finally {
        p.C_CloseSession(s);
      }
    } catch (cause) {
      if (cause instanceof SsmaxError) throw cause;
      throw new SsmaxError('TOKEN_ERROR', `Cannot initialise token ${label}. ${cause instanceof Error ? cause.message : String(cause)}.`, { cause });
    }
  }

  /** Opens the token with this label (not logged in). */
  openToken(label: string, capabilities: TokenCapabilities = SOFTHSM_NATIVE_CAPABILITIES): Pkcs11Token {
    if (this.disposed) throw new SsmaxError('USAGE', `Cannot open token ${label}. The SoftHSM reader is closed.`);
    const slot = this.module.slotByLabel(label);
    if (!slot) throw new SsmaxError('KEY_NOT_FOUND', `Cannot open token ${label}. No initialised token has that label in ${this.storageDir}.`);
    const module = Pkcs11Module.acquire({ path: this.module.path, env: { SOFTHSM2_CONF: this.confPath } });
    try {
      return Pkcs11Token.open({ module, slot, label, capabilities });
    } catch (err) {
      module.release();
      throw err;
    }
  }

  /** Releases the reader's hold on the module; it is finalised when the last open token closes too. */
  async close(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.module.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
