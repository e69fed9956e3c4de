import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { SsmaxError } from '../errors.js';
import type { PrivateKeyOps } from '../keys.js';
import { bindTokenKey } from './bind-token-key.js';
import type { KeyAlgorithm, KeyHandle, Token } from './token.js';

export interface CardOptions {
  readonly token: Token;
  /** Directory for the card's small state file (PIN failure counter, lock). */
  readonly stateDir: string;
  /** Consecutive wrong PINs that lock the card. Default 3. */
  readonly maxPinTries?: number;
  /**
   * Whether `maxPinTries` wrong PINs lock the card (default true). False only for falsifiability runs
   * (`ssmax run --ablate card-pin-lockout`): wrong PINs are still refused and counted, but never lock.
   */
  readonly pinLockout?: boolean;
}

/** The persisted PIN state of one card. */
export interface CardPinState {
  readonly version: 1;
  readonly label: string;
  readonly failures: number;
  readonly locked: boolean;
}

/**
 * The employee ID card: a {@link Token} plus the PIN rules a real card enforces in its chip. The PIN opens
 * a signing session; after `maxPinTries` consecutive wrong PINs the card locks and refuses even the right
 * PIN until the issuing organisation resets it with the SO PIN.
 *
 * SoftHSM2 never locks a PIN, so the counter lives here, in a state file written atomically (write,
 * fsync, rename, fsync of the directory) so a lock survives a restart. Like a card's chip, the counter is
 * raised *before* the PIN is checked and cleared only after a correct PIN, so killing the process during
 * a check does not give an extra try. The lock binds callers that go through the Card; whoever holds the
 * raw token store can bypass it (a real chip would not let them).
 */
export class Card implements AsyncDisposable {
  readonly token: Token;
  readonly maxPinTries: number;
  private readonly statePath: string;
  private state: CardPinState;

  /** False only in falsifiability runs: wrong PINs never lock ({@link CardOptions.pinLockout}). */
  readonly pinLockout: boolean;

  private constructor(token: Token, statePath: string, state: CardPinState, maxPinTries: number, pinLockout: boolean) {
    this.token = token;
    this.statePath = statePath;
    this.state = state;
    this.maxPinTries = maxPinTries;
    this.pinLockout = pinLockout;
  }

  /** Opens the card over an opened token, reading its PIN state (a fresh card has none). Logs the token out. */
  static async open(options: CardOptions): Promise<Card> {
    const max = options.maxPinTries ?? 3;
    if (!Number.isInteger(max) || max < 1) throw new SsmaxError('USAGE', `Cannot open the card. maxPinTries must be a positive integer, got ${max}.`);
    const label = options.token.label;
    const statePath = path.join(options.stateDir, `card-${encodeURIComponent(label)}.json`);
    const state = await readState(statePath, label);
    await options.token.logout();
    return new Card(options.token, statePath, state, max, options.pinLockout !== false);
  }

  get label(): string {
    return this.token.label;
  }

  get locked(): boolean {
    return this.state.locked;
  }

  get remainingPinTries(): number {
    if (!this.pinLockout && !this.state.locked) return Number.POSITIVE_INFINITY;
    return this.state.locked ? 0 : Math.max(0, this.maxPinTries - this.state.failures);
  }

  get loggedIn(): boolean {
    return this.token.loggedIn;
  }

  /** Opens a signing session. PIN_LOCKED on a locked card; PIN_INCORRECT with `details.remainingTries`. */
  async login(pin: string): Promise<void> {
    if (this.state.locked) {
      throw new SsmaxError('PIN_LOCKED', `Cannot log in to card ${this.label}. The card is locked after ${this.maxPinTries} wrong PINs; the issuing organisation must unlock it.`, {
        details: { remainingTries: 0 },
      });
    }
    const failures = this.state.failures + 1;
    await this.save({ ...this.state, failures, locked: false });
    try {
      await this.token.login(pin);
    } catch (err) {
      if (!SsmaxError.is(err, 'PIN_INCORRECT')) throw err;
      const locked = this.pinLockout && failures >= this.maxPinTries;
      if (locked) await this.save({ ...this.state, locked: true });
      const remainingTries = this.pinLockout ? Math.max(0, this.maxPinTries - failures) : Number.POSITIVE_INFINITY;
      throw new SsmaxError(
        'PIN_INCORRECT',
        `Cannot log in to card ${this.label}. The PIN is incorrect; ${locked ? 'the card is now locked' : !this.pinLockout ? 'the card does not lock (lock-out switched off)' : `${remainingTries} ${remainingTries === 1 ? 'try remains' : 'tries remain'}`}.`,
        { cause: err, details: { remainingTries, locked } },
      );
    }
    await this.save({ ...this.state, failures: 0, locked: false });
  }

  /** Ends the signing session: key operations need the PIN again. */
  async logout(): Promise<void> {
    await this.token.logout();
  }

  /**
   * The issuer's unlock: the SO PIN sets a new user PIN (PKCS#11 C_Login as SO + C_InitPIN) and clears
   * the counter and the lock. The card is left logged out.
   */
  async unlock(soPin: string, newUserPin: string): Promise<void> {
    if (!this.token.resetUserPin) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot unlock card ${this.label}. Its token has no security-officer PIN reset.`);
    }
    await this.token.resetUserPin(soPin, newUserPin);
    await this.save({ ...this.state, failures: 0, locked: false });
  }

  private requireSession(what: string): void {
    if (!this.token.loggedIn) throw new SsmaxError('PIN_REQUIRED', `Cannot ${what} with card ${this.label}. Enter the PIN first.`);
  }

  /** Generates a key pair on the card (needs a session). */
  async generateKeyPair(label: string, algorithm: KeyAlgorithm): Promise<KeyHandle> {
    this.requireSession('generate a key');
    return this.token.generateKeyPair(label, algorithm);
  }

  /**
   * A private key on the card as {@link PrivateKeyOps}. Every operation checks the session, so ops kept
   * after `logout()` (or by whoever picks up the card object) fail with PIN_REQUIRED.
   */
  async key(label: string): Promise<PrivateKeyOps> {
    this.requireSession('use a key');
    const handle = await this.token.findKey(label);
    if (!handle) throw new SsmaxError('KEY_NOT_FOUND', `Cannot use key ${label} on card ${this.label}. The card has no such key.`);
    const ops = bindTokenKey(this.token, handle);
    return {
      algorithm: ops.algorithm,
      spki: ops.spki,
      signSchemes: ops.signSchemes,
      oaepHashes: ops.oaepHashes,
      sign: async (scheme, data) => {
        this.requireSession('sign');
        return ops.sign(scheme, data);
      },
      decryptRsaOaep: async (hash, c) => {
        this.requireSession('decrypt');
        return ops.decryptRsaOaep(hash, c);
      },
      deriveEcdh: async (peer) => {
        this.requireSession('run ECDH');
        return ops.deriveEcdh(peer);
      },
    };
  }

  putCertificate(label: string, der: Uint8Array): Promise<void> {
    return this.token.putCertificate(label, der);
  }

  getCertificate(label: string): Promise<Uint8Array | undefined> {
    return this.token.getCertificate(label);
  }

  /** Logs out and closes the token. */
  async close(): Promise<void> {
    await this.token.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async save(next: CardPinState): Promise<void> {
    await writeStateAtomic(this.statePath, next);
    this.state = next;
  }
}

async function readState(statePath: string, label: string): Promise<CardPinState> {
  let text: string;
  try {
    text = await fs.readFile(statePath, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, label, failures: 0, locked: false };
    throw new SsmaxError('IO_ERROR', `Cannot read the PIN state of card ${label}. Reading ${statePath} failed.`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read the PIN state of card ${label}. ${statePath} is not JSON.`, { cause });
  }
  const s = parsed as Partial<CardPinState>;
  if (s.version !== 1 || s.label !== label || !Number.isInteger(s.failures) || (s.failures ?? -1) < 0 || typeof s.locked !== 'boolean') {
    // A damaged state file must not silently reset the counter.
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read the PIN state of card ${label}. ${statePath} does not hold a valid card state.`);
  }
  return { version: 1, label, failures: s.failures!, locked: s.locked };
}

async function writeStateAtomic(statePath: string, state: CardPinState): Promise<void> {
  const dir = path.dirname(statePath);
  const tmp = `${statePath}.${process.pid}.tmp`;
  try {
    await fs.mkdir(dir, { recursive: true });
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, statePath);
    // The rename is durable only once the directory entry is on disk.
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (cause) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SsmaxError('IO_ERROR', `Cannot save the PIN state of card ${state.label}. Writing ${statePath} failed.`, { cause });
  }
}
