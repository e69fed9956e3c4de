/**
 * The org CA (paper §4 (1), procedure (2)): issues user e-mail address certificates ("private"
 * certificates) under the org certificate the registry issued, keeps the org's user directory
 * (address → certificates and their status) and publishes the org's CRL, through which receiving
 * orgs and the org's own MSA learn of revoked users (procedure (12)).
 *
 * The CA key is a {@link PrivateKeyOps} handed in by the KMS (a key on the org's HSM token), so the CA
 * never sees key material. The directory holds no personal data beyond the address: the link to the
 * employee number lives only in the sealed trace vault.
 */
import * as path from 'node:path';
import {
  SsmaxError,
  issueCrl,
  issueOrgKmsCertificate,
  issueUserCertificate,
  parseCertificate,
  parseCrl,
  type CertificateInfo,
  type CrlInfo,
  type CrlReason,
  type IdentityProofing,
  type KmsPurpose,
  type PrivateKeyOps,
  type SignScheme,
  type UserCertificateUsage,
} from '@ssmax/core';
import { readFileIfExists, writeFileDurable } from './durable-file.js';

export type UserCertificateStatus = 'valid' | 'revoked';

/** One issued user certificate in the org's directory. */
export interface UserDirectoryEntry {
  readonly address: string;
  /** Hex, as CertificateInfo.serialNumber. */
  readonly serialNumber: string;
  readonly usage: UserCertificateUsage;
  readonly certificate: Uint8Array;
  readonly issuedAt: Date;
  readonly notAfter: Date;
  readonly status: UserCertificateStatus;
  readonly revokedAt?: Date;
  readonly revocationReason?: CrlReason;
  /** Why it was revoked, e.g. the incident case id. */
  readonly revocationNote?: string;
}

export interface OrgCaOptions {
  /** The org certificate (a CA issued by the registry, pathLen 0), DER. */
  readonly certificate: Uint8Array;
  /** The org CA key, on the org's HSM token (from kms.ts). */
  readonly key: PrivateKeyOps;
  readonly scheme?: SignScheme;
  /** The registry root (and any registry intermediates), DER: sent along so relying parties can build the path. */
  readonly chain?: readonly Uint8Array[];
  /** Where the directory and the current CRL are kept. */
  readonly storageDir: string;
  readonly now?: () => Date;
  /** Hours until a CRL's nextUpdate; default 24. A CRL is reissued once half of that has passed. */
  readonly crlValidityHours?: number;
}

export interface IssueUserCertificateRequest {
  readonly address: string;
  readonly subjectSpki: Uint8Array;
  readonly usage: UserCertificateUsage;
  readonly identityProofing: IdentityProofing;
  /** 16 bytes from the trace vault. */
  readonly traceId: Uint8Array;
  readonly commonName?: string;
  readonly validityDays?: number;
}

interface StoredEntry {
  address: string;
  serialNumber: string;
  usage: UserCertificateUsage;
  certificate: string;
  issuedAt: string;
  notAfter: string;
  status: UserCertificateStatus;
  revokedAt?: string;
  revocationReason?: CrlReason;
  revocationNote?: string;
}

interface StoredDirectory {
  version: 1;
  crlNumber: number;
  entries: StoredEntry[];
}

const normalise = (address: string): string => {
  const at = address.lastIndexOf('@');
  // RFC 5321 §2.4: the domain is case-insensitive; the local part we keep as issued.
  return at < 0 ? address : `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
};

function toEntry(s: StoredEntry): UserDirectoryEntry {
  return {
    address: s.address,
    serialNumber: s.serialNumber,
    usage: s.usage,
    certificate: new Uint8Array(Buffer.from(s.certificate, 'base64')),
    issuedAt: new Date(s.issuedAt),
    notAfter: new Date(s.notAfter),
    status: s.status,
    ...(s.revokedAt ? { revokedAt: new Date(s.revokedAt) } : {}),
    ...(s.revocationReason ? { revocationReason: s.revocationReason } : {}),
    ...(s.revocationNote ? { revocationNote: s.revocationNote } : {}),
  };
}

/** The org CA with its user directory and CRL. Open with {@link OrgCa.open}. */
export class OrgCa {
  readonly certificate: CertificateInfo;
  readonly chain: readonly Uint8Array[];
  private readonly key: PrivateKeyOps;
  private readonly scheme: SignScheme | undefined;
  private readonly dirFile: string;
  private readonly crlFile: string;
  private readonly now: () => Date;
  private readonly crlHours: number;
  private dir: StoredDirectory;
  private crl: CrlInfo | undefined;
  /** Serialises writes: issuance and revocation each rewrite the directory. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(o: OrgCaOptions, certificate: CertificateInfo, dir: StoredDirectory, crl: CrlInfo | undefined) {
    this.certificate = certificate;
    this.chain = o.chain ?? [];
    this.key = o.key;
    this.scheme = o.scheme;
    this.dirFile = path.join(o.storageDir, 'user-directory.json');
    this.crlFile = path.join(o.storageDir, 'org.crl');
    this.now = o.now ?? (() => new Date());
    this.crlHours = o.crlValidityHours ?? 24;
    this.dir = dir;
    this.crl = crl;
  }

  /** Opens (or creates) the CA's state in `storageDir`. */
  static async open(o: OrgCaOptions): Promise<OrgCa> {
    const cert = parseCertificate(o.certificate);
    if (cert.basicConstraints?.ca !== true) throw new SsmaxError('USAGE', `Cannot open the org CA. ${cert.subject} is not a CA certificate.`);
    if (Buffer.compare(Buffer.from(cert.spki), Buffer.from(o.key.spki)) !== 0) {
      throw new SsmaxError('USAGE', `Cannot open the org CA. The key handed in does not belong to ${cert.subject}.`);
    }
    const raw = await readFileIfExists(path.join(o.storageDir, 'user-directory.json'));
    let dir: StoredDirectory = { version: 1, crlNumber: 0, entries: [] };
    if (raw) {
      try {
        dir = JSON.parse(raw.toString('utf8')) as StoredDirectory;
      } catch (cause) {
        throw new SsmaxError('MALFORMED_CONFIG', `Cannot open the org CA. ${o.storageDir}/user-directory.json is not JSON.`, { cause });
      }
      if (dir.version !== 1 || !Array.isArray(dir.entries))
        throw new SsmaxError('MALFORMED_CONFIG', 'Cannot open the org CA. The user directory has an unknown format.');
    }
    const crlRaw = await readFileIfExists(path.join(o.storageDir, 'org.crl'));
    return new OrgCa(o, cert, dir, crlRaw ? parseCrl(new Uint8Array(crlRaw)) : undefined);
  }

  /** The org's mail domain (from its org certificate). */
  get domain(): string {
    const d = this.certificate.orgRole?.mailDomain ?? this.certificate.dnsNames[0];
    if (!d) throw new SsmaxError('USAGE', `Cannot tell the org's domain. ${this.certificate.subject} records none.`);
    return d;
  }

  private issuer() {
    return { certificate: this.certificate, key: this.key, ...(this.scheme ? { scheme: this.scheme } : {}) };
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Issues a user address certificate carrying the identity-proofing method and the trace id, and
   * records it in the directory before returning it (durably: a certificate the directory does not know
   * could never be revoked).
   */
  issueUser(req: IssueUserCertificateRequest): Promise<CertificateInfo> {
    return this.serial(async () => {
      const cert = await issueUserCertificate({
        issuer: this.issuer(),
        subjectSpki: req.subjectSpki,
        email: req.address,
        usage: req.usage,
        identityProofing: req.identityProofing,
        traceId: req.traceId,
        now: this.now,
        ...(req.commonName ? { commonName: req.commonName } : {}),
        ...(req.validityDays ? { validityDays: req.validityDays } : {}),
      });
      const entry: StoredEntry = {
        address: normalise(req.address),
        serialNumber: cert.serialNumber,
        usage: req.usage,
        certificate: Buffer.from(cert.der).toString('base64'),
        issuedAt: cert.notBefore.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        status: 'valid',
      };
      await this.save({ ...this.dir, entries: [...this.dir.entries, entry] });
      return cert;
    });
  }

  /**
   * Issues a certificate for one of the org's own service keys (KMS signing/encryption, the trace
   * vault's sealing key). Not recorded in the user directory.
   */
  issueService(subjectSpki: Uint8Array, purpose: KmsPurpose, commonName?: string): Promise<CertificateInfo> {
    return issueOrgKmsCertificate({ issuer: this.issuer(), subjectSpki, purpose, now: this.now, ...(commonName ? { commonName } : {}) });
  }

  /** Every certificate issued to `address`, oldest first. */
  lookup(address: string): UserDirectoryEntry[] {
    const a = normalise(address);
    return this.dir.entries.filter((e) => e.address === a).map(toEntry);
  }

  /** The entry for a serial number (hex, any case), if this CA issued it. */
  find(serialNumber: string): UserDirectoryEntry | undefined {
    const s = serialNumber.toLowerCase().replace(/^0+/, '');
    const e = this.dir.entries.find((x) => x.serialNumber.toLowerCase().replace(/^0+/, '') === s);
    return e ? toEntry(e) : undefined;
  }

  /** All entries (the org's directory). */
  entries(): UserDirectoryEntry[] {
    return this.dir.entries.map(toEntry);
  }

  isRevoked(serialNumber: string): boolean {
    return this.find(serialNumber)?.status === 'revoked';
  }

  /**
   * Revokes a user certificate and publishes a new CRL at once (RFC 5280 §5), so the MSA and receiving
   * orgs see it on their next fetch. Revoking twice is a no-op that returns the current CRL.
   */
  revoke(serialNumber: string, reason: CrlReason, note?: string): Promise<CrlInfo> {
    return this.serial(async () => {
      const found = this.find(serialNumber);
      if (!found) throw new SsmaxError('USAGE', `Cannot revoke certificate ${serialNumber}. This org CA did not issue it.`);
      if (found.status === 'revoked') return this.currentCrlLocked();
      const at = this.now();
      const entries = this.dir.entries.map((e) =>
        e.serialNumber === found.serialNumber
          ? { ...e, status: 'revoked' as const, revokedAt: at.toISOString(), revocationReason: reason, ...(note ? { revocationNote: note } : {}) }
          : e,
      );
      await this.save({ ...this.dir, entries });
      return this.publishLocked();
    });
  }

  /** The current CRL, reissued when none exists or half its validity has passed. */
  currentCrl(): Promise<CrlInfo> {
    return this.serial(() => this.currentCrlLocked());
  }

  /** Serial numbers (hex) of every revoked user certificate: the list the org publishes beside its CRL. */
  revokedSerials(): string[] {
    return this.dir.entries.filter((e) => e.status === 'revoked').map((e) => e.serialNumber);
  }

  private async currentCrlLocked(): Promise<CrlInfo> {
    const now = this.now().getTime();
    const c = this.crl;
    if (c?.nextUpdate && now < c.thisUpdate.getTime() + (c.nextUpdate.getTime() - c.thisUpdate.getTime()) / 2) return c;
    return this.publishLocked();
  }

  private async publishLocked(): Promise<CrlInfo> {
    const crlNumber = this.dir.crlNumber + 1;
    const crl = await issueCrl({
      issuer: this.issuer(),
      now: this.now,
      nextUpdateHours: this.crlHours,
      crlNumber,
      revoked: this.dir.entries
        .filter((e) => e.status === 'revoked')
        .map((e) => ({ serialNumber: e.serialNumber, revocationDate: new Date(e.revokedAt!), ...(e.revocationReason ? { reason: e.revocationReason } : {}) })),
    });
    // The directory's CRL number goes first: a crash between the writes must never reuse a number (RFC 5280 §5.2.3).
    await this.save({ ...this.dir, crlNumber });
    await writeFileDurable(this.crlFile, crl.der, 0o644);
    this.crl = crl;
    return crl;
  }

  private async save(next: StoredDirectory): Promise<void> {
    await writeFileDurable(this.dirFile, JSON.stringify(next, null, 1));
    this.dir = next;
  }
}
