import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { SsmaxError } from '../errors.js';
import type { PrivateKeyOps } from '../keys.js';
import { bindTokenKey } from './bind-token-key.js';
import type { KeyAlgorithm, KeyHandle, KeyPurpose, Token } from './token.js';

export interface CardOptions {
  readonly token: Token;
  /** Directory for the card's small state file (PIN failure counter, lock). */
  readonly stateDir: string;
  /** Consecutive wrong PINs that lock the card. Default 3. */
  readonly maxPinTries?: number;
  /** Consecutive wrong SO PINs that block the card's unlock for good (the card must be replaced). Default 3. */
  readonly maxSoPinTries?: number;
  /** How long a PIN check waits for another holder of the card's PIN-state lock. Default 10 s. */
  readonly lockWaitMs?: number;
  /**
   * Whether `maxPinTries` wrong PINs lock the card (default true). False only for falsifiability runs
   * (`ssmax run --ablate card-pin-lockout`): wrong PINs are still refused and counted, but never lock.
   */
  readonly pinLockout?: boolean;
}

/** The persisted PIN state of one card. */
export interface CardPinState {
  readonly version: 2;
  readonly label: string;
  /** Consecutive wrong user PINs (raised before each check, cleared by a right PIN or an SO unlock). */
  readonly failures: number;
  readonly locked: boolean;
  /** Consecutive wrong SO PINs (raised before each check, cleared by a right SO PIN). */
  readonly soFailures: number;
  /** The SO PIN is blocked: nobody can unlock the card any more. */
  readonly soLocked: boolean;
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
 *
 * The counter is the card's, not the object's: every check runs under an exclusive lock on the state
 * file (one at a time in this process, and a lock file against other processes) and re-reads the state
 * inside it, so several Card objects, parallel logins or processes share one count, and a stale object
 * cannot write `locked: false` over a lock (only a right PIN or the SO unlock clears it). The SO PIN has
 * its own counter: SoftHSM2 does not limit SO logins either, and an unlimited SO PIN would be a second,
 * unlimited way to a usable card.
 */
export class Card implements AsyncDisposable {
  readonly token: Token;
  readonly maxPinTries: number;
  readonly maxSoPinTries: number;
  private readonly statePath: string;
  private readonly lockWaitMs: number;
  private state: CardPinState;

  /** False only in falsifiability runs: wrong PINs never lock ({@link CardOptions.pinLockout}). */
  readonly pinLockout: boolean;

  private constructor(token: Token, statePath: string, state: CardPinState, options: CardOptions) {
    this.token = token;
    this.statePath = statePath;
    this.state = state;
    this.maxPinTries = options.maxPinTries ?? 3;
    this.maxSoPinTries = options.maxSoPinTries ?? 3;
    this.lockWaitMs = options.lockWaitMs ?? 10_000;
    this.pinLockout = options.pinLockout !== false;
  }

  /** Opens the card over an opened token, reading its PIN state (a fresh card has none). Logs the token out. */
  static async open(options: CardOptions): Promise<Card> {
    for (const name of ['maxPinTries', 'maxSoPinTries'] as const) {
      const max = options[name] ?? 3;
      if (!Number.isInteger(max) || max < 1) throw new SsmaxError('USAGE', `Cannot open the card. ${name} must be a positive integer, got ${max}.`);
    }
    const label = options.token.label;
    const statePath = path.join(options.stateDir, `card-${encodeURIComponent(label)}.json`);
    const state = await readState(statePath, label);
    await options.token.logout();
    return new Card(options.token, statePath, state, options);
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
    await this.exclusive('log in to', async () => {
      const state = await this.reload();
      if (state.locked) {
        throw new SsmaxError(
          'PIN_LOCKED',
          `Cannot log in to card ${this.label}. The card is locked after ${this.maxPinTries} wrong PINs; the issuing organisation must unlock it.`,
          {
            details: { remainingTries: 0 },
          },
        );
      }
      const failures = state.failures + 1;
      await this.save({ ...state, failures });
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
    });
  }

  /** Ends the signing session: key operations need the PIN again. */
  async logout(): Promise<void> {
    await this.token.logout();
  }

  /**
   * The issuer's unlock: the SO PIN sets a new user PIN (PKCS#11 C_Login as SO + C_InitPIN) and clears
   * the counter and the lock. The card is left logged out. Wrong SO PINs count like wrong user PINs
   * (`maxSoPinTries`, also when the user-PIN lock-out is switched off); once they block the card,
   * PIN_LOCKED even for the right SO PIN: the card must be replaced.
   */
  async unlock(soPin: string, newUserPin: string): Promise<void> {
    const resetUserPin = this.token.resetUserPin?.bind(this.token);
    if (!resetUserPin) {
      throw new SsmaxError('CAPABILITY_MISSING', `Cannot unlock card ${this.label}. Its token has no security-officer PIN reset.`);
    }
    await this.exclusive('unlock', async () => {
      const state = await this.reload();
      if (state.soLocked) {
        throw new SsmaxError(
          'PIN_LOCKED',
          `Cannot unlock card ${this.label}. Its SO PIN is blocked after ${this.maxSoPinTries} wrong SO PINs; the card must be replaced.`,
          {
            details: { remainingTries: 0, soLocked: true },
          },
        );
      }
      const soFailures = state.soFailures + 1;
      await this.save({ ...state, soFailures });
      try {
        await resetUserPin(soPin, newUserPin);
      } catch (err) {
        if (!SsmaxError.is(err, 'PIN_INCORRECT')) throw err;
        const soLocked = soFailures >= this.maxSoPinTries;
        if (soLocked) await this.save({ ...this.state, soLocked: true });
        const remainingTries = Math.max(0, this.maxSoPinTries - soFailures);
        throw new SsmaxError(
          'PIN_INCORRECT',
          `Cannot unlock card ${this.label}. The SO PIN is incorrect; ${soLocked ? 'the SO PIN is now blocked and the card must be replaced' : `${remainingTries} ${remainingTries === 1 ? 'try remains' : 'tries remain'}`}.`,
          { cause: err, details: { remainingTries, soLocked } },
        );
      }
      await this.save({ ...this.state, failures: 0, locked: false, soFailures: 0, soLocked: false });
    });
  }

  private requireSession(what: string): void {
    if (!this.token.loggedIn) throw new SsmaxError('PIN_REQUIRED', `Cannot ${what} with card ${this.label}. Enter the PIN first.`);
  }

  /** Generates a key pair on the card (needs a session), allowed only what `purpose` says (see {@link KeyPurpose}). */
  async generateKeyPair(label: string, algorithm: KeyAlgorithm, purpose?: KeyPurpose): Promise<KeyHandle> {
    this.requireSession('generate a key');
    return this.token.generateKeyPair(label, algorithm, purpose);
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

  /** The state as on disk now (another object or process may have changed it since open()). */
  private async reload(): Promise<CardPinState> {
    this.state = await readState(this.statePath, this.label);
    return this.state;
  }

  /**
   * Runs `fn` holding the card's PIN-state lock: first in this process (a queue per state file, so
   * parallel calls wait their turn instead of polling), then across processes (the lock file).
   */
  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const key = path.resolve(this.statePath);
    const before = inProcessLocks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = before.then(() => mine);
    inProcessLocks.set(key, tail);
    await before;
    try {
      const unlockFile = await acquireFileLock(`${this.statePath}.lock`, this.label, what, this.lockWaitMs);
      try {
        return await fn();
      } finally {
        await unlockFile();
      }
    } finally {
      release();
      if (inProcessLocks.get(key) === tail) inProcessLocks.delete(key);
    }
  }
}

// The per-process half of the PIN-state lock. It is module state on purpose: it stands for the one
// chip all Card objects of a card share, so it must not be per object or per injected option.
const inProcessLocks = new Map<string, Promise<void>>();

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

/**
 * Takes the cross-process lock: a file created with O_CREAT|O_EXCL naming its holder. A lock whose
 * holder process on this host is gone (killed during a PIN check) is taken over; any other lock is
 * waited for, up to `waitMs`.
 */
async function acquireFileLock(lockPath: string, label: string, what: string, waitMs: number): Promise<() => Promise<void>> {
  const me: LockOwner = { pid: process.pid, host: os.hostname() };
  const deadline = Date.now() + waitMs;
  await fs.mkdir(path.dirname(lockPath), { recursive: true }).catch((cause) => {
    throw new SsmaxError('IO_ERROR', `Cannot ${what} card ${label}. Creating ${path.dirname(lockPath)} failed.`, { cause });
  });
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    try {
      const fh = await fs.open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      return () => fs.rm(lockPath, { force: true });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SsmaxError('IO_ERROR', `Cannot ${what} card ${label}. Creating the PIN-state lock ${lockPath} failed.`, { cause });
      }
    }
    const owner = await lockOwner(lockPath);
    if ((owner && owner.host === me.host && !processAlive(owner.pid, me.pid)) || (!owner && (await ageMs(lockPath)) > EMPTY_LOCK_STALE_MS)) {
      // Remove only the lock we judged stale: if its holder changed meanwhile, leave it.
      const again = await lockOwner(lockPath);
      if (again?.pid === owner?.pid) await fs.rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new SsmaxError(
        'TOKEN_ERROR',
        `Cannot ${what} card ${label}. ${owner ? `Process ${owner.pid} on ${owner.host}` : 'Another process'} has held its PIN-state lock ${lockPath} for more than ${waitMs} ms.`,
        {
          details: { lockPath, ...(owner ? { holder: owner.pid } : {}) },
        },
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

// A holder writes its name right after creating the lock file; one still nameless after this long died in between.
const EMPTY_LOCK_STALE_MS = 5_000;

async function ageMs(file: string): Promise<number> {
  try {
    return Date.now() - (await fs.stat(file)).mtimeMs;
  } catch {
    return 0;
  }
}

async function lockOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await fs.readFile(lockPath, 'utf8')) as Partial<LockOwner>;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? { pid: o.pid!, host: o.host } : undefined;
  } catch {
    // Gone, or created but not yet written: treat it as held.
    return undefined;
  }
}

/** Whether `pid` runs. Our own pid counts as gone: this process takes the file lock only inside its queue. */
function processAlive(pid: number, self: number): boolean {
  if (pid === self) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readState(statePath: string, label: string): Promise<CardPinState> {
  let text: string;
  try {
    text = await fs.readFile(statePath, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { version: 2, label, failures: 0, locked: false, soFailures: 0, soLocked: false };
    throw new SsmaxError('IO_ERROR', `Cannot read the PIN state of card ${label}. Reading ${statePath} failed.`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read the PIN state of card ${label}. ${statePath} is not JSON.`, { cause });
  }
  const s = parsed as { version?: unknown; label?: unknown; failures?: unknown; locked?: unknown; soFailures?: unknown; soLocked?: unknown };
  const count = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
  // Version 1 (before the SO counter) had no SO fields: it starts with a clean SO count.
  const v1 = s.version === 1 && s.soFailures === undefined && s.soLocked === undefined;
  if (
    (s.version !== 2 && !v1) ||
    s.label !== label ||
    !count(s.failures) ||
    typeof s.locked !== 'boolean' ||
    (!v1 && (!count(s.soFailures) || typeof s.soLocked !== 'boolean'))
  ) {
    // A damaged state file must not silently reset the counter.
    throw new SsmaxError('MALFORMED_CONFIG', `Cannot read the PIN state of card ${label}. ${statePath} does not hold a valid card state.`);
  }
  return {
    version: 2,
    label,
    failures: s.failures,
    locked: s.locked,
    soFailures: v1 ? 0 : (s.soFailures as number),
    soLocked: v1 ? false : (s.soLocked as boolean),
  };
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
