import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SsmaxError } from '@ssmax/core';
import type {
  AuditReport,
  CaseOutcome,
  CaseState,
  CriterionResult,
  Decision,
  DecisionKind,
  EnrolmentApplication,
  IncidentCase,
  IncidentReport,
  IncidentResponse,
  OrgMode,
  OrgStatus,
} from './types.js';
/** Which key a stored certificate certifies: the registry-issued org CA cert, or an org-issued KMS cert. */
export type CertificateProfile = 'org-ca' | 'kms-signing' | 'kms-encryption';

export interface OrgRow {
  readonly orgId: string;
  readonly name: string;
  readonly mode: OrgMode;
  readonly domains: readonly string[];
  readonly status: OrgStatus;
  readonly admittedAt: string;
  readonly statusSince: string;
  readonly suspendedAt: string | null;
  readonly revokedAt: string | null;
  readonly reinstatedAt: string | null;
  readonly callbackUrl: string | null;
  readonly incidentContact: string;
}

export interface CertRow {
  readonly serialHex: string;
  readonly orgId: string;
  readonly profile: CertificateProfile;
  readonly der: Uint8Array;
  readonly issuedAt: string;
  readonly revokedAt: string | null;
  readonly reasonCode: number | null;
}

/** A domain-control challenge as stored: the token is bound to the SHA-256 of the org CA key's SPKI. */
export interface ChallengeRow {
  readonly id: string;
  readonly domain: string;
  readonly token: string;
  readonly spkiSha256: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly usedAt: string | null;
  readonly usedBy: string | null;
}

export interface OutboxRow {
  readonly id: number;
  readonly orgId: string;
  readonly caseId: string;
  readonly kind: string;
  readonly body: unknown;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
  readonly attempts: number;
}

/**
 * The registry's durable state in one SQLite file (WAL journal, so readers never block the writer and a
 * crash loses at most the transaction in flight). Every multi-row change runs in one transaction.
 */
export class RegistryStore implements Disposable {
  private readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  static open(dataDir: string): RegistryStore {
    try {
      mkdirSync(dataDir, { recursive: true });
      const db = new Database(join(dataDir, 'registry.sqlite'));
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.exec(SCHEMA);
      return new RegistryStore(db);
    } catch (cause) {
      throw new SsmaxError('IO_ERROR', `Cannot open the registry store in ${dataDir}. SQLite failed.`, { cause });
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  journalMode(): string {
    return String(this.db.pragma('journal_mode', { simple: true }));
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  getMeta(key: string): Uint8Array | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: Buffer } | undefined;
    return row ? new Uint8Array(row.value) : null;
  }

  setMeta(key: string, value: Uint8Array): void {
    this.db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, Buffer.from(value));
  }

  /** Increments and returns a named counter (state version, CRL number). */
  nextCounter(name: string): number {
    this.db.prepare('INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1').run(name);
    return this.counter(name);
  }

  counter(name: string): number {
    const row = this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  insertApplication(id: string, receivedAt: string, app: EnrolmentApplication): void {
    this.db.prepare('INSERT INTO applications(id, received_at, name, body) VALUES (?, ?, ?, ?)').run(id, receivedAt, app.name, JSON.stringify(app));
  }

  setApplicationOutcome(id: string, outcome: 'admitted' | 'refused', orgId: string | null): void {
    this.db.prepare('UPDATE applications SET outcome = ?, org_id = ? WHERE id = ?').run(outcome, orgId, id);
  }

  insertChallenge(c: Omit<ChallengeRow, 'usedAt' | 'usedBy'>): void {
    this.db
      .prepare('INSERT INTO domain_challenges(id, domain, token, spki_sha256, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(c.id, c.domain, c.token, c.spkiSha256, c.issuedAt, c.expiresAt);
  }

  getChallenge(id: string): ChallengeRow | null {
    const r = this.db.prepare('SELECT * FROM domain_challenges WHERE id = ?').get(id) as RawChallenge | undefined;
    return r
      ? {
          id: r.id,
          domain: r.domain,
          token: r.token,
          spkiSha256: r.spki_sha256,
          issuedAt: r.issued_at,
          expiresAt: r.expires_at,
          usedAt: r.used_at,
          usedBy: r.used_by,
        }
      : null;
  }

  /** Marks a challenge used by an application; false when it was already used (single use). */
  consumeChallenge(id: string, at: string, applicationId: string): boolean {
    return this.db.prepare('UPDATE domain_challenges SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL').run(at, applicationId, id).changes === 1;
  }

  insertOrg(org: OrgRow): void {
    this.db
      .prepare(
        `INSERT INTO orgs(org_id, name, mode, domains, status, admitted_at, status_since, suspended_at, revoked_at, reinstated_at, callback_url, incident_contact)
         VALUES (@orgId, @name, @mode, @domains, @status, @admittedAt, @statusSince, @suspendedAt, @revokedAt, @reinstatedAt, @callbackUrl, @incidentContact)`,
      )
      .run({ ...org, domains: JSON.stringify(org.domains) });
  }

  setOrgStatus(orgId: string, status: OrgStatus, at: string): void {
    const col = status === 'suspended' ? 'suspended_at' : status === 'revoked' ? 'revoked_at' : 'reinstated_at';
    this.db.prepare(`UPDATE orgs SET status = ?, status_since = ?, ${col} = ? WHERE org_id = ?`).run(status, at, at, orgId);
  }

  getOrg(orgId: string): OrgRow | null {
    const row = this.db.prepare('SELECT * FROM orgs WHERE org_id = ?').get(orgId) as RawOrg | undefined;
    return row ? orgFromRow(row) : null;
  }

  listOrgs(): OrgRow[] {
    return (this.db.prepare('SELECT * FROM orgs ORDER BY admitted_at, org_id').all() as RawOrg[]).map(orgFromRow);
  }

  /** Domains held by an org that is not revoked (a revoked org's domains may be enrolled again). */
  domainHolders(domain: string): string[] {
    return this.listOrgs()
      .filter((o) => o.status !== 'revoked' && o.domains.includes(domain))
      .map((o) => o.orgId);
  }

  insertCertificate(c: Omit<CertRow, 'revokedAt' | 'reasonCode'>): void {
    this.db
      .prepare('INSERT INTO certificates(serial_hex, org_id, profile, der, issued_at) VALUES (?, ?, ?, ?, ?)')
      .run(c.serialHex, c.orgId, c.profile, Buffer.from(c.der), c.issuedAt);
  }

  orgCertificates(orgId: string): CertRow[] {
    return (this.db.prepare('SELECT * FROM certificates WHERE org_id = ? ORDER BY id').all(orgId) as RawCert[]).map(certFromRow);
  }

  revokeOrgCertificates(orgId: string, at: string, reasonCode: number): void {
    this.db.prepare('UPDATE certificates SET revoked_at = ?, reason_code = ? WHERE org_id = ? AND revoked_at IS NULL').run(at, reasonCode, orgId);
  }

  /** Revoked certificates of one profile (the CRL lists only what the registry itself issued). */
  revokedCertificates(profile: CertificateProfile): CertRow[] {
    return (
      this.db.prepare('SELECT * FROM certificates WHERE revoked_at IS NOT NULL AND profile = ? ORDER BY revoked_at, serial_hex').all(profile) as RawCert[]
    ).map(certFromRow);
  }

  /** Replaces the org's certificate of a KMS profile (re-registration, e.g. renewal). */
  replaceKmsCertificate(orgId: string, profile: 'kms-signing' | 'kms-encryption', serialHex: string, der: Uint8Array, at: string): void {
    this.db.prepare('DELETE FROM certificates WHERE org_id = ? AND profile = ?').run(orgId, profile);
    this.insertCertificate({ serialHex, orgId, profile, der, issuedAt: at });
  }

  insertDecision(d: Omit<Decision, 'id'>): number {
    const r = this.db
      .prepare('INSERT INTO decisions(org_id, application_id, kind, at, trigger, reasons) VALUES (?, ?, ?, ?, ?, ?)')
      .run(d.orgId, d.applicationId, d.kind, d.at, d.trigger, JSON.stringify(d.reasons));
    return Number(r.lastInsertRowid);
  }

  decisions(orgId?: string): Decision[] {
    const rows = (
      orgId === undefined
        ? this.db.prepare('SELECT * FROM decisions ORDER BY id').all()
        : this.db.prepare('SELECT * FROM decisions WHERE org_id = ? ORDER BY id').all(orgId)
    ) as RawDecision[];
    return rows.map((r) => ({
      id: r.id,
      orgId: r.org_id,
      applicationId: r.application_id,
      kind: r.kind as DecisionKind,
      at: r.at,
      trigger: r.trigger,
      reasons: JSON.parse(r.reasons) as CriterionResult[],
    }));
  }

  insertAudit(orgId: string, receivedAt: string, audit: AuditReport): void {
    this.db.prepare('INSERT INTO audits(org_id, received_at, audit_date, body) VALUES (?, ?, ?, ?)').run(orgId, receivedAt, audit.date, JSON.stringify(audit));
  }

  /** The most recent audit by audit date. */
  latestAudit(orgId: string): { audit: AuditReport; receivedAt: string } | null {
    const row = this.db.prepare('SELECT body, received_at FROM audits WHERE org_id = ? ORDER BY audit_date DESC, id DESC LIMIT 1').get(orgId) as
      { body: string; received_at: string } | undefined;
    return row ? { audit: JSON.parse(row.body) as AuditReport, receivedAt: row.received_at } : null;
  }

  insertCase(c: IncidentCase, reportCms: Uint8Array): void {
    this.db
      .prepare(
        `INSERT INTO cases(case_id, reporter_org_id, sender_org_id, message_id, sender_cert_serial, evidence, received_at, response_due, state, outcome, report_cms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        c.caseId,
        c.reporterOrgId,
        c.senderOrgId,
        c.messageId,
        c.senderCertificateSerial,
        JSON.stringify(c.evidence),
        c.receivedAt,
        c.responseDue,
        c.state,
        c.outcome,
        Buffer.from(reportCms),
      );
  }

  findCaseByMessage(reporterOrgId: string, messageId: string): IncidentCase | null {
    const row = this.db.prepare('SELECT * FROM cases WHERE reporter_org_id = ? AND message_id = ?').get(reporterOrgId, messageId) as RawCase | undefined;
    return row ? caseFromRow(row) : null;
  }

  setCaseResponse(caseId: string, response: IncidentResponse, responseCms: Uint8Array, at: string, outcome: CaseOutcome): void {
    this.db
      .prepare("UPDATE cases SET state = 'responded', response = ?, response_cms = ?, responded_at = ?, outcome = ? WHERE case_id = ?")
      .run(JSON.stringify(response), Buffer.from(responseCms), at, outcome, caseId);
  }

  getCase(caseId: string): IncidentCase | null {
    const row = this.db.prepare('SELECT * FROM cases WHERE case_id = ?').get(caseId) as RawCase | undefined;
    return row ? caseFromRow(row) : null;
  }

  casesAgainst(orgId: string): IncidentCase[] {
    return (this.db.prepare('SELECT * FROM cases WHERE sender_org_id = ? ORDER BY received_at, case_id').all(orgId) as RawCase[]).map(caseFromRow);
  }

  insertOutbox(orgId: string, caseId: string, kind: string, body: unknown, at: string): number {
    const r = this.db
      .prepare('INSERT INTO outbox(org_id, case_id, kind, body, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(orgId, caseId, kind, JSON.stringify(body), at);
    return Number(r.lastInsertRowid);
  }

  outbox(orgId: string): OutboxRow[] {
    return (this.db.prepare('SELECT * FROM outbox WHERE org_id = ? ORDER BY id').all(orgId) as RawOutbox[]).map(outboxFromRow);
  }

  pendingOutbox(): OutboxRow[] {
    return (this.db.prepare('SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id').all() as RawOutbox[]).map(outboxFromRow);
  }

  markOutbox(id: number, deliveredAt: string | null): void {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1, delivered_at = ? WHERE id = ?').run(deliveredAt, id);
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS applications (
  id TEXT PRIMARY KEY, received_at TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
  outcome TEXT, org_id TEXT);
CREATE TABLE IF NOT EXISTS orgs (
  org_id TEXT PRIMARY KEY, name TEXT NOT NULL, mode TEXT NOT NULL, domains TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('admitted','suspended','revoked')),
  admitted_at TEXT NOT NULL, status_since TEXT NOT NULL, suspended_at TEXT, revoked_at TEXT, reinstated_at TEXT,
  callback_url TEXT, incident_contact TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
  id INTEGER PRIMARY KEY AUTOINCREMENT, serial_hex TEXT NOT NULL, org_id TEXT NOT NULL REFERENCES orgs(org_id), profile TEXT NOT NULL,
  der BLOB NOT NULL, issued_at TEXT NOT NULL, revoked_at TEXT, reason_code INTEGER);
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT, application_id TEXT, kind TEXT NOT NULL,
  at TEXT NOT NULL, trigger TEXT NOT NULL, reasons TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audits (
  id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT NOT NULL REFERENCES orgs(org_id),
  received_at TEXT NOT NULL, audit_date TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
  case_id TEXT PRIMARY KEY, reporter_org_id TEXT NOT NULL, sender_org_id TEXT NOT NULL REFERENCES orgs(org_id),
  message_id TEXT NOT NULL, sender_cert_serial TEXT NOT NULL, evidence TEXT NOT NULL, received_at TEXT NOT NULL,
  response_due TEXT NOT NULL, state TEXT NOT NULL, outcome TEXT NOT NULL, report_cms BLOB NOT NULL,
  response TEXT, response_cms BLOB, responded_at TEXT,
  UNIQUE (reporter_org_id, message_id));
CREATE TABLE IF NOT EXISTS domain_challenges (
  id TEXT PRIMARY KEY, domain TEXT NOT NULL, token TEXT NOT NULL, spki_sha256 TEXT NOT NULL,
  issued_at TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, used_by TEXT);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT NOT NULL, case_id TEXT NOT NULL, kind TEXT NOT NULL,
  body TEXT NOT NULL, created_at TEXT NOT NULL, delivered_at TEXT, attempts INTEGER NOT NULL DEFAULT 0);
`;

interface RawOrg {
  org_id: string;
  name: string;
  mode: string;
  domains: string;
  status: string;
  admitted_at: string;
  status_since: string;
  suspended_at: string | null;
  revoked_at: string | null;
  reinstated_at: string | null;
  callback_url: string | null;
  incident_contact: string;
}
interface RawCert {
  serial_hex: string;
  org_id: string;
  profile: string;
  der: Buffer;
  issued_at: string;
  revoked_at: string | null;
  reason_code: number | null;
}
interface RawDecision {
  id: number;
  org_id: string | null;
  application_id: string | null;
  kind: string;
  at: string;
  trigger: string;
  reasons: string;
}
interface RawCase {
  case_id: string;
  reporter_org_id: string;
  sender_org_id: string;
  message_id: string;
  sender_cert_serial: string;
  evidence: string;
  received_at: string;
  response_due: string;
  state: string;
  outcome: string;
  response: string | null;
  responded_at: string | null;
}
interface RawChallenge {
  id: string;
  domain: string;
  token: string;
  spki_sha256: string;
  issued_at: string;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
}
interface RawOutbox {
  id: number;
  org_id: string;
  case_id: string;
  kind: string;
  body: string;
  created_at: string;
  delivered_at: string | null;
  attempts: number;
}

function orgFromRow(r: RawOrg): OrgRow {
  return {
    orgId: r.org_id,
    name: r.name,
    mode: r.mode as OrgMode,
    domains: JSON.parse(r.domains) as string[],
    status: r.status as OrgStatus,
    admittedAt: r.admitted_at,
    statusSince: r.status_since,
    suspendedAt: r.suspended_at,
    revokedAt: r.revoked_at,
    reinstatedAt: r.reinstated_at,
    callbackUrl: r.callback_url,
    incidentContact: r.incident_contact,
  };
}
function certFromRow(r: RawCert): CertRow {
  return {
    serialHex: r.serial_hex,
    orgId: r.org_id,
    profile: r.profile as CertificateProfile,
    der: new Uint8Array(r.der),
    issuedAt: r.issued_at,
    revokedAt: r.revoked_at,
    reasonCode: r.reason_code,
  };
}
function caseFromRow(r: RawCase): IncidentCase {
  return {
    caseId: r.case_id,
    reporterOrgId: r.reporter_org_id,
    senderOrgId: r.sender_org_id,
    messageId: r.message_id,
    senderCertificateSerial: r.sender_cert_serial,
    evidence: JSON.parse(r.evidence) as IncidentReport['evidence'],
    receivedAt: r.received_at,
    responseDue: r.response_due,
    state: r.state as CaseState,
    outcome: r.outcome as CaseOutcome,
    ...(r.response ? { response: JSON.parse(r.response) as IncidentResponse } : {}),
    ...(r.responded_at ? { respondedAt: r.responded_at } : {}),
  };
}
function outboxFromRow(r: RawOutbox): OutboxRow {
  return {
    id: r.id,
    orgId: r.org_id,
    caseId: r.case_id,
    kind: r.kind,
    body: JSON.parse(r.body) as unknown,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
    attempts: r.attempts,
  };
}
