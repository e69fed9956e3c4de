/**
 * The sealed traceability table (paper §4 (4), procedure (2) and (12)): trace id ↔ employee number.
 *
 * Each entry is sealed on its own as CMS AuthEnvelopedData (RFC 5083, AES-256-GCM) to the vault's
 * sealing certificate, an org key on the HSM. Sealing needs only the public certificate, so the
 * registration desk can add entries but never read them. The trace id stays in the clear beside each
 * sealed entry (it is pseudonymous, and printed in the user's certificate anyway), so an incident opens
 * exactly one entry. Opening needs the HSM key and a stated case id; every opening is appended to an
 * audit log and fsync'd *before* anything is decrypted, so no opening goes unrecorded.
 */
import * as path from 'node:path';
import { SsmaxError, bindTokenKey, decryptContent, encryptContent, type Pkcs11Token, type PrivateKeyOps, type RandomSource } from '@ssmax/core';
import type { OrgCa } from './org-ca.js';
import { appendLineDurable, readFileIfExists } from './durable-file.js';

/** What the table links; only ever in clear inside the sealed envelope or in an opening's result. */
export interface TraceRecord {
  readonly traceId: string;
  readonly employeeNumber: string;
  readonly address: string;
  readonly registeredAt: string;
}

/** One line of the audit log. */
export interface VaultAuditEntry {
  readonly at: string;
  readonly caseId: string;
  readonly traceId: string;
  readonly requestedBy: string;
  readonly reason: string;
}

export interface TraceVaultOptions {
  readonly storageDir: string;
  /** DER certificate of the sealing key (RSA or EC P-256), held on the org's HSM. */
  readonly sealingCertificate: Uint8Array;
  readonly now?: () => Date;
  readonly random?: RandomSource;
}

export interface OpenRequest {
  /** The incident case this opening serves (the registry's case id); required. */
  readonly caseId: string;
  readonly traceId: string;
  /** Who opens (an officer's role, not a person's data). */
  readonly requestedBy: string;
  readonly reason: string;
  /** The sealing key, on the HSM. */
  readonly key: PrivateKeyOps;
}

interface StoredLine {
  readonly traceId: string;
  readonly sealed: string;
}

const HEX32 = /^[0-9a-f]{32}$/;

export class TraceVault {
  readonly tableFile: string;
  readonly auditFile: string;
  private readonly sealingCertificate: Uint8Array;
  private readonly now: () => Date;
  private readonly random: RandomSource | undefined;

  constructor(o: TraceVaultOptions) {
    this.tableFile = path.join(o.storageDir, 'trace-table.sealed.jsonl');
    this.auditFile = path.join(o.storageDir, 'trace-vault-audit.jsonl');
    this.sealingCertificate = o.sealingCertificate;
    this.now = o.now ?? (() => new Date());
    this.random = o.random;
  }

  /** Seals a new entry and appends it durably. Refuses a trace id already present (ids must be unique). */
  async add(record: TraceRecord): Promise<void> {
    const traceId = record.traceId.toLowerCase();
    if (!HEX32.test(traceId)) throw new SsmaxError('USAGE', 'Cannot add to the trace vault. The trace id must be 16 bytes in hex.');
    if (record.employeeNumber.length === 0) throw new SsmaxError('USAGE', 'Cannot add to the trace vault. The employee number is empty.');
    if ((await this.lines()).some((l) => l.traceId === traceId)) {
      throw new SsmaxError('USAGE', `Cannot add to the trace vault. Trace id ${traceId} is already registered.`);
    }
    const plaintext = Buffer.from(JSON.stringify({ v: 1, ...record, traceId }), 'utf8');
    const sealed = await encryptContent(plaintext, {
      recipients: [this.sealingCertificate],
      cipher: 'aes-256-gcm',
      ...(this.random ? { random: this.random } : {}),
    });
    plaintext.fill(0);
    await appendLineDurable(this.tableFile, JSON.stringify({ traceId, sealed: Buffer.from(sealed).toString('base64') } satisfies StoredLine));
  }

  /** Trace ids present (pseudonymous; reading them opens nothing). */
  async traceIds(): Promise<string[]> {
    return (await this.lines()).map((l) => l.traceId);
  }

  /**
   * Opens one entry for an incident. The audit line is written and fsync'd first; then only the entry
   * with this trace id is decrypted. Returns undefined when the trace id is not in the table.
   */
  async open(req: OpenRequest): Promise<TraceRecord | undefined> {
    if (!/^[\w-]{1,64}$/.test(req.caseId)) throw new SsmaxError('USAGE', 'Cannot open the trace vault. A case id (1..64 word characters) is required.');
    if (req.requestedBy.trim() === '' || req.reason.trim() === '') {
      throw new SsmaxError('USAGE', 'Cannot open the trace vault. Who opens it and why must be stated.');
    }
    const traceId = req.traceId.toLowerCase();
    if (!HEX32.test(traceId)) throw new SsmaxError('USAGE', 'Cannot open the trace vault. The trace id must be 16 bytes in hex.');
    const audit: VaultAuditEntry = { at: this.now().toISOString(), caseId: req.caseId, traceId, requestedBy: req.requestedBy, reason: req.reason };
    await appendLineDurable(this.auditFile, JSON.stringify(audit));
    const line = (await this.lines()).find((l) => l.traceId === traceId);
    if (!line) return undefined;
    const opened = await decryptContent(new Uint8Array(Buffer.from(line.sealed, 'base64')), { key: req.key, certificate: this.sealingCertificate });
    let rec: TraceRecord & { v?: number };
    try {
      rec = JSON.parse(Buffer.from(opened.content).toString('utf8')) as TraceRecord & { v?: number };
    } finally {
      opened.content.fill(0);
    }
    // The GCM tag authenticates the entry, but not which line it sits on: a swapped line must not name another person.
    if (rec.traceId !== traceId) {
      throw new SsmaxError('CONTENT_MISMATCH', `Cannot open the trace vault entry ${traceId}. The sealed entry belongs to another trace id.`);
    }
    return { traceId: rec.traceId, employeeNumber: rec.employeeNumber, address: rec.address, registeredAt: rec.registeredAt };
  }

  /** The audit log, oldest first. */
  async auditLog(): Promise<VaultAuditEntry[]> {
    const raw = await readFileIfExists(this.auditFile);
    if (!raw) return [];
    return raw
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as VaultAuditEntry);
  }

  private async lines(): Promise<StoredLine[]> {
    const raw = await readFileIfExists(this.tableFile);
    if (!raw) return [];
    return raw
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        try {
          return JSON.parse(l) as StoredLine;
        } catch (cause) {
          throw new SsmaxError('MALFORMED_CONFIG', `Cannot read the trace vault. Line ${i + 1} of ${this.tableFile} is not JSON.`, { cause });
        }
      });
  }
}

/**
 * The trace vault's sealing key and certificate on `token` (its own token, logged in): made on first use and
 * kept on the token, so a restart seals and opens with the same ones (entries name the certificate's issuer
 * and serial). Used by `ssmax org serve` and by the world's built-in orgs.
 */
export async function vaultSealing(token: Pkcs11Token, orgCa: OrgCa, domain: string): Promise<{ key: PrivateKeyOps; certificate: Uint8Array }> {
  const key = bindTokenKey(token, (await token.findKey('vault-seal')) ?? (await token.generateKeyPair('vault-seal', 'RSA-2048', 'encryption')));
  let certificate = await token.getCertificate('vault-seal');
  if (!certificate) {
    certificate = (await orgCa.issueService(key.spki, 'encryption', `${domain} trace vault`)).der;
    await token.putCertificate('vault-seal', certificate);
  }
  return { key, certificate };
}
