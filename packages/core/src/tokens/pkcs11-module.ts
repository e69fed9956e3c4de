import pkcs11js from 'pkcs11js';
import { SsmaxError } from '../errors.js';

export interface Pkcs11ModuleOptions {
  /** Path of the PKCS#11 shared library. */
  readonly path: string;
  /** C_Initialize flags, e.g. CKF_OS_LOCKING_OK (p11-kit-client requires it). Absent: C_Initialize(NULL). */
  readonly initializeFlags?: number;
  /**
   * Environment variables the module reads at C_Initialize (SOFTHSM2_CONF, P11_KIT_SERVER_ADDRESS). They
   * are set in this process's environment before loading, because native modules read them with getenv.
   */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A loaded and initialised PKCS#11 library, shared by every token (slot) it serves.
 *
 * dlopen returns the same library instance for the same path and a module is initialised once per
 * process, so this keeps one registry per process keyed by path: acquiring a module already loaded with
 * the same environment shares it (reference-counted); a different environment (another SoftHSM token
 * directory, another p11-kit server) is refused instead of silently using the first one.
 */
export class Pkcs11Module {
  // Process-wide by necessity: it mirrors the dynamic loader's own one-instance-per-path state.
  private static readonly loaded = new Map<string, Pkcs11Module>();

  readonly pkcs11: pkcs11js.PKCS11;
  private refs = 1;

  private constructor(
    readonly path: string,
    private readonly envKey: string,
    pkcs11: pkcs11js.PKCS11,
  ) {
    this.pkcs11 = pkcs11;
  }

  /** Loads and initialises the module, or shares the instance already loaded with the same environment. */
  static acquire(options: Pkcs11ModuleOptions): Pkcs11Module {
    const envKey = JSON.stringify(Object.entries(options.env ?? {}).sort());
    const existing = Pkcs11Module.loaded.get(options.path);
    if (existing) {
      if (existing.envKey !== envKey) {
        throw new SsmaxError(
          'USAGE',
          `Cannot load the PKCS#11 module ${options.path} with environment ${envKey}. It is already initialised in this process with ${existing.envKey}; a module reads its configuration once per process.`,
        );
      }
      existing.refs++;
      return existing;
    }
    for (const [k, v] of Object.entries(options.env ?? {})) process.env[k] = v;
    const p = new pkcs11js.PKCS11();
    try {
      p.load(options.path);
    } catch (cause) {
      throw new SsmaxError('TOKEN_ERROR', `Cannot load the PKCS#11 module ${options.path}. The library could not be opened.`, { cause });
    }
    try {
      p.C_Initialize(options.initializeFlags === undefined ? undefined : { flags: options.initializeFlags });
    } catch (cause) {
      try {
        p.close();
      } catch {
        // The load failed half-way; the initialise error is the one to report.
      }
      throw new SsmaxError('TOKEN_ERROR', `Cannot initialise the PKCS#11 module ${options.path}. C_Initialize failed.`, { cause });
    }
    const module = new Pkcs11Module(options.path, envKey, p);
    Pkcs11Module.loaded.set(options.path, module);
    return module;
  }

  /** Slots whose token is initialised, with their trimmed labels. */
  tokens(): { slot: Buffer; label: string; serial: string }[] {
    return this.pkcs11
      .C_GetSlotList(true)
      .map((slot) => ({ slot, info: this.pkcs11.C_GetTokenInfo(slot) }))
      .filter(({ info }) => (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)
      .map(({ slot, info }) => ({ slot, label: trimLabel(info.label), serial: trimLabel(info.serialNumber) }));
  }

  /** The slot of the initialised token with this label. */
  slotByLabel(label: string): Buffer | undefined {
    return this.tokens().find((t) => t.label === label)?.slot;
  }

  /** A slot with a present but uninitialised token (SoftHSM always offers one). */
  freeSlot(): Buffer | undefined {
    return this.pkcs11.C_GetSlotList(true).find((slot) => (this.pkcs11.C_GetTokenInfo(slot).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
  }

  /** Drops one reference; the last one finalises and unloads the module. */
  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs > 0) return;
    Pkcs11Module.loaded.delete(this.path);
    try {
      this.pkcs11.C_Finalize();
    } finally {
      this.pkcs11.close();
    }
  }
}

/** Token labels are 32 bytes, blank-padded (PKCS#11 v2.40 §3.2); some modules pad with NUL. */
export function trimLabel(label: string): string {
  return label.replace(/[\s\0]+$/u, '');
}
