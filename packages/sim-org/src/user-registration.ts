/**
 * Procedure (2): user registration. The desk checks the person's identity (the method is recorded and
 * goes into the certificate), issues a card (a SoftHSM2 token initialised with its own SO PIN and the
 * user's PIN), has the card generate the signing and encryption keys inside it, seals the trace id ↔
 * employee number link in the trace vault, gets the address certificates from the org CA and stores
 * them, with the org's own certificate (the recipient's trust anchor at (10)), on the card.
 */
import { createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import * as path from 'node:path';
import {
  Card,
  SsmaxError,
  newTraceId,
  type CertificateInfo,
  type IdentityProofing,
  type IdentityProofingMethod,
  type KeyAlgorithm,
  type RandomSource,
  type SoftHsmNative,
} from '@ssmax/core';
import { appendLineDurable, readFileIfExists, writeFileDurable } from './durable-file.js';
import type { OrgCa } from './org-ca.js';
import type { OrgUserDirectory } from './org-context.js';
import type { TraceVault } from './trace-vault.js';

/**
 * scrypt (RFC 7914, N=2^14 r=8 p=1) in libuv's thread pool: ~40 ms of CPU per password check that would
 * otherwise stop every SMTP session of the process (the MSA's AUTH), issue 13 item 2.
 */
function scryptAsync(password: string, salt: Uint8Array, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, (err, key) => (err ? reject(err) : resolve(key))));
}

/** The same scrypt on the event loop (`passwordHashing: 'event-loop'`): kept only to measure the lever above. */
function scryptOnLoop(password: string, salt: Uint8Array, keylen: number): Promise<Buffer> {
  return Promise.resolve(scryptSync(password, salt, keylen));
}

/** Labels of the objects every SSMAX card holds. */
export const CardObjects = {
  signingKey: 'ssmax-sign',
  encryptionKey: 'ssmax-enc',
  signingCertificate: 'user-sign',
  encryptionCertificate: 'user-enc',
  orgCertificate: 'org-ca',
  registryRoot: 'registry-root',
} as const;

/** The identity check the desk made before issuing the card (paper §3.2, §4 (2)). */
export interface IdentityCheck {
  readonly method: IdentityProofingMethod;
  /** The desk or officer role that checked (no personal data). */
  readonly proofedBy: string;
  readonly checkedAt?: Date;
}

export interface RegisterUserRequest {
  readonly address: string;
  /** The employee (or contract / My Number-linked) number: goes only into the sealed vault. */
  readonly employeeNumber: string;
  readonly displayName?: string;
  readonly identityCheck: IdentityCheck;
  /** The PIN the user chose for the card. */
  readonly userPin: string;
  /** The mail password (MSA and IMAP login); stored only as a scrypt hash. */
  readonly mailPassword?: string;
  readonly signingAlgorithm?: KeyAlgorithm;
  readonly encryptionAlgorithm?: KeyAlgorithm;
}

export interface RegisteredUser {
  readonly address: string;
  readonly cardLabel: string;
  readonly traceId: string;
  readonly identityProofing: IdentityProofing;
  readonly signingCertificate: CertificateInfo;
  readonly encryptionCertificate: CertificateInfo;
}

/** One line of the registration record (no employee number: that lives only in the vault). */
export interface RegistrationRecord {
  readonly address: string;
  readonly cardLabel: string;
  readonly traceId: string;
  readonly method: IdentityProofingMethod;
  readonly proofedBy: string;
  readonly proofedAt: string;
  readonly signingSerial: string;
  readonly encryptionSerial: string;
}

export interface UserRegistrationOptions {
  /** The SoftHSM2 reader the cards are made in (one per process; shared with the KMS in a one-process world). */
  readonly reader: SoftHsmNative;
  readonly orgCa: OrgCa;
  readonly vault: TraceVault;
  /**
   * The org's security-officer secret. It is no card's SO PIN: each card's SO PIN is derived from it and
   * the card's label ({@link UserRegistration.soPinFor}), so one card's SO PIN, read off or guessed,
   * unlocks no other card. Default: 32 random bytes made once and kept in `storageDir/so-secret` (0600).
   */
  readonly soPin?: string;
  /** Card PIN-state files and the registration record. */
  readonly storageDir: string;
  /** Put on every card beside the org certificate, for end-to-end checks of other orgs. */
  readonly registryRoot?: Uint8Array;
  readonly now?: () => Date;
  readonly random?: RandomSource;
  /** Wrong PINs that lock a card; default 3. */
  readonly maxPinTries?: number;
  /** Whether wrong PINs lock the cards at all (default true; false only in falsifiability runs, core {@link CardOptions}). */
  readonly pinLockout?: boolean;
  /**
   * Where the mail-password scrypt runs: libuv's thread pool (default) or synchronously on the event loop,
   * as before issue 13 (only the bench sets it, to measure the lever).
   */
  readonly passwordHashing?: 'thread-pool' | 'event-loop';
}

const PIN_RE = /^[0-9A-Za-z]{4,16}$/;

export class UserRegistration {
  private readonly o: UserRegistrationOptions;
  private readonly now: () => Date;
  private readonly random: RandomSource;
  private readonly recordFile: string;
  private soSecret: Promise<string> | undefined;

  constructor(o: UserRegistrationOptions) {
    this.o = o;
    this.now = o.now ?? (() => new Date());
    this.random = o.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.recordFile = path.join(o.storageDir, 'registrations.jsonl');
  }

  /** Registers a user and issues their card. The card is returned logged out. */
  async register(request: RegisterUserRequest): Promise<RegisteredUser> {
    // Addresses are kept lower-case throughout the org (directory, MSA, mailbox), as the mail services compare them.
    const req = { ...request, address: request.address.toLowerCase() };
    const domain = this.o.orgCa.domain.toLowerCase();
    const at = req.address.lastIndexOf('@');
    if (at < 1 || req.address.slice(at + 1).toLowerCase() !== domain) {
      throw new SsmaxError('USAGE', `Cannot register ${req.address}. The address is not in the org's domain ${domain}.`);
    }
    if (!PIN_RE.test(req.userPin)) throw new SsmaxError('USAGE', 'Cannot register the user. The PIN must be 4 to 16 letters or digits.');
    if (req.employeeNumber.trim() === '') throw new SsmaxError('USAGE', 'Cannot register the user. The employee number is required for traceability.');
    if (req.identityCheck.proofedBy.trim() === '')
      throw new SsmaxError('USAGE', 'Cannot register the user. The identity check must name the desk that made it.');
    if ((await this.records()).some((r) => r.address === req.address)) {
      throw new SsmaxError('USAGE', `Cannot register ${req.address}. The address is already registered; revoke and re-issue instead.`);
    }
    const identityProofing: IdentityProofing = {
      method: req.identityCheck.method,
      proofedAt: req.identityCheck.checkedAt ?? this.now(),
      proofedBy: req.identityCheck.proofedBy,
    };
    const traceIdBytes = newTraceId(this.random);
    const traceId = Buffer.from(traceIdBytes).toString('hex');
    // PKCS#11 token labels are at most 32 characters; the label is random so it says nothing about the holder.
    const cardLabel = `ssmax-card-${Buffer.from(this.random(8)).toString('hex')}`;

    // The vault entry goes first: a certificate whose trace id the vault cannot resolve would be untraceable.
    await this.o.vault.add({ traceId, employeeNumber: req.employeeNumber, address: req.address, registeredAt: this.now().toISOString() });

    this.o.reader.initToken({ label: cardLabel, soPin: await this.soPinFor(cardLabel), userPin: req.userPin });
    await using card = await this.openCard(cardLabel);
    await card.login(req.userPin);
    try {
      // Each key only for what its certificate says: the encryption key cannot sign (CKA_SIGN false).
      const sig = await card.generateKeyPair(CardObjects.signingKey, req.signingAlgorithm ?? 'EC-P256', 'signing');
      const enc = await card.generateKeyPair(CardObjects.encryptionKey, req.encryptionAlgorithm ?? 'RSA-2048', 'encryption');
      const common = { address: req.address, identityProofing, traceId: traceIdBytes, ...(req.displayName ? { commonName: req.displayName } : {}) };
      const signingCertificate = await this.o.orgCa.issueUser({ ...common, subjectSpki: sig.spki, usage: 'signing' });
      const encryptionCertificate = await this.o.orgCa.issueUser({ ...common, subjectSpki: enc.spki, usage: 'encryption' });
      await card.putCertificate(CardObjects.signingCertificate, signingCertificate.der);
      await card.putCertificate(CardObjects.encryptionCertificate, encryptionCertificate.der);
      await card.putCertificate(CardObjects.orgCertificate, this.o.orgCa.certificate.der);
      if (this.o.registryRoot) await card.putCertificate(CardObjects.registryRoot, this.o.registryRoot);
      const record: RegistrationRecord = {
        address: req.address,
        cardLabel,
        traceId,
        method: identityProofing.method,
        proofedBy: req.identityCheck.proofedBy,
        proofedAt: identityProofing.proofedAt.toISOString(),
        signingSerial: signingCertificate.serialNumber,
        encryptionSerial: encryptionCertificate.serialNumber,
      };
      await appendLineDurable(this.recordFile, JSON.stringify(record));
      if (req.mailPassword !== undefined) await this.setMailPassword(req.address, req.mailPassword);
      return { address: req.address, cardLabel, traceId, identityProofing, signingCertificate, encryptionCertificate };
    } finally {
      await card.logout();
    }
  }

  /** Opens a card this org issued (the holder's side: the PIN lock applies). */
  openCard(cardLabel: string): Promise<Card> {
    const token = this.o.reader.openToken(cardLabel);
    return Card.open({
      token,
      stateDir: path.join(this.o.storageDir, 'cards'),
      ...(this.o.maxPinTries ? { maxPinTries: this.o.maxPinTries } : {}),
      ...(this.o.pinLockout === false ? { pinLockout: false } : {}),
    });
  }

  /** The org's unlock of a locked card: the SO PIN sets a new user PIN and clears the lock. */
  async unlockCard(cardLabel: string, newUserPin: string): Promise<void> {
    if (!PIN_RE.test(newUserPin)) throw new SsmaxError('USAGE', 'Cannot unlock the card. The PIN must be 4 to 16 letters or digits.');
    await using card = await this.openCard(cardLabel);
    await card.unlock(await this.soPinFor(cardLabel), newUserPin);
  }

  /**
   * The SO PIN of one card this org issued (the desk's side only): HMAC-SHA256 of the card label under
   * the org's SO secret, 20 hex digits. Deriving it keeps no extra secret store, and each card has its own.
   */
  async soPinFor(cardLabel: string): Promise<string> {
    return createHmac('sha256', await this.orgSoSecret())
      .update(`ssmax card SO PIN\0${cardLabel}`)
      .digest('hex')
      .slice(0, 20);
  }

  private orgSoSecret(): Promise<string> {
    if (this.o.soPin !== undefined) return Promise.resolve(this.o.soPin);
    this.soSecret ??= (async () => {
      const file = path.join(this.o.storageDir, 'so-secret');
      const kept = await readFileIfExists(file);
      if (kept) return kept.toString('utf8').trim();
      const made = Buffer.from(this.random(32)).toString('hex');
      await writeFileDurable(file, made);
      return made;
    })();
    return this.soSecret;
  }

  /** Sets the mail password (scrypt, RFC 7914, N=2^14 r=8 p=1, 16-byte salt). */
  async setMailPassword(address: string, password: string): Promise<void> {
    if (password.length < 4) throw new SsmaxError('USAGE', 'Cannot set the mail password. It must have at least 4 characters.');
    const salt = this.random(16);
    const hash = await this.scrypt(password, salt, 32);
    const all = await this.passwords();
    all[address.toLowerCase()] = `scrypt$${Buffer.from(salt).toString('base64')}$${hash.toString('base64')}`;
    await writeFileDurable(path.join(this.o.storageDir, 'mail-passwords.json'), JSON.stringify(all));
  }

  /** Checks a mail password in constant time. */
  async checkMailPassword(address: string, password: string): Promise<boolean> {
    const stored = (await this.passwords())[address.toLowerCase()];
    if (!stored) return false;
    const [, salt, hash] = stored.split('$');
    const want = Buffer.from(hash ?? '', 'base64');
    const got = await this.scrypt(password, Buffer.from(salt ?? '', 'base64'), want.length || 32);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  private scrypt(password: string, salt: Uint8Array, keylen: number): Promise<Buffer> {
    return (this.o.passwordHashing === 'event-loop' ? scryptOnLoop : scryptAsync)(password, salt, keylen);
  }

  private async passwords(): Promise<Record<string, string>> {
    const raw = await readFileIfExists(path.join(this.o.storageDir, 'mail-passwords.json'));
    return raw ? (JSON.parse(raw.toString('utf8')) as Record<string, string>) : {};
  }

  /** The registration record, oldest first. */
  async records(): Promise<RegistrationRecord[]> {
    const raw = await readFileIfExists(this.recordFile);
    if (!raw) return [];
    return raw
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as RegistrationRecord);
  }
}

/**
 * The org's users as the mail services see them ({@link OrgUserDirectory}): registered users with their
 * mail password, encryption certificate and the org CA's CRL. Plug it into organisation.ts in place of
 * its built-in SimpleUserDirectory.
 */
export class CardUserDirectory implements OrgUserDirectory {
  constructor(
    private readonly registration: UserRegistration,
    private readonly orgCa: OrgCa,
  ) {}

  authenticate(username: string, password: string): Promise<boolean> {
    return this.registration.checkMailPassword(username, password);
  }

  async has(address: string): Promise<boolean> {
    return (await this.registration.records()).some((r) => r.address === address.toLowerCase());
  }

  async encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    const valid = this.orgCa.lookup(address.toLowerCase()).filter((e) => e.status === 'valid' && e.usage !== 'signing');
    return valid.at(-1)?.certificate;
  }

  async crl(): Promise<Uint8Array | undefined> {
    return (await this.orgCa.currentCrl()).der;
  }
}

/**
 * An {@link OrgUserDirectory} to hand to organisation.ts before the org CA exists (the org CA key and
 * certificate come out of enrolment, inside `Organisation.start`); `attach` plugs in the real one.
 * Until then every call waits, so nothing is answered "no such user" by mistake.
 */
export class DeferredUserDirectory implements OrgUserDirectory {
  // Every call waits for attach(): on a restart the delivery worker resumes the spool inside
  // Organisation.start, before the caller can attach the real directory, and a "no such user" answer
  // in that window would park mail already acknowledged with 250 as undeliverable (a silent loss).
  readonly #ready: Promise<OrgUserDirectory>;
  #open!: (d: OrgUserDirectory) => void;

  constructor() {
    this.#ready = new Promise((resolve) => (this.#open = resolve));
  }

  /** Plugs in the real directory and releases every waiting call. */
  attach(target: OrgUserDirectory): void {
    this.#open(target);
  }

  async authenticate(username: string, password: string): Promise<boolean> {
    return (await this.#ready).authenticate(username, password);
  }

  async has(address: string): Promise<boolean> {
    return (await this.#ready).has(address);
  }

  async encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    return (await this.#ready).encryptionCertificate(address);
  }

  async crl(): Promise<Uint8Array | undefined> {
    return (await this.#ready).crl();
  }
}
