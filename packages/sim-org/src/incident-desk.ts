/**
 * Procedure (12): malicious-mail handling between orgs, through the registry's HTTP API
 * (`POST /v1/incidents`, `GET /v1/orgs/<id>/outbox`, `POST /v1/incidents/<case>/response`; every body is
 * `{ cms }`, a CMS SignedData over the JSON document, signed by the org's KMS signing key).
 *
 * Receiving org: reports the mail (message id, sending org, the sender certificate's serial from the
 * identity notice) and thereby asks the sending org for root cause and correction.
 * Sending org: reviews the case against its own records, opens the trace vault for that case only
 * (logged), identifies the sender's employee number, revokes the sender's certificates in the org CA
 * (a new CRL at once, so its MSA refuses the card and receiving orgs see the revocation in the CRL the
 * org staples into its attestations), and answers the registry. The employee number stays inside the
 * sending org: the registry learns only that the sender was identified and revoked.
 */
import { parseCertificate, signSignedData, SsmaxError, type PrivateKeyOps } from '@ssmax/core';
import { canonicalJson } from './attestation.js';
import type { OrgCa } from './org-ca.js';
import type { TraceVault } from './trace-vault.js';

export interface IncidentSigner {
  readonly key: PrivateKeyOps;
  /** The org's KMS signing certificate (registered with the registry), DER. */
  readonly certificate: Uint8Array;
  readonly chain?: readonly Uint8Array[];
}

export interface IncidentDeskOptions {
  /** Registry base URL, e.g. http://127.0.0.10:8080 (loopback only in the test bed). */
  readonly registryUrl: string;
  /** This org's registry-assigned id. */
  readonly orgId: string;
  readonly signer: IncidentSigner;
  readonly now?: () => Date;
  /** The injected transport; default global fetch. */
  readonly fetch?: typeof fetch;
  /** Sending side: the org CA and the trace vault with its opening key. */
  readonly orgCa?: OrgCa;
  readonly vault?: TraceVault;
  readonly vaultKey?: PrivateKeyOps;
  /** Who opens the vault, recorded in its audit log. */
  readonly officer?: string;
}

export interface IncidentReportInput {
  readonly messageId: string;
  readonly senderOrgId: string;
  /** Hex serial of the sender's certificate (from the identity notice). */
  readonly senderCertificateSerial: string;
  readonly summary: string;
  readonly pattern?: 'A' | 'B' | 'C';
  /** Hex SHA-256 of the malicious file, if any. */
  readonly sha256?: string;
}

/** The registry's notice to the sending org (its outbox / callback body). */
export interface IncidentNotice {
  readonly type: 'ssmax-incident-notice';
  readonly caseId: string;
  readonly senderOrgId: string;
  readonly reporterOrgId: string;
  readonly messageId: string;
  readonly senderCertificateSerial: string;
  readonly evidence: { readonly summary: string; readonly pattern?: string; readonly sha256?: string };
  readonly responseDue: string;
  readonly responseUrl: string;
}

/** What the sending org's review found (kept inside the org). */
export interface IncidentFinding {
  readonly caseId: string;
  readonly identified: boolean;
  readonly address?: string;
  /** From the sealed vault; never sent to the registry. */
  readonly employeeNumber?: string;
  readonly traceId?: string;
  readonly revokedSerials: readonly string[];
  readonly rootCause: 'operation-fault' | 'malicious-sender' | 'client-takeover' | 'not-malicious';
  /** The registry's answer to the response (case and re-evaluation decision). */
  readonly registryAnswer: unknown;
}

export class IncidentDesk {
  private readonly o: IncidentDeskOptions;
  private readonly now: () => Date;
  private readonly http: typeof fetch;

  constructor(o: IncidentDeskOptions) {
    const host = new URL(o.registryUrl).hostname;
    if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== 'localhost' && host !== '[::1]') {
      throw new SsmaxError('USAGE', `Cannot use registry ${o.registryUrl}. The test bed talks to loopback addresses only.`);
    }
    this.o = o;
    this.now = o.now ?? (() => new Date());
    this.http = o.fetch ?? fetch;
  }

  private async signed(doc: unknown): Promise<{ cms: string }> {
    const der = await signSignedData(new TextEncoder().encode(canonicalJson(doc)), {
      key: this.o.signer.key,
      certificate: this.o.signer.certificate,
      ...(this.o.signer.chain ? { chain: this.o.signer.chain } : {}),
      signingTime: this.now(),
    });
    return { cms: Buffer.from(der).toString('base64') };
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const res = await this.http(new URL(path, this.o.registryUrl), {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new SsmaxError('IO_ERROR', `Cannot ${method} ${path} at the registry. It answered ${res.status}: ${text.slice(0, 300)}.`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }

  /** Receiving org: reports a malicious mail; returns the registry's case (with its caseId). */
  async report(input: IncidentReportInput): Promise<{ caseId: string } & Record<string, unknown>> {
    const doc = {
      type: 'ssmax-incident-report',
      reporterOrgId: this.o.orgId,
      messageId: input.messageId,
      senderOrgId: input.senderOrgId,
      senderCertificateSerial: input.senderCertificateSerial.toLowerCase(),
      evidence: { summary: input.summary, ...(input.pattern ? { pattern: input.pattern } : {}), ...(input.sha256 ? { sha256: input.sha256 } : {}) },
      reportedAt: this.now().toISOString(),
    };
    return (await this.call('POST', '/v1/incidents', await this.signed(doc))) as { caseId: string } & Record<string, unknown>;
  }

  /** Sending org: the notices the registry holds for this org. */
  async notices(): Promise<IncidentNotice[]> {
    const list = (await this.call('GET', `/v1/orgs/${encodeURIComponent(this.o.orgId)}/outbox`)) as unknown[];
    return list.filter((n): n is IncidentNotice => (n as { type?: string })?.type === 'ssmax-incident-notice');
  }

  /**
   * Sending org: reviews one case. When the reported certificate is ours, opens the vault for this case,
   * revokes every certificate of that trace id, and answers the registry with root cause and action.
   */
  async handle(notice: IncidentNotice, review: { readonly malicious: boolean; readonly rootCause?: 'malicious-sender' | 'client-takeover' | 'operation-fault' } = { malicious: true }): Promise<IncidentFinding> {
    const { orgCa, vault, vaultKey } = this.o;
    if (!orgCa || !vault || !vaultKey) throw new SsmaxError('USAGE', 'Cannot handle the incident. The desk has no org CA, trace vault or vault key.');
    if (notice.senderOrgId !== this.o.orgId) throw new SsmaxError('USAGE', `Cannot handle case ${notice.caseId}. It concerns ${notice.senderOrgId}, not ${this.o.orgId}.`);
    const entry = orgCa.find(notice.senderCertificateSerial);
    let finding: Omit<IncidentFinding, 'registryAnswer'>;
    if (!review.malicious) {
      finding = { caseId: notice.caseId, identified: false, revokedSerials: [], rootCause: 'not-malicious' };
    } else if (!entry) {
      // Not a certificate we issued: the mail did not come from our users (e.g. a forged sender).
      finding = { caseId: notice.caseId, identified: false, revokedSerials: [], rootCause: 'operation-fault' };
    } else {
      const cert = parseCertificate(entry.certificate);
      const traceId = cert.traceId ? Buffer.from(cert.traceId).toString('hex') : undefined;
      const record = traceId
        ? await vault.open({ caseId: notice.caseId, traceId, requestedBy: this.o.officer ?? `${this.o.orgId} incident desk`, reason: `registry case ${notice.caseId}: ${notice.evidence.summary.slice(0, 200)}`, key: vaultKey })
        : undefined;
      // Every certificate of the same trace id (signing and encryption on the card) goes.
      const same = orgCa.entries().filter((e) => {
        if (e.status !== 'valid') return false;
        const t = parseCertificate(e.certificate).traceId;
        return traceId !== undefined && t !== undefined && Buffer.from(t).toString('hex') === traceId;
      });
      const revokedSerials: string[] = [];
      for (const e of same.length > 0 ? same : [entry]) {
        await orgCa.revoke(e.serialNumber, review.rootCause === 'client-takeover' ? 'keyCompromise' : 'privilegeWithdrawn', `case ${notice.caseId}`);
        revokedSerials.push(e.serialNumber);
      }
      finding = {
        caseId: notice.caseId,
        identified: record !== undefined,
        address: entry.address,
        ...(record ? { employeeNumber: record.employeeNumber } : {}),
        ...(traceId ? { traceId } : {}),
        revokedSerials,
        rootCause: review.rootCause ?? 'malicious-sender',
      };
    }
    const actions = finding.identified ? ['sender-identified-and-revoked'] : finding.revokedSerials.length > 0 ? ['operation-fixed'] : ['none'];
    const response = {
      type: 'ssmax-incident-response',
      caseId: notice.caseId,
      orgId: this.o.orgId,
      rootCause: finding.rootCause,
      correctiveActions: actions,
      summary: finding.identified
        ? `Sender identified through the sealed trace table (opening logged for this case); ${finding.revokedSerials.length} certificate(s) revoked and published in our CRL.`
        : finding.rootCause === 'not-malicious'
          ? 'Reviewed: the mail was not malicious.'
          : 'Reviewed: the certificate is not one we issued; our SSMAX operation was reviewed.',
      respondedAt: this.now().toISOString(),
    };
    const registryAnswer = await this.call('POST', `/v1/incidents/${encodeURIComponent(notice.caseId)}/response`, await this.signed(response));
    return { ...finding, registryAnswer };
  }
}
